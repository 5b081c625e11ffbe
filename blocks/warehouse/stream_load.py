"""StarRocks Stream Load client: Arrow batches -> HTTP PUT, exactly once per deterministic label.

The protocol, as StarRocks documents it and as this client follows it:
- `PUT /api/{db}/{table}/_stream_load` to an FE (HTTP port 8030), which answers `307` with a
  `Location` on a BE/CN (port 8040); the client repeats the request there *with* its basic-auth
  header (curl's `--location-trusted`; `requests`/`httpx` drop it on a redirect to another host, so
  redirects are followed here, by hand). With direct load URLs configured the FE hop is skipped.
- `Expect: 100-continue`: the body is sent only after the server's `100 Continue`, so a redirect or
  a refusal costs no upload. A server that never answers the expectation gets the body after
  `continue_timeout` (RFC 9110 §10.1.1).
- Transport: the FE answers over TLS when `http_scheme=https` (its `https_port`), but the `Location`
  of its 307 is always the BE/CN *HTTP* port, which has no TLS (FE `LoadAction` builds
  `http://<be>:<http_port>`). Following that hop with the password is a separate, explicit opt-in,
  `allow_http_load_hop` (or list https proxies in `load_urls`); it never relaxes the FE or SQL side.
  Every hop, including `get_load_state`'s, passes `blocks/transport.py`'s check.
- The answer is HTTP 200 even when the load failed: the JSON body's `Status` decides —
  `Success`; `Publish Timeout` (committed, visible soon: wait); `Label Already Exists` with
  `ExistingJobStatus` `FINISHED` or `RUNNING` (an earlier attempt has that label: wait until it is
  VISIBLE, then count it and load nothing; FINISHED covers COMMITTED too, so it is *not* yet
  visible); `Fail`. The BE reports *every* other status as `Fail` (be/src/runtime/stream_load/
  stream_load_context.cpp `to_json`): a data error (filtered rows, an `ErrorURL`) is terminal, while
  a load timeout, "too many versions", a memory limit or a busy BE ("please try again later") is
  transient and retried (`failure_for`).
- Waiting uses `GET /api/{db}/get_load_state?label=...` (FE `GetStreamLoadState`, transaction
  states): `VISIBLE` = done, `COMMITTED`/`PREPARE`/`PREPARED` = wait, `ABORTED`/`UNKNOWN` = that
  attempt left nothing, so the label may be loaded again.
- JSON bodies are refused above `streaming_load_max_batch_size_mb` (BE config, default 100 MB;
  be/src/http/action/stream_load.cpp) unless `ignore_json_size: true`, which the BE warns costs huge
  memory. A JSON batch larger than `json_max_bytes` is therefore cut into row pieces that fit, each
  under its own label (`<label>_p<k>of<n>`), deterministic for the same rows.

The label is a hash of (table, file path, file version, batch number): a retry after a crash
sends the same labels, and StarRocks answers "Label Already Exists" for every batch that committed
— no batch is ever loaded twice.

Encoding (CSV, the fast path): column separator `\\x01`, row delimiter `\\x02`, no enclosure and no
escape character, NULL as `\\N`, the empty string as an empty field. Quotes, commas, tabs, newlines
and backslashes then travel verbatim. A batch holding a value this cannot carry (one containing
`\\x01`/`\\x02`, or the two-character string `\\N`, which StarRocks would read as NULL) is sent as
JSON instead (`strip_outer_array`), which is exact for every value. Decimals travel as their exact
decimal text, dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blocks.transport import is_loopback, require_encryption, url_is_encrypted
from datawiz.core.errors import TerminalError, TransientError

COLUMN_SEPARATOR = "\x01"
ROW_DELIMITER = "\x02"
NULL = "\\N"
_REDIRECTS = {301, 302, 303, 307, 308}
_ERROR_TEXT_LIMIT = 2000
# The BE's `streaming_load_max_batch_size_mb` default (100 MB; be/src/common/config.h, checked in
# be/src/http/action/stream_load.cpp): the largest JSON body it takes without `ignore_json_size`.
JSON_MAX_BYTES = 100 * 1024 * 1024
# The one setting that lets Stream Load follow the FE's redirect to a BE/CN's plain-HTTP port.
LOAD_HOP_SETTING = (
    "allow_http_load_hop=true (URL ?allow_http_load_hop=true; STARROCKS_ALLOW_HTTP_LOAD_HOP=true in .env.<env> "
    "for the block)"
)


# Terminal or transient through datawiz.core.errors; the standard bases (RuntimeError, ConnectionError) stay
# because callers outside DataWiz caught these as such.
class StreamLoadFailed(TerminalError, RuntimeError):
    """StarRocks refused the data (Status Fail, HTTP 4xx): retrying the same rows cannot help."""


class StreamLoadUnavailable(TransientError, ConnectionError):
    """Network trouble, 5xx, a load still unsettled after waiting, or a `Fail` the BE says is temporary
    (timeout, too many versions, memory, busy): a retry may succeed."""


# `Status: "Fail"` messages that mean "not now" rather than "not these rows". Sources: Loading FAQ
# (docs/en/faq/loading/Loading_faq.md: "too many tablet versions", "close index channel failed";
# the load timeout), be/src/http/action/stream_load.cpp (ResourceBusy "... please try again later",
# ServiceUnavailable while the BE shuts down), docs/en/loading/loading_introduction/
# loading_considerations.md (memory limits of loads; max_running_txn_num_per_db refusals).
_TRANSIENT_FAIL = re.compile(
    r"(?i)try again later|too many (tablet )?versions|close index channel failed|reached timeout"
    r"|timeout by txn manager|load timeout|timed? ?out|memory (of process )?exceed|mem(ory)? usage .*exceed"
    r"|exceed(ed)? (the )?mem|memory limit|mem_limit|service ?unavailable|running txns? .*(limit|larger)"
    r"|current running txns"
)
_DATA_FAIL = re.compile(r"(?i)invalid timeout format")  # our own header: never fixed by waiting


@dataclass(frozen=True)
class Encoded:
    """One batch ready to send: the body and the format headers that describe it."""

    body: bytes
    headers: dict[str, str]
    rows: int


@dataclass
class LoadOutcome:
    """What StarRocks said about one label."""

    label: str
    status: str  # Success | Publish Timeout | Label Already Exists
    rows_loaded: int
    already_loaded: bool = False  # an earlier attempt had loaded this label
    response: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ labels
def label_for(table: str, path: str, version: str, batch_no: int) -> str:
    """Deterministic load label of one batch of one file version (StarRocks: [A-Za-z0-9_-], <= 128)."""
    digest = hashlib.sha256(f"{table}\x00{path}\x00{version}\x00{batch_no}".encode()).hexdigest()[:40]
    return f"datawiz_{table}_{digest}_{batch_no}"[:128]


# ------------------------------------------------------------------------------------ encoding
def encode_batch(batch: pa.Table | pa.RecordBatch) -> Encoded:
    """CSV when every value fits the control-character encoding, else JSON (exact either way)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    body = encode_csv(table)
    if body is not None:
        headers = {"format": "CSV", "column_separator": "\\x01", "row_delimiter": "\\x02"}
    else:
        body = encode_json(table)
        headers = {"format": "JSON", "strip_outer_array": "true"}
    headers["columns"] = ",".join(f"`{c}`" for c in table.column_names)
    return Encoded(body, headers, table.num_rows)


def _text_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    if pa.types.is_timestamp(col.type) and col.type.tz is not None:
        col = col.cast(pa.timestamp(col.type.unit))  # wall-clock text, like the DATETIME column
    return pc.cast(col, pa.string())


def encode_csv(table: pa.Table) -> bytes | None:
    """The batch as \\x01/\\x02-separated text, or None when a value cannot be carried that way."""
    texts = [_text_column(c) for c in table.columns]
    for col, original in zip(texts, table.columns, strict=True):
        if original.type in (pa.string(), pa.large_string()) and _has_unencodable(col):
            return None
    if table.num_rows == 0:
        return b""
    filled = [pc.fill_null(c, NULL) for c in texts]
    rows = pc.binary_join_element_wise(*filled, COLUMN_SEPARATOR)
    rows = pc.binary_join_element_wise(rows, "", ROW_DELIMITER)  # every row ends with the delimiter
    arr = rows.combine_chunks().cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return arr.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]


def _has_unencodable(col: pa.ChunkedArray) -> bool:
    separators = pc.match_substring_regex(col, "[\x01\x02]")
    return bool(pc.any(separators).as_py()) or bool(pc.any(pc.equal(col, NULL)).as_py())


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: a JSON number would pass through a double
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} to Stream Load")


def encode_json(table: pa.Table) -> bytes:
    """The batch as a JSON array of objects keyed by column name (strip_outer_array)."""
    return json.dumps(table.to_pylist(), default=_json_value, ensure_ascii=False).encode()


# ------------------------------------------------------------------------------------ HTTP
@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise StreamLoadUnavailable(f"Stream Load answered HTTP {self.status} with a non-JSON body") from exc
        return data if isinstance(data, dict) else {}


def _read_head(reader: BinaryIO) -> tuple[int, dict[str, str]]:
    line = reader.readline(65537)
    if not line:
        raise StreamLoadUnavailable("the server closed the connection without answering")
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise StreamLoadUnavailable(f"not an HTTP answer: {line[:80]!r}")
    headers: dict[str, str] = {}
    while (raw := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _read_body(reader: BinaryIO, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while (size := int(reader.readline().split(b";")[0].strip() or b"0", 16)) > 0:
            chunks.append(reader.read(size))
            reader.readline()
        return b"".join(chunks)
    if "content-length" in headers:
        return reader.read(int(headers["content-length"]))
    return reader.read()


@dataclass(frozen=True)
class HttpSettings:
    """How to reach the StarRocks HTTP endpoints."""

    timeout: float = 600.0
    continue_timeout: float = 3.0
    ssl_context: ssl.SSLContext | None = None


def http_exchange(
    method: str, url: str, headers: dict[str, str], body: bytes, settings: HttpSettings
) -> _Reply:
    """One HTTP/1.1 request with `Expect: 100-continue` handled properly (http.client cannot)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=settings.timeout)
    except OSError as exc:
        raise StreamLoadUnavailable(f"cannot connect to {parts.hostname}:{port}: {exc}") from exc
    try:
        if parts.scheme == "https":
            sock = (settings.ssl_context or ssl.create_default_context()).wrap_socket(
                sock, server_hostname=parts.hostname)
        head = {"Host": parts.netloc, "Content-Length": str(len(body)), "Connection": "close", **headers}
        expect = bool(body) and head.get("Expect", "").lower() == "100-continue"
        if not body:
            head.pop("Expect", None)
        request = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
        sock.sendall(request.encode("latin-1"))
        reader = sock.makefile("rb")
        if expect:
            ready, _, _ = select.select([sock], [], [], settings.continue_timeout)
            if ready:
                status, reply_headers = _read_head(reader)
                if status != 100:  # a redirect or a refusal before the upload: the body is not sent
                    return _Reply(status, reply_headers, _read_body(reader, reply_headers))
        if body:
            sock.sendall(body)
        status, reply_headers = _read_head(reader)
        while status == 100:  # a late interim answer
            status, reply_headers = _read_head(reader)
        return _Reply(status, reply_headers, _read_body(reader, reply_headers))
    except OSError as exc:
        raise StreamLoadUnavailable(f"{method} {parts.hostname}:{port}{parts.path}: {exc}") from exc
    finally:
        sock.close()


# ------------------------------------------------------------------------------------ client
class StreamLoadClient:
    """Loads Arrow batches into one StarRocks database over Stream Load."""

    def __init__(
        self,
        fe_url: str,
        database: str,
        user: str,
        password: str,
        load_urls: list[str] | None = None,
        http: HttpSettings | None = None,
        poll_seconds: float = 1.0,
        wait_seconds: float = 300.0,
        allow_insecure: bool = False,
        allow_http_load_hop: bool = False,
        json_max_bytes: int = JSON_MAX_BYTES,
    ) -> None:
        self.fe_url = fe_url.rstrip("/")
        self.allow_insecure = allow_insecure
        self.allow_http_load_hop = allow_http_load_hop
        self.json_max_bytes = json_max_bytes
        self._has_secret = bool(password)
        self.database = database
        self.load_urls = [u.rstrip("/") for u in (load_urls or [])]
        self.http = http or HttpSettings()
        self.poll_seconds = poll_seconds
        self.wait_seconds = wait_seconds
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = {"Authorization": f"Basic {token}"}  # kept out of repr and of every message

    def __repr__(self) -> str:
        return f"StreamLoadClient({self.fe_url}, db={self.database})"

    def load(self, table: str, batch: pa.Table | pa.RecordBatch, label: str, batch_no: int = 0) -> LoadOutcome:
        """Send one batch under `label`; returns once its rows are visible (or were already).

        A JSON batch too big for one request goes as pieces (`json_pieces`), each under its own
        label; the outcome then sums them.
        """
        return self.load_pieces(table, self.encode(batch, label), label, batch_no)

    def encode(self, batch: pa.Table | pa.RecordBatch, label: str) -> list[tuple[str, Encoded]]:
        """One batch as the requests that carry it, `[(label, encoded)]` (`json_pieces`): the CPU-bound half of
        `load`, separate so a caller can encode the next batch while this one is being sent."""
        return json_pieces(batch, label, self.json_max_bytes)

    def load_pieces(self, table: str, pieces: list[tuple[str, Encoded]], label: str, batch_no: int = 0
                    ) -> LoadOutcome:
        """Send one batch already `encode`d (under `label`); returns once its rows are visible (or were already)."""
        outcomes = [self._load_encoded(table, encoded, piece_label, batch_no) for piece_label, encoded in pieces]
        if len(outcomes) == 1:
            return outcomes[0]
        return LoadOutcome(label, outcomes[-1].status, sum(o.rows_loaded for o in outcomes),
                           already_loaded=all(o.already_loaded for o in outcomes))

    def _load_encoded(self, table: str, encoded: Encoded, label: str, batch_no: int) -> LoadOutcome:
        base = self.load_urls[batch_no % len(self.load_urls)] if self.load_urls else self.fe_url
        url = f"{base}/api/{quote(self.database)}/{quote(table)}/_stream_load"
        headers = {**self._auth, "Expect": "100-continue", "label": label, "max_filter_ratio": "0",
                   "strict_mode": "true", "timeout": str(int(self.http.timeout)), **encoded.headers}
        for _attempt in range(2):  # the second only after an ABORTED earlier attempt freed the label
            answer = self._put(url, headers, encoded.body, first_is_hop=bool(self.load_urls))
            outcome = self._settle(table, label, answer, encoded.rows)
            if outcome is not None:
                return outcome
        raise StreamLoadUnavailable(f"{table}: label {label} was aborted twice; retry later")

    def _put(self, url: str, headers: dict[str, str], body: bytes, first_is_hop: bool = False) -> dict[str, Any]:
        hop = first_is_hop
        for _ in range(4):
            # Checked on every hop: the FE redirects to a BE over plain HTTP, and the password travels on.
            self.check_transport(url, hop=hop)
            reply = http_exchange("PUT", url, headers, body, self.http)
            if reply.status in _REDIRECTS and "location" in reply.headers:
                url, hop = urljoin(url, reply.headers["location"]), True  # same headers: auth travels on
                continue
            return self._checked(reply, url)
        raise StreamLoadUnavailable(f"too many redirects loading {urlsplit(url).path}")

    def check_transport(self, url: str, hop: bool = False) -> None:
        """Refuse basic auth over plain HTTP to a non-loopback host (blocks/transport.py).

        `hop`: a BE/CN the FE redirected to, or a `load_urls` entry — allowed over plain HTTP only with
        `allow_http_load_hop` (the BE HTTP port has no TLS). The FE itself needs https or `allow_insecure`.
        """
        parts = urlsplit(url)
        if hop:
            what, allowed = f"Stream Load hop to BE/CN {parts.scheme}://{parts.netloc}", self.allow_http_load_hop
            fix = ("The FE redirects loads to the BE/CN HTTP port, which has no TLS. If the BE/CN network is "
                   f"trusted, set {LOAD_HOP_SETTING}; else list https proxies of the BEs in load_urls")
        else:
            what, allowed = f"Stream Load {parts.scheme}://{parts.netloc}", False
            fix = "Use https (http_scheme=https, https:// load_urls; ssl_ca for a private CA)"
        require_encryption(what, parts.hostname, encrypted=url_is_encrypted(url), has_secret=self._has_secret,
                           allow_insecure=self.allow_insecure or allowed, how_to_fix=fix)

    def probe_route(self, table: str) -> str:
        """Ask the FE where it would send a load of `table`, without sending data; describe the route.

        An empty PUT with `Expect: 100-continue`: the FE authenticates and answers 307 before any body
        (FE LoadAction). Raises `InsecureTransport` naming the setting when the hop would be refused,
        `StreamLoadFailed` when the FE refuses the credentials.
        """
        url = f"{self.load_urls[0] if self.load_urls else self.fe_url}/api/{quote(self.database)}/{quote(table)}" \
              "/_stream_load"
        self.check_transport(url, hop=bool(self.load_urls))
        headers = {**self._auth, "Expect": "100-continue", "label": f"datawiz_probe_{int(time.time() * 1000)}"}
        reply = http_exchange("PUT", url, headers, b"", self.http)
        if reply.status in _REDIRECTS and "location" in reply.headers:
            target = urljoin(url, reply.headers["location"])
            self.check_transport(target, hop=True)
            hop = urlsplit(target)
            note = f" (plain HTTP: {LOAD_HOP_SETTING})" if hop.scheme == "http" and not is_loopback(hop.hostname) \
                else ""
            return f"{urlsplit(url).scheme}://{urlsplit(url).netloc} -> {hop.scheme}://{hop.netloc}{note}"
        if reply.status in (401, 403):
            raise StreamLoadFailed(f"Stream Load {urlsplit(url).netloc}: HTTP {reply.status}: credentials refused")
        return f"{urlsplit(url).scheme}://{urlsplit(url).netloc} (answered HTTP {reply.status}, no redirect)"

    @staticmethod
    def _checked(reply: _Reply, url: str) -> dict[str, Any]:
        where = urlsplit(url).path
        if reply.status >= 500 or reply.status in (408, 429):
            raise StreamLoadUnavailable(f"{where}: HTTP {reply.status}")
        if reply.status != 200:
            raise StreamLoadFailed(f"{where}: HTTP {reply.status} {reply.body[:300].decode('utf-8', 'replace')}")
        return reply.json()

    def _settle(self, table: str, label: str, answer: dict[str, Any], rows: int) -> LoadOutcome | None:
        """Turn a Stream Load answer into an outcome; None means "the label is free: send again"."""
        status = str(answer.get("Status", ""))
        loaded = int(answer.get("NumberLoadedRows", rows) or 0)
        if status == "Success":
            return LoadOutcome(label, status, loaded, response=answer)
        if status == "Publish Timeout":  # committed; becomes visible without us
            self.wait_visible(label)
            return LoadOutcome(label, status, loaded, response=answer)
        if status == "Label Already Exists":
            # FINISHED covers COMMITTED (not yet visible) as well as VISIBLE; RUNNING may still abort.
            existing = str(answer.get("ExistingJobStatus", "")).upper()
            if existing not in ("FINISHED", "RUNNING"):
                raise StreamLoadFailed(f"{table}: label {label} exists with job status {existing or 'unknown'}")
            if not self.wait_visible(label):
                return None
            return LoadOutcome(label, status, rows, already_loaded=True, response=answer)
        raise self.failure_for(table, label, answer)

    def failure_for(self, table: str, label: str, answer: dict[str, Any]) -> Exception:
        """The exception for a `Fail` answer: transient unless the rows themselves were refused."""
        text = self._failure_text(table, label, answer)
        message = str(answer.get("Message", ""))
        data_error = bool(answer.get("NumberFilteredRows") or answer.get("ErrorURL")) or _DATA_FAIL.search(message)
        if not data_error and _TRANSIENT_FAIL.search(message):
            return StreamLoadUnavailable(text)
        return StreamLoadFailed(text)

    def wait_visible(self, label: str) -> bool:
        """Poll the label's state: True once VISIBLE, False when ABORTED/UNKNOWN (nothing was loaded)."""
        url = f"{self.fe_url}/api/{quote(self.database)}/get_load_state?label={quote(label)}"
        deadline = time.monotonic() + self.wait_seconds
        while True:
            state = self.load_state(url)
            if state in ("VISIBLE", "FINISHED"):
                return True
            if state in ("ABORTED", "UNKNOWN", "CANCELLED"):
                return False
            if time.monotonic() > deadline:
                raise StreamLoadUnavailable(f"label {label} still {state or 'unsettled'} after {self.wait_seconds}s")
            time.sleep(self.poll_seconds)

    def load_state(self, url: str) -> str:
        """One `get_load_state` answer's `state`, upper-cased."""
        return str(self._get_json(url).get("state", "")).upper()

    def _get_json(self, url: str) -> dict[str, Any]:
        hop = False
        for _ in range(4):
            self.check_transport(url, hop=hop)  # a redirect (to the leader FE) carries the password too
            reply = http_exchange("GET", url, dict(self._auth), b"", self.http)
            if reply.status in _REDIRECTS and "location" in reply.headers:
                url, hop = urljoin(url, reply.headers["location"]), True
                continue
            return self._checked(reply, url)
        raise StreamLoadUnavailable("too many redirects reading a load state")

    def _failure_text(self, table: str, label: str, answer: dict[str, Any]) -> str:
        text = f"{table}: Stream Load {answer.get('Status') or 'answer without Status'} (label {label}): " \
               f"{answer.get('Message', '')}"
        if answer.get("NumberFilteredRows"):
            text += f"; {answer['NumberFilteredRows']} row(s) filtered"
        error_url = answer.get("ErrorURL")
        if error_url:
            text += f"; rejected rows: {self._error_rows(str(error_url))}"
        return text

    def _error_rows(self, url: str) -> str:
        # The ErrorURL is served by the BE without authentication; its text names the bad rows.
        try:
            reply = http_exchange("GET", url, {}, b"", self.http)
        except StreamLoadUnavailable as exc:
            return f"(could not read {url}: {exc})"
        return reply.body[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace").strip()


def json_pieces(batch: pa.Table | pa.RecordBatch, label: str, max_bytes: int) -> list[tuple[str, Encoded]]:
    """`[(label, encoded)]` for one batch: itself, or — a JSON body over `max_bytes` — equal row pieces that
    each fit, labelled `<label>_p<k>of<n>`. The same rows always give the same pieces (retries reuse labels)."""
    encoded = encode_batch(batch)
    if encoded.headers["format"] != "JSON" or len(encoded.body) <= max_bytes or encoded.rows <= 1:
        return [(label, encoded)]
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    n = math.ceil(len(encoded.body) / max_bytes)
    while True:
        size = math.ceil(table.num_rows / n)
        pieces = [encode_batch(table.slice(i, size)) for i in range(0, table.num_rows, size)]
        if all(len(p.body) <= max_bytes for p in pieces) or size == 1:
            return [(f"{label}_p{k}of{len(pieces)}", p) for k, p in enumerate(pieces)]
        n *= 2

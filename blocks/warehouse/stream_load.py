"""StarRocks Stream Load client: Arrow batches -> HTTP PUT, exactly once per deterministic label.

The protocol, as StarRocks documents it and as this client follows it:
- `PUT /api/{db}/{table}/_stream_load` to an FE (HTTP port 8030), which answers `307` with a
  `Location` on a BE/CN (port 8040); the client repeats the request there *with* its basic-auth
  header (curl's `--location-trusted`; `requests`/`httpx` drop it on a redirect to another host, so
  redirects are followed here, by hand). With direct load URLs configured the FE hop is skipped.
- `Expect: 100-continue`: the body is sent only after the server's `100 Continue`, so a redirect or
  a refusal costs no upload. A server that never answers the expectation gets the body after
  `continue_timeout` (RFC 9110 §10.1.1).
- The answer is HTTP 200 even when the load failed: the JSON body's `Status` decides —
  `Success`; `Publish Timeout` (committed, visible soon: wait); `Label Already Exists` with
  `ExistingJobStatus` `FINISHED` (an earlier attempt loaded it: count it, load nothing) or
  `RUNNING` (wait for it); `Fail` (read the `ErrorURL` text into the error).
- Waiting uses `GET /api/{db}/get_load_state?label=...`: `VISIBLE` = done, `COMMITTED`/`PREPARE*`
  = wait, `ABORTED`/`UNKNOWN` = that attempt left nothing, so the label may be loaded again.

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
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blocks.transport import require_encryption, url_is_encrypted

COLUMN_SEPARATOR = "\x01"
ROW_DELIMITER = "\x02"
NULL = "\\N"
_REDIRECTS = {301, 302, 303, 307, 308}
_ERROR_TEXT_LIMIT = 2000


# Built on standard exceptions so that tasks/errors.py classifies them without blocks/ importing tasks/:
# a ConnectionError is transient, anything else not named there is terminal.
class StreamLoadFailed(RuntimeError):
    """StarRocks refused the data (Status Fail, HTTP 4xx): retrying the same rows cannot help."""


class StreamLoadUnavailable(ConnectionError):
    """Network trouble, 5xx, or a load still unsettled after waiting: a retry may succeed."""


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


def _read_head(reader: Any) -> tuple[int, dict[str, str]]:
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


def _read_body(reader: Any, headers: dict[str, str]) -> bytes:
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
    ) -> None:
        self.fe_url = fe_url.rstrip("/")
        self.allow_insecure = allow_insecure
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
        """Send one batch under `label`; returns once its rows are visible (or were already)."""
        encoded = encode_batch(batch)
        base = self.load_urls[batch_no % len(self.load_urls)] if self.load_urls else self.fe_url
        url = f"{base}/api/{quote(self.database)}/{quote(table)}/_stream_load"
        headers = {**self._auth, "Expect": "100-continue", "label": label, "max_filter_ratio": "0",
                   "strict_mode": "true", "timeout": str(int(self.http.timeout)), **encoded.headers}
        for _attempt in range(2):  # the second only after an ABORTED earlier attempt freed the label
            answer = self._put(url, headers, encoded.body)
            outcome = self._settle(table, label, answer, encoded.rows)
            if outcome is not None:
                return outcome
        raise StreamLoadUnavailable(f"{table}: label {label} was aborted twice; retry later")

    def _put(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        for _hop in range(4):
            # Checked on every hop: the FE may redirect to a BE over plain HTTP, and the password travels on.
            self.check_transport(url)
            reply = http_exchange("PUT", url, headers, body, self.http)
            if reply.status in _REDIRECTS and "location" in reply.headers:
                url = urljoin(url, reply.headers["location"])  # same headers: auth travels on
                continue
            return self._checked(reply, url)
        raise StreamLoadUnavailable(f"too many redirects loading {urlsplit(url).path}")

    def check_transport(self, url: str) -> None:
        """Refuse basic auth over plain HTTP to a non-loopback host unless `allow_insecure` (blocks/transport.py)."""
        parts = urlsplit(url)
        require_encryption(
            f"Stream Load {parts.scheme}://{parts.netloc}", parts.hostname, encrypted=url_is_encrypted(url),
            has_secret=self._has_secret, allow_insecure=self.allow_insecure,
            how_to_fix="Use https (http_scheme=https, https:// load_urls; ssl_ca for a private CA)",
        )

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
            existing = str(answer.get("ExistingJobStatus", "")).upper()
            if existing == "FINISHED":
                return LoadOutcome(label, status, rows, already_loaded=True, response=answer)
            if existing == "RUNNING":
                return LoadOutcome(label, status, rows, already_loaded=True, response=answer) \
                    if self.wait_visible(label) else None
            raise StreamLoadFailed(f"{table}: label {label} exists with job status {existing or 'unknown'}")
        raise StreamLoadFailed(self._failure_text(table, label, answer))

    def wait_visible(self, label: str) -> bool:
        """Poll the label's state: True once VISIBLE, False when ABORTED/UNKNOWN (nothing was loaded)."""
        url = f"{self.fe_url}/api/{quote(self.database)}/get_load_state?label={quote(label)}"
        deadline = time.monotonic() + self.wait_seconds
        while True:
            state = str(self._get_json(url).get("state", "")).upper()
            if state in ("VISIBLE", "FINISHED"):
                return True
            if state in ("ABORTED", "UNKNOWN", "CANCELLED"):
                return False
            if time.monotonic() > deadline:
                raise StreamLoadUnavailable(f"label {label} still {state or 'unsettled'} after {self.wait_seconds}s")
            time.sleep(self.poll_seconds)

    def _get_json(self, url: str) -> dict[str, Any]:
        for _hop in range(4):
            reply = http_exchange("GET", url, dict(self._auth), b"", self.http)
            if reply.status in _REDIRECTS and "location" in reply.headers:
                url = urljoin(url, reply.headers["location"])
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

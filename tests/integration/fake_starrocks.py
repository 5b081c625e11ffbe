"""The HTTP side of the StarRocks stand-in: an FE + BE pair that speaks Stream Load as StarRocks documents it.

Each behaviour follows StarRocks' docs or source, named next to it:
- FE `PUT /api/{db}/{table}/_stream_load`: authenticates *before* redirecting (FE `LoadAction` checks
  the password, then picks a BE), and answers `307` with a `Location` on the BE's **HTTP** port —
  plain `http://` even when the FE itself is reached over TLS (LoadAction builds
  `http://<be host>:<be http_port>`; docs loading/StreamLoad: "the FE redirects to a BE or CN").
  Optional TLS on the FE (`fe_ssl`): the FE's `https_port`.
- BE: requires basic auth and `Expect: 100-continue`, checks the JSON body size against
  `streaming_load_max_batch_size_mb` (default 100 MB) *before* the body unless `ignore_json_size:
  true`, with the BE's own message (be/src/http/action/stream_load.cpp `_on_header`); parses the CSV
  (\\x01 / \\x02 / \\N) or JSON body; answers HTTP 200 with the JSON of
  be/src/runtime/stream_load/stream_load_context.cpp `to_json`: `Status` is `Success`, `Publish
  Timeout`, `Label Already Exists` (+ `ExistingJobStatus`) or — for *every* other status — `Fail`.
- Label semantics (FE `LabelAlreadyUsedException.java`): a label whose transaction is PREPARE /
  PREPARED / UNKNOWN is answered `ExistingJobStatus: RUNNING`, COMMITTED or VISIBLE `FINISHED`
  (so FINISHED does *not* mean visible yet). ABORTED frees the label.
- `GET /api/{db}/get_load_state?label=` (FE `GetStreamLoadState.java`): a follower FE first redirects
  to the leader (`redirectToLeader`; `leader_url` set by a test); then authenticated; `state` is the
  transaction status of the label, whatever loaded it — Stream Load or `INSERT ... WITH LABEL`
  (`GlobalTransactionMgr.getLabelStatus`): PREPARE, PREPARED, COMMITTED, VISIBLE, ABORTED, UNKNOWN.
- `Fail` kinds the tests script: data errors (`NumberFilteredRows` + `ErrorURL`, served unauthenticated
  by the BE at `/api/_load_error_log`), and the BE/FE refusals StarRocks reports with `Fail` too —
  a load timeout ("[E1008]Reached timeout"), "Too many versions" (Loading FAQ), a memory limit, a busy
  BE ("... please try again later", stream_load.cpp).

Rows go to `sink(database, table, rows)` — the SQL stand-in's write path (Primary Key upsert, key and string
limits) in the integration tests — or into `tables[name]` keyed by the columns in `keys`. A sink that
raises `RefusedRows` turns into a `Fail` answer carrying its message (what the BE does when the
memtable refuses, e.g. "primary key size exceed the limit.").
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Row = dict[str, Any]

# be/src/http/action/stream_load.cpp (the check on the JSON body's Content-Length).
JSON_TOO_BIG = ("The size of this batch exceed the max size [{limit}]  of json type data  data [ {size} ]. "
                "Set ignore_json_size to skip the check, although it may lead huge memory consuming.")
# Transient refusals as the BE words them (see the module docstring for the sources).
TIMEOUT = "[E1008]Reached timeout=600000ms @127.0.0.1:8060"
TOO_MANY_VERSIONS = "Too many versions. tablet_id: 18398, version_count: 1001, limit: 1000"
MEMORY = "Memory of process exceed limit. Used: 32GB, Limit: 30GB. Mem usage has exceed the limit of BE"
BUSY = "Stream Load exceed http cuncurrent limit 47, please try again later"


class RefusedRows(Exception):
    """Raised by a sink: the BE refuses the load with this message (Status Fail)."""


@dataclass
class Script:
    """What the BE does with one label's first delivery.

    status: Success | Publish Timeout | Fail | Drop (apply, then close without answering).
    message: for Fail, a BE-level refusal (no filtered rows, no ErrorURL); None = a data error.
    states: get_load_state answers, in order (the last repeats); VISIBLE/ABORTED also settle the label.
    """

    status: str = "Success"
    message: str | None = None
    states: list[str] = field(default_factory=list)


@dataclass
class Request:
    """One request as a server saw it."""

    server: str  # fe | be
    method: str
    path: str
    headers: dict[str, str]
    body_bytes: int


class FakeStarRocks:
    """The pair of servers, their shared state and what they saw."""

    def __init__(self, user: str = "loader", password: str = "s3cret:pw", keys: dict[str, list[str]] | None = None,
                 sink: Callable[[str, str, list[Row]], None] | None = None, host: str = "127.0.0.1",
                 fe_ssl: ssl.SSLContext | None = None, labels: dict[str, str] | None = None,
                 json_max_bytes: int = 100 * 1024 * 1024) -> None:
        self.user, self.password = user, password
        self.keys = keys or {}
        self.sink = sink
        self.host = host
        self.json_max_bytes = json_max_bytes  # streaming_load_max_batch_size_mb of the BE
        self.tables: dict[str, dict[tuple, Row]] = {}
        self.bodies: list[tuple[dict[str, str], bytes]] = []  # (headers, body) of every BE delivery
        self.requests: list[Request] = []
        # label -> transaction state; may be shared with the SQL stand-in (labels are per database, all load types)
        self.labels: dict[str, str] = labels if labels is not None else {}
        self.scripts: dict[str, Script] = {}
        self.default = Script()
        self.error_logs: dict[str, str] = {}
        self.http_error: int | None = None  # the BE answers every PUT with this status (e.g. 503)
        self.leader_url: str | None = None  # set: this FE is a follower and redirects REST reads there
        self.lock = threading.Lock()
        self.fe = ThreadingHTTPServer((host, 0), _handler(self, "fe"))
        if fe_ssl is not None:
            self.fe.socket = fe_ssl.wrap_socket(self.fe.socket, server_side=True)
        self.fe_scheme = "https" if fe_ssl is not None else "http"
        self.be = ThreadingHTTPServer((host, 0), _handler(self, "be"))
        for server in (self.fe, self.be):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def fe_port(self) -> int:
        return int(self.fe.server_address[1])

    @property
    def fe_url(self) -> str:
        return f"{self.fe_scheme}://{self.host}:{self.fe_port}"

    @property
    def be_url(self) -> str:
        return f"http://{self.host}:{self.be.server_address[1]}"  # the BE HTTP port never has TLS

    def close(self) -> None:
        for server in (self.fe, self.be):
            server.shutdown()
            server.server_close()

    def rows(self, table: str) -> list[Row]:
        return list(self.tables.get(table, {}).values())

    def authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def state_of(self, label: str) -> str:
        with self.lock:
            script = self.scripts.get(label)
            if script and script.states:
                state = script.states.pop(0) if len(script.states) > 1 else script.states[0]
                if state in ("VISIBLE", "ABORTED", "COMMITTED"):
                    self.labels[label] = state
                return state
            return self.labels.get(label, "UNKNOWN")

    def apply(self, database: str, table: str, rows: list[Row]) -> None:
        if self.sink is not None:
            self.sink(database, table, rows)
            return
        target = self.tables.setdefault(table, {})
        keys = self.keys.get(table)
        for row in rows:
            target[tuple(row[k] for k in keys) if keys else (len(target),)] = row


def parse_body(headers: dict[str, str], body: bytes) -> list[Row]:
    """Decode a Stream Load body the way the BE does (CSV with \\x01/\\x02/\\N, or a JSON array)."""
    columns = [c.strip().strip("`") for c in headers.get("columns", "").split(",")]
    if headers.get("format", "CSV").upper() == "JSON":
        return json.loads(body)
    assert headers.get("column_separator") == "\\x01" and headers.get("row_delimiter") == "\\x02", headers
    text = body.decode("utf-8")
    lines = text.split("\x02")
    assert lines[-1] == "", "every row must end with the row delimiter"
    rows = []
    for line in lines[:-1]:
        fields = line.split("\x01")
        assert len(fields) == len(columns), f"{len(fields)} fields for {len(columns)} columns"
        rows.append({c: (None if v == "\\N" else v) for c, v in zip(columns, fields, strict=True)})
    return rows


def _fail(label: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"TxnId": -1, "Label": label, "Status": "Fail", "Message": message, "NumberTotalRows": 0,
            "NumberLoadedRows": 0, "NumberFilteredRows": 0, **extra}


def _handler(fake: FakeStarRocks, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _record(self, body_bytes: int) -> None:
            fake.requests.append(Request(role, self.command, self.path, dict(self.headers.items()), body_bytes))

        def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse_early(self, status: int, payload: Any) -> bool:
            self._record(0)
            self._send(status, payload)
            self.close_connection = True
            return False

        def handle_expect_100(self) -> bool:
            if role == "fe":
                return self._fe_redirect()
            if fake.http_error:
                return self._refuse_early(fake.http_error, b"Service Unavailable")
            if not fake.authorized(self.headers.get("Authorization")):
                return self._refuse_early(401, {"Status": "Fail", "Message": "Access denied"})
            too_big = self._json_too_big()
            if too_big:
                return self._refuse_early(200, _fail(self.headers.get("label", ""), too_big))
            return super().handle_expect_100()

        def _fe_redirect(self) -> bool:
            # FE LoadAction: authenticate first, then redirect to a BE's HTTP port (never https).
            if not fake.authorized(self.headers.get("Authorization")):
                return self._refuse_early(401, {"status": "FAILED", "msg": "Access denied for user"})
            self._record(0)
            self._send(307, headers={"Location": fake.be_url + self.path})
            self.close_connection = True
            return False

        def _json_too_big(self) -> str | None:
            if self.headers.get("format", "").upper() != "JSON":
                return None
            size = int(self.headers.get("Content-Length", 0))
            if self.headers.get("ignore_json_size", "").lower() == "true" or size <= fake.json_max_bytes:
                return None
            return JSON_TOO_BIG.format(limit=fake.json_max_bytes, size=size)

        def do_PUT(self) -> None:  # noqa: N802
            if role == "fe":  # a client that sent no Expect header still gets the redirect (after auth)
                self._fe_redirect()
                return
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            self._record(len(body))
            label = self.headers.get("label", "")
            if self.headers.get("Expect", "").lower() != "100-continue":
                self._send(200, _fail(label, "There is no 100-continue header"))
                return
            if not body:  # what an empty body gets from the BE: nothing is loaded
                self._send(200, _fail(label, "The size of this batch is 0"))
                return
            database, table = self.path.split("/")[2:4]
            with fake.lock:
                state = fake.labels.get(label)
                script = fake.scripts.get(label, fake.default)
                if state is None or state == "ABORTED":
                    fake.labels[label] = "PREPARE"  # this request now holds the label
            if state is not None and state != "ABORTED":
                existing = "FINISHED" if state in ("COMMITTED", "VISIBLE") else "RUNNING"
                self._send(200, {"Status": "Label Already Exists", "Label": label, "ExistingJobStatus": existing,
                                 "Message": f"Label [{label}] has already been used."})
                return
            fake.bodies.append((dict(self.headers.items()), body))
            self._deliver(database, table, label, script, body)

        def _deliver(self, database: str, table: str, label: str, script: Script, body: bytes) -> None:
            if script.status == "Fail":
                with fake.lock:
                    fake.labels[label] = "ABORTED"  # a failed load is rolled back; its label is free again
                if script.message is not None:
                    self._send(200, _fail(label, script.message))
                    return
                key = f"err_{label}"
                fake.error_logs[key] = "Error: Value count does not match column count. Row: 'bad\\x01row'"
                self._send(200, _fail(label, "too many filtered rows", NumberFilteredRows=1,
                                      ErrorURL=f"{fake.be_url}/api/_load_error_log?file={key}"))
                return
            rows = parse_body(dict(self.headers.items()), body)
            try:
                fake.apply(database, table, rows)
            except RefusedRows as exc:
                with fake.lock:
                    fake.labels[label] = "ABORTED"
                self._send(200, _fail(label, str(exc)))
                return
            with fake.lock:
                fake.labels[label] = "COMMITTED" if script.status == "Publish Timeout" else "VISIBLE"
            if script.status == "Drop":  # the load committed but the answer is lost (crash, network)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(200, {"Status": script.status, "Label": label, "TxnId": len(fake.labels),
                             "NumberTotalRows": len(rows), "NumberLoadedRows": len(rows),
                             "NumberFilteredRows": 0, "Message": "OK"})

        def do_GET(self) -> None:  # noqa: N802
            self._record(0)
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path.endswith("/get_load_state"):
                if role == "fe" and fake.leader_url:
                    self._send(307, headers={"Location": fake.leader_url + self.path})
                    return
                if not fake.authorized(self.headers.get("Authorization")):
                    self._send(401, {"status": "FAILED", "msg": "Access denied"})
                    return
                self._send(200, {"status": "OK", "state": fake.state_of(query["label"][0])})
            elif url.path == "/api/_load_error_log" and role == "be":
                self._send(200, fake.error_logs.get(query["file"][0], "").encode())
            else:
                self._send(404, {"msg": "not found"})

    return Handler

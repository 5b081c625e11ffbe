"""A local FE + BE pair that speaks the documented Stream Load protocol (for contract tests).

FE (`/api/{db}/{table}/_stream_load`): requires `Expect: 100-continue` and answers `307` to the BE
before any body is sent; `/api/{db}/get_load_state?label=` reports a label's state.
BE: requires basic auth and a label before it accepts the body (`100 Continue`), parses the
CSV (\\x01 / \\x02 / \\N) or JSON body into rows, applies label semantics, and answers HTTP 200
with the JSON `Status` the test scripted for that label. `/api/_load_error_log` serves ErrorURL text.

Rows land in `tables[name]` keyed by the columns listed in `keys` (a Primary Key table: a later
row with the same key replaces the earlier one), or are handed to `sink` (e.g. a MariaDB insert).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Row = dict[str, Any]


@dataclass
class Script:
    """What the BE does with one label's first delivery."""

    status: str = "Success"  # Success | Publish Timeout | Fail | Drop (apply, then close without answering)
    states: list[str] = field(default_factory=list)  # get_load_state answers, in order (last repeats)


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
                 sink: Callable[[str, list[Row]], None] | None = None) -> None:
        self.user, self.password = user, password
        self.keys = keys or {}
        self.sink = sink
        self.tables: dict[str, dict[tuple, Row]] = {}
        self.bodies: list[tuple[dict[str, str], bytes]] = []  # (headers, body) of every BE delivery
        self.requests: list[Request] = []
        self.labels: dict[str, str] = {}  # label -> state (VISIBLE, COMMITTED, RUNNING, ABORTED)
        self.scripts: dict[str, Script] = {}
        self.default = Script()
        self.error_logs: dict[str, str] = {}
        self.http_error: int | None = None  # the BE answers every PUT with this status (e.g. 503)
        self.lock = threading.Lock()
        self.fe = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "fe"))
        self.be = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "be"))
        for server in (self.fe, self.be):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def fe_url(self) -> str:
        return f"http://127.0.0.1:{self.fe.server_address[1]}"

    @property
    def be_url(self) -> str:
        return f"http://127.0.0.1:{self.be.server_address[1]}"

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
                if state == "VISIBLE" or state == "ABORTED":
                    self.labels[label] = state
                return state
            return self.labels.get(label, "UNKNOWN")

    def apply(self, table: str, rows: list[Row]) -> None:
        if self.sink is not None:
            self.sink(table, rows)
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

        def handle_expect_100(self) -> bool:
            if role == "fe":  # the FE never takes the body: it redirects to a BE first
                self._record(0)
                self._send(307, headers={"Location": fake.be_url + self.path})
                self.close_connection = True
                return False
            if fake.http_error:
                self._record(0)
                self._send(fake.http_error, b"Service Unavailable")
                self.close_connection = True
                return False
            if not fake.authorized(self.headers.get("Authorization")):
                self._record(0)
                self._send(401, {"Status": "Fail", "Message": "Access denied"})
                self.close_connection = True
                return False
            if not self.headers.get("label"):
                self._record(0)
                self._send(200, {"Status": "Fail", "Message": "no label"})
                self.close_connection = True
                return False
            return super().handle_expect_100()

        def do_PUT(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            self._record(len(body))
            if self.headers.get("Expect", "").lower() != "100-continue":
                self._send(200, {"Status": "Fail", "Message": "There is no 100-continue header"})
                return
            table = self.path.split("/")[3]
            label = self.headers["label"]
            with fake.lock:
                state = fake.labels.get(label)
                script = fake.scripts.get(label, fake.default)
            if state in ("VISIBLE", "COMMITTED", "RUNNING"):
                existing = "RUNNING" if state == "RUNNING" else "FINISHED"
                self._send(200, {"Status": "Label Already Exists", "Label": label, "ExistingJobStatus": existing,
                                 "Message": f"Label [{label}] has already been used."})
                return
            fake.bodies.append((dict(self.headers.items()), body))
            if script.status == "Fail":
                key = f"err_{label}"
                fake.error_logs[key] = "Error: Value count does not match column count. Row: 'bad\\x01row'"
                self._send(200, {"Status": "Fail", "Label": label, "Message": "too many filtered rows",
                                 "NumberFilteredRows": 1,
                                 "ErrorURL": f"{fake.be_url}/api/_load_error_log?file={key}"})
                return
            rows = parse_body(dict(self.headers.items()), body)
            fake.apply(table, rows)
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
                if not fake.authorized(self.headers.get("Authorization")):
                    self._send(401, {"status": "FAILED", "msg": "Access denied"})
                    return
                self._send(200, {"status": "OK", "state": fake.state_of(query["label"][0])})
            elif url.path == "/api/_load_error_log" and role == "be":
                self._send(200, fake.error_logs.get(query["file"][0], "").encode())
            else:
                self._send(404, {"msg": "not found"})

    return Handler

"""A tiny HTTP proxy in front of Azurite: records every request and can fail chosen blob downloads.

The pipeline talks to the proxy (its connection string points at it); the tests upload and
overwrite blobs directly in Azurite. The log answers "how many times was this blob version
downloaded" and "how many listing calls did a run make"; `fail_next` injects real 5xx answers.
Shared-Key signatures do not cover the Host header, so forwarding keeps them valid.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "host"}


@dataclass(frozen=True)
class Request:
    """One request the proxy answered."""

    method: str
    path: str  # unquoted, e.g. /devstoreaccount1/landing/facts/fis/...
    query: str
    status: int
    etag: str | None

    @property
    def is_download(self) -> bool:
        """A successful blob GET (not a listing, which carries comp=list)."""
        return self.method == "GET" and self.status in (200, 206) and "comp=" not in self.query

    @property
    def is_listing(self) -> bool:
        return self.method == "GET" and "comp=list" in self.query


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client dropping a keep-alive connection is normal, not worth a traceback


class BlobProxy:
    """Forward to Azurite on `upstream_port`; log requests; answer chosen GETs with an error first."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.log: list[Request] = []
        self._faults: dict[str, list[int]] = {}  # path suffix -> statuses still to answer
        self.download_delay = 0.0  # seconds each blob GET is held, to make parallel downloads overlap
        self.in_flight = 0
        self.max_in_flight = 0  # most blob GETs served at the same time
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BlobProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, path_suffix: str, times: int, status: int = 503) -> None:
        """Answer the next `times` GETs of a blob whose path ends with `path_suffix` with `status`."""
        with self._lock:
            self._faults[path_suffix] = [status] * times

    def mark(self) -> int:
        """A position in the log, to look only at what happens after it."""
        return len(self.log)

    def downloads(self, since: int = 0, path_suffix: str = "") -> list[Request]:
        return [r for r in self.log[since:] if r.is_download and r.path.endswith(path_suffix)]

    def listings(self, since: int = 0) -> list[Request]:
        return [r for r in self.log[since:] if r.is_listing]

    def requests_for(self, path_suffix: str, since: int = 0) -> list[Request]:
        return [r for r in self.log[since:] if r.path.endswith(path_suffix)]

    # ------------------------------------------------------------------ internals
    def _fault_for(self, method: str, path: str) -> int | None:
        if method != "GET":
            return None
        with self._lock:
            for suffix, pending in self._faults.items():
                if path.endswith(suffix) and pending:
                    return pending.pop(0)
        return None

    @contextmanager
    def _download(self, method: str, query: str) -> Iterator[None]:
        if method != "GET" or "comp=" in query:
            yield
            return
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.download_delay)
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)


def _handler(proxy: BlobProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK expects

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the default
            pass

        def _forward(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy._fault_for(self.command, path)
            if fault is not None:
                self._answer_error(fault)
                proxy._record(Request(self.command, path, parts.query, fault, None))
                return
            with proxy._download(self.command, parts.query):
                status, reason, headers, data = self._relay(body)
            self.send_response_only(status, reason)
            for k, v in headers:
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            # HEAD answers carry the blob's length but no body.
            length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
            self.send_header("Content-Length", length if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            etag = next((v for k, v in headers if k.lower() == "etag"), None)
            proxy._record(Request(self.command, path, parts.query, status, etag))

        def _relay(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                resp = upstream.getresponse()
                return resp.status, resp.reason, resp.getheaders(), resp.read()
            finally:
                upstream.close()

        def _answer_error(self, status: int) -> None:
            body = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
                    b"<Message>Injected by the test proxy.</Message></Error>")
            self.send_response_only(status, "Injected")
            self.send_header("Content-Type", "application/xml")
            self.send_header("x-ms-error-code", "ServerBusy")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    return Handler

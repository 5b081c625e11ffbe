"""A local OTLP/HTTP receiver for tests: decodes the protobuf requests an exporter POSTs, as SigNoz's collector would.

It answers `/v1/traces`, `/v1/metrics` and `/v1/logs` with the protocol's (empty) success responses and keeps
every decoded request, so a test reads exactly what a process exported over the wire.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_ROUTES: dict[str, tuple[type, type]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def value_of(v: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(value_of(x) for x in v.array_value.values)
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    """OTLP KeyValue list -> dict."""
    return {kv.key: value_of(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


@dataclass
class ExportedSpan:
    """One span as received: its resource, ids (hex), parent, name, attributes, status and events."""

    resource: dict[str, Any]
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: list[tuple[str, dict[str, Any]]]


@dataclass
class ExportedPoint:
    """One metric data point as received: sum/gauge value, or histogram count and sum."""

    resource: dict[str, Any]
    name: str
    unit: str
    attributes: dict[str, Any]
    value: float
    count: int | None = None


@dataclass
class Received:
    """Everything the receiver decoded, by signal."""

    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[ExportLogsServiceRequest] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    def spans(self) -> list[ExportedSpan]:
        out = []
        for req in self.traces:
            for rs in req.resource_spans:
                res = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(ExportedSpan(
                            res, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name,
                            attributes(s.attributes), s.status.code, s.status.message,
                            [(e.name, attributes(e.attributes)) for e in s.events],
                        ))
        return out

    def points(self) -> list[ExportedPoint]:
        out = []
        for req in self.metrics:
            for rm in req.resource_metrics:
                res = attributes(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        for p in getattr(m, kind).data_points:
                            if kind == "histogram":
                                out.append(ExportedPoint(res, m.name, m.unit, attributes(p.attributes), p.sum, p.count))
                            else:
                                value = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                                out.append(ExportedPoint(res, m.name, m.unit, attributes(p.attributes), value))
        return out


class _Handler(BaseHTTPRequestHandler):
    received: Received
    lock: threading.Lock

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        route = _ROUTES.get(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if route is None:
            self.send_error(404)
            return
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        request_type, response_type = route
        request = request_type.FromString(body)  # raises on anything that is not this protobuf message
        with self.lock:
            self.received.content_types.add(self.headers.get("Content-Type", ""))
            {"/v1/traces": self.received.traces, "/v1/metrics": self.received.metrics,
             "/v1/logs": self.received.logs}[self.path].append(request)
        payload = response_type().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on 127.0.0.1 (a free port); yields its endpoint URL and what it received."""
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()

"""Provider setup: where DataWiz's spans and metrics go (SigNoz over OTLP), configured once per process.

`tasks/telemetry.py` and Prefect itself (a span per flow run and task run) use the OpenTelemetry *API*
only; this module installs the SDK behind it:

- `OTEL_EXPORTER_OTLP_ENDPOINT` set: a tracer provider (BatchSpanProcessor) and a meter provider
  (PeriodicExportingMetricReader) exporting OTLP/HTTP protobuf there, plus the worker's CPU and memory
  (OTel system-metrics instrumentation). The exporter reads the rest of the standard `OTEL_*` variables
  itself (headers such as a SigNoz ingestion key, timeout, compression, metric temporality).
- unset: nothing is installed, the API stays a no-op and nothing is exported.

`setup()` runs on import of the `tasks` package, so every process that runs flows (`python flows/x.py`,
the `datawiz` CLI, a worker's `python -m prefect.engine`) configures itself; it is idempotent. The SDK
shuts its providers down at interpreter exit, which flushes the last spans and metrics of a short run.

Every span leaves through `RedactingSpanProcessor`: Prefect records task exceptions and state messages on
its spans verbatim, and a library exception may echo a connection string.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from importlib import metadata

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes, AttributeValue

from datawiz.core.environment import current_env
from datawiz.core.redact import redact

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "datawiz"
# CPU and memory of the worker, kept small: the instrumentation's default set is ~30 series per process.
SYSTEM_METRICS: dict[str, list[str] | None] = {
    "system.cpu.utilization": ["idle", "user", "system", "irq"],
    "system.memory.usage": ["used", "free", "cached"],
    "system.memory.utilization": ["used", "free", "cached"],
    "process.cpu.utilization": None,
    "process.memory.usage": None,
}

_lock = threading.Lock()
_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None


def setup(environ: Mapping[str, str] = os.environ) -> bool:
    """Configure this process once: JSON log files always, OTLP export when the endpoint is set.

    Returns True when DataWiz's providers are installed (now or by an earlier call).
    """
    from datawiz.logs import install_json_logs  # logging is independent of export

    install_json_logs()
    if _tracer_provider is not None:
        return True
    if not environ.get(ENDPOINT_VARIABLE):
        return False
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    configure(BatchSpanProcessor(OTLPSpanExporter()), PeriodicExportingMetricReader(OTLPMetricExporter()))
    return True


def configure(
    span_processor: SpanProcessor, metric_reader: MetricReader | None = None, system_metrics: bool = True
) -> TracerProvider:
    """Install the global tracer and meter providers with these processor and reader (tests pass in-memory ones).

    OTel lets a process set its global providers once. A second call adds its span processor to the
    installed tracer provider; a meter provider takes its readers at creation, so a second reader is refused.
    """
    global _tracer_provider, _meter_provider
    with _lock:
        if _tracer_provider is not None:
            if metric_reader is not None:
                raise RuntimeError("the meter provider is already installed; its readers cannot change")
            _tracer_provider.add_span_processor(RedactingSpanProcessor(span_processor))
            return _tracer_provider
        res = resource()
        tracer_provider = TracerProvider(resource=res)
        tracer_provider.add_span_processor(RedactingSpanProcessor(span_processor))
        trace.set_tracer_provider(tracer_provider)
        if metric_reader is not None:
            meter_provider = MeterProvider(resource=res, metric_readers=[metric_reader])
            metrics.set_meter_provider(meter_provider)
            _meter_provider = meter_provider
            if system_metrics:
                from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

                SystemMetricsInstrumentor(config=SYSTEM_METRICS).instrument(meter_provider=meter_provider)
        _tracer_provider = tracer_provider
        return tracer_provider


def resource() -> Resource:
    """service.name `datawiz`, service.version from the package, deployment.environment from DATAWIZ_ENV.

    `OTEL_RESOURCE_ATTRIBUTES` adds attributes (and `OTEL_SERVICE_NAME` would rename the service).
    """
    env = environment()
    return Resource.create({
        SERVICE_NAME: SERVICE,
        SERVICE_VERSION: _version(),
        # Each flow-run process is its own instance: cumulative series of two processes never merge.
        SERVICE_INSTANCE_ID: uuid.uuid4().hex,
        "deployment.environment": env,
        "deployment.environment.name": env,  # the newer semantic-convention name
    })


def environment() -> str:
    """The deployment environment: DATAWIZ_ENV as `datawiz.core.environment` reads it (dev when unset)."""
    try:
        return current_env()
    except ValueError:
        return "invalid"


def _version() -> str:
    try:
        return metadata.version("datawiz")
    except metadata.PackageNotFoundError:
        return "unknown"


def flush(timeout_millis: int = 10_000) -> None:
    """Export what is buffered now (spans and metrics); a no-op when nothing is installed."""
    if _tracer_provider is not None:
        _tracer_provider.force_flush(timeout_millis)
    if _meter_provider is not None:
        _meter_provider.force_flush(timeout_millis)


class RedactingSpanProcessor(SpanProcessor):
    """Hands finished spans on with every string attribute, event attribute and status message redacted."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(redacted_span(span))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """`span` itself when it holds nothing secret-looking, else a copy with the secrets masked."""
    attributes = _redact_attributes(span.attributes)
    events = [Event(e.name, _redact_attributes(e.attributes), e.timestamp) for e in span.events]
    description = redact(span.status.description) if span.status.description else None
    unchanged = attributes == dict(span.attributes or {}) and description == span.status.description
    same_events = (new.attributes == dict(old.attributes or {}) for new, old in zip(events, span.events, strict=True))
    if unchanged and all(same_events):
        return span
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=events, links=span.links, kind=span.kind,
        status=Status(span.status.status_code, description), start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _redact_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for key, value in (attributes or {}).items():
        if isinstance(value, str):
            out[key] = redact(value)
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            out[key] = tuple(redact(v) if isinstance(v, str) else v for v in value)
        else:
            out[key] = value
    return out

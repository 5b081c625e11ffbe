"""In-memory OpenTelemetry for tests: the SDK's own exporter and reader behind DataWiz's providers.

A process sets its global providers once, so the first caller installs them (through
`datawiz.observability.configure`, exactly as production does with OTLP) and every later caller
shares them. Counters and histograms are read as deltas: each `Telemetry.metrics()` returns what
was recorded since the previous call.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableGauge, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from datawiz import observability


@dataclass
class Point:
    """One data point: its metric, attributes, and value (sum / last value, or histogram count and sum)."""

    name: str
    attributes: dict[str, object]
    value: float
    count: int | None = None


class _SwitchedExporter(InMemorySpanExporter):
    """Keeps spans only while a test captures: the providers outlive the test, the spans must not pile up."""

    recording = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return super().export(spans) if self.recording else SpanExportResult.SUCCESS


@dataclass
class Telemetry:
    """The process-wide in-memory exporter and reader."""

    spans_exporter: _SwitchedExporter
    reader: InMemoryMetricReader

    @contextmanager
    def capture(self) -> Iterator[Telemetry]:
        """Keep the spans finished inside the block; metric deltas start from its beginning."""
        self.spans_exporter.clear()
        self.reader.get_metrics_data()
        self.spans_exporter.recording = True
        try:
            yield self
        finally:
            self.spans_exporter.recording = False

    def reset(self) -> None:
        """Forget the spans so far and drain the metric deltas recorded so far."""
        self.spans_exporter.clear()
        self.reader.get_metrics_data()

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def metrics(self) -> list[Point]:
        """Every data point recorded since the last call (gauges: their current value)."""
        data = self.reader.get_metrics_data()
        points: list[Point] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for p in metric.data.data_points:
                        if hasattr(p, "bucket_counts"):
                            points.append(Point(metric.name, dict(p.attributes), p.sum, p.count))
                        else:
                            points.append(Point(metric.name, dict(p.attributes), p.value))
        return points


def by_table(points: list[Point], name: str, field: str = "table") -> dict[str, float]:
    """Sum of one metric's values per value of one attribute."""
    out: dict[str, float] = defaultdict(float)
    for p in points:
        if p.name == name:
            out[str(p.attributes.get(field))] += p.value
    return dict(out)


@functools.cache
def memory_telemetry() -> Telemetry:
    """Install (once per process) DataWiz's providers with an in-memory exporter and a delta reader."""
    exporter = _SwitchedExporter()
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={
        Counter: delta, UpDownCounter: delta, Histogram: delta, ObservableGauge: AggregationTemporality.CUMULATIVE,
    })
    observability.configure(SimpleSpanProcessor(exporter), reader)
    return Telemetry(exporter, reader)


telemetry = memory_telemetry  # the name tests/reliability/test_secrets.py imports

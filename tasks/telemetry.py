"""Telemetry API used by the pipeline stages: one span and one duration sample per stage.

Code that does work calls `stage(...)` (a child span of the current Prefect task span, plus a
sample of the `datawiz.stage.duration` histogram) and `count(...)` for its counters. Both go
through the OpenTelemetry *API*: they cost next to nothing and export nothing until a provider is
configured (see `datawiz/observability.py`), so stages never need to know whether tracing is on.

Attributes are names and numbers about the work (table, file, version, rows, bytes, backend,
label) — never row data, connection strings or secrets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.trace import Span

AttrValue = str | int | float | bool

_tracer = trace.get_tracer("datawiz")
_meter = metrics.get_meter("datawiz")
_stage_seconds = _meter.create_histogram(
    "datawiz.stage.duration", unit="s", description="Wall time of one pipeline stage for one file"
)


def _clean(attributes: dict[str, object]) -> dict[str, AttrValue]:
    # OTel accepts only primitives; None means "not known here" and is left out.
    return {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in attributes.items()
            if v is not None}


@contextmanager
def stage(name: str, **attributes: object) -> Iterator[Span]:
    """Span `datawiz.<name>` around a block of work; records its duration and any exception.

    Attributes known only at the end (rows written, say) are set on the yielded span.
    """
    attrs = _clean({"datawiz.stage": name, **attributes})
    started = time.perf_counter()
    with _tracer.start_as_current_span(f"datawiz.{name}", attributes=attrs) as span:
        try:
            yield span
        finally:
            labels = {"stage": name, "table": str(attributes.get("table", ""))}
            _stage_seconds.record(time.perf_counter() - started, labels)

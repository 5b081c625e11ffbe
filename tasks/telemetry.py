"""Telemetry API used by the pipeline: stage spans, and the `datawiz.*` metrics.

Code that does work calls `stage(...)` (a child span of the current Prefect task span, plus a sample of
the `datawiz.stage.duration` histogram); the run and file outcomes are counted by `record_file_metrics`,
`record_job` and `record_freshness`. Everything goes through the OpenTelemetry *API*: it costs next to
nothing and exports nothing until a provider is configured (see `datawiz/observability.py`), so stages
never need to know whether tracing is on.

Span attributes are names and numbers about the work (table, file, version, rows, bytes, backend, label)
— never row data, connection strings or secrets. Metric attributes are low-cardinality only (table,
stage, flow, status, backend): no file names, which would make one series per file.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, Status, StatusCode

from datawiz.core.redact import redact
from tasks.paths import data_dir

if TYPE_CHECKING:
    from blocks.warehouse.base import Warehouse
    from tasks.file_report import FileReport

AttrValue = str | int | float | bool
LOAD_STAGE = "load"
# Per table: a file version's outcome, and rows by what happened to them (as etl_file_ledger counts them).
FILE_OUTCOMES = ("extracted", "loaded", "quarantined", "rejected", "superseded")
ROW_OUTCOMES = ("extracted", "loaded", "quarantined", "rejected")
# Seconds: a stage on one file takes milliseconds (a small dimension) to minutes (a large fact file).
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_ROWS_PER_SECOND_BUCKETS = (100, 1e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2e6, 5e6)

_tracer = trace.get_tracer("datawiz")
_meter = metrics.get_meter("datawiz")
_stage_seconds = _meter.create_histogram(
    "datawiz.stage.duration", unit="s", description="Wall time of one pipeline stage for one file",
    explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
)
_load_throughput = _meter.create_histogram(
    "datawiz.load.throughput", unit="{row}/s", description="Rows per second written by the load stage of one file",
    explicit_bucket_boundaries_advisory=_ROWS_PER_SECOND_BUCKETS,
)
_files = {
    outcome: _meter.create_counter(f"datawiz.files.{outcome}", unit="{file}",
                                   description=f"File versions {outcome}, per table")
    for outcome in FILE_OUTCOMES
}
_rows = {
    outcome: _meter.create_counter(f"datawiz.rows.{outcome}", unit="{row}", description=f"Rows {outcome}, per table")
    for outcome in ROW_OUTCOMES
}
_job_runs = _meter.create_counter(
    "datawiz.job.runs", unit="{run}", description="Pipeline flow runs (attempts) by flow and status"
)
_job_seconds = _meter.create_histogram(
    "datawiz.job.duration", unit="s", description="Wall time of a pipeline flow run by flow and status",
    explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
)


def _clean(attributes: dict[str, object]) -> dict[str, AttrValue]:
    # OTel accepts only primitives; None means "not known here" and is left out.
    return {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in attributes.items()
            if v is not None}


@contextmanager
def stage(name: str, **attributes: object) -> Iterator[Span]:
    """Span `datawiz.<name>` around a block of work; records its duration and any exception (redacted).

    Attributes known only at the end (rows written, say) are set on the yielded span. The load stage
    also records its rows per second (`rows`, as set last on the span) in `datawiz.load.throughput`.
    """
    attrs = _clean({"datawiz.stage": name, **attributes})
    started = time.perf_counter()
    # Exceptions are recorded here, redacted, instead of by the SDK with their raw text.
    with _tracer.start_as_current_span(f"datawiz.{name}", attributes=attrs, record_exception=False,
                                       set_status_on_exception=False) as span:
        status = "ok"
        try:
            yield span
        except BaseException as exc:
            status = "error"
            record_error(span, exc)
            raise
        finally:
            seconds = time.perf_counter() - started
            labels = {"stage": name, "table": str(attributes.get("table") or ""), "status": status}
            _stage_seconds.record(seconds, labels)
            rows = _final_rows(span, attributes)
            if name == LOAD_STAGE and status == "ok" and rows and seconds > 0:
                _load_throughput.record(rows / seconds, {"table": labels["table"]})


def _final_rows(span: Span, attributes: dict[str, object]) -> int | None:
    # A stage may set `rows` on the span when it knows them (a streamed load); else the opening value.
    rows = (getattr(span, "attributes", None) or {}).get("rows", attributes.get("rows"))
    return int(rows) if isinstance(rows, (int, float)) else None


def record_error(span: Span, exc: BaseException) -> None:
    """Mark the span failed with the exception's type and redacted message and traceback."""
    message = redact(str(exc))
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    span.set_attribute("error.type", type(exc).__name__)
    span.add_event("exception", {
        "exception.type": type(exc).__name__,
        "exception.message": message,
        "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
    })


def record_file_metrics(report: FileReport) -> None:
    """Count one file version's outcome and rows per table, as its etl_file_ledger row records them.

    A version another run committed first (`skipped`) is that run's to count.
    """
    if report.status == "skipped":
        return
    table, stats = {"table": report.table}, report.stats
    _files["extracted"].add(1, table)
    _rows["extracted"].add(stats.rows_in, table)
    if report.status in ("rejected", "superseded"):
        _files[report.status].add(1, table)
        if report.status == "rejected":
            _rows["rejected"].add(stats.rows_in, table)
        return
    _files["loaded"].add(1, table)
    _rows["loaded"].add(stats.rows_loaded, table)
    if stats.rows_quarantined:
        _files["quarantined"].add(1, table)
        _rows["quarantined"].add(stats.rows_quarantined, table)


def record_job(flow: str, status: str, seconds: float) -> None:
    """Count one pipeline flow run (attempt) as completed or failed, with its wall time."""
    labels = {"flow": flow, "status": status}
    _job_runs.add(1, labels)
    _job_seconds.record(seconds, labels)


def annotate_run(**attributes: object) -> None:
    """Add attributes (business date, run id, backend) to the current span: the flow run's, in a flow."""
    span = trace.get_current_span()
    for key, value in _clean(attributes).items():
        span.set_attribute(f"datawiz.{key}", value)


# ---------------------------------------------------------------- freshness and disk (observable gauges)

_newest_loaded: dict[str, dt.date] = {}
_IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")  # business dates are IST days


def record_freshness(warehouse: Warehouse) -> dict[str, dt.date]:
    """Read the newest loaded business date of every fact table from the ledger, for `datawiz.freshness.age`."""
    from datawiz.core.registry import CONTRACTS, LoadMode

    facts = {c.target_table for c in CONTRACTS.values() if c.load_mode is LoadMode.FACT_UPSERT}
    for table, newest in warehouse.ledger_newest_dates().items():
        if table in facts and newest is not None:
            _newest_loaded[table] = _as_date(newest)
    return dict(_newest_loaded)


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def freshness_age_seconds(newest: dt.date, now: dt.datetime | None = None) -> float:
    """Seconds since the end (IST midnight) of the newest loaded business day: 8 h at an 08:00 IST morning."""
    day_end = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), _IST)
    return ((now or dt.datetime.now(dt.UTC)) - day_end).total_seconds()


def _observe_freshness(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(freshness_age_seconds(d), {"table": t}) for t, d in sorted(_newest_loaded.items())]


def _observe_disk_free(_: CallbackOptions) -> Iterable[Observation]:
    folder = _existing(data_dir())
    return [Observation(psutil.disk_usage(str(folder)).free, {"folder": "data"})]


def _existing(path: Path) -> Path:
    # Before the first run the data folder may not exist yet: measure the disk it will be on.
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path if path.exists() else Path(os.sep)


_meter.create_observable_gauge(
    "datawiz.freshness.age", callbacks=[_observe_freshness], unit="s",
    description="Age of the newest loaded business date per fact table (seconds since that IST day ended)",
)
_meter.create_observable_gauge(
    "datawiz.disk.free", callbacks=[_observe_disk_free], unit="By",
    description="Free space on the disk of the data folder (DATAWIZ_DATA_DIR)",
)

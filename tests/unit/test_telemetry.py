"""Telemetry pieces on their own: log rotation and retention, log routing and redaction, span redaction,
stage errors, provider setup from the environment, and the small computations behind the metrics."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prefect.logging.configuration import load_logging_config

from blocks.warehouse.base import statement_operation
from datawiz import logs
from datawiz.observability import RedactingSpanProcessor
from tasks.telemetry import freshness_age_seconds, stage
from tests.otel_harness import by_table, memory_telemetry

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Hunter2-secret"


def _midnight(day: dt.date) -> float:
    return time.mktime(day.timetuple())  # local midnight, as the handler computes it


def _record(message: str, name: str = "tasks.test", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_files_rotate_at_midnight_and_keep_30_days(tmp_path: Path) -> None:
    handler = logs.area_handler("etl", str(tmp_path))
    start = dt.date(2026, 1, 1)
    try:
        for i in range(35):  # 35 simulated day changes: the clock passes midnight before each line
            day = start + dt.timedelta(days=i)
            handler.rolloverAt = int(_midnight(day))
            handler.handle(_record(f"line of {day}"))
    finally:
        handler.close()
    folder = tmp_path / "etl"
    dated = sorted(p.name for p in folder.iterdir() if p.name != "etl.jsonl")
    kept = [start + dt.timedelta(days=i) for i in range(4, 34)]  # the last 30 complete days
    assert dated == [f"etl.jsonl.{d}" for d in kept]
    for d in kept:
        (line,) = (folder / f"etl.jsonl.{d}").read_text().splitlines()
        assert json.loads(line)["message"] == f"line of {d}"
    assert json.loads((folder / "etl.jsonl").read_text())["message"] == f"line of {start + dt.timedelta(days=34)}"


def test_two_processes_sharing_a_file_lose_no_line_at_midnight(tmp_path: Path) -> None:
    # Two handlers on one file behave as a worker and a flow-run process do: each rolls over on its own.
    first, second = logs.area_handler("etl", str(tmp_path)), logs.area_handler("etl", str(tmp_path))
    try:
        first.handle(_record("first, day 1"))
        second.handle(_record("second, day 1"))
        first.rolloverAt = second.rolloverAt = int(_midnight(dt.date(2026, 3, 2)))
        first.handle(_record("first, day 2"))  # renames the file to etl.jsonl.2026-03-01
        second.handle(_record("second, day 2"))  # finds it renamed: reopens instead of overwriting it
    finally:
        first.close()
        second.close()

    def messages(name: str) -> list[str]:
        return [json.loads(line)["message"] for line in (tmp_path / "etl" / name).read_text().splitlines()]

    assert messages("etl.jsonl.2026-03-01") == ["first, day 1", "second, day 1"]
    assert messages("etl.jsonl") == ["first, day 2", "second, day 2"]


@pytest.mark.parametrize(("record", "area"), [
    (_record("x", "prefect.flow_runs", flow_name="morning"), "flows"),
    (_record("x", "prefect.flow_runs.runner"), "flows"),
    (_record("x", "prefect.workers.process"), "flows"),
    (_record("x", "prefect.task_runs", flow_name="morning", task_name="ingest-file"), "etl"),
    (_record("x", "blocks.warehouse.mysql"), "etl"),
    (_record("x", "prefect.task_runs", flow_name="morning", task_name="send-email"), "notifications"),
    (_record("x", "prefect.flow_runs", flow_name="alert"), "notifications"),
    (_record("x", "tasks.notify"), "notifications"),
    (_record("x", "prefect.server.api"), None),
    (_record("x", "urllib3.connectionpool"), None),
])
def test_records_are_routed_to_their_area(record: logging.LogRecord, area: str | None) -> None:
    assert logs.area_of(record) == area


def test_a_json_line_carries_run_ids_the_current_span_and_no_secret() -> None:
    provider = TracerProvider()
    span = provider.get_tracer("test").start_span("work")
    record = _record(f"connecting to mysql://etl:{SECRET}@db:3306/dw with password={SECRET}", "prefect.task_runs",
                     flow_run_id="f-1", task_run_id="t-1", task_name="ingest-file", flow_name="morning")
    try:
        raise RuntimeError(f"AccountKey={SECRET};")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    with trace.use_span(span, end_on_exit=True):
        line = json.loads(logs.JsonLinesFormatter().format(record))
    assert SECRET not in json.dumps(line)
    assert line["message"] == "connecting to mysql://etl:***@db:3306/dw with password=***"
    assert "AccountKey=***" in line["exception"]
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert (line["flow_run_id"], line["task_run_id"], line["task_name"]) == ("f-1", "t-1", "ingest-file")
    outside = json.loads(logs.JsonLinesFormatter().format(_record("no span here")))
    assert "trace_id" not in outside and outside["level"] == "INFO" and outside["logger"] == "tasks.test"


def test_spans_leave_with_secrets_masked() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(SimpleSpanProcessor(exporter)))
    with provider.get_tracer("test").start_as_current_span("task") as span:
        span.set_attribute("prefect.tags", ["a", f"password={SECRET}"])
        span.set_attribute("rows", 12)
        span.add_event("Failed", {"prefect.state.message": f"lost mysql://u:{SECRET}@h/db"})
        span.set_status(trace.Status(StatusCode.ERROR, f"sig={SECRET}&x=1"))
    with provider.get_tracer("test").start_as_current_span("clean") as span:
        span.set_attribute("table", "fact_secondary_sales")
    dirty, clean = exporter.get_finished_spans()
    text = repr((dict(dirty.attributes), [dict(e.attributes) for e in dirty.events], dirty.status.description))
    assert SECRET not in text and text.count("***") == 3
    assert dirty.attributes["rows"] == 12 and dirty.status.status_code is StatusCode.ERROR
    assert dirty.name == "task"
    assert dict(clean.attributes) == {"table": "fact_secondary_sales"}


def test_a_failing_stage_records_a_redacted_error_and_its_duration() -> None:
    telemetry = memory_telemetry()
    with telemetry.capture(), pytest.raises(ValueError), stage("load", table="t_unit", file="f.csv", rows=5):
        raise ValueError(f"server said password={SECRET}")
    (span,) = telemetry.spans()
    assert span.name == "datawiz.load" and span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: server said password=***"
    (event,) = span.events
    assert event.attributes["exception.type"] == "ValueError" and SECRET not in str(dict(event.attributes))
    points = telemetry.metrics()
    durations = [p for p in points if p.name == "datawiz.stage.duration" and p.attributes["table"] == "t_unit"]
    assert [(p.attributes["status"], p.count) for p in durations] == [("error", 1)]
    assert "t_unit" not in by_table(points, "datawiz.load.throughput")  # a failed load has no throughput


def test_a_load_stage_records_rows_per_second_from_the_rows_it_set_last() -> None:
    telemetry = memory_telemetry()
    with telemetry.capture(), stage("load", table="t_rate") as span:
        time.sleep(0.02)
        span.set_attribute("rows", 1000)  # a streamed load knows its rows at the end
    (point,) = [p for p in telemetry.metrics() if p.name == "datawiz.load.throughput"]
    assert point.attributes == {"table": "t_rate"} and point.count == 1
    assert 1000 / 1.0 < point.value < 1000 / 0.02


@pytest.mark.parametrize(("sql", "operation"), [
    ("SELECT 1", "select"), ("  insert into t values (1)", "insert"), ("(SELECT 1) UNION (SELECT 2)", "select"),
    (bytearray(b"INSERT INTO etl_quarantine VALUES (1),(2)"), "insert"), ("LOAD DATA LOCAL INFILE", "load"),
    ("GRANT ALL ON x TO y", "other"), ("", "other"),
])
def test_statement_operation_is_a_known_first_word(sql: str, operation: str) -> None:
    assert statement_operation(sql) == operation


def test_freshness_age_counts_from_the_end_of_the_business_day_in_ist() -> None:
    eight_am_ist = dt.datetime(2025, 11, 20, 2, 30, tzinfo=dt.UTC)
    assert freshness_age_seconds(dt.date(2025, 11, 19), eight_am_ist) == 8 * 3600
    assert freshness_age_seconds(dt.date(2025, 11, 17), eight_am_ist) == (2 * 24 + 8) * 3600


def _in_fresh_process(code: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


_PROVIDERS = """
import os, sys
from opentelemetry import metrics, trace
def kinds():
    return type(trace.get_tracer_provider()).__name__, type(metrics.get_meter_provider()).__name__
{load}
import datawiz.observability as o
provider = trace.get_tracer_provider()
print(*kinds(), "tasks" in sys.modules, o.setup(), trace.get_tracer_provider() is provider, flush=True)
os._exit(0)  # skip the exit-time export (nothing listens)
"""


def test_nothing_is_installed_without_an_endpoint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"DATAWIZ_LOG_DIR": str(tmp_path)}
    lines = _in_fresh_process(_PROVIDERS.format(load="import tasks"), env)
    assert lines == ["ProxyTracerProvider _ProxyMeterProvider True False True"]


def test_a_worker_loading_a_deployments_flow_installs_the_providers_once(tmp_path: Path) -> None:
    # What `python -m prefect.engine` does for a deployment run: load the flow from its entrypoint.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "DATAWIZ_LOG_DIR": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    load = "from prefect.flows import load_flow_from_entrypoint; load_flow_from_entrypoint('flows/morning.py:morning')"
    lines = _in_fresh_process(_PROVIDERS.format(load=load), env)
    assert lines == ["TracerProvider MeterProvider True True True"]  # a second setup() changes nothing


def test_the_shipped_logging_yml_is_prefects_with_the_three_area_files() -> None:
    config = load_logging_config(ROOT / "datawiz" / "logging.yml")
    areas = {name: h for name, h in config["handlers"].items() if h.get("()") == "datawiz.logs.area_handler"}
    assert sorted(h["area"] for h in areas.values()) == sorted(logs.AREAS)
    assert set(areas) <= set(config["root"]["handlers"]) and "console" in config["root"]["handlers"]
    assert config["loggers"]["prefect.flow_runs"]["handlers"] == ["api"]  # the UI's run logs, unchanged
    assert config["loggers"]["prefect.task_runs"]["handlers"] == ["api"]


def test_json_logs_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    logs.remove_json_logs()
    try:
        monkeypatch.setenv("DATAWIZ_JSON_LOGS", "false")
        assert logs.install_json_logs(str(tmp_path)) == []
        monkeypatch.setenv("DATAWIZ_JSON_LOGS", "true")
        installed = logs.install_json_logs(str(tmp_path))
        assert [Path(h.baseFilename).relative_to(tmp_path).as_posix() for h in installed] == [
            "flows/flows.jsonl", "etl/etl.jsonl", "notifications/notifications.jsonl"]
        assert logs.install_json_logs(str(tmp_path)) == installed  # idempotent
    finally:
        logs.remove_json_logs()
        monkeypatch.delenv("DATAWIZ_JSON_LOGS")
        logs.install_json_logs()

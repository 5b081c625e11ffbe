"""`python flows/morning.py` with OTEL_EXPORTER_OTLP_ENDPOINT set exports real OTLP protobuf: spans, metrics.

The flow runs in a fresh process, so the provider setup (on import of `tasks`), the Prefect logging
configuration from `datawiz/logging.yml`, and the flush at exit are all exercised as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import generate
from tests.integration.otlp_receiver import otlp_receiver

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
END = dt.date(2025, 11, 20)


def _ledger(url: str) -> list[dict[str, object]]:
    wh = resolve_warehouse(url)
    try:
        return wh.query("SELECT table_name, status, rows_loaded FROM etl_file_ledger").to_pylist()
    finally:
        wh.close()


def test_a_morning_run_in_its_own_process_exports_spans_and_metrics_over_otlp(
    tmp_path: Path, prefect_server: None
) -> None:
    landing, url = tmp_path / "landing", f"duckdb:///{tmp_path / 'wh.duckdb'}"
    generate(landing, days=1, fis_rows_per_day=150, end_date=END)
    with otlp_receiver() as (endpoint, received):
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's test server: no temporary one
            "PREFECT_LOGGING_SETTINGS_PATH": str(ROOT / "datawiz" / "logging.yml"),
            "DATAWIZ_ENV": "otlptest",
            "DATAWIZ_DATA_DIR": str(tmp_path / "data"),
            "DATAWIZ_LOG_DIR": str(tmp_path / "logs"),
        }
        env.pop("DATAWIZ_EMAIL", None)
        done = subprocess.run(
            [sys.executable, "flows/morning.py", "--business-date", END.isoformat(), "--source", str(landing),
             "--warehouse", url, "--steps", "blob_backup,fis,fid", "--skip-wait"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert received.content_types == {"application/x-protobuf"}

    spans = received.spans()
    assert {s.resource["service.name"] for s in spans} == {"datawiz"}
    assert {s.resource["deployment.environment"] for s in spans} == {"otlptest"}
    assert {s.resource["service.version"] for s in spans} == {metadata.version("datawiz")}
    (flow,) = [s for s in spans if s.attributes.get("prefect.run.type") == "flow"]
    assert flow.parent_span_id == "" and flow.attributes["datawiz.business_date"] == END.isoformat()
    assert {s.trace_id for s in spans} == {flow.trace_id}
    tasks = [s for s in spans if s.attributes.get("prefect.run.type") == "task"]
    assert tasks and {t.parent_span_id for t in tasks} == {flow.span_id}
    ledger = _ledger(url)
    loaded = Counter(str(r["table_name"]) for r in ledger if r["status"] == "loaded")
    loads = [s for s in spans if s.name == "datawiz.load"]
    assert Counter(s.attributes["table"] for s in loads) == loaded
    assert all(s.attributes["file"] and s.attributes["version"] for s in loads)
    assert {s.name for s in spans} >= {"datawiz.list", "datawiz.download", "datawiz.read", "datawiz.clean",
                                       "datawiz.validate", "datawiz.load"}

    points = received.points()
    files_loaded = Counter()
    for p in points:
        if p.name == "datawiz.files.loaded":
            files_loaded[p.attributes["table"]] += p.value
    assert files_loaded == loaded
    rows_loaded = sum(p.value for p in points if p.name == "datawiz.rows.loaded")
    assert rows_loaded == sum(int(r["rows_loaded"]) for r in ledger)
    assert [(p.attributes, p.value) for p in points if p.name == "datawiz.job.runs"] == [
        ({"flow": "morning", "status": "completed"}, 1)]
    names = {p.name for p in points}
    assert {"datawiz.stage.duration", "datawiz.load.throughput", "datawiz.warehouse.statement.duration",
            "datawiz.freshness.age", "datawiz.disk.free", "system.cpu.utilization", "system.memory.usage",
            "process.memory.usage"} <= names

    # The JSON log files came from the shipped logging.yml, and their lines join the exported trace.
    etl = [json.loads(line) for line in (tmp_path / "logs" / "etl" / "etl.jsonl").read_text().splitlines()]
    flows = [json.loads(line) for line in (tmp_path / "logs" / "flows" / "flows.jsonl").read_text().splitlines()]
    span_ids = {s.span_id for s in spans}
    joined = [ln for ln in etl + flows if ln.get("trace_id") == flow.trace_id]
    assert joined and all(ln["span_id"] in span_ids for ln in joined)
    assert any(ln["message"].startswith("loaded") for ln in flows)

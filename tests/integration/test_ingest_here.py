"""A file loaded in the flow's thread (`ingest_here`): no task run while it succeeds, the task's retries when not."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.context import FlowRunContext

from blocks.types import SourceFile
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core.errors import ReconciliationError, TransientError
from datawiz.core.registry import resolve_path
from datawiz.sample_data import generate
from tasks.extract import PlannedFile
from tasks.load import FileReport
from tasks.report import RunSummary
from tasks.run import RunContext, ingest_here

pytestmark = pytest.mark.integration

REL = "facts/fis/2025/11/20/fis_20251120_001.parquet"


@flow(name="test-ingest-here")
def ingest_one(warehouse: str, local: str) -> tuple[FileReport, str]:
    wh = resolve_warehouse(warehouse)
    try:
        wh.migrate()
        ref = resolve_path(REL)
        assert ref is not None
        planned = PlannedFile(SourceFile(REL, "v1", Path(local).stat().st_size), ref, "fis", "fact_secondary_sales")
        report = ingest_here(RunContext(None, wh, RunSummary("test", None, "test-run")),  # type: ignore[arg-type]
                             planned, local)
        run = FlowRunContext.get()
        assert run is not None and run.flow_run is not None
        return report, str(run.flow_run.id)
    finally:
        wh.close()


def _task_runs(flow_run_id: str) -> list[tuple[str, str | None]]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)])))
    return [(r.name, r.state_name) for r in runs]


@pytest.fixture
def fis_file(workdir: Path) -> Path:
    generate(workdir / "landing", days=1, fis_rows_per_day=300, end_date=resolve_path(REL).business_date)  # type: ignore[union-attr]
    local = next((workdir / "landing" / "facts/fis/2025/11/20").glob("fis_*.parquet"))
    return local


def _count(url: str, sql: str) -> Any:
    wh = resolve_warehouse(url)
    try:
        return wh.query(sql).column(0)[0].as_py()
    finally:
        wh.close()


def test_a_file_that_loads_gets_no_task_run(prefect_server: None, workdir: Path, fis_file: Path) -> None:
    url = f"duckdb:///{workdir / 'w.duckdb'}"
    report, run_id = ingest_one(url, str(fis_file))
    rows = pq.read_metadata(fis_file).num_rows
    assert (report.status, report.stats.rows_in) == ("loaded", rows)
    assert _task_runs(run_id) == []  # the file's record: its span, its report and its ledger row
    assert _count(url, "SELECT count(*) FROM etl_file_ledger") == 1


def test_a_transient_failure_is_retried_as_the_files_own_task_run(
    prefect_server: None, workdir: Path, fis_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{workdir / 'w.duckdb'}"
    load_file, attempts = DuckDBWarehouse.load_file, []

    def flaky(self: DuckDBWarehouse, *args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) <= 2:  # the attempt in the flow's thread and the task's first one
            raise TransientError("database is busy")
        return load_file(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBWarehouse, "load_file", flaky)
    report, run_id = ingest_one(url, str(fis_file))
    assert report.status == "loaded" and len(attempts) == 3
    assert _task_runs(run_id) == [(f"ingest {REL}", "Completed")]  # retried once by Prefect, then done
    rows = pq.read_metadata(fis_file).num_rows
    assert _count(url, "SELECT count(*) FROM fact_secondary_sales") == rows  # loaded once
    assert _count(url, "SELECT count(*) FROM etl_file_ledger") == 1


def test_a_terminal_failure_is_not_retried(
    prefect_server: None, workdir: Path, fis_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{workdir / 'w.duckdb'}"
    attempts = []

    def broken(self: DuckDBWarehouse, *args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        raise ReconciliationError("rows_in != loaded + quarantined + deduplicated")

    monkeypatch.setattr(DuckDBWarehouse, "load_file", broken)
    state = ingest_one(url, str(fis_file), return_state=True)
    assert state.is_failed() and len(attempts) == 1  # as the task did: a terminal failure is never retried
    # No task run names the file, so the run's state message (the failure email's) does, with the cause.
    assert f"FileLoadFailed: {REL}: ReconciliationError: rows_in" in (state.message or "")
    assert _task_runs(str(state.state_details.flow_run_id)) == []
    assert _count(url, "SELECT count(*) FROM etl_file_ledger") == 0

"""DATAWIZ_LOAD_CONCURRENCY: files loaded several at a time where the warehouse takes it, with the same result.

The same landing folder (defects included: quarantined rows, rejected files, duplicates, orphans) goes
through evening + morning on two MariaDB databases, one file at a time and two at a time: the warehouses
must be equal table by table, and the run's file reports equal and in the same (plan) order. The task runs
recorded by the Prefect server show that two loads really overlapped. DuckDB never loads in parallel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from blocks.types import SourceFile
from blocks.warehouse import resolve_warehouse
from datawiz.core.registry import resolve_path
from datawiz.sample_data import generate
from flows.evening import evening
from flows.morning import morning
from tasks.extract import PlannedFile
from tasks.report import RunSummary
from tasks.run import load_concurrency, load_wave, serial_key
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.test_mysql_parity import warehouse_numbers

pytestmark = pytest.mark.integration

END = dt.date(2025, 11, 20)


def _run(landing: Path, url: str) -> RunSummary:
    evening(business_date=END, source=str(landing), warehouse=url)
    return morning(business_date=END, source=str(landing), warehouse=url, skip_wait=True)


def _second_database(url: str) -> str:
    wh = resolve_warehouse(url)
    name = f"dw_test_{uuid.uuid4().hex[:12]}"
    try:
        wh.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        wh.close()
    return url.rsplit("/", 1)[0] + "/" + name


def _drop(url: str) -> None:
    wh = resolve_warehouse(url)
    try:
        wh.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")
    finally:
        wh.close()


def _overlapping_loads(flow_run_id: str, *prefixes: str) -> int:
    """How many pairs of task runs of one flow run, named with one of `prefixes` (default: the `ingest-file`
    runs), ran at the same time (Prefect's record)."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)])))
    spans = sorted((r.start_time, r.end_time) for r in runs if r.name.startswith(prefixes or ("ingest ",))
                   and r.start_time)
    return sum(1 for i, (_, end) in enumerate(spans) for start, _ in spans[i + 1:] if end and start < end)


def test_two_at_a_time_gives_the_same_warehouse_and_reports_as_one_at_a_time(
    prefect_server: None, workdir: Path, mysql_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    landing = workdir / "landing"
    generate(landing, days=4, fis_rows_per_day=3000, defects=True, end_date=END)
    serial_url = _second_database(mysql_url)
    try:
        monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "1")
        serial = _run(landing, serial_url)
        monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "2")
        parallel = _run(landing, mysql_url)
        assert warehouse_numbers(mysql_url) == warehouse_numbers(serial_url)
    finally:
        _drop(serial_url)

    def outcomes(summary: RunSummary) -> list[tuple[object, ...]]:
        return [(f.path, f.status, f.stats.rows_in, f.stats.rows_loaded, f.stats.rows_quarantined,
                 f.stats.rows_deduplicated, f.stats.orphans, f.reason) for f in summary.files]

    assert outcomes(parallel) == outcomes(serial), "same outcome per file, reported in plan order"
    assert len(parallel.files) > 4 and {f.status for f in parallel.files} >= {"loaded", "rejected"}
    assert _overlapping_loads(parallel.run_id) > 0, "two files should have loaded at the same time"
    assert _overlapping_loads(serial.run_id) == 0
    # The post-load rebuild too (tasks/transform.rebuild_post_load): DD and the report table at once, the same
    # tables as when they ran one after the other (compared above).
    post_load = ("compute-dd", "refresh-reports")
    assert _overlapping_loads(parallel.run_id, *post_load) == 1, "DD and reports should have run at the same time"
    assert _overlapping_loads(serial.run_id, *post_load) == 0


def test_duckdb_loads_one_file_at_a_time_whatever_the_setting(
    workdir: Path, mysql_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "4")
    duck = resolve_warehouse(f"duckdb:///{workdir / 'wh.duckdb'}")
    maria = resolve_warehouse(mysql_url)
    try:
        assert load_concurrency(duck) == 1
        assert load_concurrency(maria) == 4
        monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "0")
        with pytest.raises(ValueError, match="DATAWIZ_LOAD_CONCURRENCY"):
            load_concurrency(maria)
    finally:
        duck.close()
        maria.close()


def _planned(path: str, version: str = "v1") -> PlannedFile:
    ref = resolve_path(path)
    table = ref.contract.target_table if ref else "fact_secondary_sales"
    return PlannedFile(SourceFile(path, version, 1), ref, ref.contract.name if ref else "fis", table)


def test_fact_files_load_side_by_side_but_one_path_and_all_snapshots_in_order() -> None:
    fis = [_planned("facts/fis/2025/11/20/fis_20251120_001.csv"), _planned("facts/fis/2025/11/20/fis_20251120_002.csv")]
    again = _planned("facts/fis/2025/11/20/fis_20251120_001.csv", "v2")
    snapshots = [_planned("dimensions/product/product_20251119.csv"),
                 _planned("dimensions/retailer/retailer_20251120.csv")]
    assert serial_key(fis[0]) != serial_key(fis[1])  # different paths: disjoint rows
    assert serial_key(fis[0]) == serial_key(again)  # a re-delivery waits for the version before it
    assert all(p.ref is not None for p in snapshots)
    assert serial_key(snapshots[0]) == serial_key(snapshots[1])  # dimensions: one after another, date order
    later = _planned("facts/fis/2025/11/21/fis_20251121_001.csv")
    assert load_wave(fis[0]) == load_wave(fis[1]) != load_wave(later)  # a day's parts together, days in order


def test_a_key_repeated_in_a_later_days_file_ends_with_the_later_file_at_concurrency_8(
    prefect_server: None, workdir: Path, mysql_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    """A later day's file that repeats an earlier line's key (the line re-dated, another outlet) wins, as it
    does one file at a time: without the business-date waves all seven files start together, the tiny later
    file commits first and the earlier day's big part, upserting its last line afterwards, would win."""
    landing = workdir / "landing"
    generate(landing, days=2, fis_rows_per_day=60_000, defects=False, end_date=END)
    earlier = sorted((landing / "facts/fis/2025/11/19").glob("fis_*.parquet"))[-1]
    rows = pq.read_table(earlier)
    last = rows.slice(rows.num_rows - 1, 1).to_pylist()[0]
    other = next(r for r in rows["retailer_code"].to_pylist() if r != last["retailer_code"])
    moved = last | {"invoice_date": END, "retailer_code": other}
    pq.write_table(pa.Table.from_pylist([moved], schema=rows.schema),
                   landing / "facts/fis/2025/11/20/fis_20251120_009.parquet")
    monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "8")
    _run(landing, mysql_url)
    wh = resolve_warehouse(mysql_url)
    try:
        got = wh.query("SELECT invoice_date, retailer_code, _source_file FROM fact_secondary_sales "
                       "WHERE invoice_no = :i AND line_no = :l", {"i": last["invoice_no"], "l": last["line_no"]})
    finally:
        wh.close()
    assert got.to_pylist() == [{"invoice_date": END, "retailer_code": other,
                                "_source_file": "facts/fis/2025/11/20/fis_20251120_009.parquet"}]


def test_a_failing_file_stops_new_loads_and_the_next_run_loads_the_rest(
    prefect_server: None, workdir: Path, mysql_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    landing = workdir / "landing"
    manifest = generate(landing, days=3, fis_rows_per_day=500, defects=False, end_date=END)
    monkeypatch.setenv("DATAWIZ_LOAD_CONCURRENCY", "2")
    evening(business_date=END, source=str(landing), warehouse=mysql_url)
    wh = resolve_warehouse(mysql_url)
    try:
        create = wh.query("SHOW CREATE TABLE fact_primary_sales").column(1)[0].as_py()
        wh.execute("DROP TABLE fact_primary_sales")  # every fid load now fails (1146), after its retries
        with pytest.raises(Exception, match="fact_primary_sales"):
            morning.with_options(retries=0)(business_date=END, source=str(landing), warehouse=mysql_url,
                                             skip_wait=True, steps=["fis", "fid"])
        ledger = wh.query("SELECT table_name, status, count(*) AS n FROM etl_file_ledger "
                          "WHERE table_name LIKE 'fact%' GROUP BY table_name, status").to_pylist()
        fis_files = sum(1 for f in manifest.files if f.table == "fact_secondary_sales")
        assert ledger == [{"table_name": "fact_secondary_sales", "status": "loaded", "n": fis_files}]
        wh.execute(create)
        morning(business_date=END, source=str(landing), warehouse=mysql_url, skip_wait=True)
        for table in ("fact_secondary_sales", "fact_primary_sales"):
            row = wh.query(f"SELECT count(*) AS n, sum(net_amount) AS s FROM {table}").to_pylist()[0]
            assert (row["n"], str(row["s"])) == (manifest.tables[table].rows, str(manifest.tables[table].net_amount))
    finally:
        wh.close()

"""End-to-end cases: a file in the landing area -> download, clean, validate, load, through the real flow.

Each run gets a fresh warehouse holding the dimensions the evening flow loaded once (not timed), then
a child process runs the morning flow's `blob_backup` and `fis` steps (bench/flow_child.py) while
this process samples the child's RSS. Baselines: the warehouse's own bulk path on the same rows.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.common import Result, fresh_mariadb, run_child, timed
from bench.data import DAY, Landing, fis_name
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core.registry import FIS
from tests.integration.services import mariadb_connect

LINEAGE = "'bench', 'v1', now()::TIMESTAMP, 'bench'"


def upload(landing: Landing, connection_string: str, container: str) -> str:
    """Copy a landing folder into a new Azurite container; returns its az:// source."""
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_connection_string(connection_string, container)
    client.create_container()
    for path in sorted(p for p in landing.root.rglob("*") if p.is_file()):
        with path.open("rb") as fh:
            client.upload_blob(path.relative_to(landing.root).as_posix(), fh, overwrite=True)
    return f"az://{container}"


def load_dimensions(source: str, warehouse: str, data_dir: Path) -> None:
    """The evening flow's dimension sync: fis rows then meet real dimensions (orphans counted as in production)."""
    from flows.evening import evening

    os.environ["DATAWIZ_DATA_DIR"] = str(data_dir)
    evening(business_date=DAY, source=source, warehouse=warehouse, steps=["dimension_sync"])


@dataclass(frozen=True)
class Templates:
    """A MariaDB database and a DuckDB file holding the benchmark day's dimensions; every run starts from a copy."""

    mariadb: str
    duckdb: Path


@contextmanager
def dimension_templates(source: str) -> Iterator[Templates]:
    """Run the evening's dimension sync once per backend (setup, not timed); dropped afterwards."""
    with fresh_mariadb() as (name, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        load_dimensions(source, url, Path(tmp) / "mariadb")
        duck = Path(tmp) / "template.duckdb"
        load_dimensions(source, f"duckdb:///{duck}", Path(tmp) / "duckdb")
        yield Templates(name, duck)


def clone_mariadb(template: str, name: str, url: str) -> None:
    """Give the empty database `name` the schema (migrations) and every row of the template database."""
    wh = resolve_warehouse(url)
    wh.migrate()
    wh.close()
    conn = mariadb_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'", (template,))
        for (table,) in cur.fetchall():
            cur.execute(f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{template}`.`{table}`")
    conn.close()


@dataclass(frozen=True)
class FlowRun:
    """One measured morning run: its wall seconds, the files' own ingest seconds, peak RSS of its process tree."""

    seconds: float
    load_seconds: float
    rss_mb: float


def flow_run(source: str, warehouse: str, work: Path, expected_rows: int, profile: str | None = None) -> FlowRun:
    """One measured morning run (backup + fis) in a child process."""
    args = ["bench.flow_child", source, warehouse, *([profile] if profile else [])]
    out, rss = run_child(args, {"DATAWIZ_DATA_DIR": str(work / "data")})
    rows = int(out["rows_loaded"]) + int(out["rows_quarantined"])  # type: ignore[call-overload]
    if rows != expected_rows:
        raise RuntimeError(f"the flow accounted for {rows:,} rows of {expected_rows:,}: {out}")
    return FlowRun(float(out["seconds"]), float(out["load_seconds"]), rss)  # type: ignore[arg-type]


def _add(result: Result, run: FlowRun) -> None:
    """Record a run; the note says how much of the flow run the load stage was (medians so far)."""
    result.seconds.append(run.seconds)
    result.rss_mb.append(run.rss_mb)
    result.load_seconds.append(run.load_seconds)
    load = statistics.median(result.load_seconds)
    result.note = (f"load stage (the file's own ingest) {load:.2f} s; the rest of the flow run (Prefect run "
                   f"start and end, source, download, bookkeeping) {result.median_s - load:.2f} s")


def mariadb_flow(landing: Landing, source: str, runs: int, templates: Templates) -> Result:
    """The morning flow into MariaDB, `runs` times, each into a fresh copy of the dimensions database."""
    result = Result("end to end, MariaDB", f"DataWiz flow, {landing.fis_rows:,}-row Parquet", landing.fis_rows)
    for _ in range(runs):
        with fresh_mariadb() as (name, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            clone_mariadb(templates.mariadb, name, url)
            _add(result, flow_run(source, url, Path(work), landing.fis_rows))
    return result


def duckdb_flow(landing: Landing, source: str, runs: int, templates: Templates, variant: str | None = None
                ) -> Result:
    """The morning flow into a fresh copy of the dimensions DuckDB file, `runs` times."""
    label = variant or f"DataWiz flow, {landing.fis_rows:,}-row Parquet"
    result = Result("end to end, DuckDB", label, landing.fis_rows)
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            db = Path(work) / "warehouse.duckdb"
            shutil.copyfile(templates.duckdb, db)
            _add(result, flow_run(source, f"duckdb:///{db}", Path(work), landing.fis_rows))
    return result


def duckdb_fixed_cost(landing: Landing, source: str, runs: int, templates: Templates) -> Result:
    """The same DuckDB flow on a day of one small file: what a flow run costs beyond its rows' own work.

    Prefect's run creation, state changes and heartbeat join, the Azure SDK's import, listing, download
    and the run's bookkeeping (its few thousand rows load in ~0.05 s, given in the note).
    """
    rows = f"{landing.fis_rows:,}-row file"
    result = duckdb_flow(landing, source, runs, templates, f"DataWiz flow, one {rows} (a flow run's fixed cost)")
    result.note = f"load stage (the file's own ingest) {statistics.median(result.load_seconds):.2f} s"
    return result


def ceiling(native: Result, fixed: Result) -> float:
    """The best DuckDB end-to-end ratio a flow run can reach: a load as fast as DuckDB's own insert, plus the
    flow run's fixed cost (`duckdb_fixed_cost`)."""
    return native.median_s / (native.median_s + fixed.median_s)


def duckdb_native(landing: Landing, runs: int) -> Result:
    """DuckDB's own `INSERT INTO fact_secondary_sales SELECT ... FROM read_parquet()` of the same file."""
    result = Result("end to end, DuckDB", f"DuckDB INSERT ... read_parquet, {landing.fis_rows:,} rows",
                    landing.fis_rows)
    cols = ", ".join(FIS.column_names)
    sql = (f"INSERT INTO fact_secondary_sales ({cols}, _source_file, _source_version, _loaded_at, _run_id) "
           f"SELECT {cols}, {LINEAGE} FROM read_parquet(?)")
    path = str(landing.root / fis_name(1))
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
            db = f"{tmp}/warehouse.duckdb"
            wh = DuckDBWarehouse(path=db)
            wh.migrate()
            wh.close()
            con = duckdb.connect(db)
            result.seconds.append(timed(lambda con=con: con.execute(sql, [path])))
            con.close()
    return result

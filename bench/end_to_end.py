"""End-to-end cases: a file in the landing area -> download, clean, validate, load, through the real flow.

Each run gets a fresh warehouse whose dimensions were loaded by the evening flow (not timed), then
a child process runs the morning flow's `blob_backup` and `fis` steps (bench/flow_child.py) while
this process samples the child's RSS. Baselines: the warehouse's own bulk path on the same rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bench.common import Result, fresh_mariadb, run_child, timed
from bench.data import DAY, Landing, fis_name
from blocks.warehouse.duckdb import DuckDBWarehouse
from tasks.contracts import FIS

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
    """The evening flow's dimension sync (setup, not timed): fis rows then meet real dimensions."""
    from flows.evening import evening

    os.environ["DATAWIZ_DATA_DIR"] = str(data_dir)
    evening(business_date=DAY, source=source, warehouse=warehouse, steps=["dimension_sync"])


def flow_run(source: str, warehouse: str, work: Path, expected_rows: int, profile: str | None = None
             ) -> tuple[float, float]:
    """One measured morning run in a child process: (flow seconds, peak RSS MB of its process tree)."""
    load_dimensions(source, warehouse, work / "setup")
    args = ["bench.flow_child", source, warehouse, *([profile] if profile else [])]
    out, rss = run_child(args, {"DATAWIZ_DATA_DIR": str(work / "data")})
    rows = int(out["rows_loaded"]) + int(out["rows_quarantined"])  # type: ignore[call-overload]
    if rows != expected_rows:
        raise RuntimeError(f"the flow accounted for {rows:,} rows of {expected_rows:,}: {out}")
    return float(out["seconds"]), rss  # type: ignore[arg-type]


@contextmanager
def duckdb_url() -> Iterator[str]:
    """A throwaway DuckDB warehouse file's URL."""
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        yield f"duckdb:///{tmp}/warehouse.duckdb"


def mariadb_flow(landing: Landing, source: str, runs: int) -> Result:
    """The morning flow into MariaDB, `runs` times, each into a fresh database."""
    result = Result("end to end, MariaDB", f"DataWiz flow, {landing.fis_rows:,}-row Parquet", landing.fis_rows)
    for _ in range(runs):
        with fresh_mariadb() as (_, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            seconds, rss = flow_run(source, url, Path(work), landing.fis_rows)
        result.seconds.append(seconds)
        result.rss_mb.append(rss)
    return result


def duckdb_flow(landing: Landing, source: str, runs: int, variant: str | None = None) -> Result:
    """The morning flow into a fresh DuckDB file, `runs` times."""
    label = variant or f"DataWiz flow, {landing.fis_rows:,}-row Parquet"
    result = Result("end to end, DuckDB", label, landing.fis_rows)
    for _ in range(runs):
        with duckdb_url() as url, tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            seconds, rss = flow_run(source, url, Path(work), landing.fis_rows)
        result.seconds.append(seconds)
        result.rss_mb.append(rss)
    return result


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

"""Load stage into MariaDB: DataWiz's `load_file` vs a raw `LOAD DATA LOCAL INFILE` vs pandas `to_sql`.

Every variant loads the same generated, cleaned and validated fis rows (lineage columns included)
into an empty, freshly migrated `fact_secondary_sales` (same DDL and indexes) of its own database:
- raw: `LOAD DATA LOCAL INFILE` of a CSV already on disk — the database's own limit (writing the
  CSV is not timed);
- DataWiz: `MySQLWarehouse.load_file` from Arrow in memory — CSV encoding, LOAD DATA ... REPLACE,
  orphan count, quarantine and ledger rows, one transaction: everything a pipeline run pays;
- to_sql: pandas `DataFrame.to_sql(method="multi", chunksize=1000)` through SQLAlchemy + pymysql
  (what most teams write), on the first `to_sql_rows` rows: it is too slow for all of them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile

import pyarrow as pa
import pymysql

from bench.common import Result, fresh_mariadb, timed
from bench.data import DAY, fis_name, fis_table
from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.mysql import MySQLWarehouse, write_load_csv
from datawiz.core.registry import FIS, resolve_path
from tasks.clean import clean_table
from tasks.lineage import with_lineage
from tasks.validate import QUARANTINE_SCHEMA, validate_rows
from tests.integration.services import HOST, PORT, USER

PATH = fis_name(1)
RAW_SQL = ("LOAD DATA LOCAL INFILE %s INTO TABLE fact_secondary_sales CHARACTER SET utf8mb4 "
           "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' ({cols})")


def entry_for(rows: int) -> LedgerEntry:
    """The ledger entry of the benchmark file (rows all good)."""
    return LedgerEntry(PATH, "bench-v1", FIS.target_table, "loaded", FileStats(rows_in=rows, rows_loaded=rows),
                       "bench-run", dt.datetime.now(dt.UTC), DAY)


def good_rows(rows: int) -> pa.Table:
    """The first `rows` generated fis lines after DataWiz's cleaning and validation (not timed)."""
    ref = resolve_path(PATH)
    assert ref is not None
    split = validate_rows(clean_table(fis_table(rows), FIS, PATH), ref, enforce_ratio=False)
    return split.good


def migrated(name: str) -> MySQLWarehouse:
    """The warehouse block of database `name`, schema applied."""
    wh = MySQLWarehouse(host=HOST, port=PORT, user=USER, database=name)
    wh.migrate()
    return wh


def raw_load(name: str, csv_path: str, columns: list[str]) -> None:
    """LOAD DATA LOCAL INFILE of the ready CSV, committed."""
    conn = pymysql.connect(host=HOST, port=PORT, user=USER, database=name, local_infile=True)
    with conn.cursor() as cur:
        cur.execute(RAW_SQL.format(cols=", ".join(f"`{c}`" for c in columns)), (csv_path,))
    conn.commit()
    conn.close()


def to_sql_load(name: str, frame: object) -> None:
    """pandas to_sql, multi-row INSERTs of 1,000 rows through SQLAlchemy."""
    from sqlalchemy import create_engine

    engine = create_engine(f"mysql+pymysql://{USER}@{HOST}:{PORT}/{name}")
    frame.to_sql("fact_secondary_sales", engine, if_exists="append", index=False,  # type: ignore[attr-defined]
                 method="multi", chunksize=1000)
    engine.dispose()


def run(rows: int = 1_000_000, to_sql_rows: int = 100_000, runs: int = 3) -> list[Result]:
    """Every variant `runs` times, interleaved (the server's background flushing spreads evenly)."""
    data = good_rows(rows)
    entry = entry_for(data.num_rows)
    loaded = with_lineage(data, entry)
    frame = loaded.slice(0, to_sql_rows).to_pandas()
    raw = Result("load stage, MariaDB", "raw LOAD DATA LOCAL INFILE (ready CSV)", data.num_rows)
    ours = Result("load stage, MariaDB", "DataWiz MySQLWarehouse.load_file", data.num_rows)
    pandas = Result("load stage, MariaDB", "pandas to_sql (multi, chunks of 1,000)", frame.shape[0],
                    note=f"first {frame.shape[0]:,} rows")
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        csv_path = os.path.join(tmp, "ready.csv")
        write_load_csv(loaded, csv_path)
        for _ in range(runs):
            with fresh_mariadb() as (name, _):
                migrated(name).close()
                raw.seconds.append(timed(lambda n=name: raw_load(n, csv_path, loaded.column_names)))
            with fresh_mariadb() as (name, _):
                wh = migrated(name)
                fresh = entry_for(data.num_rows)
                ours.seconds.append(timed(lambda wh=wh, e=fresh: wh.load_file(
                    FIS, e, with_lineage(data, e), QUARANTINE_SCHEMA.empty_table())))
                wh.close()
            with fresh_mariadb() as (name, _):
                migrated(name).close()
                pandas.seconds.append(timed(lambda n=name: to_sql_load(n, frame)))
    return [raw, ours, pandas]

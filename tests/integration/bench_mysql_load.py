"""Informal benchmark (not a test): MySQLWarehouse.load_file vs a raw LOAD DATA vs pandas to_sql.

    .venv/bin/python -m tests.integration.bench_mysql_load [ROWS] [TO_SQL_ROWS]

Needs the MariaDB of tests/integration (127.0.0.1:3306, root). Each variant loads into an empty,
freshly migrated fact_secondary_sales (same DDL and indexes) in its own database:
- raw: `LOAD DATA LOCAL INFILE` of a CSV that is already on disk (the ceiling; file writing not timed);
- datawiz: `load_file` from Arrow in memory — CSV writing, LOAD DATA ... REPLACE, orphan count,
  ledger row, one transaction: everything a pipeline run pays;
- to_sql: `DataFrame.to_sql(chunksize=10_000)` through SQLAlchemy + pymysql, on fewer rows.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import pymysql

from blocks.warehouse.mysql import MySQLWarehouse, write_load_csv
from tasks.load import with_lineage
from tests.integration.test_mysql_load_atomicity import PATH, entry_for, fis_rows, load


def fresh_database() -> tuple[MySQLWarehouse, str]:
    name = f"dw_bench_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    wh = MySQLWarehouse(host="127.0.0.1", user="root", database=name)
    wh.migrate()
    return wh, name


def drop(wh: MySQLWarehouse, name: str) -> None:
    wh.execute(f"DROP DATABASE {name}")
    wh.close()


def timed(label: str, rows: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<9} {rows:>9,} rows  {seconds:7.2f} s  {rows / seconds:>9,.0f} rows/s")
    return rows / seconds


def raw_load(name: str, csv_path: str, cols: str) -> None:
    conn = pymysql.connect(host="127.0.0.1", user="root", database=name, local_infile=True)
    with conn.cursor() as cur:
        cur.execute(
            "LOAD DATA LOCAL INFILE %s INTO TABLE fact_secondary_sales CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
            f"({cols})", (csv_path,))
    conn.commit()
    conn.close()


def main(n: int = 1_000_000, to_sql_rows: int = 100_000, rounds: int = 2) -> None:
    data = fis_rows(n)
    entry = entry_for(PATH, "bench", n)
    best = {"raw": 0.0, "datawiz": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "ready.csv")
        write_load_csv(with_lineage(data, entry), csv_path)  # not timed: the CSV is "ready"
        cols = ", ".join(f"`{c}`" for c in with_lineage(data.slice(0, 1), entry).column_names)
        for _ in range(rounds):  # alternate, best of each: the server's page flushing adds noise
            wh, name = fresh_database()
            best["raw"] = max(best["raw"], timed("raw", n, lambda name=name: raw_load(name, csv_path, cols)))
            drop(wh, name)
            wh, name = fresh_database()
            best["datawiz"] = max(best["datawiz"], timed("datawiz", n, lambda wh=wh: load(wh, PATH, "bench", data)))
            drop(wh, name)
    raw_rate, ours = best["raw"], best["datawiz"]

    import pandas as pd  # noqa: F401  (to_sql below)
    from sqlalchemy import create_engine

    wh, name = fresh_database()
    frame = with_lineage(data.slice(0, to_sql_rows), entry).to_pandas()
    engine = create_engine(f"mysql+pymysql://root@127.0.0.1/{name}")
    pandas_rate = timed("to_sql", to_sql_rows, lambda: frame.to_sql(
        "fact_secondary_sales", engine, if_exists="append", index=False, chunksize=10_000))
    engine.dispose()
    drop(wh, name)
    print(f"datawiz / raw = {ours / raw_rate:.2f}x    datawiz / to_sql = {ours / pandas_rate:.1f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))

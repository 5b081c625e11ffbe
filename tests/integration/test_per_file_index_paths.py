"""Every per-file statement finds its rows by a key or an index, so a small file's cost does not grow with history.

Read from the databases' own plans after loading a few files through `load_file`:
- MariaDB: EXPLAIN of the ledger check and supersession, the quarantine clean-up, the previous-version
  clean-up, the SQL orphan count and the ledger/quarantine reads by file names the primary key or the
  lineage index (never a full scan, type ALL);
- DuckDB: EXPLAIN ANALYZE of the ledger lookup by path, the supersession and the quarantine clean-up
  says "Index Scan" (the ART indexes of V005); the orphan count reads the incoming batch and the
  dimensions, not the fact table; the previous-version clean-up runs only when the ledger holds an
  earlier loaded version of the path, and then replaces exactly its rows. A warehouse migrated before
  V005 gets the indexes from it; running it again is a no-op.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse import base, resolve_warehouse
from blocks.warehouse import etl_tables as et
from blocks.warehouse import sql_builders as sb
from blocks.warehouse.duckdb import DuckDBWarehouse
from blocks.warehouse.mysql import MySQLWarehouse
from datawiz.core.registry import FIS
from tasks.load import with_lineage
from tasks.validate import QUARANTINE_SCHEMA
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.test_mysql_load_atomicity import fis_rows

pytestmark = pytest.mark.integration

FILES, ROWS = 12, 1_000  # a file's rows stay under DuckDB's index-scan threshold (2,048 matches)
DUCKDB_INDEXES = {"ix_ledger_file", "ix_quarantine_file"}


def path_of(i: int) -> str:
    return f"facts/fis/2025/11/{i + 1:02d}/fis_202511{i + 1:02d}_001.parquet"


def entry(i: int, version: str = "v1") -> LedgerEntry:
    return LedgerEntry(path_of(i), version, FIS.target_table, "loaded", FileStats(rows_in=ROWS, rows_loaded=ROWS),
                       "run-index", dt.datetime.now(dt.UTC), dt.date(2025, 11, i + 1))


def load_history(wh: Any) -> None:
    """FILES files of ROWS rows each, with two quarantined rows per file.

    Versions v1 and v3 alternate, so column statistics cannot prove a lookup of v2 empty without a scan.
    """
    for i in range(FILES):
        e = entry(i, "v1" if i % 2 else "v3")
        quarantine = pa.table({"row_number": pa.array([1, 2], pa.int64()),
                               "quarantined_key": pa.array([None, None], pa.string()),
                               "row_json": pa.array(["{}", "{}"]), "rules": pa.array(["[]", "[]"])})
        wh.load_file(FIS, e, with_lineage(fis_rows(ROWS, first_invoice=i * ROWS), e), quarantine)


def per_file_statements(e: LedgerEntry, s: sb.Style) -> dict[str, sb.Stmt]:
    """The statements a load of `e` runs that filter by its path (as the backends build them)."""
    previous, orphans = sb.clear_previous(FIS, e, s), sb.orphan_count(FIS, e, s)
    assert previous is not None and orphans is not None
    return {"ledger check": sb.ledger_known(e, s), "supersede": sb.ledger_statements(e, s)[0],
            "quarantine clean-up": sb.quarantine_delete(e, s), "previous version": previous,
            "orphan count (SQL)": orphans}


# ------------------------------------------------------------------------------------------------ MariaDB
def test_mariadb_per_file_statements_use_a_key(mysql_url: str) -> None:  # noqa: F811
    wh = resolve_warehouse(mysql_url)
    assert isinstance(wh, MySQLWarehouse)
    try:
        wh.migrate()
        load_history(wh)
        e = entry(FILES // 2, "v2")  # a re-delivery of a file in the middle of the history
        statements: dict[str, tuple[str, Any]] = {
            name: (st.sql, st.params) for name, st in per_file_statements(e, sb.PYMYSQL).items()}
        reads = (("loaded version", et.LEDGER_LOADED_VERSION_SQL), ("quarantined rows", et.QUARANTINE_OF_FILE_SQL))
        for name, sql in reads:
            statements[name] = (base.bind_style(sql, "pyformat")[0], {"f": e.source_file, "v": "v1"})
        with wh._cursor() as cur:
            for name, (sql, params) in statements.items():
                cur.execute("EXPLAIN " + sql, params)
                cols = [d[0] for d in cur.description]
                plan = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
                # "Impossible WHERE noticed after reading const tables": the whole primary key was given and
                # its lookup found no row (a new version) - MariaDB reads such a "const" table by that key.
                if [r["Extra"] for r in plan] == ["Impossible WHERE noticed after reading const tables"]:
                    continue
                tables = (FIS.target_table, "i", "etl_file_ledger", "etl_quarantine", "q")
                rows = [r for r in plan if r["table"] in tables]
                assert rows, (name, plan)
                for r in rows:
                    assert r["type"] != "ALL" and r["key"] in ("PRIMARY", "ix_fis_lineage"), (name, r)
    finally:
        wh.close()


# ------------------------------------------------------------------------------------------------- DuckDB
def duckdb_plan(wh: DuckDBWarehouse, st: sb.Stmt) -> str:
    """EXPLAIN ANALYZE of a statement inside a transaction that is rolled back (a DELETE changes nothing)."""
    cur = wh._connection().cursor()
    try:
        cur.begin()
        plan = "\n".join(str(r[1]) for r in cur.execute("EXPLAIN ANALYZE " + st.sql, list(st.params)).fetchall())
        cur.rollback()
        return plan
    finally:
        cur.close()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    """A migrated DuckDB warehouse holding the history (load_history), closed afterwards."""
    duck = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    try:
        duck.migrate()
        load_history(duck)
        yield duck
    finally:
        duck.close()


def test_duckdb_per_file_statements_scan_an_index(wh: DuckDBWarehouse) -> None:
    e = entry(FILES // 2, "v2")
    statements = per_file_statements(e, sb.DUCKDB)
    # DuckDB reads the path's ledger rows instead of counting this version's, and counts orphans on
    # the incoming batch (below); the previous-version clean-up runs for re-deliveries only (next test).
    for name in ("ledger check", "orphan count (SQL)", "previous version"):
        del statements[name]
    statements["ledger of the path"] = sb.ledger_of_path(e, sb.DUCKDB)
    for name, st in statements.items():
        plan = duckdb_plan(wh, st)
        assert "Type: Index Scan" in plan and "Sequential Scan" not in plan, (name, plan)
    orphans = sb.orphan_count_of(FIS, "_incoming")
    assert orphans is not None
    cur = wh._connection().cursor()
    cur.register("_incoming", with_lineage(fis_rows(10, first_invoice=10**6), e))
    plan = "\n".join(str(r[1]) for r in cur.execute("EXPLAIN " + orphans.sql).fetchall())
    cur.close()
    assert FIS.target_table not in plan and "dim_retailer" in plan, plan


def test_duckdb_v005_adds_the_indexes_to_an_older_warehouse(wh: DuckDBWarehouse) -> None:
    # A warehouse migrated before V005: its contract tables were made without the indexes.
    for name in DUCKDB_INDEXES:
        wh.execute(f"DROP INDEX {name}")
    wh.execute("DELETE FROM schema_migrations WHERE version = 5")
    assert wh.migrate() == ["V005__per_file_indexes.sql"]
    names = set(wh.query("SELECT index_name FROM duckdb_indexes()")["index_name"].to_pylist())
    assert names >= DUCKDB_INDEXES
    # Re-runnable: a second application (CREATE INDEX IF NOT EXISTS) leaves everything as it was.
    wh.execute("DELETE FROM schema_migrations WHERE version = 5")
    assert wh.migrate() == ["V005__per_file_indexes.sql"]
    assert set(wh.query("SELECT index_name FROM duckdb_indexes()")["index_name"].to_pylist()) == names
    # Loads after the migration still replace a re-delivered file's rows exactly.
    e = entry(3, "v2")  # loaded as v1 by load_history
    rows = with_lineage(fis_rows(ROWS // 2, first_invoice=3 * ROWS), e)
    wh.load_file(FIS, e, rows, QUARANTINE_SCHEMA.empty_table())
    counts = wh.query("SELECT _source_version AS v, count(*) AS n FROM fact_secondary_sales "
                      "WHERE _source_file = :f GROUP BY 1", {"f": path_of(3)}).to_pylist()
    assert counts == [{"v": "v2", "n": ROWS // 2}]
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == FILES * ROWS - ROWS // 2


def test_duckdb_redelivery_replaces_exactly_the_loaded_version(wh: DuckDBWarehouse) -> None:
    """The clean-up is decided by the ledger: after a rejected version, a new one still replaces the loaded one."""
    rejected = entry(4, "v2")
    rejected.status = "rejected"
    wh.record_rejected(rejected)
    e = entry(4, "v4")
    wh.load_file(FIS, e, with_lineage(fis_rows(10, first_invoice=10**7), e), QUARANTINE_SCHEMA.empty_table())
    rows = wh.query("SELECT _source_version AS v, count(*) AS n FROM fact_secondary_sales "
                    "WHERE _source_file = :f GROUP BY 1", {"f": path_of(4)}).to_pylist()
    assert rows == [{"v": "v4", "n": 10}]
    ledger = wh.query("SELECT source_version AS v, status FROM etl_file_ledger WHERE source_file = :f "
                      "ORDER BY 1", {"f": path_of(4)}).to_pylist()
    assert ledger == [{"v": "v2", "status": "rejected"}, {"v": "v3", "status": "superseded"},
                      {"v": "v4", "status": "loaded"}]
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == (FILES - 1) * ROWS + 10

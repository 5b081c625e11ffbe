"""The per-file statements' shapes: what the ledger lookup decides, and the index-friendly filters per backend."""

from __future__ import annotations

import datetime as dt

import duckdb

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse import sql_builders as sb

PATH = "facts/fis/2025/11/20/fis_20251120_001.parquet"


def entry(version: str) -> LedgerEntry:
    return LedgerEntry(PATH, version, "fact_secondary_sales", "loaded", FileStats(rows_in=1, rows_loaded=1), "r",
                       dt.datetime(2025, 11, 20, tzinfo=dt.UTC), dt.date(2025, 11, 20))


def test_path_ledger_decides_known_and_earlier_loaded() -> None:
    assert sb.PathLedger.of([], "v2") == sb.PathLedger(known=False, earlier_loaded=False)
    assert sb.PathLedger.of([("v1", "loaded")], "v2") == sb.PathLedger(known=False, earlier_loaded=True)
    assert sb.PathLedger.of([("v1", "superseded"), ("v3", "rejected")], "v2") == sb.PathLedger(False, False)
    assert sb.PathLedger.of([("v2", "rejected"), ("v1", "loaded")], "v2") == sb.PathLedger(True, True)
    assert sb.PathLedger.of([("v2", "loaded")], "v2") == sb.PathLedger(known=True, earlier_loaded=False)


def test_mysql_statements_keep_plain_filters() -> None:
    st = sb.ledger_statements(entry("v2"), sb.PYMYSQL)[0]
    assert "WHERE source_file = %s AND source_version <> %s AND status = 'loaded'" in st.sql
    assert st.params == (PATH, "v2")
    assert sb.ledger_statements(entry("v2"), sb.PYMYSQL, supersede=False)[0].sql.startswith("INSERT")


def test_duckdb_filters_mean_the_same_as_the_plain_ones() -> None:
    """The row comparisons DuckDB gets select exactly the rows the plain conditions select."""
    con = duckdb.connect()
    con.execute("CREATE TABLE etl_file_ledger (source_file VARCHAR, source_version VARCHAR, status VARCHAR)")
    con.execute("CREATE TABLE etl_quarantine (source_file VARCHAR, source_version VARCHAR)")
    rows = [(PATH, "v1", "loaded"), (PATH, "v2", "rejected"), (PATH, "v3", "superseded"), ("other", "v1", "loaded")]
    con.executemany("INSERT INTO etl_file_ledger VALUES (?, ?, ?)", rows)
    con.executemany("INSERT INTO etl_quarantine VALUES (?, ?)", [r[:2] for r in rows])
    known = sb.ledger_known(entry("v2"), sb.DUCKDB)
    assert con.execute(known.sql, list(known.params)).fetchall() == [(1,)]
    supersede = sb.ledger_statements(entry("v4"), sb.DUCKDB)[0]
    con.execute(supersede.sql, list(supersede.params))
    assert con.execute("SELECT source_file, source_version FROM etl_file_ledger WHERE status = 'superseded' "
                       "ORDER BY 1, 2").fetchall() == [(PATH, "v1"), (PATH, "v3")]
    clean = sb.quarantine_delete(entry("v2"), sb.DUCKDB)
    con.execute(clean.sql, list(clean.params))
    assert con.execute("SELECT count(*) FROM etl_quarantine").fetchall() == [(3,)]

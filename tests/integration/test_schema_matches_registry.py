"""Every backend's live contract tables match the registry: columns in order, types, widths, nullability, keys.

Read back from the warehouse itself after `migrate()` (DuckDB file, MariaDB database, the StarRocks stand-in's
catalog), not from the SQL text. A table added to the registry only (no SQL file) is created by `migrate()`
on each of them, and a second `migrate()` changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blocks.warehouse import ddl, resolve_warehouse
from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core import registry
from tests.contract_tables import RETURNS, Expected, column_of, expected_tables
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.starrocks_standin import StarRocksStandin, starrocks_standin  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

LINEAGE_WIDTHS = {"_source_file": 512, "_source_version": 128, "_run_id": 64}


def width(e: Expected, name: str) -> int:
    """The VARCHAR width the registry declares for a str column (lineage columns have fixed ones)."""
    col = column_of(e.contract, name)
    return ddl.width(e.contract, col) if col else LINEAGE_WIDTHS[name]


def decimal(e: Expected, name: str) -> tuple[int, int]:
    col = column_of(e.contract, name)
    assert col is not None and col.precision is not None and col.scale is not None
    return col.precision, col.scale


@pytest.fixture
def with_returns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry with one more fact table, declared nowhere but in the registry."""
    monkeypatch.setitem(registry.CONTRACTS, RETURNS.name, RETURNS)
    yield


# ------------------------------------------------------------------------------------------------ DuckDB
DUCKDB = {"str": "VARCHAR", "int": "BIGINT", "date": "DATE", "ts": "TIMESTAMP", "bool": "BOOLEAN"}


def test_duckdb_tables_match_the_registry(tmp_path: Path, with_returns: None) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    try:
        assert "contract table fact_returns" in wh.migrate()
        assert wh.migrate() == []
        for e in expected_tables():
            rows = wh.query("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                            "WHERE table_name = :t ORDER BY ordinal_position", {"t": e.table}).to_pylist()
            want = [{"column_name": n, "is_nullable": "YES" if null else "NO",
                     "data_type": "DECIMAL({},{})".format(*decimal(e, n)) if t == "dec" else DUCKDB[t]}
                    for n, t, null in e.columns]
            assert rows == want, e.table
            key = wh.query("SELECT constraint_column_names AS k FROM duckdb_constraints() "
                           "WHERE table_name = :t AND constraint_type = 'PRIMARY KEY'", {"t": e.table})["k"]
            assert tuple(key[0].as_py()) == e.key, e.table
    finally:
        wh.close()


# ----------------------------------------------------------------------------------------------- MariaDB
MARIADB = {"int": "bigint", "date": "date", "ts": "datetime", "bool": "tinyint", "dec": "decimal"}


def _mariadb_type(e: Expected, name: str, typ: str) -> tuple[Any, ...]:
    if typ == "str":
        w = width(e, name)
        return ("text", 65535, None, None) if w >= ddl.LONG_TEXT else ("varchar", w, None, None)
    if typ == "dec":
        return ("decimal", None, *decimal(e, name))
    return (MARIADB[typ], None, None, None)


def test_mariadb_tables_match_the_registry(mysql_url: str, with_returns: None) -> None:  # noqa: F811
    wh = resolve_warehouse(mysql_url)
    try:
        assert "contract table fact_returns" in wh.migrate()
        assert wh.migrate() == []
        for e in expected_tables():
            rows = wh.query(
                "SELECT column_name AS n, data_type AS t, character_maximum_length AS w, numeric_precision AS p, "
                "numeric_scale AS s, is_nullable AS nul, datetime_precision AS dp FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name = :t ORDER BY ordinal_position", {"t": e.table})
            got = [(r["n"], r["t"], r["w"] if r["t"] in ("varchar", "text") else None,
                    r["p"] if r["t"] == "decimal" else None, r["s"] if r["t"] == "decimal" else None,
                    r["nul"] == "YES") for r in rows.to_pylist()]
            want = [(n, *_mariadb_type(e, n, t), null) for n, t, null in e.columns]
            assert got == want, e.table
            assert all(r["dp"] == 6 for r in rows.to_pylist() if r["t"] == "datetime"), e.table
            key = wh.query("SELECT column_name AS c FROM information_schema.key_column_usage WHERE table_schema = "
                           "DATABASE() AND table_name = :t AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
                           {"t": e.table})["c"].to_pylist()
            assert tuple(key) == e.key, e.table
    finally:
        wh.close()


# ------------------------------------------------------------------------------------- StarRocks stand-in
STARROCKS = {"int": "bigint", "date": "date", "ts": "datetime", "bool": "boolean", "dec": "decimal", "str": "varchar"}


def test_starrocks_tables_match_the_registry(starrocks_standin: StarRocksStandin,  # noqa: F811
                                             with_returns: None) -> None:
    wh = resolve_warehouse(starrocks_standin.url())
    try:
        assert "contract table fact_returns" in wh.migrate()
        assert wh.migrate() == []
    finally:
        wh.close()
    for e in expected_tables():
        table = starrocks_standin.catalog.get(starrocks_standin.database, e.table)
        assert table is not None and table.kind == "PRIMARY", e.table
        partition = e.contract.date_column if e.table == e.contract.target_table else None
        # StarRocks: key columns first, in key order; a partitioned fact's date column joins its key.
        key = e.key + ((partition,) if partition else ())
        assert tuple(table.keys) == key, e.table
        assert list(table.columns)[:len(key)] == list(key), e.table
        assert sorted(table.columns) == sorted(n for n, _, _ in e.columns), e.table
        for name, typ, nullable in e.columns:
            col = table.columns[name]
            assert (col.type, col.nullable) == (STARROCKS[typ], nullable), (e.table, name)
            if typ == "str":
                assert col.max_bytes == min(width(e, name), ddl.LONG_TEXT), (e.table, name)
            if typ == "dec":
                assert col.params == decimal(e, name), (e.table, name)
        assert bool(table.partition) == bool(partition), e.table

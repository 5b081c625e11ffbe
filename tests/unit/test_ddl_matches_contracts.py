"""The DuckDB schema and the contract registry agree: every contract column exists with its type."""

from __future__ import annotations

import pytest

from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core.registry import CONTRACTS, LINEAGE_COLUMNS

DUCKDB_TYPES = {"str": "VARCHAR", "int": "BIGINT", "date": "DATE", "ts": "TIMESTAMP", "bool": "BOOLEAN"}


@pytest.fixture(scope="module")
def columns() -> dict[str, dict[str, str]]:
    wh = DuckDBWarehouse(path=":memory:")
    wh.migrate()
    rows = wh.query("SELECT table_name, column_name, data_type FROM information_schema.columns").to_pylist()
    wh.close()
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return out


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_target_table_has_every_contract_column_with_its_type(name: str, columns) -> None:
    contract = CONTRACTS[name]
    table = columns[contract.target_table]
    for col in contract.columns:
        want = f"DECIMAL({col.precision},{col.scale})" if col.type == "dec" else DUCKDB_TYPES[col.type]
        assert table[col.name] == want, (contract.target_table, col.name)
    for lineage in LINEAGE_COLUMNS:
        assert lineage in table


def test_migrations_are_idempotent() -> None:
    wh = DuckDBWarehouse(path=":memory:")
    assert wh.migrate() and wh.migrate() == []
    wh.close()

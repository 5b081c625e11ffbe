"""sql/ is written once and rendered per backend; the contract tables' DDL comes from the registry."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from blocks.warehouse import base, ddl, sql_templates
from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core import registry
from tests.contract_tables import RETURNS

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
SQLGLOT = {"duckdb": "duckdb", "mysql": "mysql", "starrocks": "starrocks"}


@pytest.mark.parametrize("dialect", sql_templates.DIALECTS)
def test_every_rendered_statement_parses_in_its_dialect(dialect: str) -> None:
    files = base.dialect_sql(dialect)
    assert {"V001__core.sql", "dd_month.sql", "sales_hierarchy.sql", "dim_date.sql", "rpt_sales_daily.sql",
            "maintenance.sql"} <= set(files)
    for name, text in files.items():
        assert "{{" not in text and "{%" not in text, name
        for statement in base.split_statements(text):
            if re.match(r"(?i)^(ALTER MATERIALIZED VIEW|CHECKPOINT|ANALYZE|OPTIMIZE|REFRESH)\b", statement):
                continue  # maintenance/refresh statements sqlglot keeps as opaque commands
            if "WITH LABEL" in statement.upper():
                continue
            tree = sqlglot.parse_one(_PARAM.sub("'2025-11-01'", statement), read=SQLGLOT[dialect])
            assert not isinstance(tree, exp.Command), f"{dialect} {name}: {statement[:100]}"


def test_post_load_sql_exists_once() -> None:
    """No per-dialect copy of a post-load file: sql/<dialect>/ holds migrations only."""
    for dialect in sql_templates.DIALECTS:
        assert [p.name for p in (base.SQL_ROOT / dialect).iterdir()] == ["migrations"]
    for name in base.POST_LOAD:
        assert (base.SQL_ROOT / f"{name}.sql").exists()


def test_lineage_columns_are_the_registrys() -> None:
    assert tuple(c.name for c in ddl.table_columns(registry.PRODUCT)[-4:]) == registry.LINEAGE_COLUMNS


def test_starrocks_fact_ddl_keys_partitions_and_distributes_by_the_contract() -> None:
    text = ddl.create_table(RETURNS, "starrocks")
    assert ") PRIMARY KEY (return_no, line_no, return_date)" in text
    assert "PARTITION BY date_trunc('month', return_date)" in text
    assert "DISTRIBUTED BY HASH (return_no)\n" in text and '"replication_num" = "${replication_num}"' in text
    assert text.index("return_date") < text.index("sku_code"), "key columns first"
    mysql = ddl.create_table(RETURNS, "mysql")
    assert "reason VARCHAR(255)," in mysql and "KEY ix_fact_returns_lineage (_source_file(100))" in mysql


def test_a_registry_only_table_is_created_by_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.CONTRACTS, RETURNS.name, RETURNS)
    wh = DuckDBWarehouse(path=":memory:")
    try:
        applied = wh.migrate()
        assert applied[-1] == "contract table fact_returns" and applied[0] == "V001__core.sql"
        assert wh.migrate() == []
        cols = wh.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'fact_returns' "
                        "ORDER BY ordinal_position")["column_name"].to_pylist()
        assert cols == [*RETURNS.column_names, *registry.LINEAGE_COLUMNS]
    finally:
        wh.close()


def test_declared_contract_tables_come_from_their_migration_version() -> None:
    """A contract with `Physical.since = N` is created by migration N of every backend, which must exist and
    say `{{ contract_tables(N) }}` (the shipped contracts: V001)."""
    assert {c.physical.since for c in registry.CONTRACTS.values()} == {1}
    for dialect in sql_templates.DIALECTS:
        versions = {m.version: m for m in base.migrations(dialect)}
        for c in registry.CONTRACTS.values():
            if c.physical.since is None:
                continue
            assert c.physical.since in versions, (dialect, c.name, c.physical.since)
            text = versions[c.physical.since].text()
            assert f"CREATE TABLE IF NOT EXISTS {c.target_table} (" in text, (dialect, c.target_table)


def test_force_index_names_the_index_migrations_create_on_mysql_only() -> None:
    hint = sql_templates.force_index("mysql", "fis", "date")
    assert hint == "FORCE INDEX (ix_fis_date)"
    assert "KEY ix_fis_date (invoice_date, tsr_code)" in ddl.create_table(registry.FIS, "mysql")
    assert sql_templates.force_index("duckdb", "fis", "date") == sql_templates.force_index("starrocks", "fis",
                                                                                          "date") == ""
    with pytest.raises(ValueError, match="declares no index 'day'"):
        sql_templates.force_index("mysql", "fis", "day")


def test_in_memory_temp_tables_are_memory_tables_on_mysql_only() -> None:
    assert sql_templates.temp_table("mysql", "_t", key="k", in_memory=True).endswith(
        "CREATE TEMPORARY TABLE _t (PRIMARY KEY (k)) ENGINE=MEMORY AS")
    for dialect in ("duckdb", "starrocks"):
        assert sql_templates.temp_table(dialect, "_t", in_memory=True) == sql_templates.temp_table(dialect, "_t")

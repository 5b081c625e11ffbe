"""Every StarRocks SQL file parses with sqlglot's StarRocks dialect (no StarRocks runs here).

A statement sqlglot cannot parse, or only swallows as an opaque `Command`, fails the test unless it
is listed in KNOWN_UNPARSEABLE with the reason — so StarRocks-only SQL stays small and reviewed.
"""

from __future__ import annotations

import logging
import re

import pytest
import sqlglot
from sqlglot import exp

from blocks.warehouse.base import dialect_sql, migrations, split_statements

STARROCKS = dialect_sql("starrocks")  # file name -> text rendered for StarRocks
# Statements sqlglot (>= 25) is known not to parse, by the start of their text; none are used so far.
# `INSERT INTO t WITH LABEL l SELECT ... FROM FILES(...)` (the Azure pushdown load) would go here.
KNOWN_UNPARSEABLE: dict[str, str] = {
    "INSERT INTO": "only statements with WITH LABEL, which sqlglot does not know",
    "ALTER MATERIALIZED VIEW": "REFRESH MANUAL|ASYNC (docs ALTER_MATERIALIZED_VIEW), which sqlglot does not know",
}
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _files() -> list[str]:
    return sorted(STARROCKS)


def _known(statement: str) -> bool:
    upper = statement.upper()
    if upper.startswith("ALTER MATERIALIZED VIEW"):
        return re.fullmatch(r"ALTER MATERIALIZED VIEW \w+ REFRESH (MANUAL|ASYNC)", upper.strip()) is not None
    return "WITH LABEL" in upper and any(upper.startswith(k) for k in KNOWN_UNPARSEABLE)


def test_there_is_starrocks_sql() -> None:
    names = set(_files())
    assert {"V001__core.sql", "sales_hierarchy.sql", "dim_date.sql", "dd_month.sql", "rpt_sales_daily.sql"} <= names


@pytest.mark.parametrize("name", _files())
def test_every_statement_parses_with_the_starrocks_dialect(name: str, caplog: pytest.LogCaptureFixture) -> None:
    for statement in split_statements(STARROCKS[name]):
        if _known(statement):
            continue
        # Parameters are bound by the driver at run time; a literal stands in for them here.
        text = _PARAM.sub("'2025-11-01'", statement)
        with caplog.at_level(logging.WARNING, logger="sqlglot"):
            tree = sqlglot.parse_one(text, read="starrocks")
        assert not isinstance(tree, exp.Command), f"{name}: sqlglot only saw a Command in: {statement[:120]}"
        assert "unsupported syntax" not in caplog.text, f"{name}: {statement[:120]}"


def test_facts_are_partitioned_distributed_and_bloom_indexed() -> None:
    ddl = {}
    for statement in split_statements(STARROCKS["V001__core.sql"]):
        tree = sqlglot.parse_one(statement, read="starrocks")
        ddl[tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name] = statement
    for table, date_col in (("fact_secondary_sales", "invoice_date"), ("fact_primary_sales", "dispatch_date")):
        text = ddl[table]
        assert f"PARTITION BY date_trunc('month', {date_col})" in text
        assert "DISTRIBUTED BY HASH" in text and "bloom_filter_columns" in text and "PRIMARY KEY" in text
    assert "MATERIALIZED VIEW" in ddl["rpt_sales_daily"]
    duck = {s.split("(")[0].split()[-1] for s in split_statements(migrations("duckdb")[0].text())}
    assert duck <= set(ddl), f"tables missing on StarRocks: {duck - set(ddl)}"


# Every function our StarRocks SQL calls, each documented by StarRocks (docs/en/sql-reference/sql-functions/,
# group per name in tests/integration/starrocks_standin/functions.py). A new call must be added here on purpose.
USED_FUNCTIONS = {
    "coalesce", "concat", "count", "current_user", "date_trunc", "datediff", "day", "dayofweek_iso", "days_add",
    "floor", "generate_series", "lpad", "max", "month", "parse_json", "replace", "row_number", "sha2",
    "split_part", "sum", "year",
}


def _calls(statement: str) -> set[str]:
    """Names of the functions a statement calls: written `name(` in its text *and* parsed as a call."""
    from tests.integration.starrocks_standin.functions import _SYNTAX, _candidates, called_names

    text = _PARAM.sub("'2025-11-01'", statement)
    if _known(statement):
        text = text[text.index("SELECT "):] if "SELECT " in text else "SELECT 1"
    written = set(called_names(text)) - _SYNTAX
    tree = sqlglot.parse_one(text, read="starrocks")
    found: set[str] = set()
    for node in tree.find_all(exp.Func):
        if not isinstance(node, (exp.Binary, exp.Unary, exp.Connector)):
            found |= _candidates(node) & written
    return found


def test_every_function_called_is_one_starrocks_documents() -> None:
    from tests.integration.starrocks_standin.functions import STARROCKS_FUNCTIONS

    called: dict[str, str] = {}
    for file_name, text in STARROCKS.items():
        for statement in split_statements(text):
            for name in _calls(statement):
                called.setdefault(name, file_name)
    undocumented = {n: f for n, f in called.items() if n not in STARROCKS_FUNCTIONS}
    assert not undocumented, f"functions StarRocks does not document: {undocumented}"
    assert set(called) <= USED_FUNCTIONS, f"new functions in sql/starrocks (list them): {set(called) - USED_FUNCTIONS}"
    assert {"date_trunc", "sha2", "split_part"} <= set(called), "the scan found the calls"

"""Render our SQL files for one backend: every file under sql/ is a Jinja template.

A post-load file (sql/dd_month.sql, ...) is written once; where the dialects really differ it says
`{% if dialect == "starrocks" %}` or calls one of the small helpers below, each of which states the
difference once. Migrations call `contract_tables(N)` for the tables the registry declares at version N.
Values are never formatted into the text: they stay `:name` placeholders bound by the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from blocks.warehouse import ddl
from datawiz.core import registry

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"
DIALECTS = ("duckdb", "mysql", "starrocks")


def temp_table(dialect: str, name: str) -> str:
    """Start `CREATE ... TEMPORARY TABLE name AS`, replacing a leftover one of the same session.

    MySQL/StarRocks have no CREATE OR REPLACE TEMPORARY TABLE: drop, then create (neither statement
    commits a MySQL transaction). StarRocks temporary tables (>= 3.3.1, docs table_design/temporary_table)
    need replication_num like any table.
    """
    if dialect == "duckdb":
        return f"CREATE OR REPLACE TEMP TABLE {name} AS"
    replicas = ' PROPERTIES ("replication_num" = "${replication_num}")' if dialect == "starrocks" else ""
    return f"DROP TEMPORARY TABLE IF EXISTS {name};\nCREATE TEMPORARY TABLE {name}{replicas} AS"


def drop_temp(dialect: str, name: str) -> str:
    """Drop a temporary table made by `temp_table`."""
    return f"DROP TABLE {name}" if dialect == "duckdb" else f"DROP TEMPORARY TABLE {name}"


def as_double(dialect: str, expr: str) -> str:
    """`expr` computed in DOUBLE (MySQL/MariaDB by arithmetic, `* 1e0`) like DuckDB's CAST(... AS DOUBLE),
    so every backend rounds the same value into DECIMAL(12,4)."""
    return f"{expr} * 1e0" if dialect == "mysql" else f"CAST({expr} AS DOUBLE)"


def bool_or(dialect: str, expr: str) -> str:
    """Any row true: bool_or on DuckDB, MAX on MySQL (booleans are 0/1), MAX of 0/1 on StarRocks."""
    if dialect == "duckdb":
        return f"bool_or({expr})"
    return f"max({expr})" if dialect == "mysql" else f"max(CASE WHEN {expr} THEN 1 ELSE 0 END)"


def is_true(dialect: str, expr: str) -> str:
    """A flag made by `bool_or`, as a condition (StarRocks' is 0/1, not a boolean)."""
    return f"{expr} = 1" if dialect == "starrocks" else expr


def json_list_contains(dialect: str, json_text: str, item: str) -> str:
    """Whether the JSON text array `json_text` (e.g. focus_brands) holds `item`; false when absent."""
    if dialect == "duckdb":
        return f"coalesce(list_contains(from_json({json_text}, '[\"VARCHAR\"]'), {item}), false)"
    if dialect == "mysql":
        return f"coalesce(JSON_CONTAINS({json_text}, JSON_QUOTE({item})), 0)"
    return f"coalesce(array_contains(CAST(parse_json({json_text}) AS ARRAY<VARCHAR>), {item}), false)"


def varchar(dialect: str, width: int) -> str:
    """A text column of `width` bytes: VARCHAR(width), TEXT/MEDIUMTEXT/STRING when long, VARCHAR on DuckDB."""
    return ddl.column_type(dialect, ddl.Column("text", "str"), width)


def table_end(dialect: str, key: str, hash: str, indexes: dict[str, str] | None = None, bloom: str = "") -> str:
    """Close a hand-written CREATE TABLE after its last column: primary key `key` ("a, b"), MySQL secondary
    `indexes` (name -> column list), StarRocks distribution on `hash` and bloom filter columns `bloom`."""
    layout = ddl.Layout(tuple(k.strip() for k in key.split(",")), hash, tuple((indexes or {}).items()),
                        bloom_filter=tuple(c.strip() for c in bloom.split(",") if c.strip()))
    return ddl.table_end(dialect, layout)


_HELPERS: dict[str, Callable[..., str]] = {
    "temp_table": temp_table, "drop_temp": drop_temp, "as_double": as_double, "bool_or": bool_or,
    "is_true": is_true, "json_list_contains": json_list_contains, "q": ddl.quote, "varchar": varchar,
    "table_end": table_end,
}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # StrictUndefined: a misspelt helper fails the render instead of leaving a hole in the SQL.
    return Environment(loader=FileSystemLoader(str(SQL_ROOT)), undefined=StrictUndefined,
                       keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(dialect: str, path: Path) -> str:
    """The text of the SQL template at `path` (under sql/) for `dialect`."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    template = _environment().get_template(path.resolve().relative_to(SQL_ROOT).as_posix())
    return template.render(**context(dialect))


def context(dialect: str) -> dict[str, Any]:
    """What a template sees: `dialect`, the helpers bound to it, `ts`, `contract_tables(N)` and the registry's
    fact and dimension tables."""
    bound: dict[str, Any] = {name: _bind(fn, dialect) for name, fn in _HELPERS.items()}
    bound["contract_tables"] = lambda since: ";\n\n".join(ddl.contract_tables(dialect, since))
    timestamp = ddl.column_type(dialect, ddl.Column("ts", "ts"), 0)
    # Read at every render, so a table `register()`ed after import is in maintenance's lists too.
    tables = {"fact_tables": registry.target_tables(registry.FACTS),
              "dimension_tables": registry.target_tables(registry.DIMENSIONS)}
    return {"dialect": dialect, "ts": timestamp, "LONG_TEXT": ddl.LONG_TEXT, "MEDIUM_TEXT": ddl.MEDIUM_TEXT,
            **tables, **bound}


def _bind(fn: Callable[..., str], dialect: str) -> Callable[..., str]:
    return lambda *args, **kwargs: fn(dialect, *args, **kwargs)

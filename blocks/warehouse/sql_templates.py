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


def temp_table(dialect: str, name: str, key: str = "", in_memory: bool = False) -> str:
    """Start `CREATE ... TEMPORARY TABLE name AS`, replacing a leftover one of the same session.

    MySQL/StarRocks have no CREATE OR REPLACE TEMPORARY TABLE: drop, then create (neither statement
    commits a MySQL transaction). StarRocks temporary tables (>= 3.3.1, docs table_design/temporary_table)
    need replication_num like any table. `key` ("a, b", unique in the rows) becomes the MySQL primary key:
    MariaDB joins and groups an unindexed temporary table by nested loops and sorts; DuckDB and StarRocks
    hash-join and need none. `in_memory`: on MySQL a MEMORY table, whose key is a hash index
    (mariadb.com/kb/en/memory-storage-engine/: "HASH indexes by default"), for small lookup tables joined
    to every line of a month — on `make bench`'s 2M-line day (SHOW PROFILES, by hand) the DD's first pass
    spent 1.3 s in InnoDB product lookups, 0.3 s with MEMORY; compute_dd in the bench's whole morning went
    18.5 -> 14.6 s with this and `force_index`. Only for dimension-sized rows: a MEMORY table is capped by
    max_heap_table_size (raised by `big_temp_tables`) and holds no TEXT/BLOB columns. MariaDB cannot turn
    MEMORY off (a mandatory engine, no --skip option: mariadb.com/kb/en/disabling-storage-engines); a MySQL
    server listing it in `disabled_storage_engines` would refuse these statements under NO_ENGINE_SUBSTITUTION.
    """
    if dialect == "duckdb":
        return f"CREATE OR REPLACE TEMP TABLE {name} AS"
    if dialect == "mysql":
        columns = f" (PRIMARY KEY ({key}))" if key else ""
        engine = " ENGINE=MEMORY" if in_memory else ""
        return f"DROP TEMPORARY TABLE IF EXISTS {name};\nCREATE TEMPORARY TABLE {name}{columns}{engine} AS"
    replicas = ' PROPERTIES ("replication_num" = "${replication_num}")'
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


# MySQL/MariaDB: in-memory limit of one internal temporary table (GROUP BY, DISTINCT, derived tables) for the
# post-load SQL. MariaDB's default (16 MiB) sends a month's grouping to an on-disk Aria table, which measured
# 10x slower on 2M lines (docs: mariadb.com/kb/en/server-system-variables/#tmp_table_size, the smaller of
# tmp_table_size and max_heap_table_size applies). Memory is taken only as the rows need it.
POST_LOAD_TEMP_BYTES = 1 << 30


def big_temp_tables(dialect: str) -> str:
    """MySQL: raise this session's in-memory temporary-table limit for the post-load SQL (POST_LOAD_TEMP_BYTES).

    SET SESSION does not commit a transaction; `default_temp_tables` puts the server's values back.
    """
    if dialect != "mysql":
        raise ValueError("big_temp_tables() is for MySQL/MariaDB")
    return f"SET SESSION tmp_table_size = {POST_LOAD_TEMP_BYTES}, max_heap_table_size = {POST_LOAD_TEMP_BYTES}"


def default_temp_tables(dialect: str) -> str:
    """MySQL: this session's temporary-table limits back to the server's (global) values."""
    if dialect != "mysql":
        raise ValueError("default_temp_tables() is for MySQL/MariaDB")
    return "SET SESSION tmp_table_size = DEFAULT, max_heap_table_size = DEFAULT"


def line_key(dialect: str, day: str, invoice_no: str, line_no: str) -> str:
    """Text that sorts like (day, invoice_no, line_no): max() of it is the latest line.

    Exact because the parts are fixed-width: an ISO date, invoice_no of the contract's pattern
    (INV|CRN + 10 digits, registry FIS) and line_no zero-padded to 10 digits (an INT's width). A DATE
    as text is YYYY-MM-DD on every backend (StarRocks: docs sql-reference/data-types/date-types/DATE,
    "the default format is YYYY-MM-DD"). Used instead of a row_number() window joined back to the lines,
    which MariaDB ran as a 2M-row materialisation (110 s of the month's DD in the issue-17 measurement).
    """
    if dialect == "mysql":
        return f"concat({day}, {invoice_no}, lpad({line_no}, 10, '0'))"
    return f"concat(CAST({day} AS VARCHAR), {invoice_no}, lpad(CAST({line_no} AS VARCHAR), 10, '0'))"


def unsorted(dialect: str) -> str:
    """After a GROUP BY whose rows need no order: MySQL's `ORDER BY NULL`, nothing elsewhere.

    MariaDB (like MySQL 5.7) sorts a GROUP BY's result as if ORDER BY named its columns unless told
    `ORDER BY NULL` (dev.mysql.com/doc/refman/5.7/en/order-by-optimization.html); DD's pass over a month's
    (outlet, SKU) pairs, 1.2M rows on the 2M-line day, spent ~1 s in that sort (ANALYZE FORMAT=JSON, issue 17).
    MySQL 8 no longer sorts and accepts the clause; DuckDB and StarRocks never sort a GROUP BY.
    """
    return "ORDER BY NULL" if dialect == "mysql" else ""


def force_index(dialect: str, contract: str, suffix: str) -> str:
    """After a table in FROM: MySQL's `FORCE INDEX (ix_...)` for the registry contract's index `suffix`; nothing
    elsewhere (DuckDB and StarRocks have no secondary B-tree indexes to choose).

    For a query the index covers — InnoDB secondary index records hold the row's primary key columns too
    (MySQL manual, "Clustered and Secondary Indexes", innodb-index-types.html; the same InnoDB in MariaDB) —
    which MariaDB's optimizer still runs as a full table scan when the range is most of the table: the DD's
    bills pass on `make bench`'s 2M-line day (one month, the whole table; SHOW PROFILES, by hand) read the
    532 MB of rows in 3.5 s, the 83 MB index in 1.75 s. tests/integration/test_mysql_post_load_plans.py
    reads the choice from MariaDB's EXPLAIN.
    """
    if dialect != "mysql":
        return ""
    table = registry.CONTRACTS[contract]
    if suffix not in {ix.suffix for ix in table.physical.indexes}:
        raise ValueError(f"{contract} declares no index {suffix!r}")
    return f"FORCE INDEX ({ddl.index_name(table, suffix)})"


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
    "table_end": table_end, "big_temp_tables": big_temp_tables, "default_temp_tables": default_temp_tables,
    "line_key": line_key, "unsorted": unsorted, "force_index": force_index,
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

"""CREATE TABLE for the contract tables, generated from the registry for every backend.

One type map and one renderer: a contract's columns (and its `Physical` hints, `datawiz.core.contract`)
decide the table on DuckDB, MySQL/MariaDB and StarRocks alike. The migrations call it from their
templates (`{{ contract_tables(1) }}` in sql/<dialect>/migrations/V001__core.sql), and `migrate()` calls
it for contracts added to the registry without a migration version (`Physical.since` None).
A migration renders the registry as it is *now*: a new warehouse gets a changed contract's table in its
latest shape, an existing one keeps what it was created with. Changing a shipped contract's columns
therefore still needs a hand-written migration that is idempotent on both (e.g. ADD COLUMN IF NOT EXISTS).

Choices per backend, and why:
* MySQL/MariaDB: codes VARCHAR(64), text VARCHAR(max_length); paths VARCHAR(512) (the ledger key must
  stay under InnoDB's 3072-byte index limit in utf8mb4); timestamps DATETIME(6) (DuckDB keeps
  microseconds too); text of 65,533 bytes or more is TEXT (MEDIUMTEXT above 65,535). Indexes live inside CREATE TABLE
  (MySQL has no CREATE INDEX IF NOT EXISTS, and DDL commits implicitly, so a migration must be re-runnable).
  The lineage index covers a 100-character prefix of the path alone: re-delivery deletes find a file's
  rows by path (the version is filtered among them), and the index size is what a bulk load pays for it.
* StarRocks (the why of each rule: the header of sql/starrocks/migrations/V001__core.sql): Primary Key
  tables, key columns first in key order, and a fact's partition column (its date) joins its key, since
  a partition column must be part of the key. Facts are partitioned by month with expression partitioning
  and hash-distributed on their first key column; StarRocks chooses the buckets unless `Physical.buckets`
  says. STRING for long text (65,533 bytes). `${replication_num}` is filled in by the connector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from datawiz.core import registry
from datawiz.core.contract import Column as Column
from datawiz.core.contract import TableContract

CODE_WIDTH = 64  # codes and listed values (their longest allowed value is far shorter)
LONG_TEXT = 65_533  # StarRocks' STRING, in bytes: longer than any VARCHAR we declare
MYSQL_TEXT = 65_535  # bytes a MySQL TEXT holds; longer is MEDIUMTEXT
MEDIUM_TEXT = 16_777_215  # bytes a MySQL MEDIUMTEXT holds (a quarantined row as JSON)
_TYPES: dict[str, dict[str, str]] = {
    "duckdb": {"int": "BIGINT", "date": "DATE", "ts": "TIMESTAMP", "bool": "BOOLEAN", "str": "VARCHAR"},
    "mysql": {"int": "BIGINT", "date": "DATE", "ts": "DATETIME(6)", "bool": "BOOLEAN", "str": "TEXT"},
    "starrocks": {"int": "BIGINT", "date": "DATE", "ts": "DATETIME", "bool": "BOOLEAN", "str": "STRING"},
}
# Column names each backend needs quoted (reserved words there).
_RESERVED: dict[str, frozenset[str]] = {
    "duckdb": frozenset(),
    "mysql": frozenset({"lines", "row_number"}),
    "starrocks": frozenset({"lines", "row_number", "role", "value", "year", "month", "day"}),
}
# Lineage columns every loaded table carries (names: registry.LINEAGE_COLUMNS), as free-text widths.
_LINEAGE = (Column("_source_file", "str", max_length=512), Column("_source_version", "str", max_length=128),
            Column("_loaded_at", "ts"), Column("_run_id", "str", max_length=64))
_SNAPSHOT_DATE = Column("snapshot_date", "date", key=True)
_MYSQL_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_LINEAGE_PREFIX = "_source_file(100)"


def quote(dialect: str, name: str) -> str:
    """A column name as `dialect` needs it written (backquoted where it is a reserved word)."""
    return f"`{name}`" if name in _RESERVED[dialect] else name


def width(contract: TableContract, column: Column) -> int:
    """A str column's VARCHAR width in bytes: the table's override, else 64 for codes, else max_length."""
    override = contract.physical.widths.get(column.name)
    if override:
        return override
    coded = column.is_code or column.pattern is not None or column.allowed is not None
    return CODE_WIDTH if coded else column.max_length


def column_type(dialect: str, column: Column, varchar: int) -> str:
    """The backend type of one contract column (`varchar`: its width, for str columns)."""
    if column.type == "dec":
        return f"DECIMAL({column.precision},{column.scale})"
    if column.type != "str" or dialect == "duckdb":
        return _TYPES[dialect][column.type]
    if dialect == "mysql" and varchar > MYSQL_TEXT:
        return "MEDIUMTEXT"
    return _TYPES[dialect]["str"] if varchar >= LONG_TEXT else f"VARCHAR({varchar})"


@dataclass(frozen=True)
class Layout:
    """Everything of a CREATE TABLE after its last column: key, indexes, partitions, distribution."""

    key: tuple[str, ...]
    hash_column: str  # StarRocks: DISTRIBUTED BY HASH (this)
    mysql_indexes: tuple[tuple[str, str], ...] = ()  # (name, column list) of MySQL secondary indexes
    bitmap_indexes: tuple[tuple[str, str], ...] = ()  # (name, column) of StarRocks bitmap indexes
    bloom_filter: tuple[str, ...] = ()  # StarRocks bloom_filter_columns
    partition: str | None = None  # StarRocks: PARTITION BY date_trunc('month', this)
    buckets: int | None = None  # StarRocks: None lets StarRocks choose


def table_end(dialect: str, layout: Layout) -> str:
    """The text after the last column line of a CREATE TABLE (no comma before it), to the end."""
    keys = ", ".join(quote(dialect, k) for k in layout.key)
    if dialect == "starrocks":
        inside = "".join(f",\n    INDEX {n} ({quote(dialect, c)}) USING BITMAP" for n, c in layout.bitmap_indexes)
        properties = ['"replication_num" = "${replication_num}"']
        if layout.bloom_filter:
            properties.append(f'"bloom_filter_columns" = "{",".join(layout.bloom_filter)}"')
        buckets = f" BUCKETS {layout.buckets}" if layout.buckets else ""
        return "\n".join([
            f"{inside}\n) PRIMARY KEY ({keys})",
            *([f"PARTITION BY date_trunc('month', {layout.partition})"] if layout.partition else []),
            f"DISTRIBUTED BY HASH ({quote(dialect, layout.hash_column)}){buckets}",
            f"PROPERTIES ({', '.join(properties)})",
        ])
    lines = [f"PRIMARY KEY ({keys})"]
    if dialect == "mysql":
        lines += [f"KEY {n} ({c})" for n, c in layout.mysql_indexes]
    body = "".join(f",\n    {line}" for line in lines)
    return f"{body}\n)" + (f" {_MYSQL_OPTIONS}" if dialect == "mysql" else "")


def create_table(contract: TableContract, dialect: str, history: bool = False) -> str:
    """CREATE TABLE IF NOT EXISTS for a contract's target table (or its history table), one statement."""
    name = contract.history_table if history else contract.target_table
    assert name is not None, f"{contract.name} has no history table"
    layout = contract_layout(contract, dialect, history)
    columns = table_columns(contract, history, layout.key if dialect == "starrocks" else ())
    body = ",\n".join(f"    {quote(dialect, c.name)} {column_type(dialect, c, width(contract, c))}"
                      f"{'' if c.nullable else ' NOT NULL'}" for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n{body}{table_end(dialect, layout)}"


def index_name(contract: TableContract, suffix: str) -> str:
    """The name of a contract table's secondary index `suffix` ("date" -> ix_fis_date), as migrations create it."""
    return f"ix_{contract.physical.short_name or contract.target_table}_{suffix}"


def contract_layout(contract: TableContract, dialect: str, history: bool = False) -> Layout:
    """A contract table's layout from its `Physical` hints (a history table gets its key alone)."""
    physical = contract.physical
    key = table_key(contract, dialect, history)
    if history:
        return Layout(key, contract.key[0])
    lineage = ((index_name(contract, "lineage"), _LINEAGE_PREFIX),) if physical.lineage_index else ()
    return Layout(
        key, contract.key[0],
        mysql_indexes=lineage + tuple((index_name(contract, ix.suffix), ", ".join(ix.columns))
                                      for ix in physical.indexes),
        bitmap_indexes=tuple((index_name(contract, c), c) for c in physical.bitmap_indexes),
        bloom_filter=physical.bloom_filter,
        partition=partition_column(contract, dialect, history),
        buckets=physical.buckets,
    )


def table_columns(contract: TableContract, history: bool = False, first: Sequence[str] = ()) -> tuple[Column, ...]:
    """The warehouse columns of a contract's table (or of its history table): source, then lineage.

    `first`: columns moved to the front in this order (StarRocks wants the key columns first, in key order).
    """
    columns = ((_SNAPSHOT_DATE,) if history else ()) + contract.columns + _LINEAGE
    return tuple(c for k in first for c in columns if c.name == k) + tuple(c for c in columns if c.name not in first)


def table_key(contract: TableContract, dialect: str, history: bool = False) -> tuple[str, ...]:
    """The primary key; on StarRocks a partitioned fact's date column joins it (it must)."""
    key = (("snapshot_date",) if history else ()) + contract.key
    partition = partition_column(contract, dialect, history)
    return key + (partition,) if partition else key


def partition_column(contract: TableContract, dialect: str, history: bool = False) -> str | None:
    """The column a StarRocks fact table is partitioned on by month (None elsewhere)."""
    if dialect != "starrocks" or history or not contract.physical.partition_by_month:
        return None
    return contract.date_column


def contract_tables(dialect: str, since: int | None) -> list[str]:
    """CREATE TABLE statements of the registry's tables introduced by migration `since` (None: undeclared)."""
    return [create_table(c, dialect, history) for c, history, _ in _tables(since)]


def undeclared_tables(dialect: str, existing: Sequence[str]) -> list[tuple[str, str]]:
    """(table, CREATE TABLE) of registry tables no migration version creates and the warehouse lacks."""
    have = {t.lower() for t in existing}
    return [(name, create_table(c, dialect, history)) for c, history, name in _tables(None)
            if name.lower() not in have]


def _tables(since: int | None) -> Iterator[tuple[TableContract, bool, str]]:
    """(contract, is history table, table name) of the registry's tables introduced by migration `since`:
    each contract's target table, then its history table if it keeps one (e.g. stg_tsr_snapshot).
    Read at call time, so a contract added to the registry (or by a test) is seen."""
    for contract in registry.CONTRACTS.values():
        if contract.physical.since != since:
            continue
        yield contract, False, contract.target_table
        if contract.history_table:
            yield contract, True, contract.history_table

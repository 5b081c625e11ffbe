"""What the stand-in knows about each StarRocks table: kind, key, columns and their byte limits.

Kept in memory on the stand-in (shared by every client session and by the Stream Load write path),
keyed by (database, table). Built from the CREATE TABLE statement as StarRocks reads it:
docs/en/sql-reference/sql-statements/table_bucket_part_index/CREATE_TABLE.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

# docs/en/sql-reference/data-types/string-type/VARCHAR.md: VARCHAR(M), M is a length in BYTES,
# 1..1048576 (since v3.1); STRING.md: STRING is VARCHAR(65533).
STRING_BYTES = 65533
VARCHAR_MAX_BYTES = 1048576
# be/src/common/config.h: CONF_mInt32(primary_key_limit_size, "128") — the encoded key limit.
PRIMARY_KEY_LIMIT = 128
# TabletColumn::get_field_length_by_type (be/src/storage/tablet_schema.cpp): the fixed width of each
# non-string key type, as summed by PrimaryKeyEncoder::encode_exceed_limit.
FIXED_KEY_BYTES = {"boolean": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "largeint": 16, "date": 4,
                   "datetime": 8}

_TYPE_NAMES = {  # sqlglot DType name -> StarRocks type name
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INT": "int", "BIGINT": "bigint",
    "INT128": "largeint", "FLOAT": "float", "DOUBLE": "double", "DECIMAL": "decimal", "DATE": "date",
    "DATETIME": "datetime", "TIMESTAMP": "datetime", "VARCHAR": "varchar", "CHAR": "char", "TEXT": "varchar",
    "JSON": "json", "ARRAY": "array", "MAP": "map", "STRUCT": "struct", "VARBINARY": "varbinary",
    "BINARY": "varbinary",
}


@dataclass
class Column:
    """One column: its StarRocks type and, for strings, the byte limit a write must respect."""

    name: str
    type: str  # StarRocks base type name: varchar, bigint, date, decimal, ...
    params: tuple[int, ...] = ()
    nullable: bool = True
    has_default: bool = False

    @property
    def max_bytes(self) -> int | None:
        """Byte limit of a string column (VARCHAR(n): n; STRING: 65533; CHAR(n): n), else None."""
        if self.type in ("varchar", "char"):
            return self.params[0] if self.params else STRING_BYTES
        return None

    def sql_type(self) -> str:
        """The type as StarRocks prints it (for messages): varchar(64), decimal(14, 2), bigint."""
        return f"{self.type}({', '.join(map(str, self.params))})" if self.params else self.type


@dataclass
class Table:
    """A StarRocks table (or the table behind a materialized view) as the stand-in models it."""

    name: str
    kind: str  # PRIMARY | DUPLICATE | UNIQUE | AGGREGATE | MV | VIEW | TEMPORARY
    keys: list[str]
    columns: dict[str, Column]
    replication_num: int = 3
    partition: str | None = None

    @property
    def upserts(self) -> bool:
        """Primary Key (and Unique Key) tables replace the row of an existing key on every write
        (docs/en/table_design/table_types/primary_key_table.md: "a later row with the same key replaces")."""
        return self.kind in ("PRIMARY", "UNIQUE")

    def column(self, name: str) -> Column | None:
        return self.columns.get(name) or next((c for c in self.columns.values() if c.name.lower() == name.lower()),
                                              None)


@dataclass
class MaterializedView:
    """An asynchronous materialized view: its query (MariaDB SQL), base tables and refresh mode.

    docs/en/sql-reference/sql-statements/materialized_view/CREATE_MATERIALIZED_VIEW.md: REFRESH
    [IMMEDIATE|DEFERRED] [ASYNC [START (...)] [EVERY (INTERVAL ...)] | MANUAL]; ASYNC without a schedule
    refreshes "when the data in the base table changes".
    """

    name: str
    query: str  # MariaDB SQL of the defining SELECT
    bases: set[str]
    mode: str  # ASYNC | MANUAL
    scheduled: bool = False  # ASYNC with START/EVERY: periodic, not on base-table change (not modelled)

    @property
    def refreshes_on_change(self) -> bool:
        return self.mode == "ASYNC" and not self.scheduled


@dataclass
class Catalog:
    """Tables and materialized views per database (thread-safe: client sessions and Stream Load share it)."""

    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    views: dict[tuple[str, str], MaterializedView] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def get(self, db: str, name: str) -> Table | None:
        with self.lock:
            return self.tables.get((db, name.lower()))

    def put(self, db: str, table: Table) -> None:
        with self.lock:
            self.tables[(db, table.name.lower())] = table

    def drop(self, db: str, name: str) -> None:
        with self.lock:
            self.tables.pop((db, name.lower()), None)
            self.views.pop((db, name.lower()), None)

    def swap(self, db: str, a: str, b: str) -> None:
        """ALTER TABLE a SWAP WITH b: the two names exchange their schemas and data."""
        with self.lock:
            ta, tb = self.tables.pop((db, a.lower())), self.tables.pop((db, b.lower()))
            ta.name, tb.name = b, a
            self.tables[(db, b.lower())], self.tables[(db, a.lower())] = ta, tb

    def views_on(self, db: str, base: str) -> list[MaterializedView]:
        """Materialized views of `db` that read `base` and refresh when it changes."""
        with self.lock:
            return [v for (d, _), v in self.views.items() if d == db and base.lower() in v.bases
                    and v.refreshes_on_change]

    def drop_database(self, db: str) -> None:
        with self.lock:
            for key in [k for k in self.tables if k[0] == db]:
                del self.tables[key]
            for key in [k for k in self.views if k[0] == db]:
                del self.views[key]


def column_from_def(col: exp.ColumnDef) -> Column:
    """A Column from a sqlglot ColumnDef (StarRocks spelling)."""
    dtype: exp.DataType = col.args["kind"]
    type_name = _TYPE_NAMES.get(dtype.this.name, dtype.this.name.lower())
    params = tuple(int(p.this.this) for p in dtype.expressions if isinstance(p, exp.DataTypeParam)
                   and isinstance(p.this, exp.Literal))
    if dtype.this.name == "TEXT":  # STRING: VARCHAR(65533) (docs data-types/string-type/STRING.md)
        params = (STRING_BYTES,)
    constraints = [c.args.get("kind") for c in col.args.get("constraints") or []]
    nullable = not any(isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null")
                       for k in constraints)
    has_default = any(isinstance(k, exp.DefaultColumnConstraint) for k in constraints)
    return Column(col.name, type_name, params, nullable, has_default)


def table_from_create(create: exp.Create, default_replication: int) -> Table:
    """A Table from CREATE TABLE: columns, key kind and columns (PRIMARY KEY / DUPLICATE KEY / UNIQUE KEY /
    AGGREGATE KEY; none: a Duplicate Key table sorted by its first columns), replication_num, partitioning."""
    schema: exp.Schema = create.this
    columns: dict[str, Column] = {}
    kind, keys, partition = "DUPLICATE", [], None
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            column = column_from_def(item)
            columns[column.name] = column
        elif isinstance(item, exp.PrimaryKey):
            kind, keys = "PRIMARY", [i.name for i in item.expressions]
            include = item.args.get("include")
            if include is not None and include.args.get("partition_by"):
                partition = ", ".join(p.sql("starrocks") for p in include.args["partition_by"])
    replication = default_replication
    for prop in (create.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.DuplicateKeyProperty):
            kind, keys = "DUPLICATE", [i.name for i in prop.expressions]
        elif isinstance(prop, exp.UniqueKeyProperty):
            kind, keys = "UNIQUE", [i.name for i in prop.expressions]
        elif type(prop).__name__ == "AggregateKeyProperty":
            kind, keys = "AGGREGATE", [i.name for i in prop.expressions]
        elif isinstance(prop, exp.PartitionedByProperty):
            partition = prop.this.sql("starrocks")
        elif isinstance(prop, exp.Property) and prop.name.lower() == "replication_num":
            replication = _replication(prop.args["value"].name)
        elif isinstance(prop, exp.TemporaryProperty):
            kind = "TEMPORARY"
    if kind in ("PRIMARY", "UNIQUE"):
        for key in keys:  # key columns cannot be NULL
            columns[key].nullable = False
    return Table(schema.this.name, kind, keys, columns, replication, partition)


def _replication(value: str) -> int:
    """The replication_num property: a positive integer (PropertyAnalyzer; message text not verified)."""
    if not value.strip().isdigit() or int(value) < 1:
        from tests.integration.starrocks_standin.errors import analyzing_error

        raise analyzing_error(f"Replication num should larger than 0. (replication_num = {value})")
    return int(value)


def key_exceeds_limit(table: Table, row: dict[str, Any], limit: int = PRIMARY_KEY_LIMIT) -> bool:
    """be/src/storage/primary_key_encoder.cpp PrimaryKeyEncoder::encode_exceed_limit, for one row.

    One key column: only a VARCHAR key is checked, its byte length > limit fails. Composite key: the
    fixed widths of the non-VARCHAR key columns, plus for each VARCHAR key column its bytes + its NUL
    bytes + 2 (the \\x00\\x00 separator, NULs escaped as \\x00\\x01) or, for the last key column, its bytes.
    (The 3.x single-column branch reads only the chunk's first slice; the stand-in checks every row.)
    """
    keys = [table.columns[k] for k in table.keys]
    if len(keys) == 1:
        return keys[0].type in ("varchar", "char") and len(_bytes(row.get(keys[0].name))) > limit
    size = 0
    for i, col in enumerate(keys):
        if col.type in ("varchar", "char"):
            raw = _bytes(row.get(col.name))
            size += len(raw) if i + 1 == len(keys) else len(raw) + raw.count(0) + 2
        else:
            size += FIXED_KEY_BYTES.get(col.type, 8)
    return size > limit


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8")


def check_row(table: Table, row: dict[str, Any], given: set[str], strict: bool) -> str | None:
    """Why a write's row is filtered (None: it loads); in non-strict mode over-long values become NULL in `row`.

    docs/en/loading/load_concept/strict_mode.md: a value that fails conversion — e.g. "field length overflow"
    (VARCHAR(n) counts bytes) — makes the row unqualified. Strict mode on: the row is filtered. Strict mode
    off: the value is loaded as NULL; but a NULL for a column that does not allow NULL is an error and the row
    is filtered.
    """
    for col in table.columns.values():
        if col.name not in given:
            if not col.nullable and not col.has_default:
                return f"NULL value in non-nullable column '{col.name}'"
            continue
        value = row.get(col.name)
        limit = col.max_bytes
        if value is not None and limit is not None and len(_bytes(value)) > limit:
            if strict:
                return f"String '{str(value)[:32]}' is too long (> {limit} bytes) for column '{col.name}'"
            row[col.name] = value = None
        if value is None and not col.nullable:
            return f"NULL value in non-nullable column '{col.name}'"
    return None


def mariadb_type(col: Column) -> str:
    """The MariaDB column type that can hold every value StarRocks accepts for `col`."""
    t, p = col.type, col.params
    if t in ("varchar", "char"):
        n = p[0] if p else STRING_BYTES
        # n counts bytes in StarRocks and characters in MariaDB, so VARCHAR(n) always has room; long
        # ones become TEXT types so InnoDB's 64 KB row limit is never hit.
        return f"VARCHAR({n})" if n <= 1024 else ("TEXT" if n <= 65535 else "MEDIUMTEXT")
    if t == "decimal":
        return f"DECIMAL({p[0] if p else 10},{p[1] if len(p) > 1 else 0})"
    if t == "datetime":
        return "DATETIME(6)"
    if t == "largeint":
        return "DECIMAL(39,0)"
    if t in ("json", "array", "map", "struct"):
        return "LONGTEXT"
    if t == "varbinary":
        return "LONGBLOB"
    return {"boolean": "BOOLEAN", "tinyint": "TINYINT", "smallint": "SMALLINT", "int": "INT", "bigint": "BIGINT",
            "float": "FLOAT", "double": "DOUBLE", "date": "DATE"}.get(t, "LONGTEXT")


def mariadb_ddl(table: Table, temporary: bool = False, if_not_exists: bool = False) -> str:
    """CREATE TABLE for the backing MariaDB table (binary, no-pad collation: StarRocks compares bytes)."""
    cols = [f"`{c.name}` {mariadb_type(c)}{'' if c.nullable else ' NOT NULL'}" for c in table.columns.values()]
    if table.upserts and table.keys:
        # Key values are at most 128 bytes (PRIMARY_KEY_LIMIT), so a 128-character prefix is the whole value.
        parts = [f"`{k}`({PRIMARY_KEY_LIMIT})" if (table.columns[k].max_bytes or 0) > PRIMARY_KEY_LIMIT else f"`{k}`"
                 for k in table.keys]
        cols.append(f"PRIMARY KEY ({', '.join(parts)})")
    head = "CREATE TEMPORARY TABLE" if temporary else "CREATE TABLE"
    exists = " IF NOT EXISTS" if if_not_exists else ""
    return (f"{head}{exists} `{table.name}` ({', '.join(cols)}) "
            "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin")

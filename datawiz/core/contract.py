"""The contract model: what a table, a column, a key and a load mode are (DATA-CONTRACT.md §2).

The bottom layer: `blocks/`, `tasks/` and `flows/` all import it, it imports nothing of theirs.
The tables themselves are declared in `datawiz.core.registry`.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["str", "int", "dec", "date", "ts", "bool"]


class LoadMode(enum.StrEnum):
    """How a file version reaches its warehouse table."""

    SNAPSHOT_UPSERT = "snapshot_upsert"  # full snapshot; absent keys are deactivated
    FACT_UPSERT = "fact_upsert"  # incremental lines; a re-delivery replaces its file's rows
    CONSTANTS = "constants"  # business_constants.json, one row per constant


class Origin(enum.StrEnum):
    """Which delivery stream a path belongs to (the backfill reads only `historical`)."""

    SNAPSHOT = "snapshot"
    INCREMENTAL = "incremental"
    HISTORICAL = "historical"
    CONFIG = "config"


@dataclass(frozen=True)
class Column:
    """One source column and every row-level rule of DATA-CONTRACT.md §2 that applies to it."""

    name: str
    type: ColumnType
    key: bool = False
    nullable: bool = False
    precision: int | None = None  # dec only
    scale: int | None = None  # dec only
    pattern: str | None = None
    allowed: tuple[str | float | int, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    is_code: bool = False  # upper-cased by cleaning (codes are case-insensitive upstream)
    # Free text (no pattern, no allowed list): longest value in UTF-8 *bytes*, the width of its warehouse
    # column (VARCHAR(255) on MySQL; StarRocks counts VARCHAR in bytes). Longer values are quarantined.
    max_length: int = 255


@dataclass(frozen=True)
class Index:
    """A secondary B-tree index on MySQL/MariaDB, named `ix_<Physical.short_name>_<suffix>`."""

    suffix: str
    columns: tuple[str, ...]  # "col", or "col(n)" for an index on the first n characters


@dataclass(frozen=True)
class Physical:
    """How one contract's table is laid out in a warehouse, where that is a choice made per table.

    Everything else (types, keys, engine, replicas) follows from the columns and the backend
    (`blocks/warehouse/ddl.py`), so a new contract with the defaults needs no SQL at all.
    """

    # The migration version whose `{{ contract_tables(N) }}` creates the table; None (a table added to
    # the registry later): `migrate()` creates it when it is missing, after the versioned migrations.
    since: int | None = None
    short_name: str | None = None  # stem of index names (ix_<stem>_...); default the table name
    # VARCHAR byte widths that differ from the default: 64 for codes and listed values, max_length for text.
    widths: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    lineage_index: bool = True  # MySQL: index _source_file (re-delivery deletes a file's rows by path)
    indexes: tuple[Index, ...] = ()  # MySQL/MariaDB secondary indexes besides the lineage one
    bitmap_indexes: tuple[str, ...] = ()  # StarRocks: low-cardinality filter columns
    bloom_filter: tuple[str, ...] = ()  # StarRocks: high-cardinality lookup/join columns, in this order
    partition_by_month: bool = True  # StarRocks: a fact (date_column set) is partitioned by its month
    buckets: int | None = None  # StarRocks: None lets StarRocks choose the bucket count


@dataclass(frozen=True)
class PathPattern:
    """A landing path regex with named groups `date` (YYYYMMDD or YYYYMM) and optional `part`."""

    regex: str
    origin: Origin

    def match(self, path: str) -> re.Match[str] | None:
        return re.fullmatch(self.regex, path)

    @property
    def folder(self) -> str:
        """The literal folders the pattern starts with, e.g. `facts/fis`: where its files land."""
        literal = []
        for part in self.regex.split("/")[:-1]:  # the last part is the file name
            if _REGEX_SYNTAX.search(part):
                break
            literal.append(part)
        return "/".join(literal)


_REGEX_SYNTAX = re.compile(r"[\\()\[\]{}.*+?^$|]")


@dataclass(frozen=True)
class TableContract:
    """Everything the pipeline knows about one source table."""

    name: str
    target_table: str
    load_mode: LoadMode
    paths: tuple[PathPattern, ...]
    columns: tuple[Column, ...] = ()
    date_column: str | None = None  # fact column that must match the file's date
    max_reject_ratio: float = 0.05
    physical: Physical = field(default_factory=Physical)  # warehouse layout hints (blocks/warehouse/ddl.py)
    # Snapshot tables whose every applied snapshot is also kept by date (the SCD2 input).
    history_table: str | None = None
    # Fact code columns and the dimension table+key they refer to (orphans are counted, not rejected).
    references: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)
    # --- what the rest of the pipeline derives from the contract (issue 16; kept together for merges) ---
    # Human name of the feed ("secondary-sales"): flow step descriptions, reports.
    label: str = ""
    # Table-level (row-wise) rules by name, checked in this order; the names are registered in
    # tasks/schemas.py RULES (an unknown name fails at import there, and in the unit tests).
    rules: tuple[str, ...] = ()

    @property
    def schedule(self) -> Literal["evening", "morning"]:
        """The flow that loads its new files: facts in the morning, snapshots and constants in the evening."""
        return "morning" if self.load_mode is LoadMode.FACT_UPSERT else "evening"

    @property
    def backfillable(self) -> bool:
        """Whether the backfill flow can load it: it has a `historical/` delivery stream."""
        return any(p.origin is Origin.HISTORICAL for p in self.paths)

    def folder(self, origin: Origin) -> str:
        """Where the files of one delivery stream land, e.g. `facts/fis` or `historical/fis`."""
        return next(p.folder for p in self.paths if p.origin is origin)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class FileRef:
    """A landing path resolved against the registry: which contract, which date, which part."""

    path: str
    contract: TableContract
    origin: Origin
    business_date: dt.date | None  # snapshot/business day, or the 1st of the month for history
    period: Literal["day", "month", "none"]
    part: int | None

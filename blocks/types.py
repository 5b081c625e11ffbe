"""Plain data types shared by sources, warehouses and tasks (no Prefect, no drivers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TypedDict


class BrokenRule(TypedDict):
    """One rule a quarantined row broke, as `etl_quarantine.rules` stores it (JSON)."""

    column: str | None  # None: a row-level rule
    rule: str
    category: str


class QuarantineExample(TypedDict):
    """One quarantined row as reports show it: its row number in the file and the rules it broke."""

    row_number: int
    rules: list[BrokenRule]


@dataclass(frozen=True)
class SourceFile:
    """One file version in the landing area: path relative to the root plus its content version."""

    path: str
    version: str  # Azure ETag, or a content hash for a local folder
    size: int
    modified: dt.datetime | None = None
    md5: str | None = None  # hex, when the store provides one


@dataclass
class FileStats:
    """The reconciliation counts of one file version (DATA-CONTRACT.md §3)."""

    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    orphans: int = 0

    def balanced(self) -> bool:
        """rows_in = rows_loaded + rows_quarantined + rows_deduplicated."""
        return self.rows_in == self.rows_loaded + self.rows_quarantined + self.rows_deduplicated


@dataclass
class LedgerEntry:
    """One `etl_file_ledger` row, written in the same transaction as the file's data."""

    source_file: str
    source_version: str
    table_name: str
    status: str  # loaded | rejected | superseded
    stats: FileStats
    run_id: str
    started_at: dt.datetime
    business_date: dt.date | None = None
    reason: str | None = None
    load_label: str | None = None
    drift_columns: list[str] = field(default_factory=list)
    examples: list[QuarantineExample] = field(default_factory=list)  # report only, not stored


@dataclass(frozen=True)
class Watermark:
    """A named mark in etl_watermark: a date and when it was set."""

    value: dt.date
    updated_at: dt.datetime

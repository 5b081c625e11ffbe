"""The write path shared by INSERT and Stream Load: error rows, the key-size limit, upsert by key.

What StarRocks does with the rows of one load (INSERT statement or Stream Load request), in order:
1. a string longer than its column is an unqualified value (docs/en/loading/load_concept/strict_mode.md):
   with strict mode (INSERT: session variable enable_insert_strict, true by default — docs/en/sql-reference/
   System_variable.md; Stream Load: the request's strict_mode) its row is filtered, without it the value
   becomes NULL; a NULL for a NOT NULL column filters the row either way. A filtered row fails the whole
   load when strict (INSERT has no max_filter_ratio before v3.4.0; Stream Load's max_filter_ratio is 0 by
   default); without strict mode filtered rows are dropped and the rest loads;
2. a Primary Key table refuses the whole load if any kept row's encoded key exceeds 128 bytes
   (be/src/storage/memtable.cpp, PrimaryKeyEncoder::encode_exceed_limit);
3. Primary Key tables upsert: a row whose key exists replaces it, later rows of the load win
   (docs/en/table_design/table_types/primary_key_table.md); other tables append.
Nothing of a refused load is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pymysql

from tests.integration.starrocks_standin.catalog import Table, check_row, key_exceeds_limit


class WriteRefused(Exception):
    """The load is refused as a whole (`kind`: 'filtered' or 'key_too_long')."""

    def __init__(self, kind: str, filtered: int = 0, reason: str = "") -> None:
        super().__init__(kind)
        self.kind, self.filtered, self.reason = kind, filtered, reason


@dataclass
class WriteResult:
    loaded: int
    filtered: int


def write(cur: pymysql.cursors.Cursor, table: Table, columns: list[str], rows: Sequence[Sequence[Any]],
          strict: bool, database: str | None = None, max_filter_ratio: float | None = None) -> WriteResult:
    """Validate and write `rows` (values in `columns` order) into the backing table of `table`.

    `max_filter_ratio`: Stream Load's (filtered rows over all rows may not exceed it); None for INSERT, which
    fails on any filtered row when strict and drops them otherwise."""
    columns = [(table.column(c).name if table.column(c) else c) for c in columns]  # type: ignore[union-attr]
    given = set(columns)
    kept: list[Sequence[Any]] = []
    filtered, reason = 0, ""
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        error = check_row(table, values, given, strict)
        if error is None:
            kept.append([values[c] for c in columns])
        else:
            filtered, reason = filtered + 1, reason or error
    too_many = (filtered > 0 and strict) if max_filter_ratio is None else filtered > max_filter_ratio * len(rows)
    if too_many:
        raise WriteRefused("filtered", filtered, reason)
    if table.kind == "PRIMARY" and table.keys and any(
            key_exceeds_limit(table, dict(zip(columns, row, strict=True))) for row in kept):
        raise WriteRefused("key_too_long")
    if kept:
        verb = "REPLACE" if table.upserts else "INSERT"
        cols = ", ".join(f"`{c}`" for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        target = f"`{database}`.`{table.name}`" if database else f"`{table.name}`"
        cur.executemany(f"{verb} INTO {target} ({cols}) VALUES ({marks})", [tuple(r) for r in kept])
    return WriteResult(len(kept), filtered)

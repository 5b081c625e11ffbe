"""Lineage columns every loaded row carries: where it came from, when, and which run loaded it."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from blocks.types import LedgerEntry


def with_lineage(table: pa.Table, entry: LedgerEntry, loaded_at: dt.datetime | None = None) -> pa.Table:
    """Append _source_file, _source_version, _loaded_at (now unless given), _run_id to every row."""
    n = table.num_rows
    loaded_at = loaded_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return (
        table.append_column("_source_file", pa.repeat(pa.scalar(entry.source_file, pa.string()), n))
        .append_column("_source_version", pa.repeat(pa.scalar(entry.source_version, pa.string()), n))
        .append_column("_loaded_at", pa.repeat(pa.scalar(loaded_at, pa.timestamp("us")), n))
        .append_column("_run_id", pa.repeat(pa.scalar(entry.run_id, pa.string()), n))
    )

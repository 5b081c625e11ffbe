"""Quarantined rows: a readable Parquet copy per file version, and replay after a fix.

The warehouse table `etl_quarantine` is the system of record; the Parquet copies under
`data/quarantine/` are for people (open them in any tool) and survive a warehouse reset.
Replay re-validates a file's quarantined rows — after a contract fix — and loads those that
now pass, keeping `rows_in = loaded + quarantined + deduplicated` true in the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.base import Warehouse
from blocks.warehouse.batches import Batches, as_batches
from blocks.warehouse.sql_builders import TRUNCATED_KEY
from datawiz.core.errors import ConfigError
from datawiz.core.registry import resolve_path
from tasks.clean import ROW_NUMBER, clean_table
from tasks.lineage import with_lineage
from tasks.paths import data_dir
from tasks.validate import validate_rows


def quarantine_copy_path(source_file: str, version: str) -> Path:
    """data/quarantine/<dir>/<stem>@<version>.parquet, next to nothing else of that version."""
    rel = Path(source_file)
    safe = re.sub(r"[^A-Za-z0-9]", "", version)
    return data_dir() / "quarantine" / rel.parent / f"{rel.stem}@{safe}.parquet"


def write_quarantine_copy(entry: LedgerEntry, quarantine: Batches) -> Path | None:
    """Write the quarantined rows of one file version as Parquet (atomic rename); None when there are none.

    `quarantine` may be a stream of batches (a big file's records, spooled): it is written batch by batch.
    """
    target = quarantine_copy_path(entry.source_file, entry.source_version)
    tmp = target.with_name(target.name + ".part")
    writer: pq.ParquetWriter | None = None
    try:
        for batch in as_batches(quarantine):
            if not batch.num_rows:
                continue
            n = batch.num_rows
            table = batch.drop_columns(["quarantined_key"]).append_column(
                "source_file", pa.repeat(pa.scalar(entry.source_file), n)
            ).append_column("source_version", pa.repeat(pa.scalar(entry.source_version), n))
            if writer is None:
                target.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        return None
    tmp.replace(target)
    return target


@dataclass
class ReplayResult:
    """What a replay did for one file version."""

    source_file: str
    source_version: str
    replayed: int
    loaded: int
    still_quarantined: int


def replay_file(warehouse: Warehouse, source_file: str, run_id: str) -> ReplayResult:
    """Re-validate the quarantined rows of a file's current version; load the rows that now pass."""
    ref = resolve_path(source_file)
    if ref is None or ref.contract.load_mode.value == "constants":
        raise ConfigError(f"{source_file}: not a data file of any table contract")
    version = warehouse.ledger_loaded_version(source_file)
    if version is None:
        raise ConfigError(
            f"{source_file}: no loaded version in etl_file_ledger (rejected files are re-sent, not replayed)"
        )
    rows = warehouse.quarantined_rows(source_file, version).to_pylist()
    if not rows:
        return ReplayResult(source_file, version, 0, 0, 0)
    # A row too long for the warehouse's text column (StarRocks' STRING) is stored as a marker; its whole
    # text is in the Parquet copy. Rows found nowhere whole stay quarantined as they are.
    total = len(rows)
    rows = [r for r in _with_full_rows(rows, quarantine_copy_path(source_file, version)) if not _truncated(r)]
    if not rows:
        return ReplayResult(source_file, version, total, 0, total)
    raw = _rows_as_text([json.loads(r["row_json"]) for r in rows])
    cleaned = clean_table(raw, ref.contract, source_file)
    # Row numbers stay those of the original file, so quarantine records keep pointing at it.
    numbers = pa.array([r["row_number"] for r in rows], pa.int64())
    cleaned.table = cleaned.table.set_column(cleaned.table.schema.get_field_index(ROW_NUMBER), ROW_NUMBER, numbers)
    split = validate_rows(cleaned, ref, enforce_ratio=False)
    fixed = sorted(set(numbers.to_pylist()) - set(split.quarantine.column("row_number").to_pylist()))
    entry = LedgerEntry(source_file, version, ref.contract.target_table, "loaded", FileStats(), run_id,
                        dt.datetime.now(dt.UTC), ref.business_date)
    warehouse.replay_rows(ref.contract, entry, with_lineage(split.good, entry), fixed)
    _refresh_copy(warehouse, entry)
    return ReplayResult(source_file, version, total, split.good.num_rows, total - len(fixed))


def _refresh_copy(warehouse: Warehouse, entry: LedgerEntry) -> None:
    """Rewrite the Parquet copy so it lists only the rows still quarantined."""
    left = warehouse.quarantined_rows(entry.source_file, entry.source_version)
    path = quarantine_copy_path(entry.source_file, entry.source_version)
    if left.num_rows == 0:
        path.unlink(missing_ok=True)
    else:
        write_quarantine_copy(entry, pa.Table.from_pylist(_with_full_rows(left.to_pylist(), path), left.schema))


def _truncated(row: dict[str, object]) -> bool:
    text = row.get("row_json")
    return isinstance(text, str) and text.startswith("{") and TRUNCATED_KEY in text[:40]


def _with_full_rows(rows: list[dict[str, object]], copy: Path) -> list[dict[str, object]]:
    """`rows` with each truncation marker replaced by the whole row_json from the Parquet copy, where it has it."""
    if not any(_truncated(r) for r in rows) or not copy.exists():
        return rows
    full = {r["row_number"]: r["row_json"] for r in pq.read_table(copy, columns=["row_number", "row_json"]).to_pylist()}
    return [{**r, "row_json": full.get(r["row_number"], r["row_json"])} if _truncated(r) else r for r in rows]


def _rows_as_text(rows: list[dict[str, object]]) -> pa.Table:
    """Rebuild the delivered rows as all-text columns (how a CSV arrives); cleaning re-types them."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table(
        {n: pa.array([None if r.get(n) is None else _text(r[n]) for r in rows], pa.string()) for n in names}
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Load: one file version -> read, clean, validate, and commit its rows with its ledger row.

`ingest_file` is the per-file task every flow maps over. Its outcome is one of:
- loaded   — good rows upserted, bad rows quarantined, ledger row in the same transaction;
- rejected — nothing loaded, ledger row with the reason (not retried until the content changes);
- superseded — a dimension snapshot older than the one applied: recorded, never applied.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
from prefect import task

from blocks.faults import crash_point
from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.base import AlreadyLoaded, Warehouse
from tasks.clean import clean_table
from tasks.contracts import FileRef, LoadMode
from tasks.errors import FileRejected, ReconciliationError, transient_retries
from tasks.extract import PlannedFile, read_constants, read_raw
from tasks.lineage import with_lineage
from tasks.quarantine import write_quarantine_copy
from tasks.telemetry import record_file_metrics, stage
from tasks.validate import QUARANTINE_SCHEMA, Split, validate_rows


@dataclass
class FileReport:
    """What happened to one file version (the quality report and the summary are built from these)."""

    path: str
    version: str
    table: str
    status: str  # loaded | rejected | superseded | skipped (another run loaded it first)
    stats: FileStats
    business_date: dt.date | None = None
    reason: str | None = None
    drift_columns: list[str] = field(default_factory=list)
    top_rules: list[tuple[str, int]] = field(default_factory=list)
    examples: list[dict[str, object]] = field(default_factory=list)  # a few bad rows: number + rules
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@task(
    name="ingest-file",
    **transient_retries(),
    task_run_name="ingest {planned.file.path}",
)
def ingest_file(warehouse: Warehouse, planned: PlannedFile, local_path: str, run_id: str) -> FileReport:
    """Read, clean, validate and load one file version exactly once; returns its report."""
    started = time.perf_counter()
    entry = LedgerEntry(
        source_file=planned.file.path,
        source_version=planned.file.version,
        table_name=planned.table_name,
        status="loaded",
        stats=FileStats(),
        run_id=run_id,
        started_at=dt.datetime.now(dt.UTC),
        business_date=planned.ref.business_date if planned.ref else None,
    )
    rules: Counter[str] = Counter()
    try:
        if planned.ref is None:
            raise FileRejected(planned.file.path, "file name does not match the table's naming pattern")
        rules = _load(warehouse, planned.ref, entry, Path(local_path))
    except FileRejected as exc:
        entry.status, entry.reason = "rejected", exc.reason
        entry.stats = FileStats(rows_in=exc.rows_in)
        _record(warehouse, entry)
    except AlreadyLoaded:
        entry.status = "skipped"
    report = FileReport(
        path=entry.source_file,
        version=entry.source_version,
        table=entry.table_name,
        status=entry.status,
        stats=entry.stats,
        business_date=entry.business_date,
        reason=entry.reason,
        drift_columns=entry.drift_columns,
        top_rules=rules.most_common(5),
        examples=entry.examples,
        seconds=round(time.perf_counter() - started, 3),
    )
    record_file_metrics(report)
    return report


def _load(warehouse: Warehouse, ref: FileRef, entry: LedgerEntry, local: Path) -> Counter[str]:
    contract = ref.contract
    if contract.load_mode is LoadMode.CONSTANTS:
        split = constants_split(read_constants(local, ref))
    else:
        if contract.load_mode is LoadMode.SNAPSHOT_UPSERT and _is_stale_snapshot(warehouse, ref):
            entry.status = "superseded"
            entry.reason = "older than the snapshot already applied; not applied"
            _record(warehouse, entry)
            return Counter()
        where = {"table": contract.target_table, "file": ref.path, "version": entry.source_version}
        with stage("read", **where, bytes=local.stat().st_size) as span:
            raw = read_raw(local, ref)
            span.set_attribute("rows", raw.num_rows)
        with stage("clean", **where, rows=raw.num_rows):
            cleaned = clean_table(raw, contract, ref.path)
        entry.drift_columns = cleaned.drift_columns
        crash_point("validate")
        with stage("validate", **where, rows=raw.num_rows) as span:
            split = validate_rows(cleaned, ref)
            span.set_attribute("rows_quarantined", split.stats.rows_quarantined)
    entry.stats = split.stats
    if not entry.stats.balanced():  # nothing may be lost between reading and loading
        raise ReconciliationError(f"{ref.path}: rows_in != loaded + quarantined + deduplicated ({entry.stats})")
    with stage("load", table=contract.target_table, file=ref.path, version=entry.source_version,
               rows=split.good.num_rows, backend=type(warehouse).__name__):
        warehouse.load_file(contract, entry, with_lineage(split.good, entry), split.quarantine)
    write_quarantine_copy(entry, split.quarantine)
    entry.examples = split.examples()
    return split.rule_counts


def _record(warehouse: Warehouse, entry: LedgerEntry) -> None:
    try:
        warehouse.record_rejected(entry)
    except AlreadyLoaded:
        entry.status = "skipped"


def _is_stale_snapshot(warehouse: Warehouse, ref: FileRef) -> bool:
    latest = warehouse.latest_snapshot_date(ref.contract.target_table)
    return latest is not None and ref.business_date is not None and ref.business_date < latest


def constants_split(doc: dict[str, object]) -> Split:
    """business_constants.json -> one row per constant (value as JSON text, plus as_of)."""
    constants = doc["constants"]
    assert isinstance(constants, dict)
    as_of = dt.date.fromisoformat(str(doc["as_of"]))
    names = sorted(constants)
    good = pa.table(
        {
            "constant_name": pa.array(names, pa.string()),
            "value": pa.array([json.dumps(constants[n], sort_keys=True) for n in names], pa.string()),
            "as_of": pa.array([as_of] * len(names), pa.date32()),
        }
    )
    stats = FileStats(rows_in=len(names), rows_loaded=len(names))
    return Split(good, QUARANTINE_SCHEMA.empty_table(), stats)

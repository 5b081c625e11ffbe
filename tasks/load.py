"""Load: one file version -> read, clean, validate, and commit its rows with its ledger row.

`ingest_file` is the per-file task every flow maps over. Its outcome is one of:
- loaded   — good rows upserted, bad rows quarantined, ledger row in the same transaction;
- rejected — nothing loaded, ledger row with the reason (not retried until the content changes);
- superseded — a dimension snapshot older than the one applied: recorded, never applied.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from prefect import task

from blocks.faults import crash_point
from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.base import AlreadyLoaded, Warehouse
from blocks.warehouse.batches import ParquetSpool
from datawiz.core.errors import FileRejected, ReconciliationError, transient_retries
from datawiz.core.registry import FileRef, LoadMode
from tasks.clean import ROW_NUMBER, Cleaned, check_columns, clean_table, coerce_column
from tasks.extract import PlannedFile, RawFile, batch_rows, read_constants
from tasks.file_report import FileReport
from tasks.lineage import with_lineage
from tasks.quarantine import write_quarantine_copy
from tasks.telemetry import record_file_metrics, stage
from tasks.validate import (
    QUARANTINE_SCHEMA,
    Checked,
    Part,
    Split,
    StreamValidator,
    examples,
    key_hashes,
    repeated_keys,
)


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
        entry.stats = split.stats
        with stage("load", table=contract.target_table, file=ref.path, version=entry.source_version,
                   rows=split.good.num_rows, backend=type(warehouse).__name__):
            warehouse.load_file(contract, entry, with_lineage(split.good, entry), split.quarantine)
        return split.rule_counts
    if contract.load_mode is LoadMode.SNAPSHOT_UPSERT and _is_stale_snapshot(warehouse, ref):
        entry.status = "superseded"
        entry.reason = "older than the snapshot already applied; not applied"
        _record(warehouse, entry)
        return Counter()
    # A single-writer warehouse (DuckDB) takes one file at a time: its stream uses the cores to prepare
    # batches ahead. Where files load side by side (parallel_loads), they use the cores instead.
    ahead = 0 if warehouse.capabilities.parallel_loads else PREPARE_AHEAD
    with FileStream(ref, entry, local, prepare_ahead=ahead) as stream:
        try:
            with stage("load", table=contract.target_table, file=ref.path, version=entry.source_version,
                       backend=type(warehouse).__name__) as span:
                good: Iterable[pa.Table] = stream.good_batches()
                if stream.one_batch:  # nothing to overlap: validated here, not handed over by a producer thread
                    good = list(good)
                warehouse.load_file(contract, entry, good, stream.quarantine)
                span.set_attribute("rows", entry.stats.rows_loaded)
        except _Doomed:
            stream.reject()  # the load rolled back; count the rest of the file for the rejection's reason
        write_quarantine_copy(entry, stream.quarantine)
        entry.examples = examples(pa.concat_tables([QUARANTINE_SCHEMA.empty_table(), *_head(stream.quarantine, 3)]))
        return stream.rule_counts


def _head(batches: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The first `rows` rows of a stream of tables (reading no further)."""
    for batch in batches:
        if rows <= 0:
            return
        yield batch.slice(0, rows)
        rows -= batch.num_rows


# Batches cleaned and rule-checked ahead of the one being settled, on as many threads, where the
# warehouse takes one file at a time (see FileStream._prepared).
PREPARE_AHEAD = 2


class Prepared(NamedTuple):
    """One batch, cleaned and rule-checked, waiting to be settled in file order."""

    number: int
    cleaned: Cleaned
    checked: Checked


class _Doomed(Exception):
    """The file is certain to be rejected: raised out of the load so its transaction ends at once."""


class FileStream:
    """One data file version flowing read -> clean -> validate -> (the warehouse's) load in bounded batches.

    Opening it checks the columns and takes one pass over the key columns (hashes of every row's key,
    and the row count). `good_batches()` then yields the good rows, lineage attached, `batch_rows()`
    file rows at a time; quarantine records go to a local spool (`quarantine`, readable once the
    batches are exhausted). The last batch holds the rows whose key repeats in the file, settled
    together; `entry.stats` is final, and the reject ratio judged on the whole file, when the
    generator ends — a rejection raises from it, so the warehouse's transaction rolls back.
    """

    def __init__(self, ref: FileRef, entry: LedgerEntry, local: Path, size: int | None = None,
                 prepare_ahead: int = 0) -> None:
        self.ref, self.entry, self.size = ref, entry, size or batch_rows()
        self.prepare_ahead = prepare_ahead  # batches cleaned and checked ahead on threads (see _prepared)
        self.where = {"table": ref.contract.target_table, "file": ref.path, "version": entry.source_version}
        self.rule_counts: Counter[str] = Counter()
        with stage("read", **self.where, bytes=local.stat().st_size, batch="keys") as span:
            self.raw = RawFile(local, ref)
            try:
                by_name, entry.drift_columns = check_columns(self.raw.column_names, ref.contract, ref.path, 0)
            except FileRejected as exc:
                raise FileRejected(exc.path, exc.reason, self.raw.num_rows()) from None
            whole = self._whole_file()
            self.one_batch = whole is not None
            if whole is not None:  # one batch: read once; validation finds its repeated keys in that batch
                self.rows_in, self.repeated = whole.num_rows, None
                self._batches: Iterator[pa.Table] = iter([whole])
            else:
                self.rows_in, self.repeated = self._scan_keys(by_name)
                self._batches = self.raw.batches(size=self.size)
            span.set_attribute("rows", self.rows_in)
        self._spool = ParquetSpool(prefix="datawiz-quarantine-")
        self.quarantine = _QuarantineRecords(self._spool)
        self._validator = StreamValidator(ref, self.rows_in, self.repeated)
        self._offset = 0  # file rows read so far
        self._ahead: deque[Future[Prepared]] = deque()  # batches being cleaned and checked ahead, in order

    def _whole_file(self) -> pa.Table | None:
        """The whole file as one batch when it fits in one (a Parquet file's footer says), else None.

        The key pass exists so a file larger than a batch can be settled batch by batch; a file that
        fits in one batch is read once instead of twice (most of a small file's reading cost is
        opening it). A CSV file's row count is unknown until read, so CSV always takes the two passes.
        """
        if self.raw.is_csv or self.raw.num_rows() > self.size:
            return None
        return next(self.raw.batches(size=self.size))

    def _scan_keys(self, by_name: dict[str, int]) -> tuple[int, np.ndarray]:
        """(rows in the file, hashes of the keys that occur more than once), reading the key columns only."""
        key = [c for c in self.ref.contract.columns if c.key]
        names = [self.raw.column_names[by_name[c.name]] for c in key]
        hashes, rows = [], 0
        for batch in self.raw.batches(columns=names, size=max(self.size, 1 << 20)):
            cleaned = pa.table({c.name: coerce_column(batch.column(n), c)[0] for c, n in zip(key, names, strict=True)})
            hashes.append(key_hashes(cleaned, [c.name for c in key]))
            rows += batch.num_rows
        return rows, repeated_keys(hashes)

    def good_batches(self) -> Iterator[pa.Table]:
        """Good rows with lineage, batch by batch; raises FileRejected / ReconciliationError at the end."""
        validator = self._validator
        loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for number, cleaned, checked in self._prepared():
            if number == 0:
                crash_point("validate")
            with stage("validate", **self.where, batch=number, rows=cleaned.table.num_rows) as span:
                part = validator.add(cleaned, checked)
                span.set_attribute("rows_quarantined", part.quarantine.num_rows)
            if validator.doomed or validator.unreadable:
                raise _Doomed(self.ref.path)
            yield from self._settled(part, loaded_at)
        with stage("validate", **self.where, batch="repeated_keys") as span:
            part = validator.finish()
            span.set_attribute("rows_quarantined", part.quarantine.num_rows)
        self.quarantine.late = part.quarantine
        yield from self._settled(part, loaded_at, spool=False)
        self.entry.stats, self.rule_counts = validator.stats, validator.rule_counts
        if self._offset != self.rows_in or not self.entry.stats.balanced():  # nothing may be lost on the way
            raise ReconciliationError(f"{self.ref.path}: rows_in != loaded + quarantined + deduplicated "
                                      f"({self.entry.stats}, {self._offset} rows read)")

    def reject(self) -> None:
        """After `_Doomed`: validate the rest of the file (nothing is loaded) and raise its FileRejected."""
        with stage("validate", **self.where, batch="rest"):  # the rejection's reason lands on this span
            while self._ahead:  # read and checked ahead of the batch that doomed the file
                _, cleaned, checked = self._ahead.popleft().result()
                self._validator.add(cleaned, checked)
            for _, raw, first_row in self._read():  # add() skips the rule checks once the shape is hopeless
                self._validator.add(clean_table(raw, self.ref.contract, self.ref.path, first_row=first_row))
            self._validator.finish()
        raise ReconciliationError(f"{self.ref.path}: stopped as rejected, yet within max_reject_ratio")

    def _prepared(self) -> Iterator[Prepared]:
        """Every batch in file order, cleaned and rule-checked (`StreamValidator.check`).

        With `prepare_ahead` n > 0, a file of several batches has its next n batches cleaned and checked
        on n threads while the current one is settled and loaded: that work is Arrow compute and RE2
        (the GIL released), and one thread doing it was what a DuckDB load waited for (bench/duckdb_load.py
        `producer`, the 1M-row fis file: 1.09 s in one thread, 0.87 s with 2 ahead). Not where files load
        side by side: bench/concurrency.py (8 x 250k rows into a local MariaDB, concurrency 2) took
        23.4-24.5 s with the threads on there too, 19.4-21.4 s without (they took the server's CPU).
        Settling stays in order, in this thread: the validator's counts, held-back keys and reject ratio
        see the batches as before.
        """
        if self.one_batch or not self.prepare_ahead:  # a small file: nothing to overlap, no threads
            yield from (self._prepare(*job) for job in self._read())
            return
        with ThreadPoolExecutor(self.prepare_ahead, thread_name_prefix="datawiz-prepare") as pool:
            for job in self._read():
                self._ahead.append(pool.submit(contextvars.copy_context().run, functools.partial(self._prepare, *job)))
                if len(self._ahead) > self.prepare_ahead:
                    yield self._ahead.popleft().result()
            while self._ahead:
                yield self._ahead.popleft().result()

    def _read(self) -> Iterator[tuple[int, pa.Table, int]]:
        """(batch number, the batch as read, file row number of its first row), in file order."""
        for number in itertools.count():
            with stage("read", **self.where, batch=number) as span:
                raw = next(self._batches, None)
                span.set_attribute("rows", 0 if raw is None else raw.num_rows)
            if raw is None:
                return
            first_row, self._offset = self._offset + 1, self._offset + raw.num_rows
            yield number, raw, first_row

    def _prepare(self, number: int, raw: pa.Table, first_row: int) -> Prepared:
        """Clean one batch and run its rule checks (no state of the stream or the validator changes)."""
        with stage("clean", **self.where, batch=number, rows=raw.num_rows):
            cleaned = clean_table(raw, self.ref.contract, self.ref.path, first_row=first_row)
        with stage("validate", **self.where, batch=number, rows=raw.num_rows, checks="rules"):
            return Prepared(number, cleaned, self._validator.check(cleaned))

    def _settled(self, part: Part, loaded_at: dt.datetime, spool: bool = True) -> Iterator[pa.Table]:
        if spool:
            self._spool.write(part.quarantine)
        if part.good.num_rows:
            yield with_lineage(part.good.drop_columns([ROW_NUMBER]), self.entry, loaded_at)

    def __enter__(self) -> FileStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.close()


class _QuarantineRecords:
    """A file's quarantine records in row order: the spooled ones, with the held-back (late) ones merged in."""

    def __init__(self, spool: ParquetSpool) -> None:
        self.spool = spool
        self.late = QUARANTINE_SCHEMA.empty_table()

    def __iter__(self) -> Iterator[pa.Table]:
        late = self.late.sort_by("row_number")
        for batch in self.spool:
            if late.num_rows:
                cut = int(np.searchsorted(late["row_number"].to_numpy(), batch["row_number"][-1].as_py(), "right"))
                if cut:
                    batch = pa.concat_tables([batch, late.slice(0, cut)]).sort_by("row_number")
                    late = late.slice(cut)
            yield batch
        if late.num_rows:
            yield late


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

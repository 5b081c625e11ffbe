"""Backfill helpers: which months to load, what one month's listing covers, progress reporting.

The backfill flow (flows/backfill.py) loads `historical/<table>/YYYY/MM/` — and, on request, a
date range of `facts/` — one month at a time. Resuming and idempotence come from the ledger:
every month is planned against `etl_file_ledger`, so a month whose files are all recorded is
skipped, and a month interrupted half-way loads only its remaining files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from blocks.azure import AzureBlobSource
from blocks.source import Source
from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.base import AlreadyLoaded, Warehouse
from blocks.warehouse.files_load import AzureFiles
from blocks.warehouse.starrocks import StarRocksConnector
from datawiz.core.environment import env_name
from datawiz.core.errors import ConfigError, transient_retries
from datawiz.core.registry import BACKFILLABLE, CONTRACTS, SALES, Origin
from tasks.extract import Plan, PlannedFile
from tasks.load import FileReport
from tasks.report import RunSummary
from tasks.transform import month_end, month_start

# The flow's default `tables`: every table with a historical/ stream when the registry was imported (a
# parameter default must be a plain value). check_tables() accepts any table registered since, too.
BACKFILL_TABLES = tuple(BACKFILLABLE)
PROGRESS_KIND = "backfill-progress"  # artifact key datawiz-<env>-backfill-progress


@dataclass(frozen=True)
class Period:
    """An inclusive range of days; months are given by their first and last day."""

    first: dt.date
    last: dt.date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last

    def overlaps_month(self, month: dt.date) -> bool:
        return self.first <= month_end(month) and month_start(month) <= self.last


def _period(spec: str, what: str, fmt: str, first: Callable[[str], dt.date], last: Callable[[str], dt.date]) -> Period:
    lo, sep, hi = spec.partition("..")
    try:
        period = Period(first(lo.strip()), last((hi if sep else lo).strip()))
    except ValueError:
        raise ValueError(f"{what} {spec!r}: expected {fmt} or {fmt}..{fmt}") from None
    if period.last < period.first:
        raise ValueError(f"{what} {spec!r}: the range ends before it starts")
    return period


def parse_months(spec: str | None) -> Period | None:
    """`YYYY-MM..YYYY-MM` (inclusive) or one `YYYY-MM`; None means every month found."""

    def first(month: str) -> dt.date:
        return dt.date.fromisoformat(f"{month}-01")

    return _period(spec, "months", "YYYY-MM", first, lambda m: month_end(first(m))) if spec else None


def parse_days(spec: str | None) -> Period | None:
    """`YYYY-MM-DD..YYYY-MM-DD` (inclusive) or one day; None means no `facts/` files."""
    if not spec:
        return None
    return _period(spec, "facts range", "YYYY-MM-DD", dt.date.fromisoformat, dt.date.fromisoformat)


def check_tables(tables: Iterable[str]) -> list[str]:
    """The requested fact tables, validated (the backfill knows the registry's tables with a history)."""
    names = list(tables)
    unknown = [t for t in names if t not in BACKFILLABLE]
    if unknown or not names:
        raise ValueError(f"tables {names}: choose from {', '.join(BACKFILLABLE)}")
    return names


def origins(facts: Period | None) -> set[Origin]:
    return {Origin.HISTORICAL, Origin.INCREMENTAL} if facts else {Origin.HISTORICAL}


def all_prefixes(tables: list[str], facts: Period | None) -> tuple[str, ...]:
    """What the planning listing covers: each table's historical/ folder, and facts/ months in range."""
    prefixes = [f"{_folder(t, Origin.HISTORICAL)}/" for t in tables]
    if facts:
        prefixes += [f"{_folder(t, Origin.INCREMENTAL)}/{m:%Y/%m}/" for m in months_between(facts) for t in tables]
    return tuple(prefixes)


def month_prefixes(tables: list[str], month: dt.date, facts: Period | None) -> tuple[str, ...]:
    """One month's listing: historical/<t>/YYYY/MM/ and, when in the facts range, facts/<t>/YYYY/MM/."""
    prefixes = [f"{_folder(t, Origin.HISTORICAL)}/{month:%Y/%m}/" for t in tables]
    if facts and facts.overlaps_month(month):
        prefixes += [f"{_folder(t, Origin.INCREMENTAL)}/{month:%Y/%m}/" for t in tables]
    return tuple(prefixes)


def _folder(table: str, origin: Origin) -> str:
    """The contract's landing folder for that stream (`historical/fis`), from its path pattern."""
    return CONTRACTS[table].folder(origin)


def months_between(period: Period) -> list[dt.date]:
    """First days of every month the period touches, oldest first."""
    out, m = [], month_start(period.first)
    while m <= period.last:
        out.append(m)
        m = month_end(m) + dt.timedelta(days=1)
    return out


def in_scope(plan: Plan, tables: list[str], facts: Period | None) -> list[PlannedFile]:
    """The planned files a backfill loads: history always, facts/ only for days in the range."""
    picked = plan.for_tables(set(tables), origins(facts))
    return [p for p in picked if p.ref is None or p.ref.origin is Origin.HISTORICAL
            or (facts is not None and p.ref.business_date in facts)]


def pending_months(planned: list[PlannedFile], window: Period | None) -> dict[str, int]:
    """`YYYY-MM` -> number of new file versions, oldest first, limited to the window.

    A file whose name does not parse has no month; it is counted under the month of its folder
    (historical/<t>/YYYY/MM/...) so that it is still reported (rejected) by that month's run.
    """
    counts: dict[str, int] = {}
    for p in planned:
        month = _month_of(p)
        if month is not None and (window is None or month in window):
            key = f"{month:%Y-%m}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _month_of(p: PlannedFile) -> dt.date | None:
    if p.ref is not None and p.ref.business_date is not None:
        return month_start(p.ref.business_date)
    parts = p.file.path.split("/")  # historical/<t>/YYYY/MM/<name>
    try:
        return dt.date(int(parts[2]), int(parts[3]), 1)
    except (IndexError, ValueError):
        return None


def month_first_day(month: str) -> dt.date:
    """`YYYY-MM` -> its first day."""
    return dt.date.fromisoformat(f"{month}-01")


def touched_fis(summary: RunSummary) -> bool:
    """Did the run load secondary sales (so DD and reports need recomputing)?"""
    sales = CONTRACTS[SALES].target_table  # DD and reports are computed from secondary sales only
    return any(f.status == "loaded" and f.table == sales for f in summary.files)


class Progress:
    """Backfill progress: a Prefect progress artifact (key `datawiz-<env>-backfill-progress`), a line per month."""

    def __init__(self, months: dict[str, int]) -> None:
        self.months = months
        self.done = 0
        files = sum(months.values())
        # Prefect types it `UUID | coroutine` (it dispatches on the caller's context); a task is sync here.
        self.artifact: UUID | None = cast(UUID, create_progress_artifact(
            progress=0.0 if months else 100.0, key=env_name(PROGRESS_KIND),
            description=f"backfill: {len(months)} month(s), {files} new file version(s)",
        ))
        print(f"backfill: {len(months)} month(s) with {files} new file version(s)"
              + (f", {min(months)} .. {max(months)}" if months else "; nothing to do"))

    def month_done(self, month: str, summary: RunSummary) -> str:
        """Record one finished month; returns (and prints) its progress line."""
        self.done += 1
        total = len(self.months)
        line = (f"backfill {self.done}/{total} {month}: {summary.count('loaded')} loaded, "
                f"{summary.count('rejected')} rejected, {summary.rows('rows_loaded'):,} rows")
        if self.artifact is not None:
            update_progress_artifact(self.artifact, progress=100.0 * self.done / total, description=line)
        print(line)
        return line


# ------------------------------------------------------------------------------------ pushdown (StarRocks)
def require_pushdown(source: Source, warehouse: Warehouse) -> AzureFiles:
    """What `pushdown=True` needs: a StarRocks warehouse and an Azure source with a shared key; else ConfigError."""
    if not warehouse.capabilities.pushdown_files:
        raise ConfigError(f"pushdown needs a StarRocks warehouse (a starrocks-connector), not {warehouse.describe()}")
    if not isinstance(source, AzureBlobSource):
        raise ConfigError(f"pushdown needs an Azure Blob source (StarRocks reads wasbs://), not {source.describe()}")
    return source.files_access()


def pushdownable(p: PlannedFile) -> bool:
    """History in Parquet: what StarRocks reads itself. The rest (CSV, facts/, unparsed names) goes the usual way."""
    return p.ref is not None and p.ref.origin is Origin.HISTORICAL and p.file.path.endswith(".parquet")


def load_pushdown(
    source: Source, warehouse: Warehouse, planned: list[PlannedFile], run_id: str, summary: RunSummary
) -> list[PlannedFile]:
    """Load the historical Parquet files with StarRocks reading them; returns the files left for download+validate."""
    files = require_pushdown(source, warehouse)
    starrocks = cast(StarRocksConnector, warehouse)  # the one backend with pushdown_files
    rest, logger = [], get_run_logger()
    for item in planned:
        if not pushdownable(item):
            rest.append(item)
            continue
        current = _current(source, starrocks, item)
        if current is None:
            continue
        report = pushdown_file(starrocks, files, current, run_id)
        logger.info("%-10s %s: loaded %s rows (pushdown: read by StarRocks, not validated)", report.status,
                    report.path, report.stats.rows_loaded)
        summary.files.append(report)
    return rest


def _current(source: Source, warehouse: Warehouse, item: PlannedFile) -> PlannedFile | None:
    """FILES() reads the blob as it is now, not a pinned ETag: load the version listed now, if still new."""
    now = [f for f in source.list_files([item.file.path]) if f.path == item.file.path]
    if not now:
        get_run_logger().warning("%s was deleted after it was listed; skipped", item.file.path)
        return None
    if now[0].version == item.file.version:
        return item
    if (now[0].path, now[0].version) in warehouse.ledger_versions():
        return None
    return replace(item, file=now[0])


@task(name="pushdown-file", task_run_name="pushdown {planned.file.path}", **transient_retries())
def pushdown_file(warehouse: StarRocksConnector, files: AzureFiles, planned: PlannedFile, run_id: str) -> FileReport:
    """One historical Parquet version loaded by StarRocks itself (no validation, no quarantine: the cluster filters)."""
    assert planned.ref is not None
    entry = LedgerEntry(
        source_file=planned.file.path, source_version=planned.file.version, table_name=planned.table_name,
        status="loaded", stats=FileStats(), run_id=run_id, started_at=dt.datetime.now(dt.UTC),
        business_date=planned.ref.business_date,
    )
    try:
        warehouse.load_from_files(planned.ref.contract, entry, files)
    except AlreadyLoaded:
        entry.status = "skipped"
    return FileReport(path=entry.source_file, version=entry.source_version, table=entry.table_name,
                      status=entry.status, stats=entry.stats, business_date=entry.business_date)


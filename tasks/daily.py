"""The daily summary (20:00 IST): every run of the day, files and rows per table, freshness of the facts.

Read from the warehouse's own records — `etl_run_log` for runs, `etl_file_ledger` for files and rows —
so the summary tells what the warehouse holds, whichever process or retry wrote it. A run the log still
calls `running` although Prefect ended it (its process died: Crashed) is first corrected from its Prefect
state (`tasks.runlog.reconcile_run_log`), so a crashed run shows as crashed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.warehouse.base import Warehouse
from tasks.contracts import CONTRACTS, FACTS
from tasks.notify import Email, format_ist, render
from tasks.runlog import IST, reconcile_run_log

FACT_TABLES = tuple(CONTRACTS[name].target_table for name in FACTS)


@dataclass
class RunLine:
    """One run in etl_run_log."""

    flow: str
    business_date: dt.date
    status: str
    started: dt.datetime
    finished: dt.datetime | None
    message: str | None

    @property
    def duration(self) -> str:
        """`12m 05s`, or `running` when no end was recorded (a run still going)."""
        if self.finished is None:
            return "running"
        seconds = int((self.finished - self.started).total_seconds())
        return f"{seconds // 60}m {seconds % 60:02d}s"


@dataclass
class TableLine:
    """Files and rows that reached one table during the day."""

    table: str
    files_loaded: int = 0
    files_rejected: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    orphans: int = 0


@dataclass
class Freshness:
    """The newest business date loaded into a fact table, and whether it is as new as expected."""

    table: str
    latest: dt.date | None
    expected: dt.date

    @property
    def ok(self) -> bool:
        return self.latest is not None and self.latest >= self.expected

    @property
    def days_behind(self) -> int | None:
        return None if self.latest is None else max((self.expected - self.latest).days, 0)


@dataclass
class DailyReport:
    """The day's summary."""

    day: dt.date
    runs: list[RunLine] = field(default_factory=list)
    tables: list[TableLine] = field(default_factory=list)
    freshness: list[Freshness] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.tables)

    @property
    def healthy(self) -> bool:
        """Every run completed and every fact table fresh."""
        return all(r.status == "completed" for r in self.runs) and all(f.ok for f in self.freshness)


def utc_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The IST calendar day as naive UTC bounds (the warehouse stores naive UTC timestamps)."""
    start = dt.datetime.combine(day, dt.time(), IST).astimezone(dt.UTC).replace(tzinfo=None)
    return start, start + dt.timedelta(days=1)


def _runs(warehouse: Warehouse, start: dt.datetime, end: dt.datetime) -> list[RunLine]:
    rows = warehouse.query(
        "SELECT flow, business_date, status, started_at, finished_at, message FROM etl_run_log "
        "WHERE started_at >= :a AND started_at < :b ORDER BY started_at",
        {"a": start, "b": end},
    ).to_pylist()
    return [RunLine(r["flow"], r["business_date"], r["status"], r["started_at"], r["finished_at"], r["message"])
            for r in rows]


def _tables(warehouse: Warehouse, start: dt.datetime, end: dt.datetime) -> list[TableLine]:
    rows = warehouse.query(
        "SELECT table_name, status, count(*) AS files, sum(rows_in) AS rows_in, sum(rows_loaded) AS rows_loaded, "
        "sum(rows_quarantined) AS rows_quarantined, sum(orphans) AS orphans FROM etl_file_ledger "
        "WHERE finished_at >= :a AND finished_at < :b GROUP BY table_name, status ORDER BY table_name",
        {"a": start, "b": end},
    ).to_pylist()
    lines: dict[str, TableLine] = {}
    for r in rows:
        line = lines.setdefault(r["table_name"], TableLine(r["table_name"]))
        if r["status"] == "loaded":
            line.files_loaded += int(r["files"])
        elif r["status"] == "rejected":
            line.files_rejected += int(r["files"])
        line.rows_in += int(r["rows_in"] or 0)
        line.rows_loaded += int(r["rows_loaded"] or 0)
        line.rows_quarantined += int(r["rows_quarantined"] or 0)
        line.orphans += int(r["orphans"] or 0)
    return list(lines.values())


def latest_fact_dates(warehouse: Warehouse) -> dict[str, dt.date | None]:
    """The newest business date with a loaded file, per fact table."""
    rows = warehouse.query(
        "SELECT table_name, max(business_date) AS latest FROM etl_file_ledger WHERE status = 'loaded' "
        "GROUP BY table_name"
    ).to_pylist()
    found = {r["table_name"]: r["latest"] for r in rows}
    return {t: found.get(t) for t in FACT_TABLES}


@task(name="collect-daily-report", cache_policy=NO_CACHE)
def collect_daily_report(warehouse: Warehouse, day: dt.date) -> DailyReport:
    """Runs, files and rows of the IST day, and each fact table's freshness (yesterday's facts expected)."""
    # A run whose process died never wrote its end: take it from Prefect (Crashed, ...) before reading the log.
    for run_id, status in reconcile_run_log(warehouse):
        get_run_logger().warning("run %s ended %s in Prefect; the run log now says so", run_id, status)
    start, end = utc_window(day)
    expected = day - dt.timedelta(days=1)  # the morning run of `day` loads the facts of the day before
    freshness = [Freshness(t, latest, expected) for t, latest in latest_fact_dates(warehouse).items()]
    return DailyReport(day, _runs(warehouse, start, end), _tables(warehouse, start, end), freshness)


def daily_report_email(report: DailyReport, link: str | None) -> Email:
    """The 20:00 summary email."""
    failed = sum(1 for r in report.runs if r.status != "completed")
    stale = sum(1 for f in report.freshness if not f.ok)
    verdict = "all good" if report.healthy else f"{failed} run(s) not completed, {stale} fact table(s) stale"
    subject = f"daily summary {report.day}: {verdict}"
    runs = [(r.flow, r.business_date, r.status, format_ist(r.started), r.duration, r.message or "")
            for r in report.runs]
    tables = [(t.table, t.files_loaded, t.files_rejected, t.rows_in, t.rows_loaded, t.rows_quarantined, t.orphans)
              for t in report.tables]
    fresh = [(f.table, f.latest or "never loaded", f.expected, _freshness_status(f)) for f in report.freshness]
    context = {"r": report, "verdict": verdict, "link": link, "run_rows": runs, "table_rows": tables,
               "fresh_rows": fresh}
    return render("daily_report", subject, context)


def _freshness_status(f: Freshness) -> str:
    if f.ok:
        return "fresh"
    return "never loaded" if f.days_behind is None else f"STALE: {f.days_behind} day(s) behind"

"""The daily summary (20:00 IST): every run of the day, files and rows per table, freshness of the facts, and
the last 14 days per table as bars.

Read from the warehouse's own records — `etl_run_log` for runs, `etl_file_ledger` for files and rows —
so the summary tells what the warehouse holds, whichever process or retry wrote it. A run the log still
calls `running` although Prefect ended it (its process died: Crashed) is first corrected from its Prefect
state (`tasks.runlog.reconcile_run_log`), so a crashed run shows as crashed.

The 14-day trend is drawn for mail clients that draw little: bars are table cells with a height and a
background colour (`bgcolor` and inline style, which Outlook's Word engine, Gmail and Apple Mail all
honour), every number is written under its bar, and there is no image, script or stylesheet. The plain-text
part and the `datawiz-<env>-daily-trend` table artifact draw the same bars with block characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.warehouse.base import Warehouse
from datawiz.core.environment import env_name
from datawiz.core.registry import CONTRACTS, FACTS, target_tables
from tasks.notify import Email, format_ist, render
from tasks.runlog import IST, reconcile_run_log


def fact_tables() -> tuple[str, ...]:
    """The registry's fact tables (read at each report: a table registered since is reported too)."""
    return target_tables(FACTS)


def table_order() -> tuple[str, ...]:
    """Facts first (what the business reads), then the other tables in the registry's order."""
    facts = fact_tables()
    return facts + tuple(c.target_table for c in CONTRACTS.values() if c.target_table not in facts)

TREND_DAYS = 14


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
    """The day's summary, and the last TREND_DAYS days (the day last) per table."""

    day: dt.date
    runs: list[RunLine] = field(default_factory=list)
    tables: list[TableLine] = field(default_factory=list)
    freshness: list[Freshness] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    trend: dict[str, list[TableLine]] = field(default_factory=dict)  # table -> one line per day of `days`
    freshness_trend: dict[str, list[Freshness]] = field(default_factory=dict)  # fact table -> as of each day's end

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
    rows = warehouse.run_log_runs(start, end)
    return [RunLine(r["flow"], r["business_date"], r["status"], r["started_at"], r["finished_at"], r["message"])
            for r in rows]


def ist_day(utc: dt.datetime) -> dt.date:
    """The IST calendar day of a naive UTC timestamp (as the warehouse stores them)."""
    return utc.replace(tzinfo=dt.UTC).astimezone(IST).date()


def _ledger_days(warehouse: Warehouse, start: dt.datetime, end: dt.datetime) -> dict[tuple[str, dt.date], TableLine]:
    """Files and rows per (table, IST day the file finished), from the ledger rows of [start, end).

    Bucketed here rather than in SQL: the IST day of a timestamp is spelled differently by DuckDB, MySQL
    and StarRocks, and two weeks of ledger rows are a few thousand at most.
    """
    rows = warehouse.ledger_files(start, end)
    lines: dict[tuple[str, dt.date], TableLine] = {}
    for r in rows:
        line = lines.setdefault((r["table_name"], ist_day(r["finished_at"])), TableLine(r["table_name"]))
        if r["status"] == "loaded":
            line.files_loaded += 1
        elif r["status"] == "rejected":
            line.files_rejected += 1
        line.rows_in += int(r["rows_in"] or 0)
        line.rows_loaded += int(r["rows_loaded"] or 0)
        line.rows_quarantined += int(r["rows_quarantined"] or 0)
        line.orphans += int(r["orphans"] or 0)
    return lines


def latest_fact_dates(warehouse: Warehouse, before: dt.datetime | None = None) -> dict[str, dt.date | None]:
    """The newest business date with a loaded file, per fact table (of files finished before `before`, if given)."""
    found = warehouse.ledger_newest_dates(finished_before=before)
    return {t: found.get(t) for t in fact_tables()}


def _freshness_trend(warehouse: Warehouse, start: dt.datetime, end: dt.datetime,
                     days: list[dt.date]) -> dict[str, list[Freshness]]:
    """Each fact table's freshness as it stood at the end of each day: newest business date loaded by then."""
    latest = latest_fact_dates(warehouse, before=start)
    rows = warehouse.ledger_loads(start, end)
    by_day: dict[tuple[str, dt.date], dt.date] = {}
    for r in rows:
        key = (r["table_name"], ist_day(r["finished_at"]))
        by_day[key] = max(by_day.get(key, r["business_date"]), r["business_date"])
    trend: dict[str, list[Freshness]] = {}
    for table in fact_tables():
        newest, points = latest[table], []
        for d in days:
            loaded = by_day.get((table, d))
            newest = loaded if newest is None or (loaded is not None and loaded > newest) else newest
            points.append(Freshness(table, newest, d - dt.timedelta(days=1)))
        trend[table] = points
    return trend


@task(name="collect-daily-report", cache_policy=NO_CACHE)
def collect_daily_report(warehouse: Warehouse, day: dt.date, trend_days: int = TREND_DAYS) -> DailyReport:
    """Runs, files and rows of the IST day, each fact table's freshness (yesterday's facts expected), and the
    same per table for the `trend_days` days ending with `day`."""
    # A run whose process died never wrote its end: take it from Prefect (Crashed, ...) before reading the log.
    for run_id, status in reconcile_run_log(warehouse):
        get_run_logger().warning("run %s ended %s in Prefect; the run log now says so", run_id, status)
    start, end = utc_window(day)
    days = [day - dt.timedelta(days=n) for n in range(trend_days - 1, -1, -1)]
    first, _ = utc_window(days[0])
    lines = _ledger_days(warehouse, first, end)
    expected = day - dt.timedelta(days=1)  # the morning run of `day` loads the facts of the day before
    freshness = [Freshness(t, latest, expected) for t, latest in latest_fact_dates(warehouse).items()]
    seen = {table for table, _ in lines}
    facts, order = fact_tables(), table_order()
    names = [t for t in order if t in seen or t in facts] + sorted(seen - set(order))
    trend = {t: [lines.get((t, d)) or TableLine(t) for d in days] for t in names}
    today = [lines[(t, day)] for t in names if (t, day) in lines]
    return DailyReport(day, _runs(warehouse, start, end), today, freshness, days, trend,
                       _freshness_trend(warehouse, first, end, days))


# ------------------------------------------------------------------------------------------------ the 14-day bars
BAR_PX = 36  # the tallest bar of a row, in pixels
_SPARKS = "▁▂▃▄▅▆▇█"
# (title, TableLine attribute, bar colour)
TREND_METRICS = (
    ("Rows loaded per day", "rows_loaded", "#2563eb"),
    ("Rows quarantined per day", "rows_quarantined", "#d97706"),
    ("Files rejected per day", "files_rejected", "#dc2626"),
)
_FRESH_COLOURS = {0: "#059669", 1: "#d97706"}  # days behind -> colour; 2 and more: red


@dataclass(frozen=True)
class Bar:
    """One day's bar: its height in pixels (0 draws a hairline), colour, and the number written under it."""

    height: int
    colour: str
    label: str


@dataclass(frozen=True)
class ChartRow:
    """One table's 14 bars, the day's value and the 14-day maximum (in words for the text part)."""

    table: str
    bars: list[Bar]
    spark: str
    today: str
    peak: str


@dataclass(frozen=True)
class Chart:
    """One metric for every table: what the email draws as a block of bars."""

    title: str
    note: str
    rows: list[ChartRow]


def compact(n: int) -> str:
    """A number short enough to stand under a 34-pixel bar: 950, 9.5k, 95k, 1.2M."""
    if n < 1000:
        return str(n)
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def spark(values: list[int | None], top: int | None = None) -> str:
    """Block characters, one per day, scaled to `top` (default the maximum): `·` is zero, `-` no data."""
    peak = top or max((v for v in values if v), default=0)
    return "".join("-" if v is None else "·" if v == 0 or not peak else _SPARKS[min(7, (v * 8 - 1) // peak)]
                   for v in values)


def bar_text(value: int, peak: int, width: int = 12) -> str:
    """A horizontal bar of full blocks (the table artifact's picture of one day), scaled to `peak`."""
    return "█" * max(1, round(width * value / peak)) if value and peak else ""


def _scaled(values: list[int], colour: str, label: Callable[[int], str] = compact) -> list[Bar]:
    peak = max(values, default=0)
    return [Bar(max(2, round(BAR_PX * v / peak)) if v and peak else 0, colour, label(v)) for v in values]


def trend_charts(report: DailyReport) -> list[Chart]:
    """Rows loaded, rows quarantined and files rejected per table and day, then the fact tables' freshness."""
    charts = []
    facts = fact_tables()
    for title, attr, colour in TREND_METRICS:
        rows = []
        for table, lines in report.trend.items():
            values = [getattr(line, attr) for line in lines]
            if not any(values) and table not in facts:
                continue  # a dimension with nothing in two weeks: no row of empty bars
            rows.append(ChartRow(table, _scaled(values, colour), spark(values), f"{values[-1]:,}",
                                 f"max {max(values):,}"))
        charts.append(Chart(title, "each table's bars scaled to its own maximum of the period", rows))
    fresh_rows = []
    for table, points in report.freshness_trend.items():
        behind = [p.days_behind for p in points]
        bars = [Bar(0, "#9ca3af", "-") if b is None else
                Bar(max(3, round(BAR_PX * min(b, 7) / 7)), _FRESH_COLOURS.get(b, "#dc2626"), str(b)) for b in behind]
        last = behind[-1]
        now = "never loaded" if last is None else "on time" if last == 0 else f"{last} day(s) behind"
        fresh_rows.append(ChartRow(table, bars, spark(behind, top=7), now,
                                   f"worst {max((b for b in behind if b is not None), default=0)}"))
    charts.append(Chart("Freshness: days behind at the end of each day",
                        "0 is on time (green), 1 day amber, 2 and more red; bar height up to 7 days", fresh_rows))
    return charts


def trend_rows(report: DailyReport) -> list[dict[str, object]]:
    """The 14-day trend as rows of the `datawiz-<env>-daily-trend` table artifact: one per table and day."""
    out: list[dict[str, object]] = []
    for table, lines in report.trend.items():
        peaks = {attr: max(getattr(line, attr) for line in lines) for _, attr, _ in TREND_METRICS}
        fresh = report.freshness_trend.get(table)
        for i, (d, line) in enumerate(zip(report.days, lines, strict=True)):
            row: dict[str, object] = {"table": table, "day": d.isoformat()}
            for _, attr, _ in TREND_METRICS:
                label = attr.replace("_", " ")
                row[label] = getattr(line, attr)
                row[f"{label} bar"] = bar_text(getattr(line, attr), peaks[attr])
            row["freshness"] = _freshness_status(fresh[i]) if fresh else ""
            out.append(row)
    return out


def publish_daily_report(report: DailyReport, message: Email) -> None:
    """The summary as a markdown artifact (`datawiz-<env>-daily-report`, the email's text) and its 14-day
    trend as a table artifact (`datawiz-<env>-daily-trend`)."""
    create_markdown_artifact(key=env_name("daily-report"), markdown=f"```\n{message.text}\n```",
                             description=f"DataWiz daily summary {report.day}")
    create_table_artifact(key=env_name("daily-trend"), table=trend_rows(report),
                          description=f"DataWiz: the {len(report.days)} days to {report.day} per table")


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
               "fresh_rows": fresh, "charts": trend_charts(report), "days": report.days, "bar_px": BAR_PX}
    return render("daily_report", subject, context)


def _freshness_status(f: Freshness) -> str:
    if f.ok:
        return "fresh"
    return "never loaded" if f.days_behind is None else f"STALE: {f.days_behind} day(s) behind"

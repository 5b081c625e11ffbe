"""Post-load SQL: the sales hierarchy (SCD2), the calendar, DD metrics and reporting tables.

Each task runs one SQL file from sql/<backend>/ (or sql/) with bound parameters; the SQL does
the work inside the warehouse, this module only decides *which* dates or months to rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from blocks.faults import crash_point
from blocks.warehouse.base import Warehouse
from datawiz.core.errors import ConfigError, transient_retries
from datawiz.core.registry import CONTRACTS, REQUIRED_CONSTANTS, SALES

_RETRY = transient_retries(attempts=2, backoff_s=5)
HIERARCHY_WATERMARK = "tsr_hierarchy"
POST_LOAD_WATERMARK = "morning_post_load"  # updated_at: loads finished before it have their DD and reports


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


@dataclass
class HierarchyReport:
    """What the SCD2 build did: which snapshot dates it applied, and the TSRs whose chain is broken."""

    snapshot_dates: list[dt.date] = field(default_factory=list)
    current_rows: int = 0
    broken_chains: list[str] = field(default_factory=list)


@task(name="build-sales-hierarchy", **_RETRY)
def build_sales_hierarchy(warehouse: Warehouse, run_id: str) -> HierarchyReport:
    """Apply SCD2 for every tsr snapshot date not yet seen (oldest first); report broken chains."""
    report = HierarchyReport()
    watermark = _watermark(warehouse, HIERARCHY_WATERMARK)
    dates = warehouse.query(
        "SELECT snapshot_date, min(_source_file) AS f, min(_source_version) AS v FROM stg_tsr_snapshot "
        "WHERE snapshot_date >= :w GROUP BY snapshot_date ORDER BY snapshot_date",
        {"w": watermark or dt.date(1900, 1, 1)},
    ).to_pylist()
    for row in dates:
        day = row["snapshot_date"]
        warehouse.run_sql_file(
            "sales_hierarchy",
            {
                "snapshot_date": day,
                "day_before": day - dt.timedelta(days=1),
                "source_file": row["f"],
                "source_version": row["v"],
                "run_id": run_id,
                "loaded_at": _now(),
            },
        )
        _set_watermark(warehouse, HIERARCHY_WATERMARK, day)
        report.snapshot_dates.append(day)
    report.current_rows = warehouse.query(
        "SELECT count(*) AS n FROM dim_sales_hierarchy WHERE is_current"
    )["n"][0].as_py()
    report.broken_chains = _broken_chains(warehouse)
    return report


def _broken_chains(warehouse: Warehouse) -> list[str]:
    """Active TSRs whose chain was broken in the latest snapshot (they keep their last valid chain)."""
    rows = warehouse.query(
        "SELECT tsr_code FROM etl_hierarchy_broken "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM stg_tsr_snapshot) ORDER BY tsr_code"
    )
    return rows["tsr_code"].to_pylist()


def _watermark(warehouse: Warehouse, name: str) -> dt.date | None:
    mark = warehouse.watermark_get(name)
    return mark.value if mark else None


def _set_watermark(warehouse: Warehouse, name: str, value: dt.date) -> None:
    warehouse.watermark_set(name, value, _now())


@task(name="build-dim-date", **_RETRY)
def build_dim_date(warehouse: Warehouse, start: dt.date, end: dt.date) -> int:
    """Make sure dim_date covers start..end (Indian fiscal year); returns the table's row count."""
    warehouse.run_sql_file("dim_date", {"start": start, "end": end})
    return warehouse.query("SELECT count(*) AS n FROM dim_date")["n"][0].as_py()


@task(name="compute-dd", **_RETRY)
def compute_dd(warehouse: Warehouse, months: Iterable[dt.date], run_id: str) -> list[dt.date]:
    """Recompute agg_dd_tsr_month and agg_dd_outlet_month for every given month."""
    require_constants(warehouse)
    done = []
    for first in sorted({month_start(m) for m in months}):
        crash_point("post_load")
        params = {"month_start": first, "month_end": month_end(first), "run_id": run_id, "loaded_at": _now()}
        warehouse.run_sql_file("dd_month", params)
        done.append(first)
    return done


@dataclass
class PostLoadWork:
    """The sales days whose DD months and report rows a morning run must rebuild."""

    days: list[dt.date]
    as_of: dt.datetime  # loads that finished before this are covered once the rebuild is done


@task(name="pending-post-load", **_RETRY)
def pending_post_load(warehouse: Warehouse, touched: Iterable[dt.date]) -> PostLoadWork:
    """The days this run loaded, plus those of every secondary-sales file loaded since the last rebuild.

    A run killed (or failed) after committing a file but before rebuilding DD and reports leaves that
    file's days stale, and the next run does not load the file again (the ledger has it): so the
    ledger, not this run's load list, says which days are still waiting for their rebuild.
    """
    as_of = _now()
    mark = warehouse.watermark_get(POST_LOAD_WATERMARK)
    since = mark.updated_at if mark else dt.datetime(1900, 1, 1)  # never: every day
    days = warehouse.ledger_loaded_days(CONTRACTS[SALES].target_table, since)  # what DD and reports read
    return PostLoadWork(sorted(set(touched) | set(days)), as_of)


@task(name="post-load-done", **_RETRY)
def post_load_done(warehouse: Warehouse, work: PostLoadWork) -> None:
    """Record that DD and reports are rebuilt for every load that finished before `work.as_of`."""
    warehouse.watermark_set(POST_LOAD_WATERMARK, max(work.days, default=work.as_of.date()), work.as_of)


@task(name="refresh-reports", **_RETRY)
def refresh_reports(warehouse: Warehouse, start: dt.date | None, end: dt.date | None, run_id: str) -> int:
    """Rebuild rpt_sales_daily for start..end (all fact dates when None); returns rows in range."""
    if start is None or end is None:
        bounds = warehouse.query(
            "SELECT min(invoice_date) AS lo, max(invoice_date) AS hi FROM fact_secondary_sales"
        ).to_pylist()[0]
        start, end = bounds["lo"], bounds["hi"]
        if start is None:
            return 0
    crash_point("post_load")
    warehouse.run_sql_file("rpt_sales_daily", {"start": start, "end": end, "run_id": run_id, "loaded_at": _now()})
    return warehouse.query(
        "SELECT count(*) AS n FROM rpt_sales_daily WHERE invoice_date BETWEEN :s AND :e", {"s": start, "e": end}
    )["n"][0].as_py()


def rebuild_post_load(warehouse: Warehouse, days: list[dt.date], run_id: str, dd: bool = True,
                      reports: bool = True, together: bool = False) -> None:
    """Recompute DD for the months of `days` (`compute_dd`) and rpt_sales_daily for their range (`refresh_reports`).

    With `together` (the morning and the backfill pass tasks/run.load_concurrency > 1), where the backend takes
    several writers, each on its own connection (`Capabilities.parallel_loads`: MySQL/MariaDB, StarRocks), the
    two run at the same time, each a task run on a thread (so a connection) of its own: they write different
    tables and only read the facts and dimensions, and MariaDB runs a statement on one core, so on two cores
    the rebuild takes about as long as the longer of the two instead of their sum (issue 17's 2M-row day: DD
    ~24 s, reports ~13 s one after the other). DuckDB has one writer: one after the other.
    Returns only after both ended; a failure is raised then (DD's first), so a caller that records
    `post_load_done` after this call records it only when both succeeded, as when they ran in turn.
    """
    if not days or not (dd or reports):
        return
    if not (together and dd and reports and warehouse.capabilities.parallel_loads):
        if dd:
            compute_dd(warehouse, days, run_id)
        if reports:
            refresh_reports(warehouse, min(days), max(days), run_id)
        return
    # quote(): Prefect need not walk the warehouse block looking for futures (as for ingest_file).
    with ThreadPoolTaskRunner[Any](max_workers=2) as runner:
        futures: list[PrefectFuture[Any]] = [
            runner.submit(compute_dd, {"warehouse": quote(warehouse), "months": days, "run_id": run_id}),
            runner.submit(refresh_reports, {"warehouse": quote(warehouse), "start": min(days), "end": max(days),
                                            "run_id": run_id}),
        ]
        for future in futures:
            future.wait()
        for future in futures:
            future.result()  # raises the task's failure (after its retries)


def require_constants(warehouse: Warehouse) -> None:
    """Refuse to start before the business constants are loaded: DD needs them.

    Without them every outlet would be "not productive" and no brand a focus brand: wrong numbers
    that look right. The backfill calls this before loading anything.
    """
    rows = warehouse.query("SELECT constant_name FROM business_constants").column("constant_name").to_pylist()
    missing = [c for c in REQUIRED_CONSTANTS if c not in rows]
    if missing:
        raise ConfigError(
            f"business_constants lacks {', '.join(missing)} (DD needs them): run the evening flow first"
        )

"""Morning pipeline (08:00 IST): raw backup, incremental FIS and FID loads, DD metrics, reports.

Run locally: `python flows/morning.py [--business-date YYYY-MM-DD] [--steps a,b] [--skip-wait]`.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger

from datawiz.core.registry import CONTRACTS, SALES, Origin, scheduled
from tasks.extract import list_and_plan
from tasks.load import FileReport
from tasks.report import RunSummary, summary_text
from tasks.run import (
    Steps,
    backup_files,
    flow_retry_delay,
    flow_timeout,
    load_concurrency,
    load_files,
    pipeline_run,
    run_from_command_line,
    secret_free_parameters,
    select_steps,
)
from tasks.runlog import business_day, run_name, wait_for_evening
from tasks.transform import pending_post_load, post_load_done, rebuild_post_load


def _steps() -> dict[str, str]:
    """The morning steps: one load step per fact table of the registry (scheduled "morning"), in its order."""
    loads = {c.name: f"load new {c.label or c.name} files ({c.folder(Origin.INCREMENTAL)}), whatever their date"
             for c in scheduled("morning")}
    return {
        "wait_for_evening": "wait (bounded) until the evening run for the business date completed",
        "blob_backup": "download every new file version into data/raw (kept per version, cached)",
        **loads,
        "dd": "recompute agg_dd_tsr_month / agg_dd_outlet_month for every month a load touched",
        "reporting_views": "rebuild rpt_sales_daily for the dates a load touched",
    }


STEPS = Steps(_steps)
INCREMENTAL = {Origin.INCREMENTAL}


@secret_free_parameters
@flow(name="morning", flow_run_name=run_name("morning"), log_prints=True, retries=1,
      retry_delay_seconds=flow_retry_delay(), timeout_seconds=flow_timeout("morning"))
def morning(
    business_date: dt.date | None = None,
    source: str | None = None,
    warehouse: str | None = None,
    steps: list[str] | None = None,
    skip_wait: bool = False,
    max_wait_minutes: float = 120,
) -> RunSummary:
    """Load the new fact files and recompute what depends on them.

    Args:
        business_date: The day whose facts are expected (YYYY-MM-DD); new files of any day are loaded.
            Default: the day before the IST day of the run's scheduled start (yesterday for a run started now).
        source: Where the files are: a landing folder, `az://CONTAINER[/PREFIX]` or a block
            `azure-blob-storage-container/NAME`. Default: $DATAWIZ_SOURCE, else ./data/landing.
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        steps: Run only these steps, in their fixed order: wait_for_evening, blob_backup, then one step per
            fact table (fis, fid), dd, reporting_views. Default: all of them.
        skip_wait: Do not wait for the evening run of the business date (local debugging).
        max_wait_minutes: How long to wait for that evening run before failing.
    """
    day = business_day("morning", business_date)
    chosen = [s for s in select_steps(steps, STEPS) if not (skip_wait and s == "wait_for_evening")]
    with pipeline_run("morning", day, source, warehouse, chosen) as run:
        if "wait_for_evening" in chosen:
            warn_if_wait_outlasts_timeout(max_wait_minutes)
            wait_for_evening(run.warehouse, day, max_wait_s=max_wait_minutes * 60,
                             poll_s=min(60.0, max(1.0, max_wait_minutes * 3)))
        plan = list_and_plan(run.source, run.warehouse)
        run.summary.unrecognised = plan.unrecognised
        if "blob_backup" in chosen:
            backup_files(run, [p for p in plan.todo if p.ref is None or p.ref.origin is not Origin.HISTORICAL])
        loaded: list[FileReport] = []
        for table in (c.name for c in scheduled("morning")):
            if table in chosen:
                loaded += load_files(run, plan.for_tables({table}, INCREMENTAL))
        # Also the days of files a crashed or failed run loaded but never got to rebuild.
        work = pending_post_load(run.warehouse, touched_sales_days(loaded))
        sales_days = work.days or [day]
        # DD and the report table: at the same time where files load side by side (MariaDB, StarRocks).
        rebuild_post_load(run.warehouse, sales_days, run.run_id, dd="dd" in chosen,
                          reports="reporting_views" in chosen, together=load_concurrency(run.warehouse) > 1)
        if "dd" in chosen and "reporting_views" in chosen:
            post_load_done(run.warehouse, work)
    return run.summary


# Loading time the morning timeout should leave after the longest wait for the evening run.
MIN_LOAD_SECONDS = 30 * 60


def warn_if_wait_outlasts_timeout(max_wait_minutes: float) -> None:
    """Log a warning when the bounded wait leaves the run less than MIN_LOAD_SECONDS before its timeout.

    The timeout ($DATAWIZ_MORNING_TIMEOUT_SECONDS, default 4 h) covers the default 2 h wait plus loading; a
    longer `max_wait_minutes` would end the run TimedOut instead of failing with "the evening run is missing".
    """
    timeout = morning.timeout_seconds
    if timeout is not None and max_wait_minutes * 60 + MIN_LOAD_SECONDS > timeout:
        get_run_logger().warning(
            "max_wait_minutes=%g leaves less than %d min of the %g s timeout for loading: raise "
            "DATAWIZ_MORNING_TIMEOUT_SECONDS on the worker or wait less", max_wait_minutes,
            MIN_LOAD_SECONDS // 60, timeout)


def touched_sales_days(reports: list[FileReport]) -> list[dt.date]:
    """Business dates of the secondary-sales files this run loaded (their rows' invoice dates)."""
    sales = CONTRACTS[SALES].target_table  # DD and rpt_sales_daily read it alone: other facts move no sales day
    return sorted({r.business_date for r in reports if r.status == "loaded" and r.table == sales and r.business_date})


if __name__ == "__main__":
    run_from_command_line(morning, STEPS, show=lambda result: summary_text([result]))

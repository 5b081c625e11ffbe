"""Evening pipeline (18:00 IST): dimensions, TSR hierarchy (SCD2), business constants, calendar, reports.

Run locally: `python flows/evening.py [--business-date YYYY-MM-DD] [--steps a,b]`.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from datawiz.core.registry import CONSTANTS, DIMENSIONS
from tasks.constants import publish_business_constants
from tasks.extract import list_and_plan
from tasks.report import RunSummary, summary_text
from tasks.run import (
    Steps,
    flow_retry_delay,
    flow_timeout,
    load_files,
    pipeline_run,
    run_from_command_line,
    secret_free_parameters,
    select_steps,
)
from tasks.runlog import business_day, run_name
from tasks.transform import build_dim_date, build_sales_hierarchy, refresh_reports


def _steps() -> dict[str, str]:
    """The evening steps; dimension_sync and business_constants load the registry's evening tables."""
    return {
        "dimension_sync": f"apply new {'/'.join(DIMENSIONS)} snapshots in date order (absent => inactive)",
        "tsr_hierarchy": "SCD2 update of dim_sales_hierarchy from every newly applied tsr snapshot",
        "business_constants": "load config/business_constants.json; publish Variable datawiz-<env>-business-constants",
        "dim_date": "extend the calendar (Indian fiscal year) through next year",
        "reporting_views": "rebuild rpt_sales_daily (dimension changes can move any date)",
    }


STEPS = Steps(_steps)
CALENDAR_START = dt.date(2015, 1, 1)


@secret_free_parameters
@flow(name="evening", flow_run_name=run_name("evening"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay(), timeout_seconds=flow_timeout("evening"))
def evening(
    business_date: dt.date | None = None,
    source: str | None = None,
    warehouse: str | None = None,
    steps: list[str] | None = None,
) -> RunSummary:
    """Sync dimensions and everything derived from them for one business date.

    Args:
        business_date: The day whose snapshots are applied (YYYY-MM-DD). Default: the IST day of the run's
            scheduled start (today for a run started now).
        source: Where the files are: a landing folder, `az://CONTAINER[/PREFIX]` or a block
            `azure-blob-storage-container/NAME`. Default: $DATAWIZ_SOURCE, else ./data/landing.
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        steps: Run only these steps, in their fixed order: dimension_sync, tsr_hierarchy, business_constants,
            dim_date, reporting_views. Default: all of them.
    """
    day = business_day("evening", business_date)
    chosen = select_steps(steps, STEPS)
    with pipeline_run("evening", day, source, warehouse, chosen) as run:
        plan = list_and_plan(run.source, run.warehouse)
        run.summary.unrecognised = plan.unrecognised
        if "dimension_sync" in chosen:
            load_files(run, plan.for_tables(set(DIMENSIONS)))
        if "tsr_hierarchy" in chosen:
            run.summary.notes["hierarchy"] = build_sales_hierarchy(run.warehouse, run.run_id)
        if "business_constants" in chosen:
            load_files(run, plan.for_tables(set(CONSTANTS)))
            publish_business_constants(run.warehouse)
        if "dim_date" in chosen:
            build_dim_date(run.warehouse, CALENDAR_START, dt.date(day.year + 1, 12, 31))
        if "reporting_views" in chosen:
            refresh_reports(run.warehouse, None, None, run.run_id)
    return run.summary


if __name__ == "__main__":
    run_from_command_line(evening, STEPS, show=lambda result: summary_text([result]))

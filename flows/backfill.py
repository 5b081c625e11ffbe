"""Historical backfill: load historical/fis and historical/fid month by month, resumably.

Each month is its own subflow run named `backfill YYYY-MM` (progress shows in the Prefect UI as the
list of month runs, plus the `datawiz-<env>-backfill-progress` artifact); the ledger makes it resumable and
idempotent — kill it at any point and run it again, it loads only what is missing.

Run locally: `python flows/backfill.py [--months 2024-01..2024-06] [--tables fis,fid] [--pushdown]`.
With `pushdown` (StarRocks warehouse + Azure source only) StarRocks reads the historical Parquet
files from Azure itself (INSERT ... FROM FILES()); those files are not downloaded nor validated.
"""

from __future__ import annotations

from prefect import flow

from tasks.backfill import (
    BACKFILL_TABLES,
    Progress,
    all_prefixes,
    check_tables,
    in_scope,
    load_pushdown,
    month_first_day,
    month_prefixes,
    parse_days,
    parse_months,
    pending_months,
    require_pushdown,
    touched_fis,
)
from tasks.extract import list_and_plan
from tasks.report import RunSummary, summary_text
from tasks.run import (
    backup_files,
    flow_retry_delay,
    flow_timeout,
    load_concurrency,
    load_files,
    pipeline_run,
    run_from_command_line,
    secret_free_parameters,
)
from tasks.runlog import business_day, run_name
from tasks.transform import month_end, rebuild_post_load, require_constants


@secret_free_parameters
@flow(name="backfill", flow_run_name=run_name("backfill"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay(), timeout_seconds=flow_timeout("backfill"))
def backfill(
    source: str | None = None,
    warehouse: str | None = None,
    tables: list[str] | tuple[str, ...] = BACKFILL_TABLES,
    months: str | None = None,
    include_facts_range: str | None = None,
    pushdown: bool = False,
) -> RunSummary:
    """Find the months with unloaded history (and facts in range), then load them oldest first.

    Args:
        source: Where the files are: a landing folder, `az://CONTAINER[/PREFIX]` or a block
            `azure-blob-storage-container/NAME`. Default: $DATAWIZ_SOURCE, else ./data/landing.
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        tables: Which histories to load: fis, fid or both (comma-separated on the command line).
        months: Only these months: `YYYY-MM..YYYY-MM` (inclusive) or one `YYYY-MM`. Default: every month found.
        include_facts_range: Also load the daily files of `facts/` for `YYYY-MM-DD..YYYY-MM-DD`, month by month.
        pushdown: StarRocks warehouse and Azure source only: StarRocks reads the historical Parquet files itself
            (INSERT ... FROM FILES()); they are neither downloaded nor validated.
    """
    names, window, facts = check_tables(tables), parse_months(months), parse_days(include_facts_range)
    with pipeline_run("backfill", business_day("backfill"), source, warehouse, names) as run:
        require_constants(run.warehouse)
        if pushdown:
            require_pushdown(run.source, run.warehouse)  # refuse before planning anything
        plan = list_and_plan(run.source, run.warehouse, all_prefixes(names, facts), report_unrecognised=False)
        todo = pending_months(in_scope(plan, names, facts), window)
        progress = Progress(todo)
        for month in todo:
            done = backfill_month(month, source, warehouse, names, include_facts_range, pushdown)
            run.summary.files.extend(done.files)
            progress.month_done(month, done)
    return run.summary


@secret_free_parameters
@flow(name="backfill-month", flow_run_name="backfill {month}", log_prints=True,
      timeout_seconds=flow_timeout("backfill-month"))
def backfill_month(
    month: str, source: str | None, warehouse: str | None, tables: list[str], include_facts_range: str | None,
    pushdown: bool = False,
) -> RunSummary:
    """Load one month: back up its new files in parallel, load them in order, then DD and reports.

    Args:
        month: The month, `YYYY-MM`.
        source: As for the backfill.
        warehouse: As for the backfill.
        tables: As for the backfill.
        include_facts_range: As for the backfill.
        pushdown: As for the backfill.
    """
    first, facts = month_first_day(month), parse_days(include_facts_range)
    with pipeline_run("backfill-month", first, source, warehouse, tables) as run:
        plan = list_and_plan(run.source, run.warehouse, month_prefixes(tables, first, facts),
                             report_unrecognised=False)
        todo = in_scope(plan, tables, facts)
        if pushdown:
            todo = load_pushdown(run.source, run.warehouse, todo, run.run_id, run.summary)
        backup_files(run, todo)
        load_files(run, todo)
        if touched_fis(run.summary):
            # The month's DD and its report days (first .. month end), side by side as in the morning.
            rebuild_post_load(run.warehouse, [first, month_end(first)], run.run_id,
                              together=load_concurrency(run.warehouse) > 1)
    return run.summary


if __name__ == "__main__":
    run_from_command_line(backfill, show=lambda result: summary_text([result]))

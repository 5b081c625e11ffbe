"""Daily summary (20:00 IST): every run of the day, files and rows per table, quarantine, freshness.

Run locally: `python flows/daily_report.py [--business-date YYYY-MM-DD] [--warehouse ...] [--email ...]`.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from blocks.warehouse import resolve_warehouse
from tasks.daily import DailyReport, collect_daily_report, daily_report_email, publish_daily_report
from tasks.notify import email_settings, run_link, send_email
from tasks.run import flow_retry_delay, flow_timeout, run_from_command_line, secret_free_parameters
from tasks.runlog import business_day, current_run_id, run_name


@secret_free_parameters
@flow(name="daily-report", flow_run_name=run_name("daily-report"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay(), timeout_seconds=flow_timeout("daily-report"))
def daily_report(
    business_date: dt.date | None = None, warehouse: str | None = None, email: str | None = None
) -> DailyReport:
    """Summarise one IST day from the warehouse's run log and ledger, with 14-day bars per table, and email it.

    Args:
        business_date: The day to summarise (YYYY-MM-DD). Default: the IST day of the run's scheduled start.
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        email: The email block `datawiz-email/NAME` that says who is emailed. Default: $DATAWIZ_EMAIL; unset: the
            summary is printed instead.
    """
    day = business_day("daily-report", business_date)
    settings = email_settings(email)
    wh = resolve_warehouse(warehouse)
    try:
        report = collect_daily_report(wh, day)
    finally:
        wh.close()
    message = daily_report_email(report, run_link(current_run_id(), settings))
    publish_daily_report(report, message)
    if settings is not None:
        send_email(message, settings)
    else:
        print(message.text)
    return report


if __name__ == "__main__":
    run_from_command_line(daily_report)

"""Daily summary (20:00 IST): every run of the day, files and rows per table, quarantine, freshness.

Run locally: `python flows/daily_report.py [--business-date YYYY-MM-DD] [--warehouse ...] [--email ...]`.
"""

from __future__ import annotations

import argparse
import datetime as dt

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from blocks.warehouse import resolve_warehouse
from deployments.settings import env_name
from tasks.daily import DailyReport, collect_daily_report, daily_report_email
from tasks.notify import email_settings, run_link, send_email
from tasks.run import flow_retry_delay, quiet_server_shutdown, secret_free_parameters
from tasks.runlog import business_day, current_run_id, run_name


@secret_free_parameters
@flow(name="daily-report", flow_run_name=run_name("daily-report"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay())
def daily_report(
    business_date: dt.date | None = None, warehouse: str | None = None, email: str | None = None
) -> DailyReport:
    """Summarise the IST day (default: today) from the warehouse's run log and ledger, and email it."""
    day = business_day("daily-report", business_date)
    settings = email_settings(email)
    wh = resolve_warehouse(warehouse)
    try:
        report = collect_daily_report(wh, day)
    finally:
        wh.close()
    message = daily_report_email(report, run_link(current_run_id(), settings))
    create_markdown_artifact(key=env_name("daily-report"), markdown=f"```\n{message.text}\n```",
                             description=f"DataWiz daily summary {day}")
    if settings is not None:
        send_email(message, settings)
    else:
        print(message.text)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python flows/daily_report.py", description=daily_report.__doc__)
    parser.add_argument("--business-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--warehouse", default=None, help="warehouse URL or block (default: $DATAWIZ_WAREHOUSE)")
    parser.add_argument("--email", default=None, help="email block (default: $DATAWIZ_EMAIL; unset: print only)")
    args = parser.parse_args()
    daily_report(args.business_date, args.warehouse, args.email)
    quiet_server_shutdown()

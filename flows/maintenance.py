"""Monthly maintenance (1st of the month): archive old raw backups, purge quarantine and logs, analyse tables.

Run locally: `python flows/maintenance.py [--raw-days 90] [--quarantine-days 180] [--log-days 30]`.
"""

from __future__ import annotations

import argparse
import datetime as dt

from prefect import flow

from blocks.warehouse import resolve_warehouse
from tasks.extract import data_dir
from tasks.maintenance import (
    MaintenanceReport,
    analyse_tables,
    archive_raw,
    log_dir,
    maintenance_email,
    publish_maintenance_report,
    purge_files,
    purge_quarantine_rows,
)
from tasks.notify import email_settings, run_link, send_email
from tasks.run import flow_retry_delay, quiet_server_shutdown, secret_free_parameters
from tasks.runlog import IST, current_run_id, run_name


# Every step is idempotent (what was archived or purged is gone from the next listing): a retry is safe.
@secret_free_parameters
@flow(name="maintenance", flow_run_name=run_name("maintenance"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay())
def maintenance(
    warehouse: str | None = None,
    email: str | None = None,
    raw_days: int = 90,
    quarantine_days: int = 180,
    log_days: int = 30,
) -> MaintenanceReport:
    """Archive raw backups older than raw_days, purge quarantine and logs past retention, analyse tables."""
    now = dt.datetime.now(IST)
    settings = email_settings(email)
    report = MaintenanceReport()
    report.archived_files, report.bytes_before, report.bytes_after = archive_raw(
        data_dir() / "raw", data_dir() / "archive" / "raw", raw_days, now)
    report.purged_quarantine_files = purge_files(data_dir() / "quarantine", quarantine_days, now)
    report.purged_log_files = purge_files(log_dir(), log_days, now)
    wh = resolve_warehouse(warehouse)
    try:
        report.purged_quarantine_rows = purge_quarantine_rows(wh, quarantine_days, now)
        report.analysed = analyse_tables(wh)
    finally:
        wh.close()
    publish_maintenance_report(report)
    retention = {"raw backups": raw_days, "quarantine": quarantine_days, "logs": log_days}
    if settings is not None:
        send_email(maintenance_email(report, retention, run_link(current_run_id(), settings)), settings)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python flows/maintenance.py", description=maintenance.__doc__)
    parser.add_argument("--warehouse", default=None, help="warehouse URL or block (default: $DATAWIZ_WAREHOUSE)")
    parser.add_argument("--email", default=None, help="email block (default: $DATAWIZ_EMAIL; unset: no email)")
    parser.add_argument("--raw-days", type=int, default=90)
    parser.add_argument("--quarantine-days", type=int, default=180)
    parser.add_argument("--log-days", type=int, default=30)
    args = parser.parse_args()
    print(maintenance(args.warehouse, args.email, args.raw_days, args.quarantine_days, args.log_days))
    quiet_server_shutdown()

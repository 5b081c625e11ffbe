"""Monthly maintenance (1st of the month): archive old raw backups, purge quarantine and logs, analyse tables.

Run locally: `python flows/maintenance.py [--raw-days 90] [--quarantine-days 180] [--log-days 30]`.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from blocks.warehouse import resolve_warehouse
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
from tasks.paths import data_dir
from tasks.run import flow_retry_delay, flow_timeout, run_from_command_line, secret_free_parameters
from tasks.runlog import IST, current_run_id, run_name


# Every step is idempotent (what was archived or purged is gone from the next listing): a retry is safe.
@secret_free_parameters
@flow(name="maintenance", flow_run_name=run_name("maintenance"), log_prints=True,
      retries=1, retry_delay_seconds=flow_retry_delay(), timeout_seconds=flow_timeout("maintenance"))
def maintenance(
    warehouse: str | None = None,
    email: str | None = None,
    raw_days: int = 90,
    quarantine_days: int = 180,
    log_days: int = 30,
) -> MaintenanceReport:
    """Archive old raw backups, purge quarantine copies and logs past their retention, analyse tables.

    Args:
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        email: The email block `datawiz-email/NAME` that says who is emailed. Default: $DATAWIZ_EMAIL; unset: no email.
        raw_days: Raw backups (data/raw) older than this many days are gzipped into data/archive/raw.
        quarantine_days: Quarantine copies and etl_quarantine rows older than this many days are deleted.
        log_days: JSON log files ($DATAWIZ_LOG_DIR) older than this many days are deleted.
    """
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
    run_from_command_line(maintenance, show=str)

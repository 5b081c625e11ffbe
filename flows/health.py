"""Health check (hourly): source and warehouse reachable, disk space, facts and evening run on time, SMTP.

Emails the system-health alert when the set of failing checks changes (new trouble or all clear), and
again every `repeat_hours` while trouble lasts. Run locally: `python flows/health.py`.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from tasks.health import (
    CheckResult,
    alert_due,
    failing,
    health_checks,
    health_email,
    last_alert,
    publish_health_report,
    remember_alert,
)
from tasks.notify import email_settings, run_link, send_email
from tasks.run import flow_timeout, run_from_command_line, secret_free_parameters
from tasks.runlog import IST, current_run_id, run_name


@secret_free_parameters
@flow(name="health", flow_run_name=run_name("health", with_time=True), log_prints=True,
      timeout_seconds=flow_timeout("health"))
def health(
    source: str | None = None,
    warehouse: str | None = None,
    email: str | None = None,
    min_free_gb: float = 5.0,
    repeat_hours: float = 6.0,
) -> list[CheckResult]:
    """Run every health check, publish them, and email the health alert when it is due.

    Args:
        source: Where the files are: a landing folder, `az://CONTAINER[/PREFIX]` or a block
            `azure-blob-storage-container/NAME`. Default: $DATAWIZ_SOURCE, else ./data/landing.
        warehouse: The warehouse: `duckdb:///PATH`, `mysql://USER@HOST:3306/DB`, `starrocks://USER@HOST:9030/DB`
            or a block `SLUG/NAME` (deployments pass their environment's block). Default: $DATAWIZ_WAREHOUSE,
            else ./data/warehouse.duckdb.
        email: The email block `datawiz-email/NAME` that says who is emailed. Default: $DATAWIZ_EMAIL; unset: no email.
        min_free_gb: Free disk space under the data folder ($DATAWIZ_DATA_DIR) below which the disk check fails.
        repeat_hours: Email a lasting problem again after this many hours (a change is emailed at once).
    """
    now = dt.datetime.now(IST)
    settings = email_settings(email)
    results = health_checks(source, warehouse, settings, now, min_free_gb)
    publish_health_report(results)
    print("\n".join(r.line() for r in results))
    if settings is not None and alert_due(failing(results), last_alert(), now, repeat_hours):
        send_email(health_email(results, run_link(current_run_id(), settings)), settings)
        remember_alert(failing(results), now)
    return results


if __name__ == "__main__":
    run_from_command_line(health)

"""Failure alert: email what failed in one DataWiz flow run; re-run a crashed run once first.

The automations (deployments/automations.py) run this flow's deployment with the id of a run that
ended Failed or TimedOut (email at once) or Crashed (re-run once; email if it had been re-run already).
Run by hand: `python flows/alert.py FLOW_RUN_ID [--email datawiz-email/NAME]`.
"""

from __future__ import annotations

import argparse
import os

from prefect import flow

from datawiz.core.errors import ConfigError
from tasks.alerts import RunNotFound, describe_failure, failure_email, handle_crash
from tasks.notify import email_settings, send_email
from tasks.run import flow_timeout, forbid_flow_retry, quiet_server_shutdown, secret_free_parameters


def alert_retry_delay() -> int:
    """Seconds between the alert flow's attempts: $DATAWIZ_ALERT_RETRY_DELAY, default 30 (read at import)."""
    return max(0, int(os.environ.get("DATAWIZ_ALERT_RETRY_DELAY", "30")))


# Retried: the SMTP relay or the API may blip; the alert is the one run that must get through. A retry
# cannot re-run a crash twice (see handle_crash). A run that failed for good is reported by the watchdog
# (`datawiz watchdog`, beside the server), which needs no worker.
@secret_free_parameters
@flow(name="alert", log_prints=True, retries=2, retry_delay_seconds=alert_retry_delay(),
      timeout_seconds=flow_timeout("alert"))
def alert(flow_run_id: str, email: str | None = None, rerun_crashed: bool = True) -> str:
    """Email the failure of one flow run (a first crash is re-run instead) to the email block's recipients."""
    settings = email_settings(email)
    if settings is None:
        forbid_flow_retry()
        raise ConfigError("no email block: pass `email` (datawiz-email/NAME) or set $DATAWIZ_EMAIL")
    try:
        failure = describe_failure(flow_run_id, settings)
    except RunNotFound:
        forbid_flow_retry()  # a wrong id stays wrong: fail at once, the watchdog reports it
        raise
    if failure.state == "Crashed" and rerun_crashed:
        decision = handle_crash(flow_run_id)
        if decision != "email":
            return f"{failure.run_name} of {failure.flow}: {decision}"
    send_email(failure_email(failure), settings)
    return f"emailed the {failure.state} run {failure.run_name} of {failure.flow}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python flows/alert.py", description=alert.__doc__)
    parser.add_argument("flow_run_id")
    parser.add_argument("--email", default=None, help="email block (default: $DATAWIZ_EMAIL)")
    args = parser.parse_args()
    print(alert(args.flow_run_id, args.email))
    quiet_server_shutdown()

"""Failure alert: email what failed in one DataWiz flow run; re-run a crashed run once first.

The automations (deployments/automations.py) run this flow's deployment with the id of a run that
ended Failed or TimedOut (email at once) or Crashed (re-run once; email if it had been re-run already).
Run by hand: `python flows/alert.py FLOW_RUN_ID [--email datawiz-email/NAME]`.
"""

from __future__ import annotations

import argparse

from prefect import flow

from tasks.alerts import describe_failure, failure_email, handle_crash
from tasks.notify import email_settings, send_email
from tasks.run import quiet_server_shutdown, secret_free_parameters


# Retried: the SMTP relay or the API may blip; the alert is the one run that must get through. A retry
# cannot re-run a crash twice (see handle_crash).
@secret_free_parameters
@flow(name="alert", log_prints=True, retries=2, retry_delay_seconds=30)
def alert(flow_run_id: str, email: str | None = None, rerun_crashed: bool = True) -> str:
    """Email the failure of one flow run (a first crash is re-run instead) to the email block's recipients."""
    settings = email_settings(email)
    if settings is None:
        raise ValueError("no email block: pass `email` (datawiz-email/NAME) or set $DATAWIZ_EMAIL")
    failure = describe_failure(flow_run_id, settings)
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

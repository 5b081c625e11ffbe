"""Failure alert: email what failed in one DataWiz flow run. Started by the failure automations.

The automations (deployments/automations.py) run this flow's deployment with the id of a run that
ended Failed, TimedOut or Crashed; the flow reads that run from the Prefect API and emails it.
Run by hand: `python flows/alert.py FLOW_RUN_ID [--email datawiz-email/NAME]`.
"""

from __future__ import annotations

import argparse

from prefect import flow

from tasks.alerts import describe_failure, failure_email
from tasks.notify import email_settings, send_email
from tasks.run import quiet_server_shutdown


# Retried: the SMTP relay or the API may blip; the alert is the one run that must get through.
@flow(name="alert", log_prints=True, retries=2, retry_delay_seconds=30)
def alert(flow_run_id: str, email: str | None = None) -> str:
    """Email the failure of one flow run to the recipients of the email block (default: $DATAWIZ_EMAIL)."""
    settings = email_settings(email)
    if settings is None:
        raise ValueError("no email block: pass `email` (datawiz-email/NAME) or set $DATAWIZ_EMAIL")
    failure = describe_failure(flow_run_id, settings)
    send_email(failure_email(failure), settings)
    return f"emailed the {failure.state} run {failure.run_name} of {failure.flow}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python flows/alert.py", description=alert.__doc__)
    parser.add_argument("flow_run_id")
    parser.add_argument("--email", default=None, help="email block (default: $DATAWIZ_EMAIL)")
    args = parser.parse_args()
    print(alert(args.flow_run_id, args.email))
    quiet_server_shutdown()

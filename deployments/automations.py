"""Automations as code: failure emails and the one re-run of a crashed run, per environment.

`datawiz automations apply [--env prod]` creates or updates them by name, so applying twice leaves
exactly one of each (duplicates left by hand are deleted). Both match the flow runs tagged
`datawiz-<env>` (every pipeline deployment of the environment carries that tag; the alert deployment
does not, so a failing alert cannot trigger another) and run the environment's alert deployment
(`alert/<env>`, flows/alert.py) with the run's id:

- `datawiz-<env>-failure-email`: a run enters Failed or TimedOut -> the alert flow emails it at once;
- `datawiz-<env>-crash-rerun`: a run enters Crashed -> 30 s later the alert flow re-runs it once (same
  run, back to Scheduled), or emails it if it had been re-run already.

Prefect retries a *Failed* run itself (flow-level `retries`) and only then reports Failed, so the
failure email comes after the last attempt. A Crashed run is never retried by Prefect: the process
that would retry it is gone. The 30 s wait lets the worker finish with the dead process first: a
process worker reports the crash twice (the second report ~10 s later, after its crash hooks), and a
re-run scheduled before the second report would be marked Crashed by it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect.automations import Automation, EventTrigger, RunDeployment
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from deployments.settings import EnvNames

FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut"}
CRASHED_EVENTS = {"prefect.flow-run.Crashed"}
CRASH_RERUN_DELAY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Applied:
    """What `apply` did with one automation."""

    name: str
    action: str  # created | updated | deleted
    removed_duplicates: int = 0

    def line(self) -> str:
        extra = f" (removed {self.removed_duplicates} duplicate(s))" if self.removed_duplicates else ""
        return f"{self.action} automation {self.name}{extra}"


def _trigger(names: EnvNames, events: set[str]) -> EventTrigger:
    """A reactive trigger on the flow runs of the environment (by tag) entering one of the states."""
    return EventTrigger(
        expect=events,
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{names.tag}"},
        posture="Reactive",
        threshold=1,
        within=0,
    )


def _run_alert(alert_deployment_id: str, delay: dt.timedelta = dt.timedelta(0)) -> RunDeployment:
    # The failed run's id, rendered by the server when the automation fires.
    flow_run_id = {"__prefect_kind": "jinja", "template": "{{ flow_run.id }}"}
    return RunDeployment(source="selected", deployment_id=alert_deployment_id,  # type: ignore[arg-type]
                         parameters={"flow_run_id": flow_run_id}, schedule_after=delay)


def automations(names: EnvNames, alert_deployment_id: str) -> list[Automation]:
    """The environment's automations, as they should be on the server."""
    specs: list[tuple[str, str, set[str], dt.timedelta]] = [
        ("failure-email", "Email the DataWiz team when a run fails (after its retries) or times out.",
         FAILED_EVENTS, dt.timedelta(0)),
        ("crash-rerun", "Re-run a crashed DataWiz run once (loads are exactly-once, so it is safe); "
         "email when it crashes again.", CRASHED_EVENTS, CRASH_RERUN_DELAY),
    ]
    return [Automation(name=names.automation(kind), description=text, enabled=True, trigger=_trigger(names, events),
                       actions=[_run_alert(alert_deployment_id, delay)])
            for kind, text, events, delay in specs]


def alert_deployment_id(names: EnvNames) -> str:
    """The id of the environment's alert deployment; it must be deployed first."""
    with get_client(sync_client=True) as client:
        try:
            return str(client.read_deployment_by_name(names.alert_deployment).id)
        except ObjectNotFound:
            raise LookupError(
                f"deployment {names.alert_deployment} not found: "
                f"run `DATAWIZ_ENV={names.env} prefect deploy --all` first"
            ) from None


def apply_automation(wanted: Automation) -> Applied:
    """Create the automation, or update the one of that name (deleting any duplicates of it)."""
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(wanted.name)
        for extra in existing[1:]:
            client.delete_automation(extra.id)
    if not existing:
        wanted.create()
        return Applied(wanted.name, "created")
    wanted.id = existing[0].id
    wanted.update()
    return Applied(wanted.name, "updated", len(existing) - 1)


def remove_stale(names: EnvNames, keep: set[str]) -> list[Applied]:
    """Delete the environment's automations that the code no longer defines (a kind renamed or dropped)."""
    prefix = names.automation("")
    with get_client(sync_client=True) as client:
        stale = [a for a in client.read_automations() if a.name.startswith(prefix) and a.name not in keep]
        for automation in stale:
            client.delete_automation(automation.id)
    return [Applied(a.name, "deleted") for a in stale]


def apply_all(names: EnvNames) -> list[Applied]:
    """Create or update every automation of the environment, and delete the ones no longer defined."""
    wanted = automations(names, alert_deployment_id(names))
    return [apply_automation(a) for a in wanted] + remove_stale(names, {a.name for a in wanted})

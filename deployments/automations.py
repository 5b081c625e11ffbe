"""Automations as code: dead-run detection, failure emails and the one re-run of a crashed run, per environment.

`datawiz automations apply [--env prod]` creates or updates them by name, so applying twice leaves
exactly one of each (duplicates left by hand are deleted). They match the flow runs tagged
`datawiz-<env>` (every pipeline deployment of the environment carries that tag; the alert deployment
does not, so a failing alert cannot trigger another); the two email automations run the environment's
alert deployment (`alert/<env>`, flows/alert.py) with the run's id:

- `datawiz-<env>-zombie`: a run's heartbeats stop (its process or machine died) -> marked Crashed,
  which the crash automation then handles like any crash (the alert deployment's own runs are covered
  too; their crash is reported by the watchdog, `datawiz watchdog`);
- `datawiz-<env>-failure-email`: a run enters Failed or TimedOut -> the alert flow emails it at once;
- `datawiz-<env>-crash-rerun`: a run enters Crashed -> 30 s later the alert flow re-runs it once (same
  run, back to Scheduled), or emails it if it had been re-run already.

Prefect retries a *Failed* run itself (flow-level `retries`) and only then reports Failed, so the
failure email comes after the last attempt. A Crashed run is never retried by Prefect: the process
that would retry it is gone. The 30 s wait lets the worker finish with the dead process first: a
process worker reports the crash twice (the second report ~10 s later, after its crash hooks), and a
re-run scheduled before the second report would be marked Crashed by it.

The zombie automation is the one Prefect documents for self-hosted servers
(https://docs.prefect.io/v3/advanced/detect-zombie-flows): a proactive trigger that, after each
`prefect.flow-run.heartbeat` of a run (`for_each` run), expects another event of that run
(`prefect.flow-run.*`: a heartbeat, or any state change such as Completed or AwaitingRetry) within the
window, and marks the run Crashed when none comes. The docs' 90 s window assumes 30 s heartbeats; ours is
DATAWIZ_ZOMBIE_WINDOW_SECONDS, by default 5 heartbeats of DATAWIZ_HEARTBEAT_SECONDS (deployments/settings.py).
Heartbeats come from a thread of the flow-run process (prefect/flow_engine.py `_send_heartbeats`), so a
flow busy in a long synchronous call still sends them. Prefect Cloud has this built in ("Unresponsive run
detection", a managed automation): there `apply` does not create ours and says to enable that instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect.automations import Automation, ChangeFlowRunState, EventTrigger, Posture, RunDeployment
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from deployments.settings import EnvNames

FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut"}
CRASHED_EVENTS = {"prefect.flow-run.Crashed"}
CRASH_RERUN_DELAY = dt.timedelta(seconds=30)
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
ANY_FLOW_RUN_EVENT = "prefect.flow-run.*"
ZOMBIE_KIND = "zombie"
CLOUD_ZOMBIE_NOTE = ("Prefect Cloud: enable its managed 'Unresponsive run detection' instead (Workspace Settings -> "
                     "Managed Automations)")


@dataclass(frozen=True)
class Applied:
    """What `apply` did with one automation."""

    name: str
    action: str  # created | updated | deleted | skipped
    removed_duplicates: int = 0
    note: str = ""

    def line(self) -> str:
        extra = f" (removed {self.removed_duplicates} duplicate(s))" if self.removed_duplicates else ""
        note = f": {self.note}" if self.note else ""
        return f"{self.action} automation {self.name}{extra}{note}"


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


def zombie_message(window: dt.timedelta) -> str:
    """The message of the Crashed state the zombie automation sets (shown in the emails)."""
    return (f"DataWiz: no heartbeat for {window.total_seconds():g} s: the run's process or machine is gone "
            f"(marked Crashed by the zombie automation)")


def zombie_automation(names: EnvNames, alert_deployment_id: str, window: dt.timedelta) -> Automation:
    """Mark a run of the environment Crashed when its heartbeats stop for `window` (see the module docstring).

    It covers the pipeline runs (by tag) and the environment's alert runs (by deployment): a related resource
    that is either. `for_each` the run's id: one window per run, opened by each heartbeat.
    """
    trigger = EventTrigger(
        after={HEARTBEAT_EVENT},
        expect={ANY_FLOW_RUN_EVENT},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.id": [f"prefect.tag.{names.tag}",
                                               f"prefect.deployment.{alert_deployment_id}"]},
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=window,
    )
    return Automation(
        name=names.automation(ZOMBIE_KIND), enabled=True, trigger=trigger,
        description=f"Mark a DataWiz run Crashed when its heartbeats stop for {window.total_seconds():g} s "
                    "(worker or machine died); the crash automation then re-runs or emails it.",
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=zombie_message(window))],
    )


def automations(
    names: EnvNames, alert_deployment_id: str, zombie_window: dt.timedelta | None = None
) -> list[Automation]:
    """The environment's automations, as they should be on the server (no zombie one without a window)."""
    specs: list[tuple[str, str, set[str], dt.timedelta]] = [
        ("failure-email", "Email the DataWiz team when a run fails (after its retries) or times out.",
         FAILED_EVENTS, dt.timedelta(0)),
        ("crash-rerun", "Re-run a crashed DataWiz run once (loads are exactly-once, so it is safe); "
         "email when it crashes again.", CRASHED_EVENTS, CRASH_RERUN_DELAY),
    ]
    wanted = [Automation(name=names.automation(kind), description=text, enabled=True, trigger=_trigger(names, events),
                         actions=[_run_alert(alert_deployment_id, delay)])
              for kind, text, events, delay in specs]
    if zombie_window is not None:
        wanted.insert(0, zombie_automation(names, alert_deployment_id, zombie_window))
    return wanted


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


def on_prefect_cloud() -> bool:
    """True when the API is Prefect Cloud (its URL starts with PREFECT_CLOUD_API_URL)."""
    return get_current_settings().connected_to_cloud


def apply_all(names: EnvNames, zombie_window: dt.timedelta) -> list[Applied]:
    """Create or update every automation of the environment, and delete the ones no longer defined.

    On Prefect Cloud the zombie automation is left to Cloud's managed detection (any of ours is deleted).
    """
    cloud = on_prefect_cloud()
    wanted = automations(names, alert_deployment_id(names), None if cloud else zombie_window)
    done = [apply_automation(a) for a in wanted] + remove_stale(names, {a.name for a in wanted})
    if cloud:
        done.append(Applied(names.automation(ZOMBIE_KIND), "skipped", note=CLOUD_ZOMBIE_NOTE))
    return done

"""Automations as code: failure emails and the one re-run of a crashed run, per environment.

`datawiz automations apply [--env prod]` creates or updates them by name, so applying twice leaves
exactly one of each (duplicates left by hand are deleted). Three kinds, all matching the flow runs
tagged `datawiz-<env>` (every pipeline deployment of the environment carries that tag; the alert
deployment does not, so a failing alert cannot trigger another):

- `datawiz-<env>-failure-email`: a run enters Failed or TimedOut -> run `alert/<env>` with the run's id
  (the alert flow emails it);
- `datawiz-<env>-crash-rerun`: a run enters Crashed on its first attempt -> set it back to Scheduled
  (AwaitingRetry): one re-run, safe because every load is exactly-once;
- `datawiz-<env>-crash-email`: a run enters Crashed on any other attempt -> run `alert/<env>`: the re-run
  crashed too (or the run crashed before it started).

Prefect retries a *Failed* run itself (flow-level `retries`) and only then reports Failed, so the
failure email comes after the last attempt. A Crashed run is never retried by Prefect: the process
that would retry it is gone, hence the re-run automation. "First attempt" is the event label
`prefect.run-count` = 1 (the run was Running once); a re-run that crashes has run count 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.automations import Automation, ChangeFlowRunState, EventTrigger, RunDeployment
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ActionTypes
from prefect.exceptions import ObjectNotFound

from deployments.settings import EnvNames

FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut"}
CRASHED_EVENTS = {"prefect.flow-run.Crashed"}


@dataclass(frozen=True)
class Applied:
    """What `apply` did with one automation."""

    name: str
    action: str  # created | updated
    removed_duplicates: int = 0

    def line(self) -> str:
        extra = f" (removed {self.removed_duplicates} duplicate(s))" if self.removed_duplicates else ""
        return f"{self.action} automation {self.name}{extra}"


def _trigger(names: EnvNames, events: set[str], run_count: str | None = None) -> EventTrigger:
    """A reactive trigger on flow runs of the environment (by tag), optionally by their run count."""
    match = {"prefect.resource.id": "prefect.flow-run.*"}
    if run_count is not None:
        match["prefect.run-count"] = run_count  # "!1": any value but 1
    return EventTrigger(
        expect=events,
        match=match,
        match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{names.tag}"},
        posture="Reactive",
        threshold=1,
        within=0,
    )


def _email_action(alert_deployment_id: str) -> RunDeployment:
    # The failed run's id, rendered by the server when the automation fires.
    flow_run_id = {"__prefect_kind": "jinja", "template": "{{ flow_run.id }}"}
    return RunDeployment(source="selected", deployment_id=alert_deployment_id,  # type: ignore[arg-type]
                         parameters={"flow_run_id": flow_run_id})


def automations(names: EnvNames, alert_deployment_id: str) -> list[Automation]:
    """The environment's automations, as they should be on the server."""
    rerun = ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                               message="DataWiz: re-run once after a crash (automation crash-rerun)")
    specs: list[tuple[str, str, EventTrigger, ActionTypes]] = [
        ("failure-email", "Email the DataWiz team when a run fails or times out.",
         _trigger(names, FAILED_EVENTS), _email_action(alert_deployment_id)),
        ("crash-rerun", "Re-run a crashed DataWiz run once (loads are exactly-once, so a re-run is safe).",
         _trigger(names, CRASHED_EVENTS, run_count="1"), rerun),
        ("crash-email", "Email the DataWiz team when a run crashes again after its re-run (or before it started).",
         _trigger(names, CRASHED_EVENTS, run_count="!1"), _email_action(alert_deployment_id)),
    ]
    return [Automation(name=names.automation(kind), description=text, enabled=True, trigger=trigger, actions=[action])
            for kind, text, trigger, action in specs]


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


def apply_all(names: EnvNames) -> list[Applied]:
    """Create or update every automation of the environment."""
    return [apply_automation(a) for a in automations(names, alert_deployment_id(names))]

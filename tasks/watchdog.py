"""The watchdog: emails what the worker-run alert path cannot, from beside the Prefect server.

Every failure email goes through the alert deployment, which a worker runs (flows/alert.py). With no
worker alive that path is dead, and so is everything that would have noticed: a crashed run is never
re-run or emailed, scheduled runs go Late silently, and nobody watches the alert flow itself. The
watchdog is a small always-on process (`datawiz watchdog --env prod`, a systemd service on the server's
machine, not the worker's) that needs only the Prefect API to read and the SMTP relay of the
environment's email block to write. Every `DATAWIZ_WATCHDOG_INTERVAL_SECONDS` (60) it looks at:

- the work pool `datawiz` and its queues `default` and `alerts`: not ready (no worker polled them lately,
  as the server's foreman service decides) or paused — emailed at once, and again when ready;
- crashed runs of the environment (`datawiz-<env>` tag, last 24 h) that the alert flow did not handle:
  at once when no worker polls `alerts` (the crash-rerun alert run cannot start), else after
  `DATAWIZ_WATCHDOG_GRACE_SECONDS` (180) without a completed alert run for them;
- runs of the environment, alert runs included, that are Late (their start time passed, no worker took
  them) for more than the grace;
- alert runs that ended Failed or Crashed (the alert flow itself failed);
- the Prefect API itself, unreachable for more than the grace (the email block is loaded at start).

One email per check lists what is new (and what recovered). What was emailed is remembered in the
Prefect Variable `datawiz-<env>-watchdog` (keys of the problems still open only), so a restart of the
watchdog does not repeat it. Why a process and not a served flow, a Cloud email action or a webhook:
docs/OPERATIONS.md ("Alerts that need no worker").
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType, WorkPool, WorkQueue
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.variables import Variable

from blocks.email import DataWizEmail
from datawiz.core.environment import EnvNames
from datawiz.core.errors import describe_error
from tasks.alerts import RERUN_MARKER, business_date_of
from tasks.notify import Email, deliver, format_ist, render, run_link

logger = logging.getLogger("datawiz.watchdog")

POOL = "datawiz"  # prefect.yaml: the pool of every deployment
QUEUES = ("default", "alerts")  # the pipelines' queue and the alert deployment's
ALERT_QUEUE = "alerts"
LOOKBACK = dt.timedelta(hours=24)
READ_LIMIT = 200
INTERVAL_VARIABLE = "DATAWIZ_WATCHDOG_INTERVAL_SECONDS"
GRACE_VARIABLE = "DATAWIZ_WATCHDOG_GRACE_SECONDS"
DEFAULT_INTERVAL_S = 60.0
DEFAULT_GRACE_S = 180.0
STATE_LIMIT = 4500  # characters of the state Variable (Prefect allows 5,000)
API_KEY = "api"
CONDITION_KEYS = ("pool:", "queue:", "alert:MISSING", API_KEY)  # problems whose end is emailed too


@dataclass(frozen=True)
class WatchdogSettings:
    """How often to look and how long a problem may last before it is emailed."""

    interval: float = DEFAULT_INTERVAL_S
    grace: float = DEFAULT_GRACE_S

    @classmethod
    def from_values(cls, values: dict[str, str]) -> WatchdogSettings:
        interval = float(values.get(INTERVAL_VARIABLE) or DEFAULT_INTERVAL_S)
        grace = float(values.get(GRACE_VARIABLE) or DEFAULT_GRACE_S)
        if interval <= 0 or grace < 0:
            raise ValueError(f"{INTERVAL_VARIABLE} must be > 0 and {GRACE_VARIABLE} >= 0")
        return cls(interval, grace)


@dataclass(frozen=True)
class Finding:
    """One problem worth an email. `key` names it for good (a state id), so it is emailed once."""

    key: str
    subject: str  # one line, the email subject when it is the only one
    detail: str
    link: str | None = None


@dataclass
class Snapshot:
    """What the watchdog read from the Prefect API in one check (the rules below only look at this)."""

    now: dt.datetime
    pool: WorkPool | None
    queues: list[WorkQueue]
    last_worker_heartbeat: dt.datetime | None
    crashed: list[FlowRun]  # the environment's pipeline runs now Crashed
    late: list[FlowRun]  # the environment's runs (alert runs too) now Late
    alert_runs: list[FlowRun]  # runs of the alert deployment, last 24 h
    flow_names: dict[UUID, str] = field(default_factory=dict)
    rerun_before: set[UUID] = field(default_factory=set)  # crashed runs already re-run once after a crash
    alert_deployment_found: bool = True


# ---------------------------------------------------------------------------------------------------------- rules
def _status(obj: WorkPool | WorkQueue | None) -> str:
    if obj is None:
        return "MISSING"
    if obj.is_paused:
        return "PAUSED"
    return obj.status.value if obj.status is not None else "NOT_READY"


def alert_path_down(snap: Snapshot) -> str | None:
    """Why the alert deployment cannot run now (no worker polls its queue), or None when it can."""
    if _status(snap.pool) != "READY":
        return f"work pool {POOL} is {_status(snap.pool).lower().replace('_', ' ')}"
    queue = next((q for q in snap.queues if q.name == ALERT_QUEUE), None)
    if _status(queue) != "READY":
        return f"work queue {ALERT_QUEUE} is {_status(queue).lower().replace('_', ' ')}"
    return None


def _last_beat(at: dt.datetime | None) -> str:
    return f"last worker heartbeat {format_ist(at)}" if at else "no worker has ever polled it"


def pool_findings(snap: Snapshot) -> list[Finding]:
    """The pool, else its queues, not ready or paused: the worker is gone, or someone paused it."""
    status = _status(snap.pool)
    if status == "MISSING":
        return [Finding("pool:MISSING", f"work pool {POOL} does not exist",
                        f"The work pool {POOL} is missing on the Prefect server: no run can start. "
                        f"Create it: prefect work-pool create {POOL} --type process")]
    if status != "READY":
        what = ("paused: no run starts until it is resumed (prefect work-pool resume datawiz)"
                if status == "PAUSED" else
                f"not ready: no worker is alive ({_last_beat(snap.last_worker_heartbeat)}). "
                "Scheduled runs go Late and no failure email can be sent until a worker is back "
                "(systemctl start datawiz-worker)")
        return [Finding(f"pool:{status}", f"work pool {POOL} {status.lower().replace('_', ' ')}",
                        f"The work pool {POOL} is {what}.")]
    found = []
    for name in QUEUES:
        queue = next((q for q in snap.queues if q.name == name), None)
        status = _status(queue)
        if status != "READY":
            found.append(Finding(f"queue:{name}:{status}", f"work queue {name} {status.lower().replace('_', ' ')}",
                                 f"The work queue {name} of pool {POOL} is {status.lower().replace('_', ' ')}: "
                                 f"{'the failure emails' if name == ALERT_QUEUE else 'the pipeline runs'} "
                                 "cannot start from it."))
    return found


def _state_time(run: FlowRun) -> dt.datetime:
    assert run.state is not None
    return run.state.timestamp


def _describe(run: FlowRun, snap: Snapshot, settings: DataWizEmail | None) -> tuple[str, str, str | None]:
    flow = snap.flow_names.get(run.flow_id, "flow")
    day = business_date_of(run, flow)
    about = f"{flow} run {run.name}" + (f" (business date {day})" if day != "—" else "")
    return flow, about, run_link(str(run.id), settings)


def crash_findings(snap: Snapshot, grace: dt.timedelta, settings: DataWizEmail | None = None,
                   reported: Collection[str] = ()) -> list[Finding]:
    """Crashed runs the alert flow has not handled: at once when it cannot run, else after the grace.

    A crash reported already stays a problem until it is handled, even when a worker comes back within the
    grace (else it would be emailed a second time once the grace is over).
    """
    down = alert_path_down(snap)
    found = []
    for run in snap.crashed:
        crashed_at = _state_time(run)
        if snap.now - crashed_at > LOOKBACK:
            continue
        handled = any(
            a.parameters.get("flow_run_id") == str(run.id) and a.state is not None
            and a.state.type is StateType.COMPLETED and a.state.timestamp >= crashed_at for a in snap.alert_runs)
        key = f"crashed:{run.state.id if run.state else run.id}"
        if handled or (down is None and snap.now - crashed_at < grace and key not in reported):
            continue
        flow, about, link = _describe(run, snap, settings)
        again = run.id in snap.rerun_before
        message = run.state.message if run.state and run.state.message else "(no message)"
        if down:
            why = (f"It cannot be re-run or emailed by the alert flow: {down}. "
                   + ("It had already been re-run once after a crash; it will not be re-run again."
                      if again else "When a worker is back, the waiting alert run re-runs it once "
                      "(every load is exactly-once); or re-run it by hand."))
            short = "no worker" if "pool" in down else f"{ALERT_QUEUE} queue down"
        else:
            why = (f"No alert run handled it within {grace.total_seconds():g} s (the crash-rerun automation "
                   "should have re-run it or emailed it): check the automations and the alert runs.")
            short = "not handled"
        found.append(Finding(
            key, f"{flow} run {run.name} Crashed — {short}",
            f"{about} crashed at {format_ist(crashed_at)}: {message}\n{why}", link))
    return found


def late_findings(snap: Snapshot, grace: dt.timedelta, settings: DataWizEmail | None = None) -> list[Finding]:
    """Runs Late for longer than the grace: due, and no worker took them."""
    found = []
    for run in snap.late:
        due = (run.state.state_details.scheduled_time if run.state else None) or run.expected_start_time
        if due is None or snap.now - due < grace:
            continue
        flow, about, link = _describe(run, snap, settings)
        down = alert_path_down(snap)
        why = f" ({down})" if down else ""
        found.append(Finding(
            f"late:{run.state.id if run.state else run.id}", f"{flow} run {run.name} Late",
            f"{about} was due at {format_ist(due)} and has not started{why}: it starts when a worker polls "
            f"the pool {POOL} again.", link))
    return found


def alert_failure_findings(snap: Snapshot, settings: DataWizEmail | None = None) -> list[Finding]:
    """Alert runs that ended Failed or Crashed: a failure email that was never sent."""
    found = []
    for run in snap.alert_runs:
        state = run.state
        if state is None or state.type not in (StateType.FAILED, StateType.CRASHED):
            continue
        if snap.now - state.timestamp > LOOKBACK:
            continue
        about = run.parameters.get("flow_run_id", "?")
        message = state.message or "(no message)"
        found.append(Finding(
            f"alert:{state.id}", f"alert run {run.name} {state.name}",
            f"The alert flow failed: the run {run.name} (about flow run {about}) ended {state.name} at "
            f"{format_ist(_state_time(run))}: {message}\nThe failure or crash it was to report was not emailed: "
            f"look at that run, and re-send with: prefect deployment run alert/<env> -p flow_run_id={about}",
            run_link(str(run.id), settings)))
    return found


def findings(snap: Snapshot, grace: dt.timedelta, settings: DataWizEmail | None = None,
             reported: Collection[str] = ()) -> list[Finding]:
    """Every problem in the snapshot (`reported`: the keys emailed already)."""
    found = pool_findings(snap)
    if not snap.alert_deployment_found:
        found.append(Finding("alert:MISSING", "alert deployment missing",
                             "The alert deployment is not deployed: failure emails cannot be sent. "
                             "Run prefect deploy --all for this environment."))
    return (found + crash_findings(snap, grace, settings, reported) + late_findings(snap, grace, settings)
            + alert_failure_findings(snap, settings))


# ------------------------------------------------------------------------------------------------- reading the API
def _runs(client: SyncPrefectClient, flt: FlowRunFilter) -> list[FlowRun]:
    return client.read_flow_runs(flow_run_filter=flt, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=READ_LIMIT)


def read_snapshot(client: SyncPrefectClient, names: EnvNames, now: dt.datetime | None = None) -> Snapshot:
    """Read the pool, queues and the environment's crashed, Late and alert runs."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        pool: WorkPool | None = client.read_work_pool(POOL)
        queues = client.read_work_queues(work_pool_name=POOL)
        beats = [w.last_heartbeat_time for w in client.read_workers_for_work_pool(POOL) if w.last_heartbeat_time]
    except ObjectNotFound:
        pool, queues, beats = None, [], []
    try:
        alert_id: UUID | None = client.read_deployment_by_name(names.alert_deployment).id
    except ObjectNotFound:
        alert_id = None
    tagged = FlowRunFilterTags(all_=[names.tag])
    crashed = _runs(client, FlowRunFilter(tags=tagged, state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.CRASHED]))))
    late_state = FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"]))
    late = _runs(client, FlowRunFilter(tags=tagged, state=late_state))
    alert_runs: list[FlowRun] = []
    if alert_id is not None:
        late += _runs(client, FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[alert_id]),
                                            state=late_state))
        alert_runs = _runs(client, FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[alert_id]),
            # Prefect types the bound as its own DateTime; pydantic validates a stdlib datetime into one.
            expected_start_time=FlowRunFilterExpectedStartTime(after_=now - LOOKBACK)))  # type: ignore[arg-type]
    flow_ids = {r.flow_id for r in crashed + late + alert_runs}
    flows = client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=list(flow_ids)))) if flow_ids else []
    rerun = {r.id for r in crashed if now - _state_time(r) <= LOOKBACK
             and any(s.message == RERUN_MARKER for s in client.read_flow_run_states(r.id))}
    return Snapshot(now, pool, queues, max(beats, default=None), crashed, late, alert_runs,
                    {f.id: f.name for f in flows}, rerun, alert_id is not None)


# ------------------------------------------------------------------------------------------------- email and state
def watchdog_email(new: list[Finding], recovered: list[str], still_open: list[str]) -> Email:
    """One email for one check: the new problems first, then what recovered, then what is still open."""
    if new:
        subject = f"watchdog: {new[0].subject}" + (f" (+{len(new) - 1} more)" if len(new) > 1 else "")
    else:
        subject = f"watchdog: recovered: {recovered[0]}" + (f" (+{len(recovered) - 1} more)" if len(recovered) > 1
                                                            else "")
    return render("watchdog", subject, {"new": new, "recovered": recovered, "still_open": still_open})


@dataclass
class WatchdogState:
    """What was emailed already: problem key -> its one-line subject (kept while the problem lasts)."""

    reported: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        kept = dict(self.reported)
        while kept and len(str(kept)) > STATE_LIMIT:  # a Variable holds 5,000 characters: the oldest go first
            kept.pop(next(iter(kept)))
        return {"reported": kept}

    @classmethod
    def from_json(cls, value: object) -> WatchdogState:
        reported = value.get("reported") if isinstance(value, dict) else None
        return cls(dict(reported) if isinstance(reported, dict) else {})


def diff(
    state: WatchdogState, current: Iterable[Finding]
) -> tuple[list[Finding], list[str], list[str], dict[str, str]]:
    """(new problems, recovered conditions, problems still open, the next state) for the current findings.

    A run's problem (crashed, Late, alert failed) just leaves the state when it is over (re-run, started);
    a condition's end (pool ready again, API back) is emailed.
    """
    now = {f.key: f for f in current}
    new = [f for key, f in now.items() if key not in state.reported]
    recovered = [subject for key, subject in state.reported.items()
                 if key not in now and key.startswith(CONDITION_KEYS)]
    still_open = [subject for key, subject in state.reported.items() if key in now]
    return new, recovered, still_open, {key: state.reported.get(key, f.subject) for key, f in now.items()}


class Watchdog:
    """One environment's watchdog: `check()` once, or `run()` for ever."""

    def __init__(self, names: EnvNames, email: DataWizEmail, settings: WatchdogSettings,
                 send: Callable[[Email, DataWizEmail], str] = deliver) -> None:
        self.names, self.email, self.settings, self.send = names, email, settings, send
        self.variable = names.block("watchdog")
        self.state = WatchdogState()
        self.state_loaded = False
        self.api_down_since: float | None = None

    def check(self) -> list[Finding]:
        """Look once; email what is new or recovered. Returns the problems found (empty: all well)."""
        grace = dt.timedelta(seconds=self.settings.grace)
        try:
            if not self.state_loaded:  # what an earlier watchdog process emailed already
                saved = WatchdogState.from_json(Variable.get(self.variable))
                self.state = WatchdogState({**saved.reported, **self.state.reported})
                self.state_loaded = True
            with get_client(sync_client=True) as client:
                snap = read_snapshot(client, self.names)
            current = findings(snap, grace, self.email, self.state.reported.keys())
            self.api_down_since = None
        except Exception as exc:  # the API is down or answers errors: nothing can be read
            current = self._api_down(exc)
        new, recovered, still_open, reported = diff(self.state, current)
        if new or recovered:
            for f in new:
                logger.warning("new problem: %s", f.subject)
            for subject in recovered:
                logger.info("recovered: %s", subject)
            try:
                self.send(watchdog_email(new, recovered, still_open), self.email)
            except Exception as exc:  # nothing is marked reported: the next check tries again
                logger.error("watchdog email not sent: %s", describe_error(exc))
                return current
        if reported != self.state.reported:
            self.state.reported = reported
            self._save_state()
        return current

    def _api_down(self, exc: Exception) -> list[Finding]:
        """The problems while the API cannot be read: those already reported stay open; after the grace,
        the outage itself (the email block was loaded at start, so it can still be sent)."""
        logger.error("cannot read the Prefect API: %s", describe_error(exc))
        now = time.monotonic()
        self.api_down_since = self.api_down_since or now
        current = [Finding(key, subject, "") for key, subject in self.state.reported.items() if key != API_KEY]
        if API_KEY in self.state.reported or now - self.api_down_since >= self.settings.grace:
            current.append(Finding(
                API_KEY, "Prefect API unreachable",
                f"The watchdog has not been able to read the Prefect API for {now - self.api_down_since:.0f} s: "
                f"{describe_error(exc)}. While the server is down no schedule, automation or alert works; "
                "restart it (systemctl restart prefect-server) and look at its log."))
        return current

    def _save_state(self) -> None:
        if not self.state_loaded:
            return  # never overwrite what an earlier process saved before it was read
        try:
            Variable.set(self.variable, self.state.to_json(), overwrite=True)
        except Exception as exc:  # kept in memory; only a restart of the watchdog could repeat an email
            logger.warning("watchdog state not saved: %s", describe_error(exc))

    def run(self) -> None:
        """Check every `interval` seconds, for ever (stop it with SIGTERM or Ctrl-C)."""
        logger.info("watching environment %s every %g s (grace %g s)", self.names.env, self.settings.interval,
                    self.settings.grace)
        previous: list[str] | None = None
        while True:
            started = time.monotonic()
            problems = sorted(f.subject for f in self.check())
            if problems != previous:
                logger.info("open problems: %s", "; ".join(problems) or "none")
                previous = problems
            time.sleep(max(0.0, self.settings.interval - (time.monotonic() - started)))

"""The watchdog's rules, memory and email, on snapshots built by hand (no server).

tests/integration/test_deployments_e2e.py runs the real thing: a real server, a killed worker, the
emails arriving at a real SMTP server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import uuid
from typing import Any

from prefect.client.schemas.objects import FlowRun, State, StateDetails, StateType, WorkPool, WorkQueue

from deployments.settings import EnvNames
from tasks.notify import build_message
from tasks.watchdog import (
    Finding,
    Snapshot,
    Watchdog,
    WatchdogSettings,
    WatchdogState,
    alert_path_down,
    diff,
    findings,
    watchdog_email,
)
from tests.unit.test_emails import SECRET, bodies, settings

NOW = dt.datetime(2025, 11, 21, 3, 0, tzinfo=dt.UTC)  # 08:30 IST
GRACE = dt.timedelta(seconds=180)
MORNING, ALERT = uuid.uuid4(), uuid.uuid4()
POOL_ID = uuid.uuid4()


def pool(status: str = "READY", paused: bool = False) -> WorkPool:
    return WorkPool(name="datawiz", type="process", status=status, is_paused=paused)  # type: ignore[arg-type]


def queue(name: str, status: str = "READY") -> WorkQueue:
    return WorkQueue(id=uuid.uuid4(), name=name, work_pool_id=POOL_ID, status=status)  # type: ignore[arg-type]


def run(flow: uuid.UUID, state: StateType, name: str, ago_s: float, **kw: Any) -> FlowRun:
    at = NOW - dt.timedelta(seconds=ago_s)
    details = StateDetails(scheduled_time=at) if state is StateType.SCHEDULED else StateDetails()
    return FlowRun(id=uuid.uuid4(), name=kw.pop("run_name", "brave-fox"), flow_id=flow, parameters=kw,
                   state=State(type=state, name=name, timestamp=at, message=f"{name} message", state_details=details))


def snapshot(*, pool_status: str = "READY", crashed: list[FlowRun] | None = None, late: list[FlowRun] | None = None,
             alerts: list[FlowRun] | None = None, queues: tuple[str, ...] = ("default", "alerts")) -> Snapshot:
    return Snapshot(NOW, pool(pool_status), [queue(q) for q in queues], NOW - dt.timedelta(minutes=4),
                    crashed or [], late or [], alerts or [], {MORNING: "morning", ALERT: "alert"})


def subjects(found: list[Finding]) -> list[str]:
    return [f.subject for f in found]


def test_all_well_is_silent() -> None:
    assert findings(snapshot(), GRACE) == []


def test_no_worker_a_crashed_run_is_reported_at_once_naming_it() -> None:
    crashed = run(MORNING, StateType.CRASHED, "Crashed", ago_s=10, business_date="2025-11-20")
    found = findings(snapshot(pool_status="NOT_READY", crashed=[crashed]), GRACE)
    assert subjects(found) == ["work pool datawiz not ready", "morning run brave-fox Crashed — no worker"]
    detail = found[1].detail
    assert "morning run brave-fox (business date 2025-11-20)" in detail and "Crashed message" in detail
    assert "work pool datawiz is not ready" in detail and "re-runs it once" in detail
    assert "last worker heartbeat 2025-11-21 08:26 IST" in found[0].detail


def test_with_a_worker_a_crash_waits_for_the_alert_flow_and_is_reported_only_if_unhandled() -> None:
    fresh = run(MORNING, StateType.CRASHED, "Crashed", ago_s=60)
    assert findings(snapshot(crashed=[fresh]), GRACE) == []  # the crash-rerun automation has time
    old = run(MORNING, StateType.CRASHED, "Crashed", ago_s=600)
    assert subjects(findings(snapshot(crashed=[old]), GRACE)) == ["morning run brave-fox Crashed — not handled"]
    emailed = run(ALERT, StateType.COMPLETED, "Completed", ago_s=500, flow_run_id=str(old.id))
    assert findings(snapshot(crashed=[old], alerts=[emailed]), GRACE) == []  # "crashed again" was emailed
    # reported while no worker was alive, then a worker came back within the grace: still the same problem
    key = findings(snapshot(pool_status="NOT_READY", crashed=[fresh]), GRACE)[1].key
    assert [f.key for f in findings(snapshot(crashed=[fresh]), GRACE, reported={key})] == [key]
    day_old = run(MORNING, StateType.CRASHED, "Crashed", ago_s=2 * 86400)
    assert findings(snapshot(crashed=[day_old]), GRACE) == []  # older than the look-back


def test_late_runs_after_the_grace_and_failed_alert_runs() -> None:
    late = [run(MORNING, StateType.SCHEDULED, "Late", ago_s=600, run_name="slow-owl"),
            run(MORNING, StateType.SCHEDULED, "Late", ago_s=30, run_name="just-late")]
    failed = run(ALERT, StateType.FAILED, "Failed", ago_s=20, run_name="sad-cat", flow_run_id="1234")
    found = findings(snapshot(late=late, alerts=[failed]), GRACE)
    assert subjects(found) == ["morning run slow-owl Late", "alert run sad-cat Failed"]
    assert "has not started" in found[0].detail
    assert "about flow run 1234" in found[1].detail and "flow_run_id=1234" in found[1].detail


def test_a_paused_or_unpolled_queue_and_the_alert_path() -> None:
    snap = snapshot(queues=("default",))  # the alerts queue has never been polled: it does not exist yet
    assert subjects(findings(snap, GRACE)) == ["work queue alerts missing"]
    assert alert_path_down(snap) == "work queue alerts is missing"
    paused = Snapshot(NOW, pool(paused=True), [], None, [], [], [])
    assert subjects(findings(paused, GRACE)) == ["work pool datawiz paused"]
    assert alert_path_down(snapshot()) is None


def test_each_problem_is_emailed_once_and_a_condition_again_when_it_ends() -> None:
    state = WatchdogState()
    down = Finding("pool:NOT_READY", "work pool datawiz not ready", "x")
    crash = Finding("crashed:1", "morning run brave-fox Crashed — no worker", "y")
    new, recovered, still, state.reported = diff(state, [down, crash])
    assert (new, recovered, still) == ([down, crash], [], [])
    new, recovered, still, state.reported = diff(state, [down, crash])  # the next check: nothing new
    assert (new, recovered) == ([], [])
    new, recovered, still, state.reported = diff(state, [])  # worker back, run re-run
    assert (new, recovered) == ([], ["work pool datawiz not ready"]) and state.reported == {}
    assert WatchdogState.from_json(WatchdogState({"a": "b"}).to_json()).reported == {"a": "b"}
    big = WatchdogState({f"late:{uuid.uuid4()}": "x" * 60 for _ in range(200)})
    assert len(str(big.to_json())) < 5000  # a Prefect Variable holds 5,000 characters


def test_the_email_names_the_run_and_carries_no_secret() -> None:
    crash = Finding("crashed:1", "morning run brave-fox Crashed — no worker",
                    f"morning run brave-fox crashed: password={SECRET}", "http://prefect/runs/flow-run/1")
    rendered = watchdog_email([crash, Finding("pool:NOT_READY", "work pool datawiz not ready", "z")], [], [])
    msg = email.message_from_bytes(build_message(rendered, settings()).as_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[DataWiz prod] watchdog: morning run brave-fox Crashed — no worker (+1 more)"
    text, html = bodies(msg)  # type: ignore[arg-type]
    for part in (text, html):
        assert "brave-fox" in part and "work pool datawiz not ready" in part and SECRET not in part
    assert 'href="http://prefect/runs/flow-run/1"' in html
    again = watchdog_email([], ["work pool datawiz not ready"], [])
    assert again.subject == "watchdog: recovered: work pool datawiz not ready"


def test_an_unsent_email_is_tried_again_at_the_next_check(monkeypatch: Any) -> None:
    sent: list[str] = []

    def send(message: Any, _: Any) -> str:
        if not sent:
            sent.append("refused")
            raise OSError("relay down")
        sent.append(message.subject)
        return "id"

    dog = Watchdog(EnvNames("prod"), settings(), WatchdogSettings(1, 0), send=send)
    dog.state_loaded = True
    monkeypatch.setattr("tasks.watchdog.get_client", lambda sync_client: contextlib.nullcontext())  # no server
    monkeypatch.setattr("tasks.watchdog.read_snapshot", lambda client, names: snapshot(pool_status="NOT_READY"))
    monkeypatch.setattr(Watchdog, "_save_state", lambda self: None)
    assert subjects(dog.check()) == ["work pool datawiz not ready"] and dog.state.reported == {}
    dog.check()
    assert sent == ["refused", "watchdog: work pool datawiz not ready"] and "pool:NOT_READY" in dog.state.reported

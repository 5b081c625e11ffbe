"""etl_run_log: one row per pipeline run (the morning flow waits on the evening's row); business dates, run names.

A run writes `running` when it starts and `completed` or `failed` when it ends. A run whose process died
(machine lost, SIGKILL) never writes its end: Prefect's state (Crashed, set by the worker or by the zombie
automation) is then the truth, and `reconcile_run_log` copies it into the row.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable

from prefect import get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType

from blocks.warehouse.base import Warehouse
from datawiz.core.errors import TerminalError
from datawiz.core.redact import redact

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")


def current_run_id() -> str:
    """The Prefect flow run id, or a local id when called outside a flow."""
    return str(runtime.flow_run.id or f"local-{uuid.uuid4()}")


def today_ist() -> dt.date:
    return dt.datetime.now(IST).date()


# The default business date of a flow, in days after the IST date of the run's scheduled start: the
# evening run (18:00) syncs its own day, the morning run (08:00) loads the facts of the day before, the
# daily summary (20:00) reports its own day. Flows not listed use their own day.
DEFAULT_DAY_OFFSET = {"evening": 0, "morning": -1, "daily-report": 0}


def scheduled_start() -> dt.datetime:
    """When this flow run was *scheduled* to start, in IST (outside a flow run: now).

    Prefect's `runtime.flow_run.scheduled_start_time` is the run's `expected_start_time`. The server sets
    it once, from the run's first state (`SetExpectedStartTime` in prefect/server/orchestration/
    global_policy.py): a scheduled deployment run keeps its slot — 08:00 yesterday stays 08:00 yesterday
    when a worker picks the run up today, and through flow retries and the crash re-run (both go back to
    Scheduled on the same run); a run started by hand or from the CLI gets the time it was created.
    """
    return runtime.flow_run.scheduled_start_time.astimezone(IST)


def business_day(flow: str, given: dt.date | str | None = None, scheduled: dt.datetime | None = None) -> dt.date:
    """The business date of a run of `flow`: `given`, else the flow's default for its scheduled start (IST).

    Never the wall clock: a run scheduled before midnight and started after it (a late worker, a retry,
    a re-run) loads the day it was scheduled for.
    """
    if isinstance(given, dt.datetime):
        return given.astimezone(IST).date()
    if isinstance(given, dt.date):
        return given
    if given:
        return dt.date.fromisoformat(str(given))
    start = (scheduled or scheduled_start()).astimezone(IST)
    return start.date() + dt.timedelta(days=DEFAULT_DAY_OFFSET.get(flow, 0))


def run_name(flow: str, with_time: bool = False) -> Callable[[], str]:
    """A `flow_run_name` for `@flow`: `morning 2025-11-20`, the flow and its business date (`with_time`:
    `health 2025-11-20 10:30`, the scheduled start in IST) instead of a generated `crafty-fox`.

    Prefect's `flow_run_name` is "a string template with the flow's parameters as variables, or a function
    that returns a string" (API reference of `prefect.flows.flow`); a template cannot compute a default, so
    this is a function. Prefect calls it with no arguments inside the run's context, before the flow
    function runs (`resolve_custom_flow_run_name` in prefect/_internal/engine.py), where
    `runtime.flow_run.parameters` holds "the parameter values explicitly passed for the run" (reference of
    `prefect.runtime.flow_run`): a deployment run's `business_date` as its JSON string, or nothing.
    """

    def name() -> str:
        if with_time:
            return f"{flow} {scheduled_start():%Y-%m-%d %H:%M}"
        return f"{flow} {business_day(flow, runtime.flow_run.parameters.get('business_date'))}"

    name.__name__ = f"{flow.replace('-', '_')}_run_name"
    return name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@task(name="run-log-start", cache_policy=NO_CACHE)
def start_run(warehouse: Warehouse, run_id: str, flow: str, business_date: dt.date) -> None:
    """Record that a run started (a retry of the same flow run reuses its row)."""
    warehouse.run_log_start(run_id, flow, business_date, _now())


@task(name="run-log-finish", cache_policy=NO_CACHE)
def finish_run(warehouse: Warehouse, run_id: str, status: str, message: str | None = None) -> None:
    """Record how a run ended: completed or failed."""
    warehouse.run_log_finish(run_id, status, _now(), message)


@task(name="wait-for-evening", cache_policy=NO_CACHE)
def wait_for_evening(
    warehouse: Warehouse, business_date: dt.date, max_wait_s: float = 7200, poll_s: float = 60
) -> dt.date:
    """Block until an evening run for `business_date` (or a later date) completed; fail after max_wait_s.

    A later evening also counts: its dimensions are at least as new as the ones this morning needs.
    """
    logger = get_run_logger()
    deadline = time.monotonic() + max_wait_s
    while True:
        done = warehouse.run_log_completed("evening", business_date)
        if done is not None:
            return done
        if time.monotonic() >= deadline:
            raise TerminalError(
                f"the evening run for {business_date} is missing: no completed evening run in etl_run_log "
                f"after waiting {max_wait_s / 60:g} minutes"
            )
        logger.info("waiting for the evening run of %s (use --skip-wait for local debugging)", business_date)
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))


# Final Prefect states a run log row can still say `running` in (a Completed run wrote its own row), by the
# state's name: TimedOut is a Failed state of its own name.
FINAL_STATUS = {"Crashed": "crashed", "Cancelled": "cancelled", "TimedOut": "timed out", "Failed": "failed"}
_FINAL_TYPES = (StateType.CRASHED, StateType.CANCELLED, StateType.FAILED)


def reconcile_run_log(warehouse: Warehouse) -> list[tuple[str, str]]:
    """Set the rows still `running` whose Prefect run has ended (crashed, cancelled, failed) to that end.

    Returns (run_id, status) of the rows changed. Only a row still as read is changed (same `started_at`):
    a re-run of the same flow run that started meanwhile rewrote the row and keeps it. Rows of runs this
    Prefect server does not know (local runs, another server) are left alone.
    """
    started = {}
    for run_id, started_at in warehouse.run_log_running().items():
        try:
            started[uuid.UUID(run_id)] = started_at
        except ValueError:  # `local-...`: a run without a Prefect server behind it
            continue
    if not started:
        return []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(started))))
    changed = []
    for run in runs:
        state = run.state
        if state is None or state.type not in _FINAL_TYPES:
            continue  # still running, or scheduled again (a crash re-run): the row stays `running`
        status = FINAL_STATUS.get(state.name or "", state.type.value.lower())
        ended = state.timestamp.astimezone(dt.UTC).replace(tzinfo=None)
        message = redact(f"{state.name} in Prefect: {state.message or '(no message)'}")[:1000]
        warehouse.run_log_end_running(str(run.id), started[run.id], status, ended, message)
        changed.append((str(run.id), status))
    return changed

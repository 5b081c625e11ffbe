"""etl_run_log: one row per pipeline run (the morning flow waits on the evening's row)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from prefect import get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE

from blocks.warehouse.base import Warehouse
from tasks.errors import TerminalError

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")


def current_run_id() -> str:
    """The Prefect flow run id, or a local id when called outside a flow."""
    return str(runtime.flow_run.id or f"local-{uuid.uuid4()}")


def today_ist() -> dt.date:
    return dt.datetime.now(IST).date()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@task(name="run-log-start", cache_policy=NO_CACHE)
def start_run(warehouse: Warehouse, run_id: str, flow: str, business_date: dt.date) -> None:
    """Record that a run started (a retry of the same flow run reuses its row)."""
    warehouse.execute("DELETE FROM etl_run_log WHERE run_id = :r", {"r": run_id})
    warehouse.execute(
        "INSERT INTO etl_run_log (run_id, flow, business_date, status, started_at) "
        "VALUES (:r, :f, :d, 'running', :t)",
        {"r": run_id, "f": flow, "d": business_date, "t": _now()},
    )


@task(name="run-log-finish", cache_policy=NO_CACHE)
def finish_run(warehouse: Warehouse, run_id: str, status: str, message: str | None = None) -> None:
    """Record how a run ended: completed or failed."""
    warehouse.execute(
        "UPDATE etl_run_log SET status = :s, finished_at = :t, message = :m WHERE run_id = :r",
        {"s": status, "t": _now(), "m": message, "r": run_id},
    )


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
        done = warehouse.query(
            "SELECT max(business_date) AS d FROM etl_run_log "
            "WHERE flow = 'evening' AND status = 'completed' AND business_date >= :d",
            {"d": business_date},
        )["d"][0].as_py()
        if done is not None:
            return done
        if time.monotonic() >= deadline:
            raise TerminalError(
                f"the evening run for {business_date} is missing: no completed evening run in etl_run_log "
                f"after waiting {max_wait_s / 60:g} minutes"
            )
        logger.info("waiting for the evening run of %s (use --skip-wait for local debugging)", business_date)
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

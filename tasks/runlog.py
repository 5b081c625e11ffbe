"""etl_run_log: one row per pipeline run (the morning flow waits on the evening's row)."""

from __future__ import annotations

import datetime as dt
import uuid

from prefect import runtime, task
from prefect.cache_policies import NO_CACHE

from blocks.warehouse.base import Warehouse

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

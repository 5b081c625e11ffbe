"""The morning run waits for that day's evening run, and fails with a clear message when there is none."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from blocks.warehouse import resolve_warehouse
from flows.evening import evening
from flows.morning import morning
from tests.e2e import business_fixture as fx

pytestmark = pytest.mark.integration
DAY = dt.date(2025, 11, 20)


def landing_with_data(workdir: Path) -> Path:
    landing = workdir / "landing"
    fx.write_dimensions(landing)
    fx.write_facts(landing)
    return landing


def test_without_an_evening_run_the_morning_fails_after_the_wait(workdir: Path, prefect_server: None) -> None:
    landing = landing_with_data(workdir)
    url = f"duckdb:///{workdir / 'wh.duckdb'}"
    started = time.monotonic()
    with pytest.raises(Exception, match=f"the evening run for {DAY} is missing"):
        morning(business_date=DAY, source=str(landing), warehouse=url, max_wait_minutes=0.05)
    assert 2.5 <= time.monotonic() - started < 60
    wh = resolve_warehouse(url)
    try:
        runs = wh.query("SELECT flow, status, message FROM etl_run_log").to_pylist()
        loaded = wh.query("SELECT count(*) AS n FROM fact_secondary_sales").to_pylist()[0]["n"]
    finally:
        wh.close()
    assert runs[0]["status"] == "failed" and "evening run" in runs[0]["message"]
    assert loaded == 0  # it did not load before the dimensions were there


def test_morning_started_first_proceeds_when_the_evening_completes(workdir: Path, prefect_server: None) -> None:
    landing = landing_with_data(workdir)
    url = f"duckdb:///{workdir / 'wh.duckdb'}"
    result: dict[str, object] = {}

    def run_morning() -> None:
        result["summary"] = morning(business_date=DAY, source=str(landing), warehouse=url, max_wait_minutes=3)

    # Start the morning first (it polls every 9 s with a 3-minute wait) and finish the evening meanwhile.
    waiter = threading.Thread(target=run_morning)
    waiter.start()
    time.sleep(3)
    assert waiter.is_alive()  # still waiting: no evening yet
    evening(business_date=DAY, source=str(landing), warehouse=url)
    waiter.join(timeout=150)
    assert not waiter.is_alive()
    summary = result["summary"]
    assert [f.status for f in summary.files] == ["loaded", "loaded"]  # type: ignore[attr-defined]


def test_skip_wait_runs_at_once(workdir: Path, prefect_server: None) -> None:
    landing = landing_with_data(workdir)
    url = f"duckdb:///{workdir / 'wh.duckdb'}"
    summary = morning(business_date=DAY, source=str(landing), warehouse=url, skip_wait=True, steps=["fis", "fid"])
    assert summary.steps == ["fis", "fid"] and len(summary.files) == 2
    # DD without the evening's business constants would be wrong numbers: it refuses, loudly.
    with pytest.raises(Exception, match="business_constants lacks .* run the evening flow first"):
        morning(business_date=DAY, source=str(landing), warehouse=url, skip_wait=True, steps=["dd"])

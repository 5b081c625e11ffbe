"""Two runs rebuilding the same SQL file's rows take turns (MySQL/MariaDB GET_LOCK); different files do not wait."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from blocks.warehouse import mysql as mysql_backend
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.mysql import LockTimeout, lock_name
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
DAYS = {"start": dt.date(2025, 11, 1), "end": dt.date(2025, 11, 30)}


def _run_in_thread(url: str, name: str, params: dict[str, object]) -> tuple[threading.Thread, list[BaseException]]:
    """run_sql_file in another thread (its own block and session); its error, if any, in the list."""
    errors: list[BaseException] = []

    def run() -> None:
        wh = resolve_warehouse(url)
        try:
            wh.run_sql_file(name, params)
        except BaseException as exc:  # noqa: BLE001  (handed to the test)
            errors.append(exc)
        finally:
            wh.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture
def holder(mysql_url: str) -> Iterator[Any]:  # noqa: F811
    """A migrated warehouse standing for another run (its own session)."""
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    yield wh
    wh.close()


def _rebuild_while_held(holder: Any, url: str, lock: str, wait: float) -> tuple[bool, list[BaseException]]:
    """Hold `lock` as another run would and start a dim_date rebuild meanwhile: (was it still waiting after
    `wait` s, its errors once the lock is released)."""
    with holder._named_lock(lock):
        thread, errors = _run_in_thread(url, "dim_date", DAYS)
        thread.join(timeout=wait)
        waiting = thread.is_alive()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return waiting, errors


def test_a_sql_file_waits_while_another_run_rebuilds_it(holder: Any, mysql_url: str) -> None:  # noqa: F811
    waiting, errors = _rebuild_while_held(holder, mysql_url, "sql_dim_date", 1.5)
    assert waiting and errors == []  # it waited for the lock instead of rebuilding alongside, then ran
    assert holder.query("SELECT count(*) AS n FROM dim_date")["n"][0].as_py() >= 30


def test_a_different_sql_file_does_not_wait(holder: Any, mysql_url: str) -> None:  # noqa: F811
    waiting, errors = _rebuild_while_held(holder, mysql_url, "sql_rpt_sales_daily", 30)
    assert not waiting and errors == []


def test_a_lock_held_too_long_is_a_transient_error(
    holder: Any, mysql_url: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setattr(mysql_backend, "LOCK_WAIT_SECONDS", 1)
    waiting, errors = _rebuild_while_held(holder, mysql_url, "sql_dim_date", 30)
    assert not waiting and len(errors) == 1 and isinstance(errors[0], LockTimeout)  # transient: the task retries
    assert "'sql_dim_date'" in str(errors[0])


def test_lock_names_fit_mysqls_64_characters() -> None:
    assert lock_name("migrate", "sales") == "datawiz_migrate_sales"
    long = lock_name("sql_rpt_sales_daily", "d" * 64)
    assert len(long) <= 64 and long != lock_name("sql_dd_month", "d" * 64)

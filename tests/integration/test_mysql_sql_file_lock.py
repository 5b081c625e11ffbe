"""Two runs rebuilding the same SQL file's rows take turns (MySQL/MariaDB GET_LOCK); different files do not wait."""

from __future__ import annotations

import datetime as dt
import threading

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


def test_a_sql_file_waits_while_another_run_rebuilds_it(mysql_url: str) -> None:  # noqa: F811
    holder = resolve_warehouse(mysql_url)
    holder.migrate()
    try:
        with holder._named_lock("sql_dim_date"):  # another run, inside its dim_date rebuild
            thread, errors = _run_in_thread(mysql_url, "dim_date", DAYS)
            thread.join(timeout=1.5)
            assert thread.is_alive()  # waiting for the lock, not rebuilding alongside
        thread.join(timeout=30)
        assert not thread.is_alive() and errors == []
        assert holder.query("SELECT count(*) AS n FROM dim_date")["n"][0].as_py() >= 30
    finally:
        holder.close()


def test_a_different_sql_file_does_not_wait(mysql_url: str) -> None:  # noqa: F811
    holder = resolve_warehouse(mysql_url)
    holder.migrate()
    try:
        with holder._named_lock("sql_rpt_sales_daily"):
            thread, errors = _run_in_thread(mysql_url, "dim_date", DAYS)
            thread.join(timeout=30)
            assert not thread.is_alive() and errors == []
    finally:
        holder.close()


def test_a_lock_held_too_long_is_a_transient_error(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(mysql_backend, "LOCK_WAIT_SECONDS", 1)
    holder = resolve_warehouse(mysql_url)
    holder.migrate()
    try:
        with holder._named_lock("sql_dim_date"):
            thread, errors = _run_in_thread(mysql_url, "dim_date", DAYS)
            thread.join(timeout=30)
        assert len(errors) == 1 and isinstance(errors[0], LockTimeout)  # a TransientError: the task retries
        assert "'sql_dim_date'" in str(errors[0])
    finally:
        holder.close()


def test_lock_names_fit_mysqls_64_characters() -> None:
    assert lock_name("migrate", "sales") == "datawiz_migrate_sales"
    long = lock_name("sql_rpt_sales_daily", "d" * 64)
    assert len(long) <= 64 and long != lock_name("sql_dd_month", "d" * 64)

"""Which database errors are retried: the split the fault tests rely on (fast; runs in `make test` too).

pymysql raises OperationalError for every server code it does not map, so before this split a
read-only server, a full table or a wrong password were retried like a lost connection.
"""

from __future__ import annotations

import pymysql
import pytest

from tasks.errors import TRANSIENT_MYSQL_CODES, is_transient


@pytest.mark.parametrize(("code", "what"), [
    (2003, "cannot connect"), (2006, "server has gone away"), (2013, "lost connection mid-query"),
    (1927, "connection killed"), (4031, "idle connection closed"), (1053, "server shutting down"),
    (1205, "lock wait timeout"), (1213, "deadlock"), (1040, "too many connections"),
])
def test_connection_and_lock_errors_are_retried(code: int, what: str) -> None:
    assert is_transient(pymysql.err.OperationalError(code, what))
    assert code in TRANSIENT_MYSQL_CODES


@pytest.mark.parametrize(("code", "what"), [
    (1290, "running with the --read-only option"), (1114, "the table is full"), (1021, "disk full"),
    (1045, "access denied"), (1049, "unknown database"), (1142, "command denied"),
])
def test_errors_a_retry_cannot_fix_are_terminal(code: int, what: str) -> None:
    assert not is_transient(pymysql.err.OperationalError(code, what))


def test_other_driver_errors_keep_their_class() -> None:
    assert is_transient(pymysql.err.InterfaceError(0, ""))  # a closed connection
    assert not is_transient(pymysql.err.ProgrammingError(1064, "syntax"))
    assert is_transient(ConnectionResetError("reset by peer"))

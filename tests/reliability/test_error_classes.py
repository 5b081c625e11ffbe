"""Which database errors are retried: the split the fault tests rely on (fast; runs in `make test` too).

pymysql raises OperationalError for every server code it does not map, so before this split a
read-only server, a full table or a wrong password were retried like a lost connection.
"""

from __future__ import annotations

import pymysql
import pytest

from datawiz.core.errors import TRANSIENT_MYSQL_CODES, is_transient


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


def test_azure_in_request_retries_wait_b_4b_16b(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented schedule (blocks/azure.py), measured on a real client against a closed port.

    The SDK counts a retry before it sleeps, so the first wait used to be 4b (8 s, 32 s, 128 s with
    the default b = 2 instead of 2, 8, 32): an outage held a download for almost three minutes.
    """
    from azure.core.exceptions import ServiceRequestError
    from azure.storage.blob import ContainerClient

    from blocks import azure
    from tests.integration.azurite import azurite_connection_string, free_port

    monkeypatch.setenv(azure.ENV_RETRY_BACKOFF, "0.01")
    monkeypatch.setenv(azure.ENV_RETRIES, "3")
    waits: list[float] = []
    original = azure._Backoff.get_backoff_time

    def recorded(self: azure._Backoff, settings: dict) -> float:
        waits.append(original(self, settings))
        return waits[-1]

    monkeypatch.setattr(azure._Backoff, "get_backoff_time", recorded)
    client = ContainerClient.from_connection_string(azurite_connection_string(free_port()), "landing",
                                                    **azure._client_options())
    with pytest.raises(ServiceRequestError):
        list(client.list_blobs())
    assert len(waits) == 3
    for wait, expected in zip(waits, (0.01, 0.04, 0.16), strict=True):
        assert 0.75 * expected <= wait <= 1.25 * expected, waits

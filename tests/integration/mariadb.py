"""MariaDB fixtures for integration tests: a real server on 127.0.0.1:3306 (started, or installed, when absent).

Each test gets its own database with a random name, dropped afterwards, so tests never see each
other's rows and can run against a server other engineers use too. Starting the server is shared
with `make bench` (tests/integration/services.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymysql
import pytest

from tests.integration.services import HOST, PORT, USER, ServiceError, ServiceUnavailable, ensure_mariadb
from tests.integration.services import mariadb_connect as _connect

__all__ = ["HOST", "PORT", "USER", "admin_connection", "mariadb", "mysql_url"]


@pytest.fixture(scope="session")
def mariadb() -> None:
    """Make sure a MariaDB answers on 127.0.0.1:3306 with root and LOAD DATA LOCAL allowed."""
    try:
        ensure_mariadb()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    except ServiceError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def mysql_url(mariadb: None) -> Iterator[str]:
    """A fresh, empty database for one test; its mysql:// URL (dropped afterwards)."""
    name = f"dw_test_{uuid.uuid4().hex[:12]}"
    conn = _connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql://{USER}@{HOST}:{PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


@pytest.fixture
def admin_connection(mariadb: None) -> Iterator[pymysql.connections.Connection]:
    """A second, independent connection (e.g. to KILL a loading one)."""
    conn = _connect()
    yield conn
    conn.close()

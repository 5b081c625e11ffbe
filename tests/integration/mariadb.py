"""MariaDB fixtures for integration tests: a real server on 127.0.0.1:3306 (started, or installed, when absent).

Each test gets its own database with a random name, dropped afterwards, so tests never see each
other's rows and can run against a server other engineers use too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pymysql
import pytest

HOST, PORT, USER = "127.0.0.1", 3306, "root"
MARIADBD = "/usr/sbin/mariadbd"


def _port_open(host: str = HOST, port: int = PORT) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _connect(database: str | None = None) -> pymysql.connections.Connection:
    password = os.environ.get("DB_PASSWORD", "")
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=password, database=database,
                           autocommit=True, local_infile=True, connect_timeout=5)


def _start_mariadb() -> None:
    """Start (installing first if needed) a local MariaDB and let root in over TCP without a password."""
    if not os.path.exists(MARIADBD):
        if shutil.which("apt-get") is None:
            pytest.skip("MariaDB is not running on 127.0.0.1:3306 and cannot be installed here")
        subprocess.run(["apt-get", "install", "-y", "-q", "mariadb-server"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    os.makedirs("/run/mysqld", exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADBD,
                    "--", "--user=mysql", "--local-infile=1"], check=True)
    deadline = time.monotonic() + 60
    while not _port_open():
        if time.monotonic() > deadline:
            pytest.fail("MariaDB did not start listening on 127.0.0.1:3306 within 60 s")
        time.sleep(0.5)
    time.sleep(0.5)


def _grant_root_over_tcp() -> None:
    # A fresh Debian install lets root in only over the unix socket; the tests connect over TCP.
    sql = ("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; "
           "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; "
           "SET GLOBAL local_infile = 1; FLUSH PRIVILEGES;")
    subprocess.run(["mariadb", "-uroot", "-e", sql], check=True, capture_output=True)


@pytest.fixture(scope="session")
def mariadb() -> None:
    """Make sure a MariaDB answers on 127.0.0.1:3306 with root and LOAD DATA LOCAL allowed."""
    if not _port_open():
        _start_mariadb()
    try:
        conn = _connect()
    except pymysql.err.OperationalError:
        _grant_root_over_tcp()
        conn = _connect()
    with conn.cursor() as cur:
        cur.execute("SELECT @@local_infile")
        if not cur.fetchone()[0]:
            cur.execute("SET GLOBAL local_infile = 1")
    conn.close()


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

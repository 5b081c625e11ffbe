"""The real services the integration tests and the benchmarks run against: MariaDB and Azurite.

Plain functions (no pytest) so `make bench` starts them exactly like the test fixtures do
(tests/integration/mariadb.py and azurite.py wrap these and turn failures into skip/fail).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql

REPO = Path(__file__).resolve().parents[2]

HOST, PORT, USER = "127.0.0.1", 3306, "root"
MARIADBD = "/usr/sbin/mariadbd"

# Azurite's published development account (the same key in every Azurite install; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_DIR = REPO / ".tools" / "azurite"


class ServiceError(RuntimeError):
    """A service could not be started or reached (tests fail, benchmarks stop)."""


class ServiceUnavailable(ServiceError):
    """The service is absent and cannot be installed on this machine (tests skip)."""


# ------------------------------------------------------------------ MariaDB


def port_open(host: str = HOST, port: int = PORT) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def mariadb_connect(database: str | None = None) -> pymysql.connections.Connection:
    """An autocommit root connection to the local MariaDB (LOAD DATA LOCAL allowed)."""
    password = os.environ.get("DB_PASSWORD", "")
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=password, database=database,
                           autocommit=True, local_infile=True, connect_timeout=5)


def start_mariadb() -> None:
    """Start (installing first if needed) a local MariaDB listening on 127.0.0.1:3306."""
    if not os.path.exists(MARIADBD):
        if shutil.which("apt-get") is None:
            raise ServiceUnavailable("MariaDB is not running on 127.0.0.1:3306 and cannot be installed here")
        subprocess.run(["apt-get", "install", "-y", "-q", "mariadb-server"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    os.makedirs("/run/mysqld", exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADBD,
                    "--", "--user=mysql", "--local-infile=1"], check=True)
    deadline = time.monotonic() + 60
    while not port_open():
        if time.monotonic() > deadline:
            raise ServiceError("MariaDB did not start listening on 127.0.0.1:3306 within 60 s")
        time.sleep(0.5)
    time.sleep(0.5)


def grant_root_over_tcp() -> None:
    """Let root in over TCP without a password (a fresh Debian install allows only the unix socket)."""
    sql = ("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; "
           "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; "
           "SET GLOBAL local_infile = 1; FLUSH PRIVILEGES;")
    subprocess.run(["mariadb", "-uroot", "-e", sql], check=True, capture_output=True)


def ensure_mariadb() -> None:
    """Make sure a MariaDB answers on 127.0.0.1:3306 with root and LOAD DATA LOCAL allowed.

    A server that already runs is used as is (other people may depend on it): never restarted.
    """
    if not port_open():
        start_mariadb()
    try:
        conn = mariadb_connect()
    except pymysql.err.OperationalError:
        grant_root_over_tcp()
        conn = mariadb_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT @@local_infile")
        if not cur.fetchone()[0]:
            cur.execute("SET GLOBAL local_infile = 1")
    conn.close()


# ------------------------------------------------------------------ Azurite


def azurite_connection_string(port: int) -> str:
    """Connection string of the Azurite development account listening on 127.0.0.1:port."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def azurite_blob() -> Path:
    """The azurite-blob executable, installed into .tools/azurite on first use (npm registry)."""
    exe = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise ServiceError("Azurite needs Node.js and npm (apt-get install nodejs npm)")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(AZURITE_DIR), "azurite"],
            check=True, capture_output=True, timeout=600,
        )
    return exe


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"azurite-blob exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise ServiceError(f"azurite-blob did not listen on {port} within {timeout:.0f} s: {log.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate a child server; kill it if it has not exited after `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_azurite(where: Path) -> Iterator[str]:
    """A private Azurite blob service storing under `where`; yields its connection string, stops it after."""
    exe = azurite_blob()
    port = free_port()
    log = where / "azurite.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(where / "data"),
             # Without --skipApiVersionCheck Azurite refuses the current azure-storage-blob's API version.
             "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, log)
        yield azurite_connection_string(port)
    finally:
        stop_process(proc, timeout=10)

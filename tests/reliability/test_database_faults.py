"""Issue 10, item 2: database faults on MariaDB — killed connection, server restart, lock wait timeout, read-only.

These run against a PRIVATE mariadbd (own datadir, socket and port, started by this module) because they
restart the server and change global settings; the shared :3306 server is never touched.

To fault the load itself at a known moment, a second connection holds a next-key lock over the whole
(empty) fact table (`SELECT ... FOR UPDATE`): the loader's `LOAD DATA ... REPLACE` then waits inside its
transaction, visibly in PROCESSLIST, until the test injects its fault and lets go.
Transient faults must be retried and the run complete; terminal ones must fail fast with a clear message;
after recovery the warehouse must hold exactly the generator's totals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.reliability.conftest import Tally
from tests.reliability.harness import FlowEnv, FlowProcess, Landing, PrivateMariaDB, wait_until
from tests.reliability.invariants import assert_exact

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]

LOADER_USER = "dw_loader"  # no SUPER/READ ONLY ADMIN: a read-only server refuses its writes, as in production


@pytest.fixture(scope="module")
def private_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(tmp_path_factory.mktemp("private-mariadb")).install()
    server.start()
    try:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 1")
            cur.execute(f"CREATE USER '{LOADER_USER}'@'127.0.0.1' IDENTIFIED BY ''")
        yield server
    finally:
        server.stop(crash=False)


@pytest.fixture(scope="module")
def private_template(private_db: PrivateMariaDB, landing: Landing, prefect_api: str,
                     tmp_path_factory: pytest.TempPathFactory) -> str:
    """The private server's post-evening warehouse (cloned per test)."""
    db = private_db.create_database("dw_priv_tmpl")
    FlowEnv(str(landing.root), private_db.url(db), tmp_path_factory.mktemp("priv-evening"), prefect_api).run("evening")
    return db


@pytest.fixture(params=[1], ids=["x1"])
def load_concurrency(request: pytest.FixtureRequest) -> int:
    """DATAWIZ_LOAD_CONCURRENCY of the runs: 1, unless a test parametrizes it (indirect) to run at 2 as well."""
    return int(request.param)


# The faults that hit a load in flight, once more with two files loading at once (two loader connections).
BOTH_CONCURRENCIES = pytest.mark.parametrize("load_concurrency", [1, 2], ids=["x1", "x2"], indirect=True)


@pytest.fixture
def private_env(private_db: PrivateMariaDB, private_template: str, landing: Landing, prefect_api: str,
                tmp_path: Path, load_concurrency: int) -> Iterator[tuple[FlowEnv, str]]:
    """A fresh copy of the template, loaded by the non-admin user; (flow env, database)."""
    db = private_db.clone_database(private_template, "dw_priv")
    with private_db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT ALL PRIVILEGES ON {db}.* TO '{LOADER_USER}'@'127.0.0.1'")
    env = FlowEnv(str(landing.root), private_db.url(db, LOADER_USER), tmp_path / "data", prefect_api,
                  load_concurrency=load_concurrency)
    try:
        yield env, db
    finally:
        if private_db.proc is None:
            private_db.start()
        with private_db.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = 0")
            cur.execute("SET GLOBAL innodb_lock_wait_timeout = 50")
        private_db.drop_database(db)


class FactLock:
    """A next-key lock over all of fact_secondary_sales, held by another connection until released."""

    def __init__(self, server: PrivateMariaDB, db: str) -> None:
        self.conn = server.connect(db)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT invoice_no FROM fact_secondary_sales FOR UPDATE")

    def release(self) -> None:
        try:
            self.conn.commit()
            self.conn.close()
        except pymysql.err.Error:
            pass  # the server went away with the lock: released all the same


def loader_waiting(conn: pymysql.connections.Connection, db: str) -> int | None:
    """The connection id of a LOAD DATA into `db` that is running (waiting on the lock), if any."""
    with conn.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND INFO LIKE %s",
                    (db, "LOAD DATA%"))
        row = cur.fetchone()
    return int(row[0]) if row else None


def start_blocked_load(server: PrivateMariaDB, env: FlowEnv, db: str) -> tuple[FlowProcess, FactLock, int]:
    """Hold the fact lock, start a morning run, wait until its first LOAD DATA waits on the lock."""
    lock = FactLock(server, db)
    run = env.start("morning")
    found: list[int] = []

    def waiting() -> bool:
        conn_id = loader_waiting(watcher, db)
        if conn_id is not None:
            found.append(conn_id)
        return bool(found)

    with server.connect() as watcher:
        reached = wait_until(waiting, timeout=120, poll=0.05, while_=run.running)
    if not reached:
        lock.release()
        run.kill()
        raise AssertionError(f"the morning run never reached LOAD DATA; log:\n{run.tail()}")
    return run, lock, found[0]


# How a retry is logged: Prefect's for a task ("Retry 1/3 will start ...") and a flow run (AwaitingRetry); a file
# loaded in the flow's thread (tasks/run.py ingest_here) is retried as a task run of its own, with this line.
RETRIED = re.compile(r"Retry \d+/\d+|AwaitingRetry|will attempt to run again|retrying it as the task run")


def assert_completes(run: FlowProcess) -> None:
    """The run recovered, and by retrying (the fault was seen and treated as transient)."""
    assert run.wait() == 0, f"the run did not recover from the fault; log:\n{run.tail()}"
    assert RETRIED.search(run.log.read_text(errors="replace")), f"no retry in the log:\n{run.tail()}"


def assert_fails_fast(run: FlowProcess, started: float, message: str) -> None:
    """The run failed with `message` in its log, was not retried (task or flow), and quickly."""
    assert run.wait() != 0, "the run must fail"
    seconds = time.monotonic() - started
    log = run.log.read_text(errors="replace")
    assert message in log, run.tail()
    assert not RETRIED.search(log), f"a fault no retry can fix was retried:\n{run.tail()}"
    assert seconds < 60, f"failing took {seconds:.0f} s"


@BOTH_CONCURRENCIES
def test_connection_killed_mid_load_is_retried(private_db: PrivateMariaDB, private_env: tuple[FlowEnv, str],
                                               landing: Landing, tally: Tally) -> None:
    env, db = private_env
    run, lock, loader = start_blocked_load(private_db, env, db)
    with private_db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"KILL CONNECTION {loader}")
    tally.fault("mariadb:kill-connection")
    lock.release()
    assert_completes(run)
    tally.run()
    assert "Lost connection" in run.log.read_text() or "2013" in run.log.read_text(), run.tail()
    assert_exact(private_db, db, landing.manifest, tally, "connection killed mid-load")


@BOTH_CONCURRENCIES
def test_server_restarted_mid_load_is_retried(private_db: PrivateMariaDB, private_env: tuple[FlowEnv, str],
                                              landing: Landing, tally: Tally) -> None:
    env, db = private_env
    run, lock, _ = start_blocked_load(private_db, env, db)
    private_db.stop(crash=True)  # SIGKILL mariadbd mid-transaction: InnoDB rolls the load back on start
    tally.fault("mariadb:server-crash-restart")
    lock.release()
    time.sleep(1.0)  # the loader's retry finds the server down at least once
    private_db.start()
    assert_completes(run)
    tally.run()
    assert_exact(private_db, db, landing.manifest, tally, "server restarted mid-load")


def test_lock_wait_timeout_is_retried(private_db: PrivateMariaDB, private_env: tuple[FlowEnv, str],
                                      landing: Landing, tally: Tally) -> None:
    env, db = private_env
    with private_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL innodb_lock_wait_timeout = 1")  # private server: new sessions wait 1 s
    run, lock, _ = start_blocked_load(private_db, env, db)
    assert wait_until(lambda: "Lock wait timeout" in run.log.read_text(errors="replace"), timeout=60,
                      while_=run.running), f"no lock wait timeout seen; log:\n{run.tail()}"
    tally.fault("mariadb:lock-wait-timeout")
    lock.release()
    assert_completes(run)
    tally.run()
    assert_exact(private_db, db, landing.manifest, tally, "lock wait timeout")


def test_read_only_server_fails_fast_with_a_clear_message(
    private_db: PrivateMariaDB, private_env: tuple[FlowEnv, str], landing: Landing, tally: Tally
) -> None:
    env, db = private_env
    with private_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL read_only = 1")
    tally.fault("mariadb:read-only")
    started = time.monotonic()
    run = env.start("morning")
    assert_fails_fast(run, started, "--read-only option")
    tally.run()
    with private_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL read_only = 0")
    env.run("morning")
    tally.run()
    assert_exact(private_db, db, landing.manifest, tally, "after read-only")


# A system tablespace of fixed size (no autoextend) holding every table: "disk full" for InnoDB.
SMALL_TABLESPACE = ["--innodb-file-per-table=0", "--innodb-data-file-path=ibdata1:24M"]
# What an operator does about it: add a data file (the first one's size cannot change).
MORE_SPACE = ["--innodb-file-per-table=0", "--innodb-data-file-path=ibdata1:24M;ibdata2:32M:autoextend"]


def fill_tablespace(server: PrivateMariaDB) -> int:
    """Fill the fixed system tablespace with ballast rows until InnoDB answers 1114; returns rows written."""
    written = 0
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE ballast")
        cur.execute("CREATE TABLE ballast.fill (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB")
        for size in (1 << 20, 1 << 16, 1 << 12):  # big rows first, then smaller ones into what is left
            while True:
                try:
                    cur.execute("INSERT INTO ballast.fill (b) VALUES (REPEAT('x', %s))", (size,))
                    written += 1
                except pymysql.err.OperationalError as exc:
                    assert exc.args[0] == 1114, exc
                    break
    return written


def test_full_tablespace_fails_fast_then_loads_exactly_after_more_space(
    landing: Landing, prefect_api: str, tmp_path: Path, tally: Tally
) -> None:
    server = PrivateMariaDB(tmp_path / "full-mariadb", *SMALL_TABLESPACE).install()
    server.start()
    try:
        db = server.create_database("dw_full")
        env = FlowEnv(str(landing.root), server.url(db), tmp_path / "data", prefect_api)
        env.run("evening")
        tally.run()
        assert fill_tablespace(server) > 0
        tally.fault("mariadb:tablespace-full")
        started = time.monotonic()
        run = env.start("morning")
        assert_fails_fast(run, started, "is full")
        tally.run()
        server.stop(crash=False)
        server.options = MORE_SPACE
        server.start()
        env.run("morning")
        tally.run()
        assert_exact(server, db, landing.manifest, tally, "after the tablespace grew")
    finally:
        server.stop(crash=False)

"""What the fault-injection tests drive: real flow processes, MariaDB databases and a private MariaDB server.

- `Landing`: one generated landing folder (a few days, ~2,000 fact rows, the defect set) and its manifest.
- `FlowProcess`: `python flows/<flow>.py` as a real child process against the suite's Prefect server,
  so a SIGKILL is a real crash (no `finally`, no client-side rollback).
- `Server` / `PrivateMariaDB`: databases on a MariaDB server; the private one (own datadir, socket and
  port) is the one tests may stop, restart or switch to read-only without touching the shared :3306.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from datawiz.sample_data import Manifest, generate
from tests.integration.azurite import free_port

REPO = Path(__file__).resolve().parents[2]
END = dt.date(2025, 12, 1)  # three business days over a month end: DD and reports rebuild two months
DAYS = 3
FIS_ROWS_PER_DAY = 500


@dataclass
class Landing:
    """A generated landing folder and the manifest of what loading it must produce."""

    root: Path
    manifest: Manifest

    @classmethod
    def generate(cls, root: Path) -> Landing:
        manifest = generate(root, days=DAYS, fis_rows_per_day=FIS_ROWS_PER_DAY, end_date=END, defects=True)
        return cls(root, manifest)

    def paths(self, prefix: str = "") -> list[str]:
        """Paths of the generated files (relative, sorted), optionally under a prefix."""
        return [f.path for f in self.manifest.files if f.path.startswith(prefix)]


# ------------------------------------------------------------------------------------------ flows


@dataclass
class FlowProcess:
    """One `python flows/<flow>.py` child process and its log."""

    flow: str
    proc: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    def wait(self, timeout: float = 240) -> int:
        """Wait for the process; a run that hangs past `timeout` is killed and reported."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            message = f"{self.flow} run did not finish within {timeout:.0f} s; log:\n{self.tail()}"
            raise AssertionError(message) from None

    def kill(self) -> None:
        """SIGKILL the flow process (and nothing else)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.killed = True
        self.proc.wait()

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def completed(self) -> bool:
        return self.proc.returncode == 0


@dataclass
class FlowEnv:
    """Where one warehouse's runs read, write and report: source, warehouse URL, data dir, Prefect API."""

    source: str
    warehouse: str
    data_dir: Path
    api_url: str
    extra: dict[str, str] = field(default_factory=dict)
    # DATAWIZ_LOAD_CONCURRENCY of the runs (files loaded at once); None: the product's default.
    load_concurrency: int | None = None

    def env(self, fault_point: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAWIZ_", "PREFECT_"))}
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOCAL_STORAGE_PATH=str(self.data_dir / "prefect-results"),
            DATAWIZ_SOURCE=self.source,
            DATAWIZ_WAREHOUSE=self.warehouse,
            DATAWIZ_DATA_DIR=str(self.data_dir),
            DATAWIZ_FLOW_RETRY_DELAY="0",
            PYTHONPATH=str(REPO),
        )
        if self.load_concurrency is not None:
            env["DATAWIZ_LOAD_CONCURRENCY"] = str(self.load_concurrency)
        env.update(self.extra)
        if fault_point:
            env["DATAWIZ_FAULT_POINT"] = fault_point
        return env

    def start(self, flow: str, fault_point: str | None = None, log_name: str | None = None) -> FlowProcess:
        """Start `python flows/<flow>.py` for the suite's business date (morning: --skip-wait)."""
        args = [sys.executable, str(REPO / "flows" / f"{flow}.py"), "--business-date", END.isoformat()]
        if flow == "morning":
            args.append("--skip-wait")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / f"{log_name or flow}-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(args, cwd=REPO, env=self.env(fault_point), stdout=out, stderr=subprocess.STDOUT)
        return FlowProcess(flow, proc, log)

    def run(self, flow: str, timeout: float = 240) -> FlowProcess:
        """Run a flow to its end; fails the test with the log if it did not complete."""
        p = self.start(flow)
        if p.wait(timeout) != 0:
            raise AssertionError(f"{flow} run failed (exit {p.proc.returncode}); log:\n{p.tail()}")
        return p


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.01, while_: Callable[[], bool] = bool
               ) -> bool:
    """Poll `condition` until true (True), `timeout` passes or `while_()` turns false (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if not while_():
            return condition()
        time.sleep(poll)
    return False


# ------------------------------------------------------------------------------------------ MariaDB


@dataclass
class Server:
    """A MariaDB server reachable over TCP as `user` (root without password by default)."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""

    def connect(self, database: str | None = None, **kw: object) -> pymysql.connections.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, autocommit=True, connect_timeout=5, **kw)  # type: ignore[arg-type]

    def url(self, database: str, user: str | None = None) -> str:
        return f"mysql://{user or self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, prefix: str = "dw_rel") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")

    def clone_database(self, source: str, prefix: str = "dw_rel") -> str:
        """A copy of `source` (tables with their rows, views re-pointed): a warehouse state to start from."""
        name = self.create_database(prefix)
        with self.connect(name) as conn, conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                        "ORDER BY TABLE_TYPE, TABLE_NAME", (source,))
            objects = cur.fetchall()
            for table, kind in objects:
                if kind == "BASE TABLE":
                    cur.execute(f"CREATE TABLE `{name}`.`{table}` LIKE `{source}`.`{table}`")
                    cur.execute(f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{source}`.`{table}`")
            for table, kind in objects:
                if kind == "VIEW":
                    cur.execute(f"SHOW CREATE VIEW `{source}`.`{table}`")
                    ddl = cur.fetchone()[1].replace(f"`{source}`.", f"`{name}`.")
                    cur.execute(ddl)
        return name


class PrivateMariaDB(Server):
    """A MariaDB server of the test's own (datadir, socket, port): safe to stop, restart or make read-only."""

    def __init__(self, root: Path, *options: str) -> None:
        super().__init__(port=free_port())
        self.root = root
        self.datadir = root / "data"
        self.options = list(options)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def install(self) -> PrivateMariaDB:
        self.root.mkdir(parents=True, exist_ok=True)
        # The server options go to the bootstrap too: the tablespace layout is fixed at install.
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db", *self.options],
                       check=True, capture_output=True, timeout=120)
        return self

    def start(self, timeout: float = 60) -> None:
        """Start mariadbd (as root: this is a throw-away server) and wait until it answers."""
        args = [shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.root / 'mysqld.sock'}", f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--pid-file={self.root / 'mysqld.pid'}", "--user=root", "--local-infile=1", "--skip-log-bin",
                "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--skip-name-resolve",
                f"--log-error={self.root / 'error.log'}", *self.options]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1

        def answers() -> bool:
            try:
                self.connect().close()
                return True
            except pymysql.err.OperationalError:
                return False

        proc = self.proc
        if not wait_until(answers, timeout, poll=0.1, while_=lambda: proc.poll() is None):
            raise AssertionError(f"private mariadbd did not start: {self.error_log()}")

    def stop(self, crash: bool = True) -> None:
        """Stop the server: SIGKILL (a crash: InnoDB recovers on the next start) or a clean shutdown."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.proc = None

    def error_log(self) -> str:
        log = self.root / "error.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

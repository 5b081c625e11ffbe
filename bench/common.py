"""What every benchmark case shares: repeated measurements, fresh databases, a Prefect server, child processes.

A case is measured several times and reported as median and spread (min-max). Cases that run
the pipeline do so in a child process so the peak RSS of that process tree is the pipeline's own
(sampled with psutil every 20 ms, children included).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.integration.services import HOST, PORT, USER, ensure_mariadb, mariadb_connect

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    """Repeated measurements of one case variant: wall seconds per run, and optional peak RSS per run."""

    case: str
    variant: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    load_seconds: list[float] = field(default_factory=list)  # flow cases: the files' own ingest seconds per run
    note: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        """Rows per second at the median time."""
        return self.rows / self.median_s

    def spread(self) -> str:
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f}"

    def rss(self) -> str:
        return f"{statistics.median(self.rss_mb):,.0f}" if self.rss_mb else ""


def repeat(runs: int, once: Callable[[], float]) -> list[float]:
    """Call `once` (which returns the seconds it measured) `runs` times."""
    return [once() for _ in range(runs)]


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------ MariaDB


@contextmanager
def fresh_mariadb() -> Iterator[tuple[str, str]]:
    """A new empty database on the local MariaDB; yields (name, mysql:// URL), dropped afterwards."""
    ensure_mariadb()
    name = f"dw_bench_{uuid.uuid4().hex[:10]}"
    conn = mariadb_connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield name, f"mysql://{USER}@{HOST}:{PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


# ------------------------------------------------------------------ Prefect


@contextmanager
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (as the tests use) for this process and every child it starts."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    with prefect_test_harness(server_startup_timeout=120):
        os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
        try:
            yield
        finally:
            os.environ.pop("PREFECT_API_URL", None)


# ------------------------------------------------------------------ child processes


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += p.memory_info().rss
    return total


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, object], float]:
    """Run `python -m <args>`; returns the JSON its last stdout line prints and its tree's peak RSS (MB)."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        watched = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_rss(watched))
            except psutil.Error:
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), peak[0] / 2**20

"""Files in parallel: 8 files x 250,000 fis rows through the morning flow into MariaDB, one at a time vs two.

Each run is the morning flow's `blob_backup` and `fis` steps in a child process (bench/flow_child.py) into a
fresh copy of the dimensions database, with DATAWIZ_LOAD_CONCURRENCY set for that child. The two settings
alternate run by run (1, 2, 1, 2, ...): on a machine shared with other jobs, a busy spell then slows both
alike instead of one of them.

    python -m bench.concurrency [RUNS]    # alone: starts MariaDB, Azurite and a Prefect server like `make bench`
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from bench import common
from bench.common import Result, fresh_mariadb
from bench.data import Landing
from bench.end_to_end import Templates, clone_mariadb, flow_run
from bench.report import Target

FILES = 8
ROWS_PER_FILE = 250_000
SETTING = "DATAWIZ_LOAD_CONCURRENCY"
CASE = "files in parallel, MariaDB"


@contextmanager
def _setting(value: int) -> Iterator[None]:
    """$DATAWIZ_LOAD_CONCURRENCY for the child processes started meanwhile (they inherit this environment)."""
    before = os.environ.get(SETTING)
    os.environ[SETTING] = str(value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SETTING, None)
        else:
            os.environ[SETTING] = before


def run(landing: Landing, source: str, runs: int, templates: Templates, settings: tuple[int, ...] = (1, 2)
        ) -> list[Result]:
    """`runs` interleaved morning runs per setting of DATAWIZ_LOAD_CONCURRENCY; one Result per setting."""
    per_file = landing.fis_rows // landing.fis_files
    cores: dict[int, list[tuple[float, float, float]]] = {n: [] for n in settings}
    results = {n: Result(CASE, f"{SETTING}={n}, {landing.fis_files} files x {per_file:,} rows", landing.fis_rows)
               for n in settings}
    for _ in range(runs):
        for n in settings:
            with _setting(n), fresh_mariadb() as (name, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
                clone_mariadb(templates.mariadb, name, url)
                cpu = _CpuMeter()
                run = flow_run(source, url, Path(work), landing.fis_rows)
                cores[n].append(cpu.cores())
            results[n].seconds.append(run.seconds)
            results[n].rss_mb.append(run.rss_mb)
            print(f"  {SETTING}={n}: {run.seconds:.1f} s; {cores[n][-1][0]:.2f} cores DataWiz, "
                  f"{cores[n][-1][1]:.2f} MariaDB, {cores[n][-1][2]:.2f} whole machine", flush=True)
    for n, result in results.items():
        mine, server, machine = (statistics.median(c[i] for c in cores[n]) for i in range(3))
        result.note = (f"CPU in use (medians, of {psutil.cpu_count()} cores): DataWiz {mine:.2f}, "
                       f"MariaDB {server:.2f}, whole machine {machine:.2f}")
    return list(results.values())


class _CpuMeter:
    """CPU used from now on, in cores (CPU seconds per wall second): the flow's child process tree (reaped
    children, `RUSAGE_CHILDREN`), the MariaDB server (shared with anything else using it), the whole machine."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.children = _children_cpu()
        self.server = _server_cpu()
        self.machine = _machine_busy()

    def cores(self) -> tuple[float, float, float]:
        wall = time.perf_counter() - self.started
        return ((_children_cpu() - self.children) / wall, (_server_cpu() - self.server) / wall,
                (_machine_busy() - self.machine) / wall)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu() -> float:
    """CPU seconds of the MariaDB server the bench loads into (the one listening on its port)."""
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] not in ("mariadbd", "mysqld"):
            continue
        with contextlib.suppress(psutil.Error):
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == common.PORT for c in proc.net_connections("tcp")):
                times = proc.cpu_times()
                return float(times.user + times.system)
    return 0.0


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def speedup(one: Result, two: Result) -> float:
    """How many times faster the two-at-a-time runs were (ratio of medians)."""
    return one.median_s / two.median_s


def judged(one: Result, two: Result) -> tuple[str, Target]:
    """The ratio line and the Target row of issue 17 (concurrency 2 on MariaDB >= 1.3x faster than 1)."""
    ratio = speedup(one, two)
    files = f"{one.rows // FILES // 1000:,}k" if one.rows % (FILES * 1000) == 0 else f"{one.rows // FILES:,}"
    line = (f"Files in parallel into MariaDB: {SETTING}=2 / =1 = {ratio:.2f}x faster "
            f"({two.median_s:.1f} s vs {one.median_s:.1f} s, {FILES} x {files} rows)")
    return line, Target(f"concurrency 2 on MariaDB vs 1, {FILES} x {files} rows", ">= 1.3x faster",
                        f"{ratio:.2f}x", ratio >= 1.3)


def main(runs: int) -> None:
    """Measure the case on its own (data, Azurite, Prefect server and the dimensions as `make bench` makes them)."""
    from bench import data, end_to_end
    from bench.common import prefect_server
    from bench.report import terminal
    from blocks.azure import ENV_CONNECTION_STRING
    from tests.integration.services import ensure_mariadb, running_azurite

    ensure_mariadb()
    landing = data.landing(FILES * ROWS_PER_FILE, FILES)
    with tempfile.TemporaryDirectory(prefix="dw-bench-azurite-") as az, running_azurite(Path(az)) as conn, \
            prefect_server():
        os.environ[ENV_CONNECTION_STRING] = conn
        source = end_to_end.upload(landing, conn, "bench-concurrency")
        with end_to_end.dimension_templates(source) as dims:
            one, two = run(landing, source, runs, dims)
    line, target = judged(one, two)
    print(terminal([one, two], [line], [target]))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)

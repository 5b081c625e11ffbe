"""Issue 10, item 1: SIGKILL a morning run on MariaDB at 20 seeded points, re-run it, exact totals every time.

Each case starts from a copy of the same post-evening warehouse, runs `python flows/morning.py` as a
child process and kills it with SIGKILL at its point, then runs the morning again to its end and
checks the warehouse against the generator's manifest (tests/reliability/invariants.py).

Two kinds of points:
- watched from outside (a real external kill): the k-th raw copy appearing in data/raw (during the
  backup downloads), or the ledger reaching k new rows (between two file commits);
- crash points inside the process (blocks/faults.py, `DATAWIZ_FAULT_POINT=<name>:<n>`), where no outside
  observer can time a kill: a copy written but not verified/renamed (`download`), a file read and
  cleaned (`validate`), rows written in the uncommitted load transaction (`load`), the ledger row written
  but not committed (`ledger`), before a DD month or the report refresh (`post_load`).
"""

from __future__ import annotations

import random
import signal
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from tests.reliability.conftest import Tally
from tests.reliability.harness import FlowEnv, FlowProcess, Landing, Server, wait_until
from tests.reliability.invariants import assert_exact

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]

SEED = 20251201
# How often each point passes in one morning run of the suite's landing folder (17 fact files:
# 11 load, 6 are rejected; 12 reach validation; 2 DD months + 1 report refresh).
PASSES = {"download": 17, "validate": 12, "load": 11, "ledger": 11, "post_load": 3, "raw_files": 16,
          "ledger_rows": 16}
# 20 points, stratified so every phase is hit: 3 per in-process point, 2 + 3 watched from outside.
PLAN = ["download"] * 3 + ["validate"] * 3 + ["load"] * 3 + ["ledger"] * 3 + ["post_load"] * 3 + \
    ["raw_files"] * 2 + ["ledger_rows"] * 3


@dataclass(frozen=True)
class KillPoint:
    """Where one case kills the run: a point name and which pass (1-based) of it."""

    name: str
    n: int

    @property
    def external(self) -> bool:
        return self.name in ("raw_files", "ledger_rows")

    def __str__(self) -> str:
        return f"{self.name}:{self.n}"


def kill_points(seed: int = SEED) -> list[KillPoint]:
    """The 20 seeded kill points (same seed, same points)."""
    rng = random.Random(seed)
    return [KillPoint(name, rng.randint(1, PASSES[name])) for name in PLAN]


def _count_raw(data_dir: Path) -> int:
    raw = data_dir / "raw"
    return sum(1 for p in raw.rglob("*") if p.is_file() and not p.name.endswith(".part")) if raw.exists() else 0


def _ledger_rows(conn: pymysql.connections.Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl_file_ledger")  # autocommit: each count sees the latest commits
        return int(cur.fetchone()[0])


def run_until_killed(env: FlowEnv, server: Server, db: str, point: KillPoint) -> FlowProcess:
    """Start a morning run and SIGKILL it at `point`; fails if the run ended before the point was reached."""
    if not point.external:
        run = env.start("morning", fault_point=str(point), log_name=f"killed-{point.name}")
        run.wait()
    else:
        run = env.start("morning", log_name=f"killed-{point.name}")
        if point.name == "raw_files":
            def reached() -> bool:
                return _count_raw(env.data_dir) >= point.n
        else:
            conn = server.connect(db)  # one connection for the whole watch: polling must not load the machine
            before = _ledger_rows(conn)

            def reached() -> bool:
                return _ledger_rows(conn) - before >= point.n
        try:
            if wait_until(reached, timeout=180, poll=0.02, while_=run.running):
                run.kill()
        finally:
            if point.name == "ledger_rows":
                conn.close()
        run.wait()
    assert run.proc.returncode == -signal.SIGKILL, (
        f"the run was not killed at {point} (exit {run.proc.returncode}); log:\n{run.tail()}")
    return run


# Every point with one file loading at a time; the points inside and between file loads again with two files
# loading at once (DATAWIZ_LOAD_CONCURRENCY=2): a kill there leaves one load mid-transaction and another in flight;
# and post_load, where DD and the report refresh then run at the same time (tasks/transform.rebuild_post_load).
PARALLEL_POINTS = ("load", "ledger", "ledger_rows", "post_load")
CASES = [(i, 1) for i in range(len(PLAN))] + \
    [(i, 2) for i, p in enumerate(kill_points()) if p.name in PARALLEL_POINTS and p not in kill_points()[:i]]


@pytest.mark.parametrize(("index", "concurrency"), CASES,
                         ids=[f"{i:02d}-{kill_points()[i]}-x{c}" for i, c in CASES])
def test_sigkill_then_rerun_gives_exact_totals(
    index: int, concurrency: int, landing: Landing, shared_server: Server, morning_db: str, prefect_api: str,
    tmp_path: Path, tally: Tally,
) -> None:
    point = kill_points()[index]
    env = FlowEnv(str(landing.root), shared_server.url(morning_db), tmp_path / "data", prefect_api,
                  load_concurrency=concurrency)
    run_until_killed(env, shared_server, morning_db, point)
    tally.fault(f"sigkill:{point.name}" + (f":x{concurrency}" if concurrency > 1 else ""))
    tally.run()
    env.run("morning")
    tally.run()
    assert_exact(shared_server, morning_db, landing.manifest, tally, f"after SIGKILL at {point}")

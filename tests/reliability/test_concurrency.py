"""Issue 10, item 4: two morning runs started at once against one warehouse — exact totals.

Deployment concurrency limits aside (a manual run, a retry and a schedule can still overlap), the ledger
must refuse loading a file version twice: both runs plan the same files, each file version commits
exactly once, and the loser of each race skips it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import Tally
from tests.reliability.harness import FlowEnv, Landing, Server
from tests.reliability.invariants import assert_exact

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]


# (shared raw area, DATAWIZ_LOAD_CONCURRENCY of each run): with 2, each run also loads two files at once.
CASES = [(False, 1), (True, 1), (True, 2)]


@pytest.mark.parametrize(("shared_data_dir", "concurrency"), CASES,
                         ids=["own-raw-areas", "one-raw-area", "one-raw-area-x2"])
def test_two_morning_runs_at_once_load_every_file_once(
    shared_data_dir: bool, concurrency: int, landing: Landing, shared_server: Server, morning_db: str,
    prefect_api: str, tmp_path: Path, tally: Tally,
) -> None:
    # Two workers on different machines have their own raw areas; two runs on one machine share it.
    url = shared_server.url(morning_db)
    envs = [FlowEnv(str(landing.root), url, tmp_path / ("data" if shared_data_dir else f"data{i}"), prefect_api,
                    load_concurrency=concurrency) for i in range(2)]
    runs = [env.start("morning", log_name=f"concurrent{i}") for i, env in enumerate(envs)]
    tally.fault("race:two-mornings" + (f":x{concurrency}" if concurrency > 1 else ""))
    for run in runs:
        assert run.wait() == 0, f"a concurrent morning run failed; log:\n{run.tail()}"
        tally.run()
    assert_exact(shared_server, morning_db, landing.manifest, tally, "two morning runs at once")
    with shared_server.connect(morning_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT run_id) FROM etl_file_ledger WHERE table_name LIKE 'fact%%'")
        writers = cur.fetchone()[0]
    # Not a requirement, but evidence the two runs really overlapped (else this test proves little).
    print(f"fact files loaded by {writers} different run(s)")

"""Fault-injection suite: every test records what it injected and checked; the totals are printed at the end.

Use the `tally` fixture: `tally.fault("sigkill:load")` per injected fault, `tally.run()` per pipeline run,
`tally.rows(n)` per warehouse row checked against the generator's totals, `tally.discrepancy("...")` for any
mismatch (a test that records one must also fail). `pytest_terminal_summary` prints the suite's summary and,
with DATAWIZ_RELIABILITY_SUMMARY=<path>, writes it as JSON for docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.azurite import azurite  # noqa: F401
from tests.integration.mariadb import admin_connection, mariadb, mysql_url  # noqa: F401

# The fault-injection tests (marker `fault_injection`) run whole flows many times (~10 min): they run in
# `make test-reliability` (DATAWIZ_RELIABILITY=1, CI runs it after `make test`), and are skipped otherwise.
RELIABILITY_ENV = "DATAWIZ_RELIABILITY"


@dataclass
class Tally:
    """What the suite did: faults by kind, pipeline runs, rows checked, discrepancies found."""

    faults: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    rows_checked: int = 0
    discrepancies: list[str] = field(default_factory=list)

    def fault(self, kind: str, n: int = 1) -> None:
        self.faults[kind] += n

    def run(self, n: int = 1) -> None:
        self.runs += n

    def rows(self, n: int) -> None:
        self.rows_checked += n

    def discrepancy(self, message: str) -> None:
        self.discrepancies.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "faults_injected": sum(self.faults.values()),
            "faults_by_kind": dict(sorted(self.faults.items())),
            "runs": self.runs,
            "rows_checked": self.rows_checked,
            "discrepancies": len(self.discrepancies),
        }


_TALLY = Tally()


@pytest.fixture
def tally() -> Tally:
    """The suite-wide tally (one per session)."""
    return _TALLY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault_injection: kills, outages and races against real components "
                                       "(run by make test-reliability)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(RELIABILITY_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"fault injection: run `make test-reliability` (or set {RELIABILITY_ENV}=1)")
    for item in items:
        if "fault_injection" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def prefect_api(prefect_server: None) -> str:
    """The URL of the suite's one Prefect server: flow processes started by the tests report to it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test server did not set PREFECT_API_URL"
    return str(url)


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Landing:
    """The generated landing folder every fault test loads (read-only: tests copy it to change it)."""
    return Landing.generate(tmp_path_factory.mktemp("landing") / "landing")


@pytest.fixture(scope="session")
def shared_server(request: pytest.FixtureRequest) -> Server:
    """The shared MariaDB on :3306 (tests create and drop their own databases; never global settings)."""
    request.getfixturevalue("mariadb")  # started (or installed) when absent
    return Server()


@pytest.fixture(scope="session")
def evening_template(shared_server: Server, landing: Landing, prefect_api: str,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database after one evening run (dimensions, hierarchy, constants, calendar): cloned per test."""
    db = shared_server.create_database("dw_rel_tmpl")
    env = FlowEnv(str(landing.root), shared_server.url(db), tmp_path_factory.mktemp("evening"), prefect_api)
    try:
        env.run("evening")
        _TALLY.run()
        assert_exact(shared_server, db, landing.manifest, _TALLY, "evening template", facts=False)
        yield db
    finally:
        shared_server.drop_database(db)


@pytest.fixture
def morning_db(shared_server: Server, evening_template: str) -> Iterator[str]:
    """A fresh copy of the evening template for one test (dropped afterwards)."""
    db = shared_server.clone_database(evening_template)
    try:
        yield db
    finally:
        shared_server.drop_database(db)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not (_TALLY.runs or _TALLY.faults or _TALLY.rows_checked):
        return
    summary = _TALLY.as_dict()
    terminalreporter.section("DataWiz reliability summary")
    for key, value in summary.items():
        terminalreporter.write_line(f"{key:>16}: {value}")
    for message in _TALLY.discrepancies:
        terminalreporter.write_line(f"  discrepancy: {message}")
    out = os.environ.get("DATAWIZ_RELIABILITY_SUMMARY")
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)


# Imported last: invariants imports Tally from this module.
from tests.reliability.harness import FlowEnv, Landing, Server  # noqa: E402
from tests.reliability.invariants import assert_exact  # noqa: E402

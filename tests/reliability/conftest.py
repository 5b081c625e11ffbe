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
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.mariadb import admin_connection, mariadb, mysql_url  # noqa: F401


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

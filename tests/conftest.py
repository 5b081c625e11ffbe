"""Shared fixtures: one Prefect test server per session, isolated working folders per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A failed pipeline run is retried once (flow-level retries); in tests, at once instead of after 5 min.
os.environ.setdefault("DATAWIZ_FLOW_RETRY_DELAY", "0")
# The JSON log files of the test processes (datawiz/logs.py) go to a throwaway folder, not ./logs.
os.environ.setdefault("DATAWIZ_LOG_DIR", tempfile.mkdtemp(prefix="datawiz-test-logs-"))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A real temporary Prefect server (started once): flows run against it as in production."""
    from prefect.testing.utilities import prefect_test_harness

    from datawiz import LOCAL_SERVER_STARTUP_SECONDS

    storage = tmp_path_factory.mktemp("prefect-results")
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(storage)
    # As patient as a local run (tasks/run.py, start_local_server): 120 s was not enough on a shared 2-core machine.
    with prefect_test_harness(server_startup_timeout=LOCAL_SERVER_STARTUP_SECONDS):
        yield


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder (raw backups, quarantine copies) for one test."""
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATAWIZ_SOURCE", raising=False)
    monkeypatch.delenv("DATAWIZ_WAREHOUSE", raising=False)
    return tmp_path

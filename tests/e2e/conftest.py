"""Whole-flow tests may run on every backend: the MariaDB fixtures come from tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.mariadb import mariadb, mysql_url  # noqa: F401

BACKENDS = ("duckdb", "mariadb")


@pytest.fixture(params=BACKENDS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty warehouse on each backend: a DuckDB file, or a MariaDB database."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'wh.duckdb'}"
    return request.getfixturevalue("mysql_url")

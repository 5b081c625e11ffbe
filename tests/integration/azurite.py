"""The Azurite blob service for the integration tests: installed on first use, one per session.

Starting it is shared with `make bench` (tests/integration/services.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.services import (
    AZURITE_ACCOUNT,
    AZURITE_DIR,
    AZURITE_KEY,
    REPO,
    azurite_connection_string,
    free_port,
    running_azurite,
)

__all__ = ["AZURITE_ACCOUNT", "AZURITE_DIR", "AZURITE_KEY", "REPO", "azurite", "azurite_connection_string",
           "free_port"]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service for the session; yields its connection string."""
    # A ServiceError (no npm, Azurite exits or never listens) errors the tests that need it.
    with running_azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string

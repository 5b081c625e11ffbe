"""The local working area: where raw backups and quarantine copies are kept, and whose disk is watched.

A leaf module so extract, quarantine, telemetry, health and maintenance can all read it without
importing one another.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Local working area (raw backups, quarantine copies): $DATAWIZ_DATA_DIR or ./data."""
    return Path(os.environ.get("DATAWIZ_DATA_DIR", "./data"))

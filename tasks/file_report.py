"""`FileReport`: what happened to one file version, as load, telemetry, reports and flows see it.

A leaf module (dataclasses and blocks.types only) so that tasks.telemetry can count file outcomes
without importing tasks.load, which imports telemetry for its stage spans.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from blocks.types import FileStats, QuarantineExample


@dataclass
class FileReport:
    """What happened to one file version (the quality report and the summary are built from these)."""

    path: str
    version: str
    table: str
    status: str  # loaded | rejected | superseded | skipped (another run loaded it first)
    stats: FileStats
    business_date: dt.date | None = None
    reason: str | None = None
    drift_columns: list[str] = field(default_factory=list)
    top_rules: list[tuple[str, int]] = field(default_factory=list)
    examples: list[QuarantineExample] = field(default_factory=list)  # a few bad rows: number + rules
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

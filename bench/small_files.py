"""Many small files: 500 files x 2,000 rows through the real morning flow into DuckDB.

Per-file overhead = (time for the 500 files - time for the same rows as one file) / 500: what the
pipeline pays per file beyond its rows' work (Prefect task runs, ledger checks, transactions, logs).
The one-file time is the end-to-end DuckDB case on the same 1M rows, measured in the same run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.common import Result
from bench.data import Landing
from bench.end_to_end import Templates, duckdb_flow, flow_run
from bench.profile import breakdown


def run(landing: Landing, source: str, runs: int, templates: Templates) -> Result:
    """The flow over every small file, `runs` times into fresh DuckDB files."""
    variant = f"DataWiz flow, {landing.fis_files} files x {landing.fis_rows // landing.fis_files:,} rows"
    result = duckdb_flow(landing, source, runs, templates, variant)
    result.case = "many small files, DuckDB"
    return result


def overhead_ms(many: Result, one: Result, files: int) -> float:
    """Median milliseconds per file beyond the rows' own work."""
    return (many.median_s - one.median_s) / files * 1000


def profiled(landing: Landing, source: str, templates: Templates, out: Path) -> list[str]:
    """One extra run of the flow under cProfile; its per-file breakdown as markdown lines."""
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
        db = Path(work) / "warehouse.duckdb"
        shutil.copyfile(templates.duckdb, db)
        flow_run(source, f"duckdb:///{db}", Path(work), landing.fis_rows, profile=str(out))
    return breakdown(out, landing.fis_files)

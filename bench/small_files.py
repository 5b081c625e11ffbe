"""Many small files: 500 files x 2,000 rows through the real morning flow into DuckDB.

Per-file overhead = (time for the 500 files - time for the same rows as one file) / 500: what the
pipeline pays per file beyond its rows' work (Prefect task runs, ledger checks, transactions, logs).
The one-file time is the end-to-end DuckDB case on the same 1M rows, measured in the same run.
"""

from __future__ import annotations

from bench.common import Result
from bench.data import Landing
from bench.end_to_end import duckdb_flow


def run(landing: Landing, source: str, runs: int) -> Result:
    """The flow over every small file, `runs` times into fresh DuckDB files."""
    variant = f"DataWiz flow, {landing.fis_files} files x {landing.fis_rows // landing.fis_files:,} rows"
    result = duckdb_flow(landing, source, runs, variant)
    result.case = "many small files, DuckDB"
    return result


def overhead_ms(many: Result, one: Result, files: int) -> float:
    """Median milliseconds per file beyond the rows' own work."""
    return (many.median_s - one.median_s) / files * 1000

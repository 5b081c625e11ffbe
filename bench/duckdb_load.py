"""Load stage into DuckDB, in process: where the 1M-row file's ingest time goes, without Prefect or a download.

Every variant works on the benchmark day's fis Parquet file, in this process:
- producer alone: read, clean and validate the file batch by batch (`FileStream.good_batches`), nothing
  loaded — with the batches prepared in this thread only (as into a warehouse loading files side by side)
  and with PREPARE_AHEAD batches cleaned and checked ahead on threads (as into DuckDB);
- DataWiz ingest: `ingest_file`'s body into a fresh copy of the dimensions database (key pass, producer,
  inserts, orphan count, ledger row, commit) — the load stage of the end-to-end DuckDB flow;
- the baseline is DuckDB's own `INSERT ... SELECT FROM read_parquet()` (bench/end_to_end.duckdb_native).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import Result, timed
from bench.data import Landing, fis_name
from blocks.types import FileStats, LedgerEntry, SourceFile
from blocks.warehouse.duckdb import DuckDBWarehouse
from datawiz.core.registry import FIS, FileRef, resolve_path
from tasks.extract import PlannedFile
from tasks.load import PREPARE_AHEAD, FileStream, ingest_file

CASE = "load stage, DuckDB (in process)"


def _ref(landing: Landing) -> tuple[Path, FileRef]:
    rel = fis_name(1)
    ref = resolve_path(rel)
    if ref is None:
        raise RuntimeError(f"{rel} does not match the fis naming pattern")
    return landing.root / rel, ref


def _entry(ref: FileRef) -> LedgerEntry:
    return LedgerEntry(ref.path, "bench-v1", FIS.target_table, "loaded", FileStats(), "bench-run",
                       dt.datetime.now(dt.UTC), ref.business_date)


def producer(landing: Landing, runs: int) -> list[Result]:
    """The producer alone, one thread vs PREPARE_AHEAD threads ahead, interleaved run by run."""
    local, ref = _ref(landing)
    results = {ahead: Result(CASE, f"producer alone (read, clean, validate), {ahead} batches prepared ahead",
                             landing.fis_rows) for ahead in (0, PREPARE_AHEAD)}

    def drain(ahead: int) -> None:
        with FileStream(ref, _entry(ref), local, prepare_ahead=ahead) as stream:
            for _ in stream.good_batches():
                pass

    drain(PREPARE_AHEAD)  # warm-up: the first pass in a process pays one-time costs (imports, compiled patterns)
    for _ in range(runs):
        for ahead, result in results.items():
            result.seconds.append(timed(lambda ahead=ahead: drain(ahead)))  # type: ignore[misc]
    return list(results.values())


def ingest(landing: Landing, runs: int, dimensions: Path) -> Result:
    """`ingest_file`'s body into a fresh copy of the dimensions DuckDB file, `runs` times."""
    local, ref = _ref(landing)
    result = Result(CASE, f"DataWiz ingest_file, {landing.fis_rows:,} rows (no Prefect, no download)", landing.fis_rows)
    planned = PlannedFile(SourceFile(ref.path, "bench-v1", local.stat().st_size), ref, "fis", FIS.target_table)
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            db = Path(work) / "warehouse.duckdb"
            shutil.copyfile(dimensions, db)
            os.environ["DATAWIZ_DATA_DIR"] = str(Path(work) / "data")
            wh = DuckDBWarehouse(path=str(db))
            try:
                result.seconds.append(timed(lambda wh=wh: ingest_file.fn(wh, planned, str(local), "bench-run")))
            finally:
                wh.close()
    return result


def ratios(parts: list[Result], native: Result) -> list[str]:
    """The in-process DuckDB lines of the ratios: the load stage vs read_parquet, the producer's threads."""
    one_thread, ahead, ours = parts
    return [f"DuckDB load stage in process (ingest_file) / DuckDB INSERT ... read_parquet = "
            f"{native.median_s / ours.median_s:.2f}x ({ours.median_s:.2f} s vs {native.median_s:.2f} s); the producer "
            f"alone with {PREPARE_AHEAD} batches prepared ahead is {one_thread.median_s / ahead.median_s:.2f}x as fast "
            f"as in one thread ({ahead.median_s:.2f} s vs {one_thread.median_s:.2f} s)"]

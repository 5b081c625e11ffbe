"""Load stage into DuckDB, in process: where the 1M-row file's ingest time goes, without Prefect or a download.

Every variant works on the benchmark day's fis Parquet file, in this process:
- producer alone: read, clean and validate the file batch by batch (`FileStream.good_batches`), nothing
  loaded — with the batches prepared in this thread only (as into a warehouse loading files side by side)
  and with PREPARE_AHEAD batches cleaned and checked ahead on threads (as into DuckDB);
- DataWiz ingest: `ingest_file`'s body into a fresh copy of the dimensions database (key pass, producer,
  inserts, orphan count, ledger row, commit) — the load stage of the end-to-end DuckDB flow;
- inserts alone: the producer's batches, regrouped as `load_file` does (INSERT_ROWS), inserted into an empty
  migrated fact table with and without `_unordered_inserts` (DuckDB's `preserve_insertion_order`);
- the baseline is DuckDB's own `INSERT ... SELECT FROM read_parquet()` (bench/end_to_end.duckdb_native).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import Result, timed
from bench.data import Landing, fis_name
from blocks.types import FileStats, LedgerEntry, SourceFile
from blocks.warehouse.batches import rebatch
from blocks.warehouse.duckdb import INSERT_ROWS, DuckDBWarehouse, _unordered_inserts, _upsert_incoming
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


def inserts(landing: Landing, runs: int) -> list[Result]:
    """The file's good rows inserted in INSERT_ROWS groups, row order kept vs not, interleaved run by run."""
    local, ref = _ref(landing)
    with FileStream(ref, _entry(ref), local, prepare_ahead=PREPARE_AHEAD) as stream:
        groups = list(rebatch(stream.good_batches(), INSERT_ROWS))
    results = {unordered: Result(CASE, f"inserts alone, {INSERT_ROWS:,}-row groups, insertion order "
                                 f"{'not kept' if unordered else 'kept (DuckDB default)'}", landing.fis_rows)
               for unordered in (False, True)}

    def insert_all(unordered: bool) -> None:
        with tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
            wh = DuckDBWarehouse(path=str(Path(work) / "warehouse.duckdb"))
            wh.migrate()
            try:
                with wh._transaction() as cur, _unordered_inserts(cur) if unordered else contextlib.nullcontext():
                    for group in groups:
                        cur.register("_incoming", group)
                        _upsert_incoming(cur, FIS, group.column_names)
                        cur.unregister("_incoming")
            finally:
                wh.close()

    for _ in range(runs):
        for unordered, result in results.items():
            result.seconds.append(timed(lambda unordered=unordered: insert_all(unordered)))  # type: ignore[misc]
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
    one_thread, ahead, ordered, unordered, ours = parts
    return [f"DuckDB load stage in process (ingest_file) / DuckDB INSERT ... read_parquet = "
            f"{native.median_s / ours.median_s:.2f}x ({ours.median_s:.2f} s vs {native.median_s:.2f} s); the producer "
            f"alone with {PREPARE_AHEAD} batches prepared ahead is {one_thread.median_s / ahead.median_s:.2f}x as fast "
            f"as in one thread ({ahead.median_s:.2f} s vs {one_thread.median_s:.2f} s); the inserts alone without "
            f"insertion order are {ordered.median_s / unordered.median_s:.2f}x as fast as with it "
            f"({unordered.median_s:.2f} s vs {ordered.median_s:.2f} s)"]

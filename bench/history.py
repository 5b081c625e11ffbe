"""Per-file cost against history: one small fis file loaded into an empty warehouse vs one holding 5M fact rows.

What is timed: `Warehouse.load_file` of one 2,000-row fis file (cleaned and validated beforehand, not
timed) — every per-file statement of the backend (ledger lookup, previous-version clean-up, upsert,
orphan count, quarantine, ledger rows) in its one transaction. The flow around it (Prefect, download,
validation) does not depend on history, so it is left out to keep the measurement on what does.

The two warehouses differ only in history: both hold the day's dimensions (the sample generator's
snapshots, loaded through `load_file` as the evening flow does); the full one also holds `history_rows`
fis rows from 2,000-row files of the two years before (one ledger row each), inserted in bulk (not timed).
Run i loads a new path whose rows carry new invoice numbers (the daily case, "new file"), then a second
version of that path ("re-delivery": its load replaces the first version's 2,000 rows). The history's
invoice numbers (`INV9…`) lie outside the new files' range, as when numbers grow over time: DuckDB's
upsert delete-by-key then skips the history's row groups by their min/max (a hash join's dynamic filter);
keys interleaved with the whole history would make it scan the key columns (DuckDB 2.0 has no index
join, and its ON CONFLICT is a MERGE over a hash join: no index path for a multi-row upsert).
Runs alternate between the two warehouses so background noise falls on both alike.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from bench.common import Result, fresh_mariadb
from bench.data import ROOT
from bench.report import Target
from blocks.types import FileStats, LedgerEntry
from blocks.warehouse.base import Warehouse
from blocks.warehouse.duckdb import DuckDBWarehouse
from blocks.warehouse.mysql import MySQLWarehouse, load_batches
from datawiz.core.contract import FileRef
from datawiz.core.registry import FIS, resolve_path
from datawiz.sample_data import generate
from tasks.clean import clean_table
from tasks.extract import read_raw
from tasks.lineage import with_lineage
from tasks.validate import QUARANTINE_SCHEMA, validate_rows
from tests.integration.services import HOST, PORT, USER

DAY = dt.date(2025, 11, 20)
FILE_ROWS = 2_000
SAMPLE_ROWS = 20_000  # the generated day the small file and the history's rows are cut from
HISTORY_DAYS = 730  # history rows spread over two years of invoice dates


def sample() -> Path:
    """A small generated landing day (dimension snapshots and fis files), made once."""
    out = ROOT / "history-sample"
    done = out / ".done"
    if not done.exists():
        generate(out, days=1, seed=7, fis_rows_per_day=SAMPLE_ROWS, end_date=DAY)
        done.touch()
    return out


def _good_rows(root: Path, rel: str) -> tuple[FileRef, pa.Table]:
    ref = resolve_path(rel)
    assert ref is not None, rel
    return ref, validate_rows(clean_table(read_raw(root / rel, ref), ref.contract, rel), ref, enforce_ratio=False).good


def _entry(ref: FileRef, version: str, rows: int) -> LedgerEntry:
    return LedgerEntry(ref.path, version, ref.contract.target_table, "loaded",
                       FileStats(rows_in=rows, rows_loaded=rows), "bench-history", dt.datetime.now(dt.UTC),
                       ref.business_date)


def load_dimensions(wh: Warehouse, root: Path) -> None:
    """The sample's dimension snapshots, each through `load_file` (what the orphan count is checked against)."""
    for path in sorted((root / "dimensions").rglob("*.*")):
        ref, good = _good_rows(root, str(path.relative_to(root)))
        entry = _entry(ref, "v1", good.num_rows)
        wh.load_file(ref.contract, entry, with_lineage(good, entry), QUARANTINE_SCHEMA.empty_table())


def small_file(root: Path) -> tuple[FileRef, pa.Table]:
    """The first 2,000 good rows of the sample's first fis file, under that file's path."""
    ref, good = _good_rows(root, _first_fis(root))
    return ref, good.slice(0, FILE_ROWS)


def _first_fis(root: Path) -> str:
    return next(str(p.relative_to(root)) for p in sorted((root / "facts" / "fis").rglob("*.parquet")))


def history(rows: int, root: Path) -> tuple[pa.Table, list[LedgerEntry]]:
    """`rows` fact rows with lineage, from `rows / 2,000` files of earlier days, and their ledger entries.

    The sample's good rows repeated, each with an invoice number of its own (`INV9...`, a range the
    generator does not use) and an invoice date in the two years before the benchmark day.
    """
    _, base = _good_rows(root, _first_fis(root))
    copies = -(-rows // base.num_rows)
    table = pa.concat_tables([base] * copies).slice(0, rows)
    index = pa.array(range(rows), pa.int64()).to_numpy()
    files = index // FILE_ROWS
    n_files = int(files[-1]) + 1
    days = [DAY - dt.timedelta(days=1 + f * HISTORY_DAYS // (n_files + 1)) for f in range(n_files)]
    names = [f"facts/fis/{d:%Y/%m/%d}/fis_{d:%Y%m%d}_{f % 999 + 1:03d}.parquet" for f, d in enumerate(days)]
    table = table.set_column(table.schema.get_field_index("invoice_no"), "invoice_no",
                             pa.array([f"INV{9_000_000_000 + int(i):010d}" for i in index]))
    table = table.set_column(table.schema.get_field_index("line_no"), "line_no",
                             pa.repeat(pa.scalar(1, pa.int64()), rows))
    table = table.set_column(table.schema.get_field_index("invoice_date"), "invoice_date",
                             pa.array([days[int(f)] for f in files], pa.date32()))
    loaded_at = dt.datetime(2025, 11, 1)
    table = (table.append_column("_source_file", pa.array([names[int(f)] for f in files]))
             .append_column("_source_version", pa.repeat(pa.scalar("h1"), rows))
             .append_column("_loaded_at", pa.repeat(pa.scalar(loaded_at, pa.timestamp("us")), rows))
             .append_column("_run_id", pa.repeat(pa.scalar("bench-history"), rows)))
    entries = []
    for f, name in enumerate(names):
        ref = resolve_path(name)
        assert ref is not None, name
        n = min(FILE_ROWS, rows - f * FILE_ROWS)
        entries.append(_entry(ref, "h1", n))
    return table, entries


def fill_duckdb(wh: DuckDBWarehouse, table: pa.Table, entries: list[LedgerEntry]) -> None:
    """Insert the history rows and ledger rows in bulk (not through load_file: only its result matters)."""
    from blocks.warehouse import sql_builders as sb

    cur = wh._connection().cursor()
    cur.register("_history", table)
    cols = ", ".join(table.column_names)
    cur.execute(f"INSERT INTO {FIS.target_table} ({cols}) SELECT {cols} FROM _history")
    cur.unregister("_history")
    cur.executemany(sb.insert_values_sql("etl_file_ledger", sb.LEDGER_COLUMNS, sb.DUCKDB),
                    [list(sb.ledger_values(e)) for e in entries])
    cur.execute("CHECKPOINT")
    cur.close()


def fill_mariadb(wh: MySQLWarehouse, table: pa.Table, entries: list[LedgerEntry]) -> None:
    """Insert the history rows (LOAD DATA, 500k rows per statement) and ledger rows in bulk."""
    from blocks.warehouse import sql_builders as sb

    with wh._cursor(transaction=False) as cur:
        for start in range(0, table.num_rows, 500_000):
            load_batches(cur, FIS.target_table, [table.slice(start, 500_000)])
        cur.executemany(sb.insert_values_sql("etl_file_ledger", sb.LEDGER_COLUMNS, sb.PYMYSQL),
                        [sb.ledger_values(e) for e in entries])


def with_invoices(rows: pa.Table, run: int) -> pa.Table:
    """The small file's rows under invoice numbers of their own for run `run` (`INV41…` becomes `INV<50+run>…`):
    each timed file is a new one, as every day's are, never an update of rows loaded before."""
    invoice = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(rows["invoice_no"], 0, 3), pa.scalar(f"{50 + run:02d}"),
        pc.utf8_slice_codeunits(rows["invoice_no"], 5, 13), "")
    return rows.set_column(rows.schema.get_field_index("invoice_no"), "invoice_no", invoice)


def timed_load(wh: Warehouse, ref: FileRef, rows: pa.Table, path: str, version: str) -> float:
    """Seconds of one `load_file` of `rows` as version `version` of `path` (lineage added before the clock starts)."""
    entry = _entry(ref, version, rows.num_rows)
    entry.source_file = path
    data = with_lineage(rows, entry)
    start = time.perf_counter()
    wh.load_file(FIS, entry, data, QUARANTINE_SCHEMA.empty_table())
    return time.perf_counter() - start


def measure(empty: Warehouse, full: Warehouse, ref: FileRef, rows: pa.Table, runs: int) -> dict[str, list[float]]:
    """Seconds per `load_file` of a small file, alternating the empty and the full warehouse.

    Run i loads a new path with new invoice numbers ("new": the daily case) and then a second version of
    the same path ("again": a re-delivery, whose load deletes the first version's 2,000 rows first).
    """
    times: dict[str, list[float]] = {"empty": [], "full": [], "empty again": [], "full again": []}
    stem = ref.path[:-len(".parquet")]
    for wh in (empty, full):  # the first load of a process pays for statement preparation: not counted
        timed_load(wh, ref, with_invoices(rows, 49), f"{stem}_warm.parquet", "w1")
    for i in range(runs):
        new, path = with_invoices(rows, i), f"{stem}_r{i:03d}.parquet"
        order = (("empty", empty), ("full", full)) if i % 2 == 0 else (("full", full), ("empty", empty))
        for name, wh in order:
            times[name].append(timed_load(wh, ref, new, path, "v1"))
        for name, wh in order:
            times[f"{name} again"].append(timed_load(wh, ref, new, path, "v2"))
    return times


@contextmanager
def _pair(empty: Warehouse, full: Warehouse, root: Path,
          fill: Callable[[], None]) -> Iterator[tuple[Warehouse, Warehouse]]:
    """Both warehouses migrated and given the dimensions, then `fill` (the history, into `full`); closed after."""
    try:
        for wh in (empty, full):
            wh.migrate()
            load_dimensions(wh, root)
        fill()
        yield empty, full
    finally:
        empty.close()
        full.close()


@contextmanager
def duckdb_pair(root: Path, table: pa.Table, entries: list[LedgerEntry]) -> Iterator[tuple[Warehouse, Warehouse]]:
    """Two DuckDB file warehouses with dimensions, the second also with the history."""
    with tempfile.TemporaryDirectory(prefix="dw-bench-history-") as tmp:
        empty, full = DuckDBWarehouse(path=f"{tmp}/empty.duckdb"), DuckDBWarehouse(path=f"{tmp}/full.duckdb")
        with _pair(empty, full, root, lambda: fill_duckdb(full, table, entries)) as pair:
            yield pair


@contextmanager
def mariadb_pair(root: Path, table: pa.Table, entries: list[LedgerEntry]) -> Iterator[tuple[Warehouse, Warehouse]]:
    """Two MariaDB databases with dimensions, the second also with the history."""
    with fresh_mariadb() as (e_name, _), fresh_mariadb() as (f_name, _):
        empty = MySQLWarehouse(host=HOST, port=PORT, user=USER, database=e_name)
        full = MySQLWarehouse(host=HOST, port=PORT, user=USER, database=f_name)
        with _pair(empty, full, root, lambda: fill_mariadb(full, table, entries)) as pair:
            yield pair


BACKENDS = ("MariaDB", "DuckDB")


def run(history_rows: int = 5_000_000, runs: int = 7, backends: tuple[str, ...] = BACKENDS) -> list[Result]:
    """Per backend (MariaDB, then DuckDB, those of `backends`): [new file empty, new file full,
    re-delivery empty, re-delivery full] Results."""
    root = sample()
    ref, rows = small_file(root)
    table, entries = history(history_rows, root)
    results = []
    pairs: list[tuple[str, Callable[..., object]]] = [("MariaDB", mariadb_pair), ("DuckDB", duckdb_pair)]
    for backend, pair in pairs:
        if backend not in backends:
            continue
        with pair(root, table, entries) as (empty, full):  # type: ignore[attr-defined]
            times = measure(empty, full, ref, rows, runs)
        case = f"small file vs history, {backend}"
        for kind, what in (("", "new file"), (" again", "re-delivery")):
            results.append(Result(case, f"load_file, {what} of 2,000 rows, empty warehouse", rows.num_rows,
                                  times[f"empty{kind}"]))
            results.append(Result(case, f"load_file, {what} of 2,000 rows, {history_rows:,}-row warehouse",
                                  rows.num_rows, times[f"full{kind}"], note=f"{history_rows:,} fis rows of history"))
    return results


def ratio(empty: Result, full: Result) -> float:
    """Median time into the full warehouse / median time into the empty one."""
    return statistics.median(full.seconds) / statistics.median(empty.seconds)


def _by_backend(results: list[Result]) -> Iterator[tuple[str, list[Result]]]:
    """(backend, its four Results) in `run`'s order."""
    for i in range(0, len(results), 4):
        yield results[i].case.rsplit(", ", 1)[-1], results[i:i + 4]


def ratios(results: list[Result]) -> list[str]:
    """One line per backend: new file and re-delivery, full / empty."""
    return [f"Small file into the {rs[1].note.split(' fis')[0]}-row warehouse / into an empty one, {backend}: "
            f"new file {ratio(rs[0], rs[1]):.2f}x ({rs[1].median_s * 1000:.0f} / {rs[0].median_s * 1000:.0f} ms), "
            f"re-delivery {ratio(rs[2], rs[3]):.2f}x ({rs[3].median_s * 1000:.0f} / {rs[2].median_s * 1000:.0f} ms)"
            for backend, rs in _by_backend(results)]


def targets(results: list[Result]) -> list[Target]:
    """Issue 17's target per backend: a new small file into the 5M-row warehouse <= 1.2x into an empty one."""
    return [Target(f"small file into 5M-row warehouse <= 1.2x empty ({backend})", "<= 1.2x",
                   f"{ratio(rs[0], rs[1]):.2f}x", ratio(rs[0], rs[1]) <= 1.2) for backend, rs in _by_backend(results)]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backend", action="append", choices=("MariaDB", "DuckDB"))
    args = parser.parse_args()
    res = run(args.rows, args.runs, tuple(args.backend or ("MariaDB", "DuckDB")))
    for r in res:
        print(f"{r.case:40s} {r.variant:55s} median {r.median_s * 1000:7.1f} ms  spread "
              f"{min(r.seconds) * 1000:.1f}-{max(r.seconds) * 1000:.1f} ms")
    print("\n".join(ratios(res)))

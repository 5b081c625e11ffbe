"""Benchmark: clean + validate 1M generated fis rows through the contract's pandera model.

    .venv/bin/python -m bench.validation [ROWS] [REPEATS]

Generates one business day of ROWS secondary-sales lines with the sample generator (Parquet and
CSV parts), reads them once, then times cleaning and validation REPEATS times and prints the
median and spread. Reading is not timed: this is the cost of the rules, not of the disk.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from datawiz.sample_data import generate
from tasks.clean import clean_table
from tasks.contracts import resolve_path
from tasks.extract import read_raw
from tasks.validate import validate_rows


def one_table(rows: int, root: Path) -> tuple[pa.Table, str]:
    """All fis parts of one generated day as one text-typed table (as a big CSV would arrive)."""
    generate(root, days=1, fis_rows_per_day=rows)
    parts = sorted(root.glob("facts/fis/**/*.*"))
    tables = [as_text(read_raw(part, resolve_path(part.relative_to(root).as_posix()))) for part in parts]
    return pa.concat_tables(tables), parts[0].relative_to(root).as_posix()


def as_text(table: pa.Table) -> pa.Table:
    """Every column as the text a CSV export would carry (timestamps without fractions)."""
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
        columns.append(col.cast(pa.string()))
    return pa.table(columns, names=table.column_names)


def main(rows: int = 1_000_000, repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw, rel = one_table(rows, Path(tmp))
    ref = resolve_path(rel)
    assert ref is not None
    clean_s, validate_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cleaned = clean_table(raw, ref.contract, rel)
        t1 = time.perf_counter()
        split = validate_rows(cleaned, ref, enforce_ratio=False)
        t2 = time.perf_counter()
        clean_s.append(t1 - t0)
        validate_s.append(t2 - t1)
    n = raw.num_rows
    for name, times in (("clean", clean_s), ("validate (pandera)", validate_s)):
        med = statistics.median(times)
        print(f"{name:<20} {n:>9,} rows  median {med:6.2f} s  ({n / med:>11,.0f} rows/s)  "
              f"spread {min(times):.2f}-{max(times):.2f} s")
    total = [c + v for c, v in zip(clean_s, validate_s, strict=True)]
    print(f"{'clean + validate':<20} {n:>9,} rows  median {statistics.median(total):6.2f} s  "
          f"loaded {split.stats.rows_loaded:,} quarantined {split.stats.rows_quarantined:,}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))

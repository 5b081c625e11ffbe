"""Validation alone: clean + validate 1M generated fis rows through the contract's pandera model.

    .venv/bin/python -m bench.validation [ROWS] [RUNS]

The rows are the benchmark day's (bench/data.py) as all-text columns, the way a big CSV arrives,
so cleaning has every value to coerce. Reading is not timed: this is the cost of the rules, not
of the disk.
"""

from __future__ import annotations

import sys
import time

import pyarrow as pa
import pyarrow.compute as pc

from bench.common import Result
from bench.data import fis_name, fis_table
from datawiz.core.registry import FIS, resolve_path
from tasks.clean import clean_table
from tasks.validate import validate_rows


def as_text(table: pa.Table) -> pa.Table:
    """Every column as the text a CSV export would carry (timestamps without fractions)."""
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
        columns.append(col.cast(pa.string()))
    return pa.table(columns, names=table.column_names)


def run(rows: int = 1_000_000, runs: int = 3) -> list[Result]:
    """Time cleaning and validation (pandera) separately, `runs` times each."""
    path = fis_name(1)
    ref = resolve_path(path)
    assert ref is not None
    raw = as_text(fis_table(rows))
    clean = Result("validation alone", "clean (coerce text to contract types)", raw.num_rows)
    check = Result("validation alone", "validate (dedup + pandera rules)", raw.num_rows)
    for _ in range(runs):
        started = time.perf_counter()
        cleaned = clean_table(raw, FIS, path)
        halfway = time.perf_counter()
        split = validate_rows(cleaned, ref, enforce_ratio=False)
        clean.seconds.append(halfway - started)
        check.seconds.append(time.perf_counter() - halfway)
    stats = split.stats
    check.note = f"loaded {stats.rows_loaded:,}, quarantined {stats.rows_quarantined:,}"
    return [clean, check]


if __name__ == "__main__":
    for r in run(*(int(a) for a in sys.argv[1:3])):
        print(f"{r.variant:<40} {r.rows:>9,} rows  median {r.median_s:6.2f} s  ({r.rate:>11,.0f} rows/s)  "
              f"spread {r.spread()} s  {r.note}")

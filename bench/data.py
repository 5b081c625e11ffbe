"""The benchmark data set, made with the sample generator and kept between runs (data/bench/).

One business day of secondary sales is generated (`datawiz.sample_data.generate`, fixed seed and
date), its parts are joined into one typed table, and the landing folders the cases read are cut
from it: the first 1M and 5M rows as one Parquet file each, the first 1M rows again as 500 files of
2,000 rows, and the first 2,000 rows as one file (a flow run's fixed cost). Every landing folder also
holds the day's dimension snapshots and constants, so the flows find the warehouse as in production
(orphans are counted against real dimensions).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datawiz.sample_data import generate

DAY = dt.date(2025, 11, 20)
SEED = 42
ROOT = Path(os.environ.get("DATAWIZ_BENCH_DIR", "data/bench"))
FIS_DIR = f"facts/fis/{DAY:%Y/%m/%d}"
# The generator draws 0.9-1.1x the rows asked for; this asks enough to cut 5M exactly.
GENERATED_ROWS = 5_600_000


@dataclass(frozen=True)
class Landing:
    """A landing folder laid out like the Azure container, and its fis rows."""

    root: Path
    fis_files: int
    fis_rows: int


def fis_name(part: int) -> str:
    """Landing path of fis part `part` of the benchmark day."""
    return f"{FIS_DIR}/fis_{DAY:%Y%m%d}_{part:03d}.parquet"


def generated() -> Path:
    """The generator's own output for the benchmark day (made once)."""
    out = ROOT / "generated"
    done = out / ".done"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        generate(out, days=1, seed=SEED, fis_rows_per_day=GENERATED_ROWS, end_date=DAY)
        done.touch()
    return out


def fis_table(rows: int) -> pa.Table:
    """The first `rows` generated fis lines as one typed table (CSV parts typed like the Parquet ones)."""
    parts = sorted((generated() / FIS_DIR).glob("fis_*.*"))
    schema = next(pq.read_schema(p) for p in parts if p.suffix == ".parquet")
    tables = []
    for part in parts:
        if part.suffix == ".parquet":
            tables.append(pq.read_table(part))
        else:
            opts = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True)
            tables.append(pacsv.read_csv(part, convert_options=opts).select(schema.names).cast(schema))
    table = pa.concat_tables(tables)
    if table.num_rows < rows:
        raise ValueError(f"the generated day holds {table.num_rows:,} fis rows, fewer than {rows:,}")
    return table.slice(0, rows)


def landing(rows: int, files: int = 1) -> Landing:
    """A landing folder with `rows` fis rows in `files` equal Parquet files (made once, then reused)."""
    root = ROOT / f"landing-{rows}x{files}"
    done = root.parent / f".{root.name}.done"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        _copy_dimensions(root)
        table = fis_table(rows)
        per_file = -(-rows // files)
        (root / FIS_DIR).mkdir(parents=True)
        for part in range(files):
            # Row groups of 128k rows, like the files big producers write; a reader can stream them.
            pq.write_table(table.slice(part * per_file, per_file), root / fis_name(part + 1),
                           row_group_size=128 * 1024)
        done.touch()
    return Landing(root, files, rows)


def _copy_dimensions(root: Path) -> None:
    """Dimension snapshots and business constants of the generated day (no fact files)."""
    src = generated()
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_file() and rel.parts[0] != "facts" and not path.name.startswith("."):
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


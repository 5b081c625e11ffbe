"""The benchmark table (terminal) and docs/PERFORMANCE.md: machine, results, ratios, targets."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

from bench.common import Result
from tests.integration.services import mariadb_connect

DOC = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"


@dataclass
class Target:
    """One target of issue 9: what it asks, what was measured, and whether it is met."""

    name: str
    wanted: str
    measured: str
    met: bool


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mariadb_version() -> str:
    conn = mariadb_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        text = str(cur.fetchone()[0])
    conn.close()
    return text


def machine() -> list[str]:
    """Lines describing where the numbers were taken."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu_model()}, {psutil.cpu_count(logical=True)} logical cores",
        f"- RAM: {psutil.virtual_memory().total / 2**30:.1f} GiB; OS: {platform.platform()}",
        f"- Python {platform.python_version()}, MariaDB {mariadb_version()}, DuckDB {version('duckdb')}, "
        f"pyarrow {version('pyarrow')}, pandas {version('pandas')}, pandera {version('pandera')}, "
        f"Prefect {version('prefect')}, SQLAlchemy {version('sqlalchemy')}",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average at the end (1/5/15 min): {load}",
    ]


def table(results: list[Result]) -> list[str]:
    """Markdown table: one row per case variant."""
    lines = ["| case | variant | rows | runs | median s | spread s | rows/s | peak RSS MB | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.case} | {r.variant} | {r.rows:,} | {len(r.seconds)} | {r.median_s:.2f} | {r.spread()} "
                     f"| {r.rate:,.0f} | {r.rss()} | {r.note} |")
    return lines


def terminal(results: list[Result], ratios: list[str], targets: list[Target]) -> str:
    """The plain-text summary printed at the end of `make bench`."""
    out = [f"{'case':<28} {'variant':<52} {'rows':>10} {'median s':>9} {'spread s':>12} {'rows/s':>11} {'RSS MB':>7}"]
    for r in results:
        out.append(f"{r.case:<28} {r.variant:<52} {r.rows:>10,} {r.median_s:>9.2f} {r.spread():>12} "
                   f"{r.rate:>11,.0f} {r.rss():>7}  {r.note}")
    out += ["", *ratios, ""]
    out += [f"{'MET ' if t.met else 'MISS'} {t.name}: wanted {t.wanted}, measured {t.measured}" for t in targets]
    return "\n".join(out)


def write_doc(results: list[Result], ratios: list[str], targets: list[Target], notes: list[str],
              elapsed_s: float) -> Path:
    """Write docs/PERFORMANCE.md from this run."""
    body = [
        "# Performance",
        "",
        "Written by `make bench` (bench/, `python -m bench`): every number below comes from one run on the",
        "machine described here; each case ran several times and is reported as median and spread (min-max).",
        "Data: one business day made by the sample generator (`datawiz.sample_data.generate`, seed 42),",
        "cut into a 1M-row and a 5M-row fis Parquet file, 500 files of 2,000 rows and one file of 2,000 rows",
        "(bench/data.py).",
        "",
        "## Machine",
        "",
        *machine(),
        f"- Whole benchmark: {elapsed_s / 60:.1f} min",
        "",
        "## Results",
        "",
        *table(results),
        "",
        "## Ratios (same run)",
        "",
        *[f"- {r}" for r in ratios],
        "",
        "## Targets (issues 9 and 17)",
        "",
        "| target | wanted | measured | status |",
        "|---|---|---|---|",
        *[f"| {t.name} | {t.wanted} | {t.measured} | {'met' if t.met else '**missed**'} |" for t in targets],
        "",
        "## Notes",
        "",
        *notes,
        "",
    ]
    DOC.write_text("\n".join(body))
    return DOC

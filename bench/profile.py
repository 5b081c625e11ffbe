"""Where the per-file time of the many-small-files case goes: a cProfile of one flow run, summarised.

The profile covers the flow's main thread (Prefect task engine, our tasks, the warehouse calls);
work a producer thread does ahead (read/clean/validate of the next batch) shows up as the wait for
it. cProfile slows Python-heavy code more than C code, so the breakdown is in shares of the profiled
run, not in absolute milliseconds.
"""

from __future__ import annotations

import pstats
from pathlib import Path

# (label, file suffix, function) — the stages a file goes through, outermost first.
PARTS = (
    ("Prefect task runs (all, incl. the work inside)", "prefect/task_engine.py", "run_task_sync"),
    ("  Prefect: create task run", "prefect/task_engine.py", "_create_task_run_locally"),
    ("  Prefect: state changes", "prefect/task_engine.py", "set_state"),
    ("load step: files loaded in the flow's thread (ingest_here)", "tasks/run.py", "ingest_here"),
    ("  ingest_file body", "tasks/load.py", "ingest_file"),
    ("    warehouse load_file (DuckDB statements + waiting for batches)", "blocks/warehouse/duckdb.py", "load_file"),
    ("      DuckDB statements", "blocks/warehouse/duckdb.py", "execute"),
    ("      waiting for the next validated batch", "blocks/warehouse/batches.py", "prefetched"),
    ("    first pass: read keys (files larger than a batch)", "tasks/load.py", "_scan_keys"),
    ("log records (console + API handlers)", "logging/__init__.py", "callHandlers"),
    ("backup step (one task run: concurrent downloads, waits)", "tasks/run.py", "backup_files"),
)


def breakdown(path: Path, files: int) -> list[str]:
    """Markdown lines: each part's cumulative time per file and share of the profiled flow run."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name == "morning")
    lines = ["| part | ms per file (profiled) | share of the run |", "|---|---:|---:|"]
    for label, suffix, func in PARTS:
        cum = sum(ct for (file, _, name), (_, _, _, ct, _) in stats.items()
                  if name == func and file.endswith(suffix))
        depth = (len(label) - len(label.lstrip())) // 2  # nesting shown in the first column (markdown drops spaces)
        lines.append(f"| {'· ' * depth}{label.strip()} | {cum / files * 1000:,.1f} | {cum / total:.0%} |")
    lines.append(f"| whole flow run | {total / files * 1000:,.1f} | 100% |")
    return lines

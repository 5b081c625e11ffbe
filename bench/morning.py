"""The whole morning into MariaDB (load + DD + reports) vs a raw `LOAD DATA LOCAL INFILE` of the same rows.

Setup (not timed): the evening flow's dimension sync, TSR hierarchy and business constants once into a
template database (DD needs all three). Each run copies it into a fresh database, then a child process
(`python -m bench.morning SOURCE WAREHOUSE`) runs the morning flow's blob_backup, fis, dd and
reporting_views steps and reports the flow's wall seconds and its stage times: load = the files' own ingest
seconds (FileReport.seconds), compute_dd and refresh_reports = their task runs (read from the Prefect API), post_load =
the wall time from the start of the first of compute_dd / refresh_reports to the end of the last (where the
warehouse takes two writers the two run at the same time, tasks/transform.rebuild_post_load, so the users wait
for the longer of them, not their sum).
Baseline: `LOAD DATA LOCAL INFILE` of the same cleaned rows into a freshly migrated database
(bench/mariadb_load.py), in the same process and interleaved with the flow runs.

    python -m bench.morning child SOURCE WAREHOUSE   (the child; prints one JSON line)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Result, fresh_mariadb, run_child, timed
from bench.data import DAY, Landing
from bench.end_to_end import clone_mariadb
from bench.mariadb_load import entry_for, good_rows, migrated, raw_load
from bench.report import Target
from blocks.warehouse.mysql import write_load_csv
from tasks.lineage import with_lineage

STEPS = ["blob_backup", "fis", "dd", "reporting_views"]
EVENING_STEPS = ["dimension_sync", "tsr_hierarchy", "business_constants"]
# Post-load stage of a task run, by the start of its name (task_run_name of tasks/transform.py). The load
# stage is the files' own ingest seconds (FileReport.seconds): one at a time, a file loads in the flow's
# thread without a task run of its own (tasks/run.ingest_here).
TASK_STAGES = {"compute_dd": "compute-dd", "refresh_reports": "refresh-reports"}
STAGES = ("load", *TASK_STAGES)
POST_LOAD = ("compute_dd", "refresh_reports")  # the stages after the load: their wall span is "post_load"


@dataclass
class Morning:
    """The measured morning runs and the raw LOAD DATA runs of the same rows."""

    flow: Result
    raw: Result
    stages: dict[str, list[float]] = field(default_factory=dict)

    def stage(self, name: str) -> float:
        """Median seconds of one stage over the runs."""
        values = sorted(self.stages[name])
        return values[len(values) // 2]


@contextmanager
def evening_template(source: str) -> Iterator[str]:
    """A MariaDB database holding what the evening flow loads before a morning (dropped afterwards)."""
    from flows.evening import evening

    with fresh_mariadb() as (name, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        os.environ["DATAWIZ_DATA_DIR"] = tmp
        evening(business_date=DAY, source=source, warehouse=url, steps=EVENING_STEPS)
        yield name


def morning_run(source: str, template: str, rows: int) -> dict[str, float]:
    """One morning flow into a fresh copy of `template`: flow seconds and stage seconds."""
    with fresh_mariadb() as (name, url), tempfile.TemporaryDirectory(prefix="dw-bench-") as work:
        clone_mariadb(template, name, url)
        out, _ = run_child(["bench.morning", "child", source, url], {"DATAWIZ_DATA_DIR": str(Path(work) / "data")})
    if int(out["rows"]) != rows:  # type: ignore[call-overload]
        raise RuntimeError(f"the morning accounted for {out['rows']:,} rows of {rows:,}: {out}")
    return {k: float(v) for k, v in out.items() if k != "rows"}  # type: ignore[arg-type]


def raw_run(rows: int, csv_path: str, columns: list[str]) -> float:
    """Seconds of a raw LOAD DATA LOCAL INFILE of the ready CSV into a freshly migrated database."""
    with fresh_mariadb() as (name, _):
        migrated(name).close()
        return timed(lambda: raw_load(name, csv_path, columns))


def run(landing: Landing, source: str, runs: int) -> Morning:
    """`runs` mornings and `runs` raw loads of the landing's fis rows, interleaved."""
    data = good_rows(landing.fis_rows)
    loaded = with_lineage(data, entry_for(data.num_rows))
    case = "whole morning, MariaDB"
    label = f"DataWiz morning (load + DD + reports), {landing.fis_rows:,} rows"
    result = Morning(Result(case, label, landing.fis_rows),
                     Result(case, "raw LOAD DATA LOCAL INFILE (ready CSV)", data.num_rows))
    with evening_template(source) as template, tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        csv_path = os.path.join(tmp, "ready.csv")
        write_load_csv(loaded, csv_path)
        for _ in range(runs):
            result.raw.seconds.append(raw_run(data.num_rows, csv_path, loaded.column_names))
            out = morning_run(source, template, landing.fis_rows)
            result.flow.seconds.append(out.pop("seconds"))
            for stage, seconds in out.items():
                result.stages.setdefault(stage, []).append(seconds)
    result.flow.note = ", ".join(f"{s} {result.stage(s):.1f} s" for s in (*STAGES, "post_load"))
    return result


# ------------------------------------------------------------------ child


def stage_seconds(flow_run_id: str, wait_s: float = 60) -> dict[str, float]:
    """Seconds per stage: the summed durations of the flow run's task runs, read from the Prefect API.

    Task run states reach the server asynchronously (Prefect 3 sends them as events), so this waits
    until every task run of the flow run has finished there.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flt = FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flt)
            done = all(r.state is not None and r.state.is_final() and r.end_time for r in runs)
            if (done and runs) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    totals = dict.fromkeys(TASK_STAGES, 0.0)
    post_load: list[dt.datetime] = []
    for r in runs:
        for stage, prefix in TASK_STAGES.items():
            if r.name.startswith(prefix) and r.start_time and r.end_time:
                totals[stage] += (r.end_time - r.start_time).total_seconds()
                if stage in POST_LOAD:
                    post_load += [r.start_time, r.end_time]
    totals["post_load"] = (max(post_load) - min(post_load)).total_seconds() if post_load else 0.0
    return totals


def child(source: str, warehouse: str) -> None:
    """Run one morning (what the issue's user ran) and print its seconds, stage seconds and rows."""
    from flows.morning import morning

    started = time.perf_counter()
    summary = morning(business_date=DAY, source=source, warehouse=warehouse, steps=STEPS, skip_wait=True)
    seconds = time.perf_counter() - started
    rows = summary.rows("rows_loaded") + summary.rows("rows_quarantined")
    load = sum(f.seconds for f in summary.files)
    print(json.dumps({"seconds": seconds, "rows": rows, "load": load, **stage_seconds(summary.run_id)}))


if __name__ == "__main__":
    if sys.argv[1:2] != ["child"]:
        raise SystemExit(__doc__)
    child(*sys.argv[2:4])


def judge(morning: Morning) -> tuple[list[str], list[Target]]:
    """Issue 17's targets for the whole morning: >= 0.4x raw LOAD DATA rows/s, DD + reports <= load stage.

    DD + reports is the wall time the run spent on them (post_load: they may run at the same time); their
    summed task times are in the ratio line too."""
    ratio = morning.flow.rate / morning.raw.rate
    load, post = morning.stage("load"), morning.stage("post_load")
    summed = morning.stage("compute_dd") + morning.stage("refresh_reports")
    ratios = [f"Whole morning {morning.flow.rows:,} into MariaDB / raw LOAD DATA rows/s = {ratio:.2f}x; "
              f"stages (medians): {morning.flow.note}; DD + reports (wall, post_load) / load stage = "
              f"{post / load:.2f}x (their summed task times {summed:.1f} s)"]
    targets = [
        Target(f"Whole morning {morning.flow.rows / 1e6:g}M into MariaDB vs raw LOAD DATA", ">= 0.4x",
               f"{ratio:.2f}x", ratio >= 0.4),
        Target("DD + reports vs load stage (whole morning)", "<= load stage", f"{post:.1f} s / {load:.1f} s",
               post <= load),
    ]
    return ratios, targets

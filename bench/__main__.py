"""`make bench`: every benchmark case of issue 9 in one run; prints a table and writes docs/PERFORMANCE.md.

    .venv/bin/python -m bench [--quick]

Starts what it needs like the tests do (MariaDB if absent, a private Azurite, a temporary Prefect
server). `--quick` runs every case on a tenth of the rows, once, and writes no document (for
working on the benchmarks themselves). Benchmarks are numbers, not tests: nothing here asserts a
target; the table says where each one stands.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import (
    concurrency,
    data,
    duckdb_load,
    encoding,
    end_to_end,
    history,
    mariadb_load,
    morning,
    small_files,
    validation,
)
from bench.common import Result, prefect_server
from bench.report import Target, terminal, write_doc
from blocks.azure import ENV_CONNECTION_STRING
from tests.integration.services import ensure_mariadb, running_azurite


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions (full: the issue's sizes, fitted to 15 minutes on 2 cores)."""

    rows: int = 1_000_000
    big_rows: int = 5_000_000
    files: int = 500
    to_sql_rows: int = 10_000
    runs: int = 3  # cases measured inside this process
    flow_runs: int = 2  # 1M-row flows (a child process each)
    big_runs: int = 1  # 5M-row flows
    fixed_rows: int = 2_000  # one small file: the fixed cost of a DuckDB flow run
    fixed_runs: int = 3
    small_files_runs: int = 2
    profile_files: int = 50
    parallel_rows: int = concurrency.FILES * concurrency.ROWS_PER_FILE  # 8 files x 250k
    history_rows: int = 5_000_000  # small file into an empty vs a history_rows warehouse (issue 17)
    history_runs: int = 7
    morning_rows: int = 2_000_000  # issue 17: the whole morning (load + DD + reports) of one day
    morning_runs: int = 1


QUICK = Plan(rows=100_000, big_rows=300_000, files=50, to_sql_rows=2_000, runs=1, flow_runs=1, big_runs=1,
             fixed_runs=1, small_files_runs=1, profile_files=20, parallel_rows=concurrency.FILES * 25_000,
             history_rows=300_000, history_runs=3, morning_rows=200_000)


def step(name: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)


def main(plan: Plan, write: bool) -> None:
    started, load_before = time.perf_counter(), os.getloadavg()
    ensure_mariadb()
    step("data (sample generator; reused from data/bench/ when present)")
    one, big, many = data.landing(plan.rows), data.landing(plan.big_rows), data.landing(plan.rows, plan.files)
    sample = data.landing(plan.profile_files * 2000, plan.profile_files)
    parallel = data.landing(plan.parallel_rows, concurrency.FILES)
    tiny = data.landing(plan.fixed_rows)
    results: list[Result] = []
    step("validation alone")
    results += validation.run(plan.rows, plan.runs)
    step("Stream Load encoding")
    results.append(encoding.run(plan.rows, plan.runs))
    step("load stage, MariaDB")
    raw, ours, pandas = mariadb_load.run(plan.rows, plan.to_sql_rows, plan.runs)
    results += [raw, ours, pandas]
    with tempfile.TemporaryDirectory(prefix="dw-bench-azurite-") as az, running_azurite(Path(az)) as conn, \
            prefect_server():
        os.environ[ENV_CONNECTION_STRING] = conn
        step("upload to Azurite")
        sources = {land: end_to_end.upload(land, conn, f"bench-{i}") for i, land in
                   enumerate((one, big, many, sample, parallel, tiny))}
        step("dimensions (evening flow, once per backend)")
        with end_to_end.dimension_templates(sources[one]) as dims:
            step(f"end to end, MariaDB ({plan.rows:,} and {plan.big_rows:,} rows)")
            maria_one = end_to_end.mariadb_flow(one, sources[one], plan.flow_runs, dims)
            maria_big = end_to_end.mariadb_flow(big, sources[big], plan.big_runs, dims)
            step("end to end, DuckDB")
            duck_one = end_to_end.duckdb_flow(one, sources[one], plan.flow_runs, dims)
            duck_big = end_to_end.duckdb_flow(big, sources[big], plan.big_runs, dims)
            duck_fixed = end_to_end.duckdb_fixed_cost(tiny, sources[tiny], plan.fixed_runs, dims)
            step("load stage, DuckDB, in process (producer alone; inserts alone; ingest_file)")
            duck_parts = [*duckdb_load.producer(one, plan.runs), *duckdb_load.inserts(one, plan.runs),
                          duckdb_load.ingest(one, plan.runs, dims.duckdb)]
            step(f"many small files ({plan.files} files)")
            many_files = small_files.run(many, sources[many], plan.small_files_runs, dims)
            step(f"profile of {plan.profile_files} small files")
            profile = small_files.profiled(sample, sources[sample], dims, data.ROOT / "small-files.prof")
            step(f"files in parallel ({concurrency.FILES} files, MariaDB, concurrency 1 vs 2 interleaved)")
            in_parallel = concurrency.run(parallel, sources[parallel], plan.flow_runs, dims)
        step(f"whole morning, MariaDB ({plan.morning_rows:,} rows, load + DD + reports)")
        day = data.landing(plan.morning_rows)
        dawn = morning.run(day, end_to_end.upload(day, conn, "bench-morning"), plan.morning_runs)
    native_one, native_big = end_to_end.duckdb_native(one, plan.runs), end_to_end.duckdb_native(big, plan.runs)
    results += [maria_one, maria_big, duck_one, native_one, duck_big, native_big, duck_fixed, *duck_parts, many_files,
                *in_parallel]
    per_file = small_files.overhead_ms(many_files, duck_one, plan.files)
    many_files.note = f"overhead {per_file:.0f} ms/file vs one file of the same rows"
    ratios, targets = judge(raw, ours, pandas, maria_one, maria_big, duck_one, native_one, duck_fixed, per_file)
    ratios += duckdb_load.ratios(duck_parts, native_one)
    parallel_ratio, parallel_target = concurrency.judged(*in_parallel)
    ratios.append(parallel_ratio)
    targets.append(parallel_target)
    step(f"small file into an empty vs a {plan.history_rows:,}-row warehouse")
    against_history = history.run(plan.history_rows, plan.history_runs)
    results += against_history
    ratios += history.ratios(against_history)
    targets += history.targets(against_history)
    results += [dawn.flow, dawn.raw]
    dawn_ratios, dawn_targets = morning.judge(dawn)
    ratios, targets = ratios + dawn_ratios, targets + dawn_targets
    ratios.append(f"Peak RSS into DuckDB (for information; the issue's memory targets are the MariaDB runs): "
                  f"{duck_big.rows:,}-row file {max(duck_big.rss_mb):,.0f} MB, {duck_one.rows:,}-row file "
                  f"{max(duck_one.rss_mb):,.0f} MB")
    elapsed = time.perf_counter() - started
    print()
    print(terminal(results, ratios, targets))
    print("\n".join(["", *profile]))
    print(f"\nwhole benchmark: {elapsed / 60:.1f} min")
    if write:
        load = ", ".join(f"{x:.1f}" for x in load_before)
        notes = [*NOTES, f"- Load average (1/5/15 min) when the benchmark started: {load} on 2 cores "
                 "(other jobs shared the machine when it is above ~0.5: compare the spreads).",
                 "", f"### Profile: {plan.profile_files} small files through the flow (cProfile, one run)", "",
                 *profile]
        print(f"written: {write_doc(results, ratios, targets, notes, elapsed)}")


def judge(raw: Result, ours: Result, pandas: Result, maria_one: Result, maria_big: Result, duck_one: Result,
          native_one: Result, duck_fixed: Result, per_file_ms: float) -> tuple[list[str], list[Target]]:
    """The ratios of issues 9 and 17, and each target's status."""
    load_vs_raw, load_vs_pandas = ours.rate / raw.rate, ours.rate / pandas.rate
    e2e_vs_raw = maria_one.rate / raw.rate
    duck_vs_native = duck_one.rate / native_one.rate
    duck_load = statistics.median(duck_one.load_seconds)
    duck_ceiling = end_to_end.ceiling(native_one, duck_fixed)
    rss_one, rss_big = (max(r.rss_mb) for r in (maria_one, maria_big))
    ratios = [
        f"MariaDB load stage: DataWiz / raw LOAD DATA = {load_vs_raw:.2f}x; DataWiz / to_sql = {load_vs_pandas:.1f}x",
        f"End to end 1M into MariaDB / raw LOAD DATA rows/s = {e2e_vs_raw:.2f}x",
        f"End to end 1M into DuckDB / DuckDB INSERT ... read_parquet = {duck_vs_native:.2f}x; the load stage alone "
        f"(the file's own ingest in those runs) / read_parquet = {native_one.median_s / duck_load:.2f}x "
        f"({duck_load:.2f} s of the flow run's {duck_one.median_s:.2f} s)",
        f"DuckDB end to end, the most a flow run can reach: a load as fast as DuckDB INSERT ... read_parquet "
        f"({native_one.median_s:.2f} s) plus the flow run's fixed cost ({duck_fixed.median_s:.2f} s, the same flow "
        f"on one {duck_fixed.rows:,}-row file) = {duck_ceiling:.2f}x",
        f"Peak RSS, {maria_big.rows:,}-row file / {maria_one.rows:,}-row file = {rss_big / rss_one:.2f}x "
        f"({rss_big:,.0f} MB / {rss_one:,.0f} MB)",
        f"Many small files: {per_file_ms:.0f} ms overhead per file",
    ]
    targets = [
        Target("MariaDB load stage vs raw LOAD DATA", ">= 0.7x", f"{load_vs_raw:.2f}x", load_vs_raw >= 0.7),
        Target("MariaDB load stage vs to_sql", ">= 5x", f"{load_vs_pandas:.1f}x", load_vs_pandas >= 5),
        Target("End to end 1M into MariaDB vs raw LOAD DATA", ">= 0.5x", f"{e2e_vs_raw:.2f}x", e2e_vs_raw >= 0.5),
        Target("Peak RSS 5M / 1M", "<= 1.3x", f"{rss_big / rss_one:.2f}x", rss_big <= 1.3 * rss_one),
        Target("Peak RSS 5M", "< 1.5 GB", f"{rss_big:,.0f} MB", rss_big < 1536),
        # Issue 9 asked for <= 150 ms per file; issue 17 for <= 60 ms.
        Target("Many small files, overhead per file", "<= 60 ms", f"{per_file_ms:.0f} ms", per_file_ms <= 60),
        Target("End to end 1M into DuckDB vs read_parquet", ">= 0.6x",
               f"{duck_vs_native:.2f}x (at most {duck_ceiling:.2f}x reachable: see ratios)", duck_vs_native >= 0.6),
    ]
    return ratios, targets


NOTES = [
    "- Rows/s of the end-to-end cases use the flow run's own wall time (download, clean, validate, load,"
    " ledger, Prefect task runs); the evening flow loads the dimensions first, untimed, and Python start-up is"
    " not counted. Peak RSS is sampled every 20 ms over the child process and its children.",
    "- Runs per case (the whole suite must stay under 15 minutes on 2 cores): 3 for the cases measured in"
    " process (validation, encoding, load stage, DuckDB's own INSERT), 2 for the 1M-row flows and the 500 small"
    " files, 1 for the 5M-row flows.",
    "- to_sql runs on the first rows only (it is two orders of magnitude slower); its rows/s is what compares.",
    "- The many-small-files case reads from Azurite like the big-file cases, so its one-file baseline is the"
    " end-to-end DuckDB case on the same 1M rows.",
    "- Files in parallel (bench/concurrency.py): the morning flow (backup + fis) over 8 Parquet files of 250,000"
    " rows into MariaDB, DATAWIZ_LOAD_CONCURRENCY=1 and =2 alternating run by run, each into a fresh copy of the"
    " dimensions database; with 2 cores, two loads compete with each other and with MariaDB for the CPU.",
    "- Every flow run ends on a tick of Prefect's heartbeat thread: Prefect 3.9 sends flow-run heartbeats (every"
    " 180 s by default) from a thread that sleeps in 1-second steps and joins it when the run ends"
    " (prefect/flow_engine.py `_send_heartbeats`), so a run ends up to 1 s after its work, on a whole second"
    " from the thread's start. Flow times move in 1-second steps: the 1M-row DuckDB flow took 4.32-4.51 s"
    " whether its work ended 3.3 s or 4.0 s after the start (measured 2026-12-04).",
    "- DuckDB end to end vs read_parquet: a flow run costs a fixed amount before and after its rows' own work,"
    " measured by the same DuckDB flow on a day of one 2,000-row file (its load stage ~0.05 s): Prefect's"
    " flow-run creation (its first parameter serialisation imports fastapi), state changes and task runs, the"
    " heartbeat join (0-1 s), the Azure SDK's import, listing, the download and the run's bookkeeping. Even a"
    " load of the 1M rows as fast as DuckDB's own insert would then reach read_parquet / (read_parquet + fixed"
    " cost): the ratios give that ceiling next to the 0.6x target. The note on each flow row gives its load"
    " stage apart; the ratios give the load stage alone against read_parquet (measured 2026-12-04 with cProfile"
    " on that small-file flow: heartbeat join 0.40 s, Azure SDK import 0.28 s, flow-run creation 0.27 s of which"
    " 0.23 s is fastapi's import, DataWiz's own bookkeeping, planning and task runs ~0.3 s).",
    "- Whole morning (bench/morning.py): stage times are the Prefect task runs' durations summed per stage;"
    " compute_dd and refresh_reports run at the same time on MariaDB (tasks/transform.rebuild_post_load), so"
    " post_load, their wall span, is what the run waits for and what the DD + reports target compares.",
]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, one run, no document")
    args = parser.parse_args()
    main(QUICK if args.quick else Plan(), write=not args.quick)

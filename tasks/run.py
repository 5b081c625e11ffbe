"""What every flow does around its steps: resolve configuration, migrate, log the run, load files.

Kept out of the flow files so each flow reads like a table of contents.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from prefect import Flow, get_client, get_run_logger
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from blocks.source import Source, SourceChanged, resolve_source
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import Warehouse
from datawiz import LOCAL_SERVER_STARTUP_SECONDS
from datawiz.core.errors import FileLoadFailed, describe_error, is_transient
from datawiz.core.redact import without_url_password
from datawiz.core.registry import LoadMode
from tasks.alerts import send_validation_alert
from tasks.extract import PlannedFile, fetch_files, fetch_task, raw_path
from tasks.load import FileReport, ingest_file
from tasks.report import RunSummary, publish_quality_report, send_success_email, table_counts
from tasks.runlog import current_run_id, finish_run, reconcile_run_log, start_run
from tasks.telemetry import annotate_run, record_freshness, record_job, stage

# `python flows/x.py` and `datawiz demo` start a temporary Prefect server in a subprocess that
# inherits this environment. Stopped at exit with task-run events still queued, it logs them as
# errors with tracebacks although every run is complete; only its critical messages are shown.
# (A real server is its own process with its own settings: this changes nothing there.)
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")

# What `get_run_logger()` returns: a plain logger outside a run, Prefect's adapter inside one.
RunLogger = logging.Logger | logging.LoggerAdapter[logging.Logger]


@dataclass
class RunContext:
    """The resolved source and warehouse of one run, and its summary being filled in."""

    source: Source
    warehouse: Warehouse
    summary: RunSummary
    raw_root: str | None = None

    @property
    def run_id(self) -> str:
        return self.summary.run_id


@contextmanager
def pipeline_run(
    flow: str, business_date: dt.date, source: str | None, warehouse: str | None, steps: list[str]
) -> Iterator[RunContext]:
    """Open source + warehouse, migrate, and bracket the run in etl_run_log (failed runs are logged too).

    Flow-level retries are for failures a re-run can fix; a terminal one (bad configuration, a
    missing container, no evening run after the wait) switches them off for this run.
    Each attempt counts once in `datawiz.job.runs` (flow, completed|failed).
    """
    started = time.perf_counter()
    try:
        with _bracketed_run(flow, business_date, source, warehouse, steps) as ctx:
            yield ctx
    except Exception as exc:
        record_job(flow, "failed", time.perf_counter() - started)
        if not is_transient(exc):
            forbid_flow_retry()
        raise
    record_job(flow, "completed", time.perf_counter() - started)


def forbid_flow_retry() -> None:
    """Set this flow run's retries to 0 on the server, so its Failed state is final."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    policy = ctx.flow_run.empirical_policy.model_copy(update={"retries": 0})
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, empirical_policy=policy)


@contextmanager
def _bracketed_run(
    flow: str, business_date: dt.date, source: str | None, warehouse: str | None, steps: list[str]
) -> Iterator[RunContext]:
    started = time.perf_counter()
    wh = resolve_warehouse(warehouse)
    src = resolve_source(source)
    applied = wh.migrate()
    logger = get_run_logger()
    run = FlowRunContext.get()
    release = run.flow_run.deployment_version if run is not None and run.flow_run is not None else None
    logger.info("%s %s: source %s, warehouse %s%s", flow, business_date, src.describe(), wh.describe(),
                f", release {release}" if release else "")
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    _reconcile_run_log(wh, logger)
    ctx = RunContext(src, wh, RunSummary(flow, business_date, current_run_id(), steps=steps))
    annotate_run(business_date=business_date.isoformat(), run_id=ctx.run_id, backend=wh.dialect)
    start_run(wh, ctx.run_id, flow, business_date)
    try:
        yield ctx
    except BaseException as exc:
        finish_run(wh, ctx.run_id, "failed", describe_error(exc)[:1000])
        wh.close()
        raise
    ctx.summary.seconds = round(time.perf_counter() - started, 2)
    ctx.summary.notes["table_counts"] = table_counts(wh)
    record_freshness(wh)  # the newest loaded business date per fact table, for datawiz.freshness.age
    publish_quality_report(ctx.summary)
    finish_run(wh, ctx.run_id, "completed")
    send_validation_alert(ctx.summary, wh)  # only when a file was rejected or rows quarantined
    send_success_email(ctx.summary)  # only when the email block says EMAIL_ON_SUCCESS
    wh.close()


def _reconcile_run_log(wh: Warehouse, logger: RunLogger) -> None:
    """Runs that died without writing their end get it from Prefect; a failure here must not stop this run."""
    try:
        for run_id, status in reconcile_run_log(wh):
            logger.warning("earlier run %s ended %s in Prefect; the run log now says so", run_id, status)
    except Exception as exc:  # the Prefect API or the warehouse blinked: the daily report tries again
        logger.warning("run log not reconciled with Prefect: %s", describe_error(exc))


def load_files(ctx: RunContext, planned: list[PlannedFile]) -> list[FileReport]:
    """Fetch (cached by version) and ingest files in plan order, `load_concurrency()` at a time; their reports.

    One at a time (DuckDB, or DATAWIZ_LOAD_CONCURRENCY=1), each file is fetched and loaded before the next,
    in the flow's thread (`ingest_here`). Several at a time, see `_load_concurrently`. Either way the reports
    come back in plan order.
    """
    logger = get_run_logger()
    workers = load_concurrency(ctx.warehouse)
    if workers > 1 and len(planned) > 1:
        reports = _load_concurrently(ctx, planned, workers, logger)
    else:
        reports = []
        for planned_item in planned:
            fetched = fetch_current(ctx, planned_item)
            if fetched is None:
                continue
            local, item = fetched
            report = ingest_here(ctx, item, local)
            _log_report(logger, report)
            reports.append(report)
    ctx.summary.files.extend(reports)
    return reports


def ingest_here(ctx: RunContext, item: PlannedFile, local: str) -> FileReport:
    """Load one file in the flow's thread (`ingest_file`'s body); a transient failure gets the task's retries.

    A task run per file cost more than a small file's whole load (docs/PERFORMANCE.md: ~40 ms of the Prefect
    server's CPU and ~8 ms of this process's per file, against ~45 ms for reading, validating and committing
    2,000 rows). What the task run showed is kept: the file's `datawiz.ingest` span is the parent of its stages
    (as the task's span was), its report line is logged and its row is in the quality report and the ledger.
    A transient failure is retried as the task run `ingest <path>` with the task's retries (so the retries,
    and a final failure, are recorded in Prefect as before); the failed attempt's transaction left nothing, and
    one that committed before failing makes the retry report `skipped`. A terminal failure is logged with the
    file's path and ends the step as `FileLoadFailed` naming the file (the run's state message, which the failure
    email shows, where the failed task run's name said it before); as before, it is never retried.
    """
    try:
        with stage("ingest", table=item.table_name, file=item.file.path, version=item.file.version):
            return ingest_file.fn(ctx.warehouse, item, local, ctx.run_id)
    except Exception as exc:
        logger = get_run_logger()
        if not is_transient(exc):
            logger.error("%s failed: %s", item.file.path, describe_error(exc))
            raise FileLoadFailed(item.file.path, exc) from exc
        logger.warning("%s: %s (transient); retrying it as the task run 'ingest %s', with retries",
                       item.file.path, describe_error(exc), item.file.path)
    return ingest_file(*_ingest_arguments(ctx, item, local))


def _ingest_arguments(ctx: RunContext, item: PlannedFile, local: str) -> tuple[Any, Any, str, str]:
    """ingest_file's arguments (warehouse, planned, local path, run id).

    quote(): Prefect would otherwise walk both objects (the contract inside the plan is a deep tree) twice per
    task run to look for futures; they never hold any. The task gets them as is. (Returned as Any: Prefect's
    Task.__call__ overloads do not accept its own `quote` wrapper for a typed parameter.)
    """
    return quote(ctx.warehouse), quote(item), local, ctx.run_id


DEFAULT_LOAD_CONCURRENCY = 2


def load_concurrency(warehouse: Warehouse) -> int:
    """Files loaded at once: $DATAWIZ_LOAD_CONCURRENCY (default 2, read per call) where the backend takes
    parallel loads (`Capabilities.parallel_loads`: MySQL/MariaDB, StarRocks), else 1 (DuckDB: one writer)."""
    value = int(os.environ.get("DATAWIZ_LOAD_CONCURRENCY") or DEFAULT_LOAD_CONCURRENCY)
    if value < 1:
        raise ValueError(f"DATAWIZ_LOAD_CONCURRENCY must be >= 1, not {value}")
    return value if warehouse.capabilities.parallel_loads else 1


def serial_key(item: PlannedFile) -> str:
    """Files with the same key never load at the same time; they load one after another, in plan order.

    A fact file's key is its path: two versions of one path (a re-delivery) apply in order, each deleting the
    rows of the other, while different paths — disjoint rows — load side by side. Every other file (dimension
    snapshots, applied in date order, an older one superseded by a newer one; the constants) shares one key:
    the evening's loads stay sequential exactly as before.
    """
    if item.ref is None or item.ref.contract.load_mode is LoadMode.FACT_UPSERT:
        return f"path:{item.file.path}"
    return "in-order"


Wave = tuple[str, dt.date | None]


def load_wave(item: PlannedFile) -> Wave:
    """Files load side by side only within one wave: the same table and business date.

    Keys are unique across files in the data contract's sample feeds, but a real feed can repeat an invoice
    line in a later day's file (a correction under a new name). Loaded one at a time, the later file in plan
    order (the later day) wins; loaded at once, whichever commits last would. Starting a day only after the
    earlier day's files finished keeps the one-at-a-time answer, while a day's parts — the morning's usual
    work — still load together. (Two parts of one day repeating a key end with the one that commits last.)
    """
    return item.table_name, item.ref.business_date if item.ref else None


def _load_concurrently(ctx: RunContext, planned: list[PlannedFile], workers: int,
                       logger: RunLogger) -> list[FileReport]:
    """Ingest up to `workers` files at once, each as its own `ingest_file` task run on a thread of its own.

    The flow's thread fetches (from the raw copy the backup step made, else the source) and submits in plan
    order; a file waits while one with its `serial_key` is loading, or one of another `load_wave`. Each load
    thread opens its own warehouse connection (connections are per thread in the backends that take parallel
    loads), so every file is still one transaction with its ledger row, and a version another run committed
    first still ends `skipped` (AlreadyLoaded). After a failure no further file starts; those already loading
    finish (each is one transaction: it commits or leaves nothing), then the first failure in plan order is
    raised — the next run plans the rest, as after a sequential run that stopped at that file.
    """
    reports: dict[int, FileReport] = {}
    failures: dict[int, BaseException] = {}
    running: dict[concurrent.futures.Future[Any], tuple[int, tuple[str, Wave], PrefectFuture[FileReport]]] = {}

    def settle() -> None:
        """Wait for at least one load to finish; collect every finished one's report (or failure)."""
        finished, _ = concurrent.futures.wait(list(running), return_when=concurrent.futures.FIRST_COMPLETED)
        for done in finished:
            index, _, future = running.pop(done)
            try:
                reports[index] = future.result()
            except Exception as exc:  # the task failed after its retries: reported below, in plan order
                failures[index] = exc
                continue
            _log_report(logger, reports[index])

    # A runner of its own: exactly `workers` threads whatever the flow's runner (downloads have their own bound).
    with ThreadPoolTaskRunner[FileReport](max_workers=workers) as runner:
        try:
            for index, planned_item in enumerate(planned):
                key, wave = serial_key(planned_item), load_wave(planned_item)
                while running and (len(running) >= workers or
                                   any(k == key or w != wave for _, (k, w), _ in running.values())):
                    settle()
                if failures:
                    break
                fetched = fetch_current(ctx, planned_item)
                if fetched is None:
                    continue
                local, item = fetched
                parameters = dict(zip(("warehouse", "planned", "local_path", "run_id"),
                                      _ingest_arguments(ctx, item, local), strict=True))
                future = runner.submit(ingest_file, parameters)
                running[future.wrapped_future] = (index, (key, wave), future)
        finally:
            while running:  # never leave a load behind: the runner's exit would cancel it half way
                settle()
    if failures:
        raise failures[min(failures)]
    return [reports[i] for i in sorted(reports)]


def fetch_current(ctx: RunContext, item: PlannedFile, attempts: int = 2) -> tuple[str, PlannedFile] | None:
    """Fetch the planned version (cached); if it changed since listing, list that path again and fetch that.

    `SourceChanged` is terminal for one version, so it is not retried as is: the path is re-planned
    against the ledger. A file deleted meanwhile, or still changing after `attempts`, is left (with a
    warning) for the next run, which will list it afresh.
    """
    logger = get_run_logger()
    current = item
    for _ in range(attempts):
        copy = backed_up_copy(current, ctx.raw_root)
        if copy is not None:
            return copy, current
        try:
            return fetch_task(current.file, ctx.raw_root)(ctx.source, current.file, ctx.raw_root), current
        except SourceChanged as exc:
            logger.warning("%s", exc)
            relisted = _relist(ctx, current)
            if relisted is None:
                return None
            current = relisted
    logger.warning("%s keeps changing; left for the next run", item.file.path)
    return None


def backed_up_copy(item: PlannedFile, root: str | None) -> str | None:
    """The raw copy of exactly this version when an earlier fetch (the backup step) already made it.

    Copies are renamed into place only after their size and hash were verified, and their name
    carries the version, so one that exists with the listed size is that version. Calling the cached
    fetch task again would return the same path at the price of one more task run per file; the
    download itself stays recorded by the task run that made it.
    """
    path = raw_path(item.file, Path(root) if root else None)
    try:
        return str(path) if path.stat().st_size == item.file.size else None
    except FileNotFoundError:
        return None


def _relist(ctx: RunContext, item: PlannedFile) -> PlannedFile | None:
    """The path's version as listed now, if the ledger does not have it yet."""
    now = [f for f in ctx.source.list_files([item.file.path]) if f.path == item.file.path]
    if not now:
        get_run_logger().warning("%s was deleted after it was listed; skipped", item.file.path)
        return None
    if (now[0].path, now[0].version) in ctx.warehouse.ledger_versions():
        return None
    return replace(item, file=now[0])


F = TypeVar("F", bound=Flow[..., Any])


def secret_free_parameters(flow: F) -> F:
    """Store a flow's run parameters in Prefect without URL passwords (`mysql://u:pw@h/db` -> `mysql://u@h/db`).

    Prefect keeps every run's parameters (UI, API, re-runs); a warehouse URL with its password would sit there
    in clear. The run itself still gets the parameters as passed; only the stored copy is scrubbed, and a
    re-run from it reads the password from $DB_PASSWORD (deployments pass block names, which hold no secret).
    """
    serialize = flow.serialize_parameters

    def scrubbed(parameters: dict[str, Any]) -> dict[str, Any]:
        return {k: _scrub(v) for k, v in serialize(parameters).items()}

    flow.serialize_parameters = scrubbed  # type: ignore[method-assign]  # replacing the bound method is the point
    return flow


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return without_url_password(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def flow_retry_delay() -> int:
    """Seconds before a failed pipeline run is retried: $DATAWIZ_FLOW_RETRY_DELAY, default 300 (read at import)."""
    return max(0, int(os.environ.get("DATAWIZ_FLOW_RETRY_DELAY", "300")))


# timeout_seconds of each flow (per attempt). Past it, Prefect proposes `Failed(name="TimedOut")`
# (prefect/flow_engine.py `handle_timeout`), which the server turns into AwaitingRetry while retries are
# left (a flow with retries is retried after a timeout like after a failure) and which emits
# `prefect.flow-run.TimedOut` when final: the failure automation emails it. Generous: each is several
# times the longest run seen, so only a hung run reaches it. The morning's covers its bounded wait for
# the evening run (`max_wait_minutes`, 2 h) plus 2 h of loading.
FLOW_TIMEOUTS = {
    "evening": 2 * 3600,
    "morning": 4 * 3600,
    "daily-report": 30 * 60,
    "health": 15 * 60,  # well inside the hour: the next hourly run must find the slot free
    "maintenance": 3 * 3600,
    "backfill": 24 * 3600,  # resumable: a timed-out backfill continues where the ledger says it stopped
    "backfill-month": 6 * 3600,
    "alert": 10 * 60,
}


def flow_timeout(flow: str) -> float:
    """timeout_seconds of a flow: $DATAWIZ_<FLOW>_TIMEOUT_SECONDS (e.g. DATAWIZ_MORNING_TIMEOUT_SECONDS), read at
    import, else FLOW_TIMEOUTS. A run past it ends `TimedOut` (a Failed state), which the failure automation emails.
    """
    variable = f"DATAWIZ_{flow.upper().replace('-', '_')}_TIMEOUT_SECONDS"
    value = float(os.environ.get(variable) or FLOW_TIMEOUTS[flow])
    if value <= 0:
        raise ValueError(f"{variable} must be a positive number of seconds")
    return value


def download_concurrency() -> int:
    """Parallel downloads of the backup step: $DATAWIZ_DOWNLOAD_CONCURRENCY, default 4."""
    return max(1, int(os.environ.get("DATAWIZ_DOWNLOAD_CONCURRENCY", "4")))


def backup_files(ctx: RunContext, planned: list[PlannedFile]) -> list[str]:
    """Download every new file version into the raw area, `download_concurrency()` at a time (one task run).

    The copies are kept per version, so the load step that follows (and any later run) reuses them
    (`backed_up_copy`). A version that changed since listing is skipped here; the load step re-plans it.
    """
    if not planned:
        return []
    # As is (quote): nothing in them for Prefect to resolve, see _ingest_arguments.
    source, files = cast(Any, quote(ctx.source)), cast(Any, quote([p.file for p in planned]))
    return fetch_files(source, files, ctx.raw_root, download_concurrency())


class LocalServerTimeout(SystemExit):
    """The temporary Prefect server of a local run did not answer in time (exits with a message saying what to set)."""


def start_local_server() -> str | None:
    """Start the temporary Prefect server of a local run up front, giving it time; its API URL (None: not needed).

    Without PREFECT_API_URL, a flow called from the command line starts a temporary server in a subprocess
    and waits PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS for it (Prefect's default: 20 s;
    `SubprocessASGIServer.start` in prefect/server/api/server.py). Its first start creates and migrates a
    SQLite database, which on a busy 2-core machine takes longer, and the run fails with "Timed out while
    attempting to connect to ephemeral Prefect API server". Started here with LOCAL_SERVER_STARTUP_SECONDS
    (unless that setting is set explicitly), the server is the one the flow's client then uses — there is
    one per process (`SubprocessASGIServer()` is a singleton per port; `get_client` starts it only if it is
    not running). If it still does not answer, the run stops with what to set instead of a traceback.
    """
    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return None  # a real server, or temporary servers switched off: Prefect's own message applies
    from prefect.server.api.server import SubprocessASGIServer

    ephemeral = settings.server.ephemeral
    timeout = ephemeral.startup_timeout_seconds if "startup_timeout_seconds" in ephemeral.model_fields_set \
        else LOCAL_SERVER_STARTUP_SECONDS
    server = SubprocessASGIServer()
    started = time.monotonic()
    try:
        server.start(timeout=timeout)
    except RuntimeError as exc:
        raise LocalServerTimeout(
            f"error: the temporary Prefect server this run starts did not answer within {timeout} s "
            f"({time.monotonic() - started:.0f} s waited; Prefect: {str(exc)[:200].rstrip('.')}). The machine is "
            "probably busy. Either give it longer: PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=900, or start "
            "one server for all local runs: `prefect server start` in another terminal, then "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api`."
        ) from None
    return server.api_url


def run_from_command_line(flow: Flow[..., Any], steps: Mapping[str, str] | None = None,
                          show: Callable[[Any], str] | None = None) -> Any:
    """`python flows/<name>.py [options]`: parse the options (`flow_cli`), start the temporary server patiently
    (`start_local_server`), run the flow, print `show(result)`, and exit quietly."""
    arguments = vars(flow_cli(flow, steps).parse_args())
    start_local_server()
    result = flow(**arguments)
    if show is not None:
        print(show(result))
    quiet_server_shutdown()
    return result


def quiet_server_shutdown() -> None:
    """Silence the temporary server's complaints about queued events when a local run exits.

    `python flows/x.py` and `datawiz demo` start a temporary Prefect server that is stopped at
    exit; events still in its queue are then reported as errors although the run is complete.
    """
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("prefect.server"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("prefect.server").setLevel(logging.CRITICAL)


def _log_report(logger: RunLogger, r: FileReport) -> None:
    s = r.stats
    msg = (
        f"{r.status:<10} {r.path}: in {s.rows_in}, loaded {s.rows_loaded}, quarantined {s.rows_quarantined}, "
        f"deduplicated {s.rows_deduplicated}, orphans {s.orphans}"
    )
    if r.reason:
        msg += f" — {r.reason}"
    (logger.warning if r.status == "rejected" else logger.info)(msg)


class Steps(Mapping[str, str]):
    """A flow's steps (name -> description, in run order), rebuilt from the registry at every read.

    Some steps are "load table X": built on each read, a table `register()`ed after the flow module was
    imported is a step of its flow too.
    """

    def __init__(self, build: Callable[[], dict[str, str]]) -> None:
        self._build = build

    def __getitem__(self, name: str) -> str:
        return self._build()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"Steps({self._build()!r})"


def select_steps(requested: list[str] | str | None, available: Mapping[str, str]) -> list[str]:
    """Validate a --steps / `steps` parameter against the flow's steps; None means all, in order."""
    if requested is None:
        return list(available)
    names = [s.strip() for s in (requested.split(",") if isinstance(requested, str) else requested)]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    return [s for s in available if s in names]


def doc_summary(flow: Flow[..., Any]) -> str:
    """The first paragraph of a flow's docstring (the rest documents its parameters)."""
    return (flow.description or "").split("\n\n")[0].strip()


# JSON schema types of flow parameters (Prefect's parameter schema) -> how the command line spells them.
_CLI_TYPES: dict[str, Any] = {
    "date": dt.date.fromisoformat, "integer": int, "number": float,
    "array": lambda text: [part.strip() for part in text.split(",") if part.strip()],
}
_METAVARS = {"date": "YYYY-MM-DD", "array": "A,B", "integer": "N", "number": "N"}


def _schema_type(schema: dict[str, Any]) -> str:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") not in (None, "null"):
            return str(option.get("format") if option.get("format") == "date" else option["type"])
    return "string"


def flow_cli(flow: Flow[..., Any], steps: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """`python flows/<name>.py`'s arguments: one option per flow parameter (`business_date` -> `--business-date`).

    The help of each option is the parameter's description from the flow's docstring (its `Args:` section,
    Google style), which Prefect also puts into the parameter schema the UI shows for a run or deployment
    (`prefect.utilities.callables.parameter_docstrings`): one text for both. Lists are comma-separated.
    """
    epilog = ("steps:\n" + "\n".join(f"  {k:<18} {v}" for k, v in steps.items())) if steps else None
    parser = argparse.ArgumentParser(
        prog=f"python flows/{Path(flow.fn.__code__.co_filename).name}", description=doc_summary(flow),
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, schema in flow.parameters.properties.items():
        kind = _schema_type(schema)
        option = "--" + name.replace("_", "-")
        text = " ".join(str(schema.get("description") or "").split()).replace("%", "%%")
        if kind == "boolean":
            parser.add_argument(option, dest=name, action="store_true", help=text)
        else:
            parser.add_argument(option, dest=name, type=_CLI_TYPES.get(kind, str), default=schema.get("default"),
                                required="default" not in schema, help=text,
                                metavar=_METAVARS.get(kind, name.upper()))
    return parser

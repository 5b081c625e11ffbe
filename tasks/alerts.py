"""Alerts: a failed or crashed DataWiz run (handled by the alert flow) and a run's data-validation problems.

The failure email is built from the Prefect API after the fact, because the failing process may be
gone (a crash): flow, deployment, run, state and its message, the failing task, the business date and
a link. A crashed run is first re-run once (`handle_crash`); only a crash after that re-run is emailed.
The validation email is sent by the pipeline run itself (tasks/run.py) when it rejected a file or
quarantined rows, with the quarantined rows of the run as a size-capped CSV attachment.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.sorting import TaskRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import AwaitingRetry

from blocks.email import DataWizEmail
from blocks.warehouse.base import Warehouse
from datawiz.core.errors import TerminalError
from datawiz.core.redact import redact
from tasks.notify import Attachment, Email, render, run_link, send_run_email
from tasks.report import RunSummary
from tasks.runlog import DEFAULT_DAY_OFFSET, business_day

# The message of the state that re-schedules a crashed run: how a later crash knows it was re-run already.
RERUN_MARKER = "DataWiz: re-run once after a crash"
# Rows fetched for the CSV at most; the byte cap of the email block usually cuts earlier.
CSV_ROW_LIMIT = 100_000
CSV_COLUMNS = ("source_file", "source_version", "row_number", "table_name", "rules", "row")


@dataclass
class FailureInfo:
    """What the failure email says about one flow run (every text field already redacted)."""

    flow: str
    run_name: str
    run_id: str
    state: str  # Failed | Crashed | TimedOut
    message: str
    business_date: str
    attempts: int
    deployment: str | None = None
    failing_task: str | None = None
    task_message: str | None = None
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    link: str | None = None
    rerun_before: bool = False  # the run was already re-run once after a crash

    @property
    def crashed_after_rerun(self) -> bool:
        """A crash of a run that had already been re-run once after a crash."""
        return self.state == "Crashed" and self.rerun_before


def business_date_of(run: FlowRun, flow_name: str) -> str:
    """The run's business date: its parameter, else the flow's default for its scheduled start (IST), as the
    run itself computed it (tasks/runlog.py: `business_day`)."""
    given = (run.parameters or {}).get("business_date")
    if given:
        return str(given)
    scheduled = run.expected_start_time or run.start_time
    if flow_name not in DEFAULT_DAY_OFFSET or scheduled is None:
        return "—"
    return str(business_day(flow_name, scheduled=scheduled))


class RunNotFound(TerminalError):
    """The flow run to alert about does not exist (a wrong id by hand): a retry cannot find it either."""


def _retry_unless_terminal(task: object, task_run: object, state: State) -> bool:
    return not isinstance(state.result(raise_on_failure=False), TerminalError)


@task(name="describe-failure", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE,
      retry_condition_fn=_retry_unless_terminal)
def describe_failure(flow_run_id: str, settings: DataWizEmail | None = None) -> FailureInfo:
    """Read the failed run, its flow and deployment and its failing task from the Prefect API."""
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(flow_run_id))
        except (ObjectNotFound, ValueError):
            raise RunNotFound(f"flow run {flow_run_id!r} does not exist on this Prefect server") from None
        flow_name = client.read_flow(run.flow_id).name
        deployment = client.read_deployment(run.deployment_id).name if run.deployment_id else None
        history = client.read_flow_run_states(run.id)
        failed_tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
            task_run_filter=TaskRunFilter(
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED]))
            ),
            sort=TaskRunSort.END_TIME_DESC,
            limit=1,
        )
    state = run.state
    failed = failed_tasks[0] if failed_tasks else None
    return FailureInfo(
        flow=flow_name,
        run_name=run.name,
        run_id=str(run.id),
        state=(state.name if state else None) or "Failed",
        message=redact((state.message if state else None) or "(no message)"),
        business_date=business_date_of(run, flow_name),
        attempts=max(run.run_count, 1),
        deployment=deployment,
        failing_task=failed.name if failed else None,
        task_message=redact(failed.state.message) if failed and failed.state and failed.state.message else None,
        started=run.start_time,
        ended=run.end_time or (state.timestamp if state else None),
        parameters={k: redact(v) for k, v in (run.parameters or {}).items()},
        link=run_link(str(run.id), settings),
        rerun_before=any(h.message == RERUN_MARKER for h in history),
    )


def crash_decision(state: StateType | None, has_deployment: bool, rerun_before: bool) -> str:
    """What to do about a run reported Crashed: `rerun`, `email`, or `skip` (it has moved on since)."""
    if state is not StateType.CRASHED:
        return "skip"  # re-run already (by hand, or this alert ran twice for one crash)
    if rerun_before or not has_deployment:  # only deployment runs can be scheduled again
        return "email"
    return "rerun"


@task(name="handle-crash", cache_policy=NO_CACHE)
def handle_crash(flow_run_id: str) -> str:
    """Re-run a crashed run once (back to Scheduled, same run); returns `rerun`, `email` or `skip`.

    Prefect never retries a crash itself. A re-run is safe because every load is exactly-once; the
    re-scheduling state carries RERUN_MARKER, so a second crash is emailed instead of re-run again.
    """
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
        rerun_before = any(h.message == RERUN_MARKER for h in client.read_flow_run_states(run.id))
        decision = crash_decision(run.state_type, run.deployment_id is not None, rerun_before)
        if decision == "rerun":
            client.set_flow_run_state(run.id, AwaitingRetry(message=RERUN_MARKER))
    get_run_logger().info("crashed run %s: %s", run.name, decision)
    return decision


def failure_email(info: FailureInfo) -> Email:
    """The failure email: what failed, where, when, the failing task and a link to the run."""
    day = f" (business date {info.business_date})" if info.business_date != "—" else ""
    subject = f"{info.flow} run {info.state}{day}: {info.run_name}"
    return render("failure", subject, {"f": info})


# ---------------------------------------------------------------------------------------------------------- validation
def needs_validation_alert(summary: RunSummary) -> bool:
    """True when the run rejected a file or quarantined rows."""
    return summary.count("rejected") > 0 or summary.rows("rows_quarantined") > 0


def top_rules(summary: RunSummary, n: int = 10) -> list[tuple[str, int]]:
    """The rules that failed most across the run's files."""
    total: Counter[str] = Counter()
    for f in summary.files:
        total.update(dict(f.top_rules))
    return total.most_common(n)


def quarantine_rows(warehouse: Warehouse, run_id: str, limit: int = CSV_ROW_LIMIT) -> list[dict[str, object]]:
    """The run's rows in etl_quarantine (at most `limit`), by file and row number."""
    rows = warehouse.quarantined_rows_of_run(run_id, limit)
    return sorted(rows, key=lambda r: (str(r["source_file"]), int(r["row_number"])))


def _rules_text(rules_json: object) -> str:
    try:
        rules = json.loads(str(rules_json))
    except ValueError:
        return str(rules_json)
    return "; ".join(f"{r.get('column') or 'row'}: {r.get('rule')}" for r in rules)


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as CSV text a spreadsheet shows literally: a leading ' before a formula-starting character."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def quarantine_csv(rows: list[dict[str, object]], max_bytes: int) -> tuple[bytes, int]:
    """The rows as CSV (UTF-8), cut before `max_bytes`; returns the bytes and how many rows they hold."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    size, kept = len(out.getvalue().encode()), 0
    for r in rows:
        line = io.StringIO()
        csv.writer(line, lineterminator="\r\n").writerow([csv_cell(v) for v in (
            r["source_file"], r["source_version"], r["row_number"], r["table_name"], _rules_text(r["rules"]),
            r["row_json"])])
        encoded = len(line.getvalue().encode())
        if size + encoded > max_bytes:
            break
        out.write(line.getvalue())
        size, kept = size + encoded, kept + 1
    return out.getvalue().encode(), kept


def validation_email(summary: RunSummary, csv_bytes: bytes, rows_attached: int, link: str | None) -> Email:
    """The data-validation alert: counts, files with problems, top rules, the quarantined rows attached."""
    problems = [
        (f.path, f.table, f.status, f.stats.rows_in, f.stats.rows_loaded, f.stats.rows_quarantined,
         f.reason or ", ".join(f"{rule} ×{n}" for rule, n in f.top_rules))
        for f in summary.files if f.status == "rejected" or f.stats.rows_quarantined
    ]
    quarantined = summary.rows("rows_quarantined")
    subject = (f"data validation: {quarantined:,} row(s) quarantined, {summary.count('rejected')} file(s) rejected "
               f"— {summary.flow} {summary.business_date}")
    name = f"quarantine-{summary.flow}-{summary.business_date}.csv"
    context = {"s": summary, "problems": problems, "rules": top_rules(summary), "quarantined": quarantined,
               "rows_attached": rows_attached, "attachment": name, "link": link}
    return render("validation", subject, context, (Attachment(name, csv_bytes),))


@task(name="validation-alert", cache_policy=NO_CACHE)
def send_validation_alert(summary: RunSummary, warehouse: Warehouse) -> bool:
    """Email the validation alert if the run rejected or quarantined anything and email is configured."""
    if not needs_validation_alert(summary):
        return False

    def build(settings: DataWizEmail) -> Email:
        csv_bytes, attached = quarantine_csv(quarantine_rows(warehouse, summary.run_id), settings.max_attachment_bytes)
        return validation_email(summary, csv_bytes, attached, run_link(summary.run_id, settings))

    # A mail relay outage must not fail a run whose data is loaded (send_run_email logs it instead).
    return send_run_email("validation alert", build)

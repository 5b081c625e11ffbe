"""The operations flows — daily report, health, maintenance — on a loaded DuckDB warehouse.

Their emails go through a real SMTP server over STARTTLS with login, named by a DataWiz email block
saved on the session's Prefect server, exactly as a deployment names it.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import generate
from deployments.settings import env_name
from flows.daily_report import daily_report
from flows.evening import evening
from flows.health import health
from flows.maintenance import maintenance
from flows.morning import morning
from tasks.daily import trend_charts
from tasks.runlog import today_ist
from tests.integration.azurite import free_port
from tests.integration.smtp import SMTP_USER, Mailbox, smtp_server

pytestmark = pytest.mark.integration
PASSWORD = "ops-flows-secret"
EMAIL = "datawiz-email/ops-flows-test"


@dataclass
class Ops:
    """A loaded warehouse, its landing folder and data folder, and the mailbox the flows send to."""

    landing: Path
    data: Path
    url: str
    mailbox: Mailbox

    def wait_for(self, subject: str) -> str:
        """The plain-text body of the first email whose subject contains `subject`."""
        msg, raw, _ = self.mailbox.wait_for(lambda m: subject in m["Subject"], timeout=20)
        assert PASSWORD.encode() not in raw
        return msg.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> Iterator[Ops]:
    root = tmp_path_factory.mktemp("ops")
    with pytest.MonkeyPatch.context() as mp, smtp_server(PASSWORD, tls="starttls", folder=root) as (port, mailbox):
        mp.setenv("DATAWIZ_DATA_DIR", str(root / "data"))
        mp.setenv("DATAWIZ_LOG_DIR", str(root / "logs"))
        mp.delenv("DATAWIZ_EMAIL", raising=False)  # the pipeline runs below send no validation email
        creds = EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=port, smtp_type="STARTTLS",
                                       username=SMTP_USER, password=SecretStr(PASSWORD), verify=False)
        DataWizEmail(credentials=creds, sender="datawiz@example.com", recipients=["ops@example.com"],
                     subject_prefix="[DataWiz test]").save(EMAIL.split("/")[1], overwrite=True)
        world = Ops(root / "landing", root / "data", f"duckdb:///{root / 'wh.duckdb'}", mailbox)
        generate(world.landing, days=2, fis_rows_per_day=300, defects=True)  # ends yesterday (IST)
        evening(source=str(world.landing), warehouse=world.url)
        morning(source=str(world.landing), warehouse=world.url)
        yield world


def test_daily_report_emails_the_runs_tables_freshness_and_14_day_bars(ops: Ops) -> None:
    state = daily_report(warehouse=ops.url, email=EMAIL, return_state=True)
    report = state.result()
    assert [(r.flow, r.status) for r in report.runs] == [("evening", "completed"), ("morning", "completed")]
    assert all(f.ok for f in report.freshness), report.freshness
    assert report.total("rows_quarantined") > 0 and report.total("files_rejected") > 0  # the sample defects
    msg, _, _ = ops.mailbox.wait_for(lambda m: f"daily summary {today_ist()}" in m["Subject"], timeout=20)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    for needle in ("evening", "morning", "completed", "fact_secondary_sales", "fact_primary_sales", "fresh",
                   f"{report.total('rows_loaded'):,}", "The last 14 days", "Rows loaded per day"):
        assert needle in text, needle
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert html.count('<td width="24"') == 14 * sum(len(c.rows) for c in trend_charts(report)) and "<img" not in html
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        trend = client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
            key=ArtifactCollectionFilterKey(any_=[env_name("daily-trend")])))
    assert run.name == f"daily-report {today_ist()}"
    rows = json.loads(trend[0].data)  # the same 14 days as a table artifact, with its bars
    assert trend[0].flow_run_id == run.id and len(rows) == 14 * len(report.trend)
    today = next(r for r in rows if r["table"] == "fact_secondary_sales" and r["day"] == today_ist().isoformat())
    loaded = report.trend["fact_secondary_sales"][-1].rows_loaded
    assert today["rows loaded"] == loaded > 0 and today["rows loaded bar"].startswith("█")


def test_health_emails_trouble_once_and_then_the_all_clear(ops: Ops) -> None:
    def subjects() -> list[str]:
        return [str(m["Subject"]) for m in ops.mailbox.messages() if "health" in str(m["Subject"])]

    ok = health(source=str(ops.landing), warehouse=ops.url, email=EMAIL, min_free_gb=0.001)
    assert [(r.target, r.ok) for r in ok] == [
        ("source", True), ("warehouse", True), ("disk", True), ("facts", True), ("evening", True), ("smtp", True)]
    assert subjects() == []  # nothing to say

    broken = f"mysql://etl:{PASSWORD}@127.0.0.1:{free_port()}/dw?connect_timeout=2"
    for _ in range(2):  # the second hourly run repeats nothing
        bad = health(source=str(ops.landing), warehouse=broken, email=EMAIL, min_free_gb=0.001)
    assert sorted(r.target for r in bad if not r.ok) == ["evening", "facts", "warehouse"]
    text = ops.wait_for("health: 3 problem(s): evening, facts, warehouse")
    assert "FAIL warehouse" in text and "OK   source" in text

    health(source=str(ops.landing), warehouse=ops.url, email=EMAIL, min_free_gb=0.001)
    ops.wait_for("health: all checks OK again")
    assert len(subjects()) == 2


def test_maintenance_archives_purges_analyses_and_reports(ops: Ops) -> None:
    old = time.time() - 200 * 86400
    raw = sorted(p for p in (ops.data / "raw").rglob("*") if p.is_file())
    copies = sorted(p for p in (ops.data / "quarantine").rglob("*.parquet"))
    assert raw and copies
    log = Path(os.environ["DATAWIZ_LOG_DIR"]) / "worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("old log\n")
    for path in [*raw, *copies, log]:
        os.utime(path, (old, old))
    first = raw[0].read_bytes()
    wh = resolve_warehouse(ops.url)
    quarantined = wh.query("SELECT count(*) AS n FROM etl_quarantine")["n"][0].as_py()
    wh.execute("UPDATE etl_quarantine SET quarantined_at = quarantined_at - INTERVAL 200 DAY")  # type: ignore[attr-defined]
    wh.close()

    report = maintenance(warehouse=ops.url, email=EMAIL)
    assert report.archived_files == len(raw) and report.bytes_after < report.bytes_before
    archived = ops.data / "archive" / "raw" / raw[0].relative_to(ops.data / "raw")
    assert gzip.decompress(archived.with_name(archived.name + ".gz").read_bytes()) == first  # same name + .gz
    assert not any(p.exists() for p in raw)
    assert report.purged_quarantine_files == len(copies) and report.purged_log_files == 1
    assert report.purged_quarantine_rows == quarantined > 0
    assert report.analysed == ["ANALYZE", "CHECKPOINT"]
    text = ops.wait_for("monthly maintenance")
    assert f"raw backups archived                       {len(raw)}" in text

    again = maintenance(warehouse=ops.url, email=None)  # idempotent: nothing left to do
    assert (again.archived_files, again.purged_quarantine_rows, again.purged_log_files) == (0, 0, 0)


def test_a_crashed_run_shows_as_crashed_in_the_run_log_and_the_daily_summary(ops: Ops) -> None:
    """A run whose process died wrote `running` and never its end; Prefect knows it Crashed (issue 15)."""
    import datetime as dt
    import uuid

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed, Running

    @flow(name="morning")
    def stand_in() -> None: ...

    with get_client(sync_client=True) as client:
        crashed, alive = (client.create_flow_run(stand_in, state=Running()).id for _ in range(2))
        client.set_flow_run_state(crashed, Crashed(message="no heartbeat for 300 s"), force=True)
    wh = resolve_warehouse(ops.url)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for run_id in (crashed, alive, f"local-{uuid.uuid4()}"):
        wh.execute("INSERT INTO etl_run_log (run_id, flow, business_date, status, started_at) "
                   "VALUES (:r, 'morning', :d, 'running', :t)", {"r": str(run_id), "d": today_ist(), "t": started})
    wh.close()

    report = daily_report(warehouse=ops.url, email=EMAIL)
    statuses = sorted(r.status for r in report.runs if r.started == started)
    assert statuses == ["crashed", "running", "running"]  # the live run and the local one are left alone
    text = ops.wait_for(f"daily summary {today_ist()}: 3 run(s) not completed")  # crashed + 2 running
    assert "crashed" in text and "Crashed in Prefect: no heartbeat for 300 s" in text
    wh = resolve_warehouse(ops.url)
    row = wh.query("SELECT status, finished_at FROM etl_run_log WHERE run_id = :r", {"r": str(crashed)}).to_pylist()
    wh.close()
    assert row[0]["status"] == "crashed" and row[0]["finished_at"] is not None


def test_a_success_email_per_pipeline_run_only_when_the_block_opts_in(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    opted_in = DataWizEmail.load(EMAIL.split("/")[1]).model_copy(update={"email_on_success": True})
    opted_in.save("ops-flows-success", overwrite=True)  # EMAIL_ON_SUCCESS=true at `datawiz blocks register`
    monkeypatch.setenv("DATAWIZ_EMAIL", "datawiz-email/ops-flows-success")
    evening(source=str(ops.landing), warehouse=ops.url)  # nothing new to load: still a completed run
    text = ops.wait_for(f"evening {today_ist()} completed: 0 file(s) loaded, 0 rows")
    assert "Business date:    " in text and "EMAIL_ON_SUCCESS" in text and "nothing to load" in text

    monkeypatch.setenv("DATAWIZ_EMAIL", EMAIL)  # the default block: off
    before = len(ops.mailbox.messages())
    evening(source=str(ops.landing), warehouse=ops.url)
    time.sleep(1)
    assert len(ops.mailbox.messages()) == before

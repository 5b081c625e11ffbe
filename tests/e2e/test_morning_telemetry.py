"""Real runs seen through the SDK's in-memory exporters: the span tree of a morning run, metrics equal to
the ledger's counts, JSON log lines joined to the spans, and no password anywhere in what is exported.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.warehouse import resolve_warehouse
from datawiz import logs
from datawiz.sample_data import generate
from deployments.signoz.build import referenced_metrics
from flows.evening import evening
from flows.morning import morning
from tasks.telemetry import freshness_age_seconds
from tests.integration.mariadb import HOST, PORT, USER, admin_connection, mariadb  # noqa: F401 (fixtures)
from tests.integration.services import mariadb_connect
from tests.integration.smtp import SMTP_USER, smtp_server
from tests.otel_harness import Point, by_table, memory_telemetry

pytestmark = pytest.mark.integration
END = dt.date(2025, 11, 20)
STAGES = ("read", "clean", "validate", "load")


@dataclass
class Observed:
    """One morning run: what was exported while it ran, its ledger, and its JSON log files."""

    spans: list[ReadableSpan]
    points: list[Point]
    run_id: str
    url: str
    log_dir: Path
    landing: Path

    def ledger(self) -> list[dict[str, object]]:
        wh = resolve_warehouse(self.url)
        try:
            return wh.query("SELECT * FROM etl_file_ledger WHERE run_id = :r", {"r": self.run_id}).to_pylist()
        finally:
            wh.close()

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, span.name
        return next(s for s in self.spans if s.context.span_id == span.parent.span_id)

    def descendants(self, span: ReadableSpan) -> list[ReadableSpan]:
        """Every span below `span` (children, their children, ...)."""
        below, frontier = [], {span.context.span_id}
        while frontier:
            children = [s for s in self.spans if s.parent and s.parent.span_id in frontier]
            below += children
            frontier = {c.context.span_id for c in children}
        return below

    def log_lines(self) -> dict[str, list[dict[str, str]]]:
        return {area: [json.loads(line) for f in sorted((self.log_dir / area).glob("*")) for line in
                       f.read_text().splitlines()] for area in logs.AREAS}


@contextmanager
def json_logs_in(folder: Path) -> Iterator[None]:
    """The area log files of this process in `folder` for the block (then back to the default folder)."""
    logs.remove_json_logs()
    logs.install_json_logs(str(folder))
    try:
        yield
    finally:
        logs.remove_json_logs()
        logs.install_json_logs()


def observe_morning(root: Path, url: str, steps: list[str] | None = None) -> Observed:
    """A captured morning run on generated files (with the documented defects); after the evening unless `steps`."""
    landing = root / "landing"
    generate(landing, days=2, fis_rows_per_day=200, defects=True, end_date=END)
    telemetry = memory_telemetry()
    with json_logs_in(root / "logs"):
        if steps is None:  # the whole morning needs the evening's dimensions and business constants
            evening(business_date=END, source=str(landing), warehouse=url)
        with telemetry.capture():
            summary = morning(business_date=END, source=str(landing), warehouse=url, skip_wait=True, steps=steps)
            spans, points = telemetry.spans(), telemetry.metrics()
    return Observed(spans, points, summary.run_id, url, root / "logs", landing)


@pytest.fixture(scope="module")
def duckdb_morning(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> Observed:
    root = tmp_path_factory.mktemp("otel")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAWIZ_DATA_DIR", str(root / "data"))
        mp.delenv("DATAWIZ_EMAIL", raising=False)
        return observe_morning(root, f"duckdb:///{root / 'wh.duckdb'}")


@pytest.fixture(scope="module")
def mariadb_morning(tmp_path_factory: pytest.TempPathFactory, prefect_server: None, mariadb: None,  # noqa: F811
                    ) -> Iterator[Observed]:
    """The same run into MariaDB, two files loading at once (DATAWIZ_LOAD_CONCURRENCY=2): spans, metrics and log
    lines of concurrent loads must still land on their own file's task run."""
    root, database = tmp_path_factory.mktemp("otel-mariadb"), f"dw_otel_{uuid.uuid4().hex[:10]}"
    with mariadb_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATAWIZ_DATA_DIR", str(root / "data"))
            mp.setenv("DATAWIZ_LOAD_CONCURRENCY", "2")
            mp.delenv("DATAWIZ_EMAIL", raising=False)
            yield observe_morning(root, f"mysql://{USER}@{HOST}:{PORT}/{database}")
    finally:
        with mariadb_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {database}")


# (fixture, backend as the flow span names it, the load span's backend class, the statement metrics' backend)
BACKENDS = {"duckdb": ("duckdb_morning", "duckdb", "DuckDBWarehouse", "duckdb"),
            "mariadb-x2": ("mariadb_morning", "mysql", "MySQLWarehouse", "mysql")}


@pytest.fixture(params=list(BACKENDS))
def any_morning(request: pytest.FixtureRequest) -> tuple[Observed, tuple[str, str, str, str]]:
    """A morning run into DuckDB (one file at a time) and into MariaDB (two at a time), with its backend names."""
    names = BACKENDS[request.param]
    return request.getfixturevalue(names[0]), names


def test_span_tree_runs_flow_then_tasks_then_per_file_stages(any_morning: tuple[Observed, tuple[str, ...]]) -> None:
    run, (_, backend, backend_class, _) = any_morning
    flows = [s for s in run.spans if s.attributes.get("prefect.run.type") == "flow"]
    assert len(flows) == 1 and flows[0].parent is None
    flow = flows[0]
    assert flow.attributes["datawiz.business_date"] == END.isoformat()
    assert flow.attributes["datawiz.run_id"] == run.run_id
    assert flow.attributes["datawiz.backend"] == backend
    assert flow.status.status_code is StatusCode.OK
    assert {s.context.trace_id for s in run.spans} == {flow.context.trace_id}  # one trace per run

    tasks = [s for s in run.spans if s.attributes.get("prefect.run.type") == "task"]
    assert tasks and all(run.parent_of(t) is flow for t in tasks)

    ledger = run.ledger()
    assert {r["status"] for r in ledger} == {"loaded", "rejected"}  # the sample's defects reached the run
    # A file's stages hang under its own span: its task run where files load side by side (MariaDB x2), its
    # `datawiz.ingest` span where they load one at a time in the flow's thread (DuckDB: no task run per file).
    ingests = {t.name.removeprefix("ingest "): t for t in tasks if t.name.startswith("ingest ")}
    inline = {str(s.attributes["file"]): s for s in run.named("datawiz.ingest")}
    assert not (ingests and inline) and all(run.parent_of(s) is flow for s in inline.values())
    assert bool(inline) == (backend == "duckdb")
    ingests |= inline
    assert sorted(ingests) == sorted(r["source_file"] for r in ledger)
    failed: set[str] = set()
    for row in ledger:
        stages = run.descendants(ingests[row["source_file"]])
        assert stages or row["status"] == "rejected", row["source_file"]  # a bad name fails before reading
        for span in stages:
            assert span.name.removeprefix("datawiz.") in STAGES
            assert span.attributes["file"] == row["source_file"]
            assert span.attributes["version"] == row["source_version"]
            assert span.attributes["table"] == row["table_name"]
            if span.status.status_code is StatusCode.ERROR:  # a rejected file: the reason is on its span
                assert row["status"] == "rejected"
                event = next(e for e in span.events if e.name == "exception")
                assert event.attributes["exception.type"] and event.attributes["exception.stacktrace"]
                failed.add(row["source_file"])
        if row["status"] == "loaded":
            named = defaultdict(list)
            for span in stages:
                named[span.name.removeprefix("datawiz.")].append(span)
            assert sorted(named) == sorted(STAGES), row["source_file"]
            # Read in one piece or in batches: the largest read span saw the whole file (the first pass).
            assert max(s.attributes["rows"] for s in named["read"]) == row["rows_in"]
            assert sum(s.attributes.get("rows_quarantined", 0) for s in named["validate"]) == row["rows_quarantined"]
            (load,) = named["load"]
            assert load.attributes["rows"] == row["rows_loaded"]
            assert load.attributes["backend"] == backend_class

    assert failed, "the rejected files' errors are recorded on their stage spans"

    listing = run.named("datawiz.list")
    assert len(listing) == 1 and run.parent_of(listing[0]).name.startswith("plan-files")
    assert listing[0].attributes["files"] > len(ledger)  # the landing area holds the evening's files too
    downloads = run.named("datawiz.download")
    assert sorted(d.attributes["file"] for d in downloads) == sorted(r["source_file"] for r in ledger)
    for d in downloads:
        assert run.parent_of(d).name.startswith("backup-files")  # one task run downloads the step's files
        assert d.attributes["bytes"] == (run.landing / str(d.attributes["file"])).stat().st_size


def test_counters_equal_the_ledgers_counts_for_the_run(any_morning: tuple[Observed, tuple[str, ...]]) -> None:
    run, (*_, statement_backend) = any_morning
    points = run.points
    expected: dict[str, dict[str, int]] = defaultdict(Counter)
    for r in run.ledger():
        t = str(r["table_name"])
        expected["datawiz.files.extracted"][t] += 1
        expected["datawiz.rows.extracted"][t] += int(r["rows_in"])
        if r["status"] == "rejected":
            expected["datawiz.files.rejected"][t] += 1
            expected["datawiz.rows.rejected"][t] += int(r["rows_in"])
        else:
            expected["datawiz.files.loaded"][t] += 1
            expected["datawiz.rows.loaded"][t] += int(r["rows_loaded"])
            if r["rows_quarantined"]:
                expected["datawiz.files.quarantined"][t] += 1
                expected["datawiz.rows.quarantined"][t] += int(r["rows_quarantined"])
    assert expected["datawiz.rows.quarantined"] and expected["datawiz.files.rejected"]  # both outcomes exercised
    for name, per_table in expected.items():
        assert by_table(points, name) == dict(per_table), name

    assert by_table(points, "datawiz.job.runs", "status") == {"completed": 1}
    assert by_table(points, "datawiz.job.runs", "flow") == {"morning": 1}

    load_spans = [s for s in run.spans if s.name == "datawiz.load"]
    load_hist = [p for p in points if p.name == "datawiz.stage.duration" and p.attributes["stage"] == "load"]
    assert sum(p.count or 0 for p in load_hist) == len(load_spans)
    throughput = [p for p in points if p.name == "datawiz.load.throughput"]
    ok_loads = [s for s in load_spans if s.status.status_code is not StatusCode.ERROR and s.attributes.get("rows")]
    assert sum(p.count or 0 for p in throughput) == len(ok_loads)
    assert sum(p.value for p in throughput) > 0
    statements = [p for p in points if p.name == "datawiz.warehouse.statement.duration"]
    assert {p.attributes["backend"] for p in statements} == {statement_backend}
    assert {"select", "insert"} <= {p.attributes["operation"] for p in statements}
    # Low cardinality: no metric carries a file name.
    assert not [p for p in points if "file" in p.attributes or "version" in p.attributes]


def test_freshness_disk_and_worker_resources_are_gauged(duckdb_morning: Observed) -> None:
    run = duckdb_morning
    newest: dict[str, dt.date] = {}
    for r in run.ledger():
        if r["status"] == "loaded" and str(r["table_name"]).startswith("fact_"):
            newest[str(r["table_name"])] = max(newest.get(str(r["table_name"]), r["business_date"]), r["business_date"])
    ages = {p.attributes["table"]: p.value for p in run.points if p.name == "datawiz.freshness.age"}
    assert sorted(ages) == sorted(newest) == ["fact_primary_sales", "fact_secondary_sales"]
    for table, age in ages.items():
        assert abs(age - freshness_age_seconds(newest[table])) < 600, table
    disk = [p for p in run.points if p.name == "datawiz.disk.free"]
    assert len(disk) == 1 and disk[0].value > 0
    names = {p.name for p in run.points}
    assert {"system.cpu.utilization", "system.memory.usage", "process.memory.usage"} <= names
    assert referenced_metrics() <= names  # the SigNoz dashboard and alert rules read metrics that exist


def test_json_log_lines_carry_the_runs_trace_and_span_ids(any_morning: tuple[Observed, tuple[str, ...]]) -> None:
    run, _ = any_morning
    lines = run.log_lines()
    trace_id = format(run.spans[0].context.trace_id, "032x")
    span_ids = {format(s.context.span_id, "016x") for s in run.spans}
    flow_lines = [ln for ln in lines["flows"] if ln.get("trace_id") == trace_id]
    etl_lines = [ln for ln in lines["etl"] if ln.get("trace_id") == trace_id]
    assert any("morning 2025-11-20: source" in ln["message"] for ln in flow_lines)
    assert any(ln["message"].startswith("loaded") for ln in flow_lines)  # the per-file report lines
    assert etl_lines, "task-run lines of the morning run"
    assert all(ln["span_id"] in span_ids for ln in flow_lines + etl_lines)
    assert all(ln["flow_name"] in ("evening", "morning") for ln in lines["flows"] + lines["etl"] if "flow_name" in ln)


def test_no_password_in_any_span_metric_or_log_line(
    tmp_path: Path, prefect_server: None, admin_connection, mysql_url: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """MariaDB with a password user and an SMTP login: every exported byte of the run is free of both."""
    wh_password, smtp_password = f"Wh-pw-{uuid.uuid4().hex[:10]}", f"Smtp-pw-{uuid.uuid4().hex[:10]}"
    database, user = mysql_url.rsplit("/", 1)[1], f"dw_otel_{uuid.uuid4().hex[:6]}"
    with admin_connection.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{wh_password}'")
        cur.execute(f"GRANT ALL ON {database}.* TO '{user}'@'%'")
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    try:
        with smtp_server(smtp_password, tls="starttls", folder=tmp_path) as (port, mailbox):
            creds = EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=port, smtp_type="STARTTLS",
                                           username=SMTP_USER, password=SecretStr(smtp_password), verify=False)
            DataWizEmail(credentials=creds, sender="datawiz@example.com", recipients=["ops@example.com"],
                         subject_prefix="[otel]").save("otel-secrets", overwrite=True)
            monkeypatch.setenv("DATAWIZ_EMAIL", "datawiz-email/otel-secrets")
            url = f"mysql://{user}:{wh_password}@{HOST}:{PORT}/{database}"
            run = observe_morning(tmp_path, url, steps=["blob_backup", "fis", "fid"])  # the loads, quickly
            assert mailbox.messages(), "the validation alert went out through the SMTP login"
    finally:
        with admin_connection.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")

    assert any(s.attributes.get("backend") == "MySQLWarehouse" for s in run.spans)
    assert any(p.name == "datawiz.warehouse.statement.duration" and p.attributes["backend"] == "mysql"
               for p in run.points)
    exported = [repr((s.name, dict(s.attributes), [(e.name, dict(e.attributes)) for e in s.events],
                      s.status.description, dict(s.resource.attributes))) for s in run.spans]
    exported += [repr((p.name, p.attributes)) for p in run.points]
    log_text = "".join(f.read_text() for f in run.log_dir.rglob("*.jsonl*"))
    assert len(run.spans) > 20 and log_text.count("\n") > 20
    assert f"mysql://{user}@" in log_text  # the warehouse was described in the logs: without its password
    for secret in (wh_password, smtp_password):
        assert not [e for e in exported if secret in e], "a span or metric carries a password"
        assert secret not in log_text


def test_a_failed_run_is_counted_and_its_error_is_on_the_flow_span(tmp_path: Path, prefect_server: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATAWIZ_EMAIL", raising=False)
    secret = f"Pw-{uuid.uuid4().hex[:10]}"
    unreachable = f"mysql://etl:{secret}@127.0.0.1:1/dw?connect_timeout=2"  # nothing listens on port 1
    with memory_telemetry().capture() as captured, pytest.raises(Exception):  # noqa: B017 (any connection error)
        morning.with_options(retries=0)(business_date=END, source=str(tmp_path), warehouse=unreachable,
                                        skip_wait=True, steps=["fis"])
    points = captured.metrics()
    assert [(p.attributes, p.value) for p in points if p.name == "datawiz.job.runs"] == [
        ({"flow": "morning", "status": "failed"}, 1)]
    (flow,) = [s for s in captured.spans() if s.attributes.get("prefect.run.type") == "flow"]
    assert flow.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in flow.events)
    exported = repr([(s.name, dict(s.attributes), [dict(e.attributes) for e in s.events], s.status.description)
                     for s in captured.spans()])
    assert "127.0.0.1" in exported or "connect" in exported.lower()  # the error's text is there ...
    assert secret not in exported  # ... without the password

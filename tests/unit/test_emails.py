"""Every email template rendered with realistic data: the facts are in both parts, secrets are not.

The MIME structure is checked the way a mail client reads it: multipart/alternative with a plain-text
and an HTML part (inside multipart/mixed when something is attached).
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import io
from email.message import EmailMessage

import pytest
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.types import FileStats
from tasks.alerts import FailureInfo, failure_email, quarantine_csv, top_rules, validation_email
from tasks.daily import DailyReport, Freshness, RunLine, TableLine, daily_report_email, utc_window
from tasks.health import CheckResult, health_email
from tasks.load import FileReport
from tasks.maintenance import MaintenanceReport, maintenance_email
from tasks.notify import Email, build_message
from tasks.report import RunSummary

SECRET = "s3cr3t-Pa55"
LINK = "http://prefect.internal:4200/runs/flow-run/0b6c1f7e-5a3c-4a0e-9d55-3f0c2f1c9a10"
DAY = dt.date(2025, 11, 20)


def settings() -> DataWizEmail:
    creds = EmailServerCredentials(smtp_server="smtp.example.com", smtp_type="STARTTLS", username="mailer",
                                   password=SecretStr(SECRET))
    return DataWizEmail(credentials=creds, sender="datawiz@example.com",
                        recipients=["ops@example.com", "bi@example.com"],
                        subject_prefix="[DataWiz prod]")


def as_received(rendered: Email) -> EmailMessage:
    """The message as built for sending, parsed back as a mail client would."""
    raw = build_message(rendered, settings()).as_bytes()
    assert SECRET.encode() not in raw
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "both a plain-text and an HTML part"
    return text.get_content(), html.get_content()


def assert_in_both(msg: EmailMessage, *needles: str) -> None:
    text, html = bodies(msg)
    for needle in needles:
        assert needle in text, f"{needle!r} missing from the text part"
        assert needle in html, f"{needle!r} missing from the HTML part"


# ------------------------------------------------------------------------------------------------ failure
def failure(**overrides: object) -> FailureInfo:
    values: dict[str, object] = dict(
        flow="morning", run_name="amber-okapi", run_id="0b6c1f7e-5a3c-4a0e-9d55-3f0c2f1c9a10", state="Failed",
        message="Flow run encountered an exception: OperationalError: (2003, \"Can't connect to MySQL server on "
                "'10.0.4.12' ([Errno 111] Connection refused)\")",
        business_date="2025-11-20", attempts=2, deployment="prod", failing_task="ingest facts/fis/2025/11/20/a.csv",
        task_message="Task run failed: OperationalError: (1205, 'Lock wait timeout exceeded')",
        started=dt.datetime(2025, 11, 21, 2, 30, tzinfo=dt.UTC), ended=dt.datetime(2025, 11, 21, 2, 41, tzinfo=dt.UTC),
        parameters={"warehouse": "starrocks-connector/datawiz-prod-warehouse",
                    "source": "azure-blob-storage-container/x"},
        link=LINK,
    )
    values.update(overrides)
    return FailureInfo(**values)  # type: ignore[arg-type]


def test_failure_email_names_flow_run_date_state_task_and_link() -> None:
    msg = as_received(failure_email(failure()))
    assert msg["Subject"] == "[DataWiz prod] morning run Failed (business date 2025-11-20): amber-okapi"
    assert msg["To"] == "ops@example.com, bi@example.com"
    assert_in_both(msg, "morning", "morning/prod", "amber-okapi", "2025-11-20", "Failed", "Connection refused",
                   "ingest facts/fis/2025/11/20/a.csv", "Lock wait timeout exceeded", LINK, "2025-11-21 08:00 IST",
                   "starrocks-connector/datawiz-prod-warehouse")
    _, html = bodies(msg)
    assert f'href="{LINK}"' in html
    assert "Can&#39;t connect" in html  # escaped, not raw markup


def test_failure_email_of_a_crash_says_the_rerun_crashed_too_and_hides_secrets() -> None:
    leaky = f"Flow run infrastructure exited with -9; DSN mysql://loader:{SECRET}@db:3306/dw password={SECRET}"
    msg = as_received(failure_email(failure(state="Crashed", attempts=2, failing_task=None, task_message=None,
                                            message=leaky, rerun_before=True)))
    text, html = bodies(msg)
    assert "crashed again after the automatic re-run" in text and "crashed again after the automatic re-run" in html
    assert "the flow failed outside a task" in text
    assert SECRET not in text and SECRET not in html
    assert "mysql://loader:***@db:3306/dw" in text


def test_failure_email_of_a_run_without_business_date_or_deployment() -> None:
    msg = as_received(failure_email(failure(flow="backfill", business_date="—", deployment=None, link=None,
                                            started=None, parameters={})))
    assert msg["Subject"] == "[DataWiz prod] backfill run Failed: amber-okapi"
    text, _ = bodies(msg)
    assert "not run from a deployment" in text and "never started" in text and "Open the run" not in text


# --------------------------------------------------------------------------------------------- validation
def report(path: str, table: str, status: str, stats: FileStats, **kw: object) -> FileReport:
    return FileReport(path=path, version="0x8DC", table=table, status=status, stats=stats, **kw)  # type: ignore[arg-type]


def summary() -> RunSummary:
    s = RunSummary("morning", DAY, "0b6c1f7e-5a3c-4a0e-9d55-3f0c2f1c9a10")
    s.files = [
        report("facts/fis/2025/11/20/fis_20251120_001.csv", "fact_secondary_sales", "loaded",
               FileStats(rows_in=5000, rows_loaded=4996, rows_quarantined=4), top_rules=[("net_amount: ge(0)", 3),
                                                                                        ("sku_code: pattern", 1)]),
        report("facts/fid/2025/11/20/fid_20251120_001.csv", "fact_primary_sales", "rejected",
               FileStats(rows_in=800), reason="missing column dispatch_date"),
        report("facts/fis/2025/11/20/fis_20251120_002.csv", "fact_secondary_sales", "loaded",
               FileStats(rows_in=700, rows_loaded=700)),
    ]
    return s


def quarantined(n: int) -> list[dict[str, object]]:
    return [{"source_file": "facts/fis/2025/11/20/fis_20251120_001.csv", "source_version": "0x8DC", "row_number": i,
             "table_name": "fact_secondary_sales",
             "rules": '[{"column": "net_amount", "rule": "ge(0)", "category": "data"}]',
             "row_json": f'{{"invoice_no": "INV{i:06d}", "net_amount": "-12.50"}}'} for i in range(1, n + 1)]


def test_validation_email_has_counts_files_top_rules_and_the_csv_attachment() -> None:
    s = summary()
    content, kept = quarantine_csv(quarantined(4), max_bytes=1 << 20)
    msg = as_received(validation_email(s, content, kept, LINK))
    assert msg["Subject"] == ("[DataWiz prod] data validation: 4 row(s) quarantined, 1 file(s) rejected "
                              "— morning 2025-11-20")
    assert_in_both(msg, "fis_20251120_001.csv", "fid_20251120_001.csv", "missing column dispatch_date",
                   "net_amount: ge(0)", "4 of 4 quarantined rows", "etl_quarantine", LINK)
    text, _ = bodies(msg)
    assert "fis_20251120_002.csv" not in text  # a clean file is not a problem
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["quarantine-morning-2025-11-20.csv"]
    assert attachments[0].get_content_type() == "text/csv"
    rows = list(csv.DictReader(io.StringIO(attachments[0].get_content())))
    assert len(rows) == 4
    assert rows[0]["row_number"] == "1" and rows[0]["rules"] == "net_amount: ge(0)"
    assert '"invoice_no": "INV000001"' in rows[0]["row"]


def test_quarantine_csv_is_cut_below_the_cap_and_the_email_says_so() -> None:
    content, kept = quarantine_csv(quarantined(1000), max_bytes=8_000)
    assert len(content) <= 8_000 and 0 < kept < 1000
    assert len(list(csv.DictReader(io.StringIO(content.decode())))) == kept
    s = summary()
    s.files[0].stats.rows_quarantined = 1000
    text, _ = bodies(as_received(validation_email(s, content, kept, None)))
    assert f"{kept} of 1,000 quarantined rows (cut to keep the email small)" in text


def test_top_rules_add_up_across_files() -> None:
    s = summary()
    s.files[2].top_rules = [("net_amount: ge(0)", 2)]
    assert top_rules(s)[0] == ("net_amount: ge(0)", 5)


# ------------------------------------------------------------------------------------------- daily report
def daily(healthy: bool) -> DailyReport:
    start, _ = utc_window(DAY)
    runs = [
        RunLine("morning", DAY - dt.timedelta(days=1), "completed", start + dt.timedelta(hours=8),
                start + dt.timedelta(hours=8, minutes=12, seconds=5), None),
        RunLine("evening", DAY, "completed" if healthy else "failed", start + dt.timedelta(hours=18),
                start + dt.timedelta(hours=18, minutes=3), None if healthy else "OperationalError: lost connection"),
    ]
    tables = [TableLine("fact_secondary_sales", 3, 0, 15_000, 14_990, 10, 2),
              TableLine("dim_retailer", 1, 1 if not healthy else 0, 2_000, 1_998, 2, 0)]
    freshness = [Freshness("fact_secondary_sales", DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=1)),
                 Freshness("fact_primary_sales", DAY - dt.timedelta(days=1 if healthy else 3),
                           DAY - dt.timedelta(days=1))]
    return DailyReport(DAY, runs, tables, freshness)


def test_daily_report_lists_runs_tables_totals_and_freshness() -> None:
    msg = as_received(daily_report_email(daily(healthy=True), LINK))
    assert msg["Subject"] == "[DataWiz prod] daily summary 2025-11-20: all good"
    assert_in_both(msg, "morning", "evening", "08:00 IST", "12m 05s", "fact_secondary_sales", "14,990", "15,000",
                   "dim_retailer", "16,988", "fact_primary_sales", "fresh", LINK)


def test_daily_report_flags_a_failed_run_and_a_stale_fact_table() -> None:
    msg = as_received(daily_report_email(daily(healthy=False), None))
    assert msg["Subject"] == "[DataWiz prod] daily summary 2025-11-20: 1 run(s) not completed, 1 fact table(s) stale"
    assert_in_both(msg, "failed", "OperationalError: lost connection", "STALE: 2 day(s) behind")


def test_daily_report_of_a_day_without_runs() -> None:
    empty = DailyReport(DAY, [], [], [Freshness("fact_secondary_sales", None, DAY - dt.timedelta(days=1))])
    assert_in_both(as_received(daily_report_email(empty, None)), "No DataWiz run was recorded today",
                   "No file was loaded today", "never loaded")


def test_a_run_without_end_shows_as_running() -> None:
    assert RunLine("morning", DAY, "running", dt.datetime(2025, 11, 20, 2, 30), None, None).duration == "running"


# ----------------------------------------------------------------------------------------- health, maintenance
def test_health_email_lists_every_check_and_names_the_problems() -> None:
    results = [CheckResult("source", True, "azure container 'landing' at https://acct.blob.core.windows.net/landing"),
               CheckResult("warehouse", False, "OperationalError: (2003, \"Can't connect to MySQL server\")"),
               CheckResult("disk", True, "data: 120.5 GB free"),
               CheckResult("facts", False, "warehouse unavailable: OperationalError"),
               CheckResult("evening", False, "warehouse unavailable: OperationalError"),
               CheckResult("smtp", True, "smtp.example.com:587 (STARTTLS), 2 recipient(s)")]
    msg = as_received(health_email(results, LINK))
    assert msg["Subject"] == "[DataWiz prod] health: 3 problem(s): evening, facts, warehouse"
    assert_in_both(msg, "source", "120.5 GB free", "connect to MySQL server", "FAIL", LINK)
    text, _ = bodies(msg)
    assert "FAIL warehouse OperationalError" in text and "OK   disk" in text


def test_health_email_of_a_recovery() -> None:
    msg = as_received(health_email([CheckResult("warehouse", True, "mysql://dw@db:3306/dw")], None))
    assert msg["Subject"] == "[DataWiz prod] health: all checks OK again"


def test_maintenance_email_reports_what_was_done() -> None:
    done = MaintenanceReport(archived_files=412, bytes_before=2_500_000_000, bytes_after=610_000_000,
                             purged_quarantine_files=37, purged_quarantine_rows=5_120, purged_log_files=12,
                             analysed=["ANALYZE TABLE fact_secondary_sales, …", "OPTIMIZE TABLE etl_quarantine"])
    msg = as_received(maintenance_email(done, {"raw backups": 90, "quarantine": 180, "logs": 30}, LINK))
    assert msg["Subject"] == "[DataWiz prod] monthly maintenance: 412 backups archived, 5,120 quarantine rows purged"
    assert_in_both(msg, "412", "2500.0 MB → 610.0 MB", "5,120", "37", "12", "OPTIMIZE TABLE etl_quarantine", "180")


@pytest.mark.parametrize("name", ["<script>alert(1)</script>.csv"])
def test_html_escapes_file_names(name: str) -> None:
    s = summary()
    s.files[0].path = name
    _, html = bodies(as_received(validation_email(s, b"", 0, None)))
    assert "<script>" not in html and "&lt;script&gt;" in html

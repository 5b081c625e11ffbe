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
from html.parser import HTMLParser
from pathlib import Path

import pytest
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.types import FileStats
from tasks.alerts import FailureInfo, failure_email, quarantine_csv, top_rules, validation_email
from tasks.daily import (
    BAR_PX,
    TREND_METRICS,
    DailyReport,
    Freshness,
    RunLine,
    TableLine,
    compact,
    daily_report_email,
    spark,
    trend_rows,
    utc_window,
)
from tasks.health import CheckResult, health_email
from tasks.load import FileReport
from tasks.maintenance import MaintenanceReport, maintenance_email
from tasks.notify import Email, build_message
from tasks.report import RunSummary, success_email

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


def test_success_email_says_what_the_run_loaded_per_table() -> None:
    s = summary()
    s.steps, s.seconds = ["fis", "fid", "dd"], 754.0
    s.notes["table_counts"] = {"fact_secondary_sales": 1_250_000, "fact_primary_sales": 80_000}
    msg = as_received(success_email(s, LINK))
    assert msg["Subject"] == "[DataWiz prod] morning 2025-11-20 completed: 2 file(s) loaded, 5,696 rows"
    assert_in_both(msg, "fis, fid, dd", "12m 34s", "5,696", "1,250,000", "fact_primary_sales", "EMAIL_ON_SUCCESS", LINK)


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
    return DailyReport(DAY, runs, tables, freshness, *two_weeks(tables, healthy))


def two_weeks(today: list[TableLine], healthy: bool) -> tuple[list[dt.date], dict[str, list[TableLine]],
                                                                dict[str, list[Freshness]]]:
    """14 days of loads ending with `today`'s lines: weekends light, one day with a rejected file."""
    days = [DAY - dt.timedelta(days=n) for n in range(13, -1, -1)]
    trend: dict[str, list[TableLine]] = {}
    for table, base in (("fact_secondary_sales", 15_000), ("fact_primary_sales", 1_200), ("dim_retailer", 2_000)):
        lines = [TableLine(table, 1, int(i == 9), base * (3 if d.weekday() < 5 else 1) // 3 + 37 * i,
                           base * (3 if d.weekday() < 5 else 1) // 3 + 37 * i - 5 * (i % 4), 5 * (i % 4), 0)
                 for i, d in enumerate(days[:-1])]
        trend[table] = [*lines, next((t for t in today if t.table == table), TableLine(table))]
    late = 0 if healthy else 1  # fact_primary_sales stops arriving two days before the end: 1, then 2 days behind
    fresh = {t: [Freshness(t, d - dt.timedelta(days=1 + (late * max(0, i - 11) if t == "fact_primary_sales" else 0)),
                           d - dt.timedelta(days=1)) for i, d in enumerate(days)]
             for t in ("fact_secondary_sales", "fact_primary_sales")}
    return days, trend, fresh


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


class Cells(HTMLParser):
    """Every tag of an HTML part with its attributes, and the text of the whole part."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_daily_report_draws_14_day_bars_every_mail_client_renders() -> None:
    report = daily(healthy=False)
    text, html = bodies(as_received(daily_report_email(report, LINK)))
    parsed = Cells()
    parsed.feed(html)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"img", "script", "style", "link", "svg", "canvas", "iframe", "object"}  # tables only
    assert "url(" not in html and "http" not in html.replace(LINK, "")  # nothing fetched from anywhere
    # One bar per table and day: a cell of the bar's height, coloured by attribute and inline style alike.
    bars = [a for tag, a in parsed.tags if tag == "td" and a.get("width") == "24"]
    charted = sum(1 for _, attr, _ in TREND_METRICS for lines in report.trend.values() if any(
        getattr(line, attr) for line in lines)) + len(report.freshness_trend)
    assert len(bars) == 14 * charted == 14 * 11
    assert all(a.get("bgcolor") and f"height:{a['height']}px" in (a.get("style") or "") for a in bars)
    loaded = [int(str(a["height"])) for a in bars[:14]]  # fact_secondary_sales, rows loaded
    assert max(loaded) == BAR_PX and min(loaded) < BAR_PX // 2  # weekends are short bars
    assert html.count(">Th<br>20<") >= 4 and ">Fr<br>07<" in html  # 14 day columns, today last
    assert "14,990" in html and "2 day(s) behind" in html  # today's values beside the bars
    # The text part draws the same bars with block characters, one per day.
    line = next(x for x in text.splitlines() if x.strip().startswith("fact_secondary_sales") and "█" in x)
    assert len(line.split()[1]) == 14 and "today 14,990" in line
    assert "fact_primary_sales       ············▂▃  today 2 day(s) behind" in text


def test_daily_trend_artifact_has_one_row_per_table_and_day_with_bars() -> None:
    rows = trend_rows(daily(healthy=True))
    assert len(rows) == 3 * 14 and rows[0]["table"] == "fact_secondary_sales" and rows[0]["day"] == "2025-11-07"
    fis = [r for r in rows if r["table"] == "fact_secondary_sales"]
    peak = max(fis, key=lambda r: r["rows loaded"])
    assert peak["rows loaded bar"] == "█" * 12 and 0 < len(str(fis[1]["rows loaded bar"])) < 12
    assert {r["freshness"] for r in fis} == {"fresh"}
    assert {r["freshness"] for r in rows if r["table"] == "dim_retailer"} == {""}  # not a fact table
    assert spark([0, 1, 8, None]) == "·▁█-" and compact(15_444) == "15k" and compact(1_644) == "1.6k"


def test_the_trend_counts_each_file_on_its_ist_day_and_freshness_as_it_stood(tmp_path: Path) -> None:
    from blocks.warehouse import resolve_warehouse
    from tasks.daily import collect_daily_report

    wh = resolve_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.migrate()
    ledger = [  # (file, table, status, business date, finished at UTC, rows loaded, quarantined)
        ("a", "fact_secondary_sales", "loaded", DAY - dt.timedelta(days=30), dt.datetime(2025, 10, 21, 3), 50, 0),
        ("b", "fact_secondary_sales", "loaded", DAY - dt.timedelta(days=2), dt.datetime(2025, 11, 19, 18, 15), 100, 3),
        ("c", "fact_secondary_sales", "rejected", DAY - dt.timedelta(days=1), dt.datetime(2025, 11, 19, 18, 45), 0, 0),
        ("d", "fact_secondary_sales", "loaded", DAY - dt.timedelta(days=1), dt.datetime(2025, 11, 20, 2, 30), 70, 1),
        ("e", "dim_product", "loaded", DAY - dt.timedelta(days=7), dt.datetime(2025, 11, 13, 12, 30), 9, 0),
    ]
    for name, table, status, day, finished, loaded, bad in ledger:
        wh.execute("INSERT INTO etl_file_ledger (source_file, source_version, table_name, status, business_date, "
                   "rows_in, rows_loaded, rows_quarantined, rows_deduplicated, orphans, run_id, started_at, "
                   "finished_at) "
                   "VALUES (:f, 'v1', :t, :s, :d, :n, :l, :q, 0, 0, 'r', :at, :at)",
                   {"f": name, "t": table, "s": status, "d": day, "n": loaded + bad, "l": loaded, "q": bad,
                    "at": finished})
    report = collect_daily_report.fn(wh, DAY)
    wh.close()
    assert report.days[0] == DAY - dt.timedelta(days=13) and report.days[-1] == DAY
    assert list(report.trend) == ["fact_secondary_sales", "fact_primary_sales", "dim_product"]
    fis = report.trend["fact_secondary_sales"]
    # 18:15 UTC on the 19th is 23:45 IST the same day; 18:45 UTC is 00:15 IST on the 20th.
    assert (fis[-2].rows_loaded, fis[-2].rows_quarantined, fis[-2].files_rejected) == (100, 3, 0)
    assert (fis[-1].rows_loaded, fis[-1].rows_quarantined, fis[-1].files_rejected) == (70, 1, 1)
    assert [t.table for t in report.tables] == ["fact_secondary_sales"] and report.tables[0].files_loaded == 1
    assert report.trend["dim_product"][-8].rows_loaded == 9
    behind = [f.days_behind for f in report.freshness_trend["fact_secondary_sales"]]
    assert behind[:3] == [16, 17, 18] and behind[-2:] == [0, 0]  # a load before the window counts too
    assert [f.days_behind for f in report.freshness_trend["fact_primary_sales"]] == [None] * 14


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

"""Hostile input (issue 10 §5): fuzzed variants of every source table through the real ingest path.

Each variant of tests/reliability/hostile.py is ingested by `ingest_file` (read, clean, validate, load,
quarantine copy — the task every flow maps over) into a real MariaDB database and a DuckDB file. Then:
- nothing crashed: every variant ends `rejected` (ledger reason present, naming the problem) or `loaded`;
- strings are stored literally: every hostile value in a free-text column is read back byte for byte;
- values a rule refuses are quarantined with their row number and column, the row kept as delivered, in
  `etl_quarantine` and in the Parquet copy;
- nothing was executed: the warehouse has the same tables afterwards, one ledger row per variant;
- the CSV attachment of the validation email (the only CSV DataWiz writes for people) has no cell a
  spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from blocks.types import SourceFile
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import Warehouse, migrations
from blocks.warehouse.sql_builders import DRIFT_NAMES_KEPT
from datawiz.core.registry import CONTRACTS, resolve_path
from tasks.alerts import quarantine_csv, quarantine_rows
from tasks.extract import PlannedFile
from tasks.load import FileReport, ingest_file
from tasks.quarantine import quarantine_copy_path
from tasks.report import SUMMARY_TABLES
from tests.reliability.conftest import Tally
from tests.reliability.hostile import Variant, variants

pytestmark = pytest.mark.integration
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
csv.field_size_limit(1 << 30)  # the 10 MB cell travels in the attachment too


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> list[Variant]:
    return variants(tmp_path_factory.mktemp("hostile-base"))


@pytest.fixture(params=["duckdb", "mariadb"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("mysql_url")
    wh = resolve_warehouse(url)
    wh.migrate()
    yield wh
    wh.close()


def _tables(wh: Warehouse) -> set[str]:
    if wh.dialect == "duckdb":
        rows = wh.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'main'")
    else:
        rows = wh.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()")
    return {str(t) for t in rows["t"].to_pylist()}


def _ingest(wh: Warehouse, v: Variant, folder: Path, run_id: str) -> FileReport:
    version = hashlib.sha256(v.data).hexdigest()[:32]
    local = folder / f"{uuid.uuid4().hex}{Path(v.path).suffix}"
    local.write_bytes(v.data)
    ref = resolve_path(v.path)
    assert ref is not None, v.path
    planned = PlannedFile(SourceFile(v.path, version, len(v.data)), ref, ref.contract.name, ref.contract.target_table)
    return ingest_file.fn(wh, planned, str(local), run_id)


def _same(got: Any, want: Any) -> bool:
    """Equal, and for text equal byte for byte (UTF-8)."""
    if isinstance(want, str):
        return isinstance(got, str) and got.encode("utf-8", "surrogatepass") == want.encode("utf-8", "surrogatepass")
    if isinstance(want, dt.datetime) and isinstance(got, dt.datetime):
        return got.replace(tzinfo=None) == want
    return got == want


def _check_literals(wh: Warehouse, v: Variant, report: FileReport) -> list[str]:
    contract = CONTRACTS[v.table]
    problems = []
    for key, columns in v.literal.items():
        parts = key.split("|")
        where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(contract.key))
        params = {f"k{i}": int(p) if contract.column(k).type == "int" else p
                  for i, (k, p) in enumerate(zip(contract.key, parts, strict=True))}
        rows = wh.query(f"SELECT * FROM {contract.target_table} WHERE {where}", params).to_pylist()
        if len(rows) != 1:
            problems.append(f"{v.id}: key {key!r} not stored ({len(rows)} rows; report {report.status})")
            continue
        for col, want in columns.items():
            if not _same(rows[0][col], want):
                problems.append(f"{v.id}: {col} of {key!r} stored as {rows[0][col]!r:.80}, delivered {want!r:.80}")
    return problems


def _check_quarantine(wh: Warehouse, v: Variant, report: FileReport) -> list[str]:
    problems = []
    rows = wh.query("SELECT * FROM etl_quarantine WHERE source_file = :f AND source_version = :v",
                    {"f": v.path, "v": report.version}).to_pylist()
    by_number = {int(r["row_number"]): r for r in rows}
    copy = quarantine_copy_path(v.path, report.version)
    copied = {r["row_number"]: r for r in pq.read_table(copy).to_pylist()} if copy.exists() else {}
    for number, (col, want) in v.quarantined.items():
        row = by_number.get(number)
        if row is None:
            problems.append(f"{v.id}: row {number} ({col}) not quarantined")
            continue
        rules = json.loads(row["rules"])
        # The column is named by the failure itself, or (table-level rules such as the file-date one) by the rule.
        if not any(r.get("column") == col or col in str(r.get("rule")) for r in rules):
            problems.append(f"{v.id}: row {number} quarantined without naming column {col}: {rules}")
        delivered = json.loads(row["row_json"]).get(col)
        expected = want if isinstance(want, str) or want is None else str(want)
        if want is not None and not _same(delivered, expected):
            problems.append(f"{v.id}: row {number} {col} kept as {delivered!r:.60}, delivered {expected!r:.60}")
        if number not in copied or copied[number]["row_json"] != row["row_json"]:
            problems.append(f"{v.id}: row {number} missing or different in the Parquet copy {copy.name}")
    return problems


def _check(wh: Warehouse, v: Variant, report: FileReport) -> list[str]:
    ledger = wh.query("SELECT status, reason, drift_columns FROM etl_file_ledger WHERE source_file = :f "
                      "AND source_version = :v", {"f": v.path, "v": report.version}).to_pylist()
    allowed = ("loaded", "rejected") if v.expect == "quarantined_or_rejected" else (v.expect,)
    if report.status not in allowed or len(ledger) != 1 or ledger[0]["status"] != report.status:
        return [f"{v.id}: expected {v.expect}, got {report.status} (ledger {ledger}, reason {report.reason!r:.200})"]
    row = ledger[0]
    problems = []
    if report.status == "rejected":
        return [] if row["reason"] and (not v.reason or v.reason in row["reason"]) else [
            f"{v.id}: rejection reason {row['reason']!r} lacks {v.reason!r}"]
    drift = json.loads(row["drift_columns"] or "[]")
    if v.drift and (len(drift) != DRIFT_NAMES_KEPT + 1 or drift[-1] != f"... and {v.drift - DRIFT_NAMES_KEPT} more"):
        problems.append(f"{v.id}: drift_columns does not sum up the {v.drift} extra columns: {str(drift)[:200]}")
    return problems + _check_literals(wh, v, report) + _check_quarantine(wh, v, report)


@pytest.mark.fault_injection  # 86 variants x 2 backends (~1 min): `make test-reliability`
def test_every_hostile_variant_is_rejected_or_stored_literally(
    hostile: list[Variant], warehouse: Warehouse, tmp_path: Path, workdir: Path, tally: Tally
) -> None:
    before = _tables(warehouse)
    run_id = f"hostile-{uuid.uuid4().hex[:8]}"
    problems: list[str] = []
    outcomes: dict[str, int] = {}
    for v in hostile:
        tally.fault(f"hostile:{v.kind}")
        tally.run()
        try:
            report = _ingest(warehouse, v, tmp_path, run_id)
        except Exception as exc:  # noqa: BLE001  (a crash is the finding; collect them all)
            problems.append(f"{v.id}: crashed with {type(exc).__name__}: {str(exc)[:300]}")
            continue
        outcomes[report.status] = outcomes.get(report.status, 0) + 1
        problems += _check(warehouse, v, report)
        tally.rows(sum(len(c) for c in v.literal.values()) + len(v.quarantined))
    # Nothing executed: same tables, every one still answers, one ledger row per variant.
    after = _tables(warehouse)
    if after != before:
        problems.append(f"tables changed: lost {sorted(before - after)}, gained {sorted(after - before)}")
    for table in SUMMARY_TABLES:
        warehouse.query(f"SELECT count(*) AS n FROM {table}")
    ledger = warehouse.query("SELECT count(*) AS n FROM etl_file_ledger")["n"][0].as_py()
    if ledger != len(hostile):
        problems.append(f"{ledger} ledger rows for {len(hostile)} variants")
    problems += _check_csv_attachment(warehouse, run_id)
    for p in problems:
        tally.discrepancy(f"{warehouse.dialect}: {p}")
    print(f"{warehouse.dialect}: {len(hostile)} variants -> {outcomes}")
    assert not problems, "\n".join(problems)


def _check_csv_attachment(wh: Warehouse, run_id: str) -> list[str]:
    """The validation email's CSV: every quarantined hostile row, and no cell a spreadsheet would evaluate."""
    rows = quarantine_rows(wh, run_id)
    data, kept = quarantine_csv(rows, 64 * 1024 * 1024)
    cells = [c for line in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) for c in line]
    problems = [f"CSV attachment cell starts a formula: {c[:60]!r}" for c in cells if c.startswith(FORMULA_START)]
    if kept != len(rows) or not rows:
        problems.append(f"CSV attachment holds {kept} of {len(rows)} quarantined rows")
    return problems


def test_csv_attachment_neutralises_formula_cells() -> None:
    """Whatever a cell holds, the CSV for people never starts one with = + - @ (OWASP CSV injection)."""
    row = {"source_file": "=cmd|' /C calc'!A0", "source_version": "@SUM(1+1)", "row_number": -1,
           "table_name": "+1", "rules": json.dumps([{"column": None, "rule": "=x"}]), "row_json": "-2+3"}
    data, kept = quarantine_csv([row], 1 << 20)
    cells = next(iter(csv.reader(io.StringIO(data.decode().splitlines()[1]))))
    assert kept == 1
    assert not [c for c in cells if c.startswith(FORMULA_START)], cells
    # Neutralised by a leading apostrophe, the text itself kept: a person still reads what arrived.
    assert "'=cmd|' /C calc'!A0" in cells and "'-1" in cells


@pytest.mark.parametrize("dialect", ["mysql", "starrocks"])
def test_free_text_limit_fits_every_warehouse_column(dialect: str) -> None:
    """The max_length rule quarantines what the warehouse column could not hold (MySQL: characters, StarRocks:
    bytes — the rule counts UTF-8 bytes, so it fits both)."""
    ddl = migrations(dialect)[0].text()
    checked = 0
    for contract in CONTRACTS.values():
        body = ddl.split(f"CREATE TABLE IF NOT EXISTS {contract.target_table} (", 1)[1].split(";", 1)[0]
        for col in contract.columns:
            if col.type != "str" or col.pattern or col.allowed:
                continue
            found = re.search(rf"\n\s*`?{col.name}`?\s+(VARCHAR\((\d+)\)|TEXT|STRING)", body)
            assert found, f"{contract.target_table}.{col.name} has no VARCHAR(n)/TEXT/STRING type in {dialect}"
            width = int(found.group(2)) if found.group(2) else {"TEXT": 65_535, "STRING": 65_533}[found.group(1)]
            assert col.max_length <= width, (contract.target_table, col.name, width)
            checked += 1
    assert checked >= 10


def test_quality_report_shows_hostile_names_as_text() -> None:
    """Column and blob names come from delivered files: in the markdown artifact they stay text (no HTML, link,
    code span or extra table cell), and thousands of drift columns do not flood it. The same in the cells of the
    per-file table artifact, which the Prefect UI renders as markdown too."""
    from blocks.types import FileStats
    from tasks.report import DRIFT_SHOWN, RunSummary, file_rows, quality_markdown

    evil = "<script>alert(1)</script> `x` [a](javascript:alert(1)) | cell\nline"
    report = FileReport(path=f"facts/fis/{evil}.csv", version="v", table="fact_secondary_sales", status="rejected",
                        stats=FileStats(), reason=f"column {evil!r} appears twice",
                        drift_columns=[f"{evil}{i}" for i in range(10_000)])
    summary = RunSummary("morning", dt.date(2025, 11, 20), "r", files=[report], unrecognised=[evil])
    md = quality_markdown(summary)
    cells = [v for v in file_rows(summary)[0].values() if isinstance(v, str)]
    for cell in cells:
        assert "<script" not in cell and "\n" not in cell and len(cell) < 2100
        assert not re.search(r"(?<!\\)\]\(", cell) and not re.search(r"(?<!\\)`", cell)
    assert "<script" not in md  # no HTML tag
    assert not re.search(r"(?<!\\)\]\(", md) and not re.search(r"(?<!\\)`", md)  # no link, no code span
    rows = [line for line in md.splitlines() if line.startswith("| facts/")]
    assert len(rows) == 1 and rows[0].replace("\\|", "").count("|") == 10  # still ten cells, one line
    assert f"and {10_000 - DRIFT_SHOWN} more" in rows[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md  # shown, not dropped

"""The end-of-test check: the warehouse against the generator's manifest and DATA-CONTRACT §3.

Every fault test ends with `assert_exact(...)`. It checks, and records in the suite's tally:
- rows and the exact `net_amount` sum of every table the manifest names (active rows for dimensions);
- no duplicate key in any keyed table (facts, dimensions, hierarchy, aggregates, report);
- one ledger row per delivered file version, with the manifest's status and counts, and
  `rows_in = rows_loaded + rows_quarantined + rows_deduplicated` on each (0 loaded when rejected);
- no ledger row without its data (a loaded fact file's rows are all there, its quarantined rows too)
  and no data without its ledger row (every lineage pair in a table is a `loaded` ledger row);
- the derived tables agree with the facts they are built from: `rpt_sales_daily` per date and
  `agg_dd_tsr_month` per month sum to the fact `net_amount` of that date / month.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pymysql

from datawiz.core.registry import CONTRACTS, FACTS, target_tables
from datawiz.sample_data import Manifest

if TYPE_CHECKING:
    from tests.reliability.conftest import Tally

FACT_TABLES = target_tables(FACTS)
# Keys of the tables the contract registry does not describe (derived by SQL).
DERIVED_KEYS = {
    "dim_sales_hierarchy": ("tsr_code", "valid_from"),
    "agg_dd_tsr_month": ("month_start", "tsr_code"),
    "agg_dd_outlet_month": ("month_start", "retailer_code"),
    "rpt_sales_daily": ("invoice_date", "region", "brand"),
    "etl_file_ledger": ("source_file", "source_version"),
}


def _rows(cur: pymysql.cursors.Cursor, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    cur.execute(sql, params)  # no params: the text is not %-formatted
    return list(cur.fetchall())


def _scalar(cur: pymysql.cursors.Cursor, sql: str, params: tuple[Any, ...] | None = None) -> Any:
    return _rows(cur, sql, params)[0][0]


def table_problems(cur: pymysql.cursors.Cursor, manifest: Manifest, tables: list[str]) -> tuple[list[str], int]:
    """Rows, sums and active counts of the manifest's tables; returns (problems, rows checked)."""
    problems, checked = [], 0
    for table in tables:
        exp = manifest.tables[table]
        n = int(_scalar(cur, f"SELECT count(*) FROM {table}"))
        checked += n
        if n != exp.rows:
            problems.append(f"{table}: {n} rows, expected {exp.rows}")
        if exp.net_amount is not None:
            total = Decimal(_scalar(cur, f"SELECT coalesce(sum(net_amount), 0) FROM {table}"))
            if total != Decimal(exp.net_amount):
                problems.append(f"{table}: net_amount {total}, expected {exp.net_amount}")
        if exp.active is not None:
            flag = "is_current" if table == "dim_sales_hierarchy" else "is_active"
            active = int(_scalar(cur, f"SELECT count(*) FROM {table} WHERE {flag}"))
            if active != exp.active:
                problems.append(f"{table}: {active} rows with {flag}, expected {exp.active}")
    return problems, checked


def duplicate_key_problems(cur: pymysql.cursors.Cursor) -> list[str]:
    """Tables where a key occurs twice (the primary keys should make this impossible; prove it)."""
    keys = {c.target_table: tuple(c.key) for c in CONTRACTS.values() if c.key}
    keys.update(DERIVED_KEYS)
    problems = []
    for table, key in sorted(keys.items()):
        cols = ", ".join(key)
        dup = _scalar(cur, f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY {cols} HAVING count(*) > 1) d")
        if dup:
            problems.append(f"{table}: {dup} duplicate key(s) on ({cols})")
    return problems


def ledger_problems(cur: pymysql.cursors.Cursor, manifest: Manifest, tables: set[str]) -> list[str]:
    """One ledger row per delivered file of `tables`, as the manifest expects, each balanced (§3)."""
    ledger = {r[0]: r for r in _rows(cur, "SELECT source_file, status, rows_in, rows_loaded, rows_quarantined, "
                                          "rows_deduplicated, source_version FROM etl_file_ledger")}
    count = int(_scalar(cur, "SELECT count(*) FROM etl_file_ledger"))
    problems = [] if count == len(ledger) else [f"etl_file_ledger: {count} rows for {len(ledger)} paths"]
    expected = {f.path: f for f in manifest.files if f.expected_status != "unrecognised" and f.table in tables}
    for path, f in expected.items():
        row = ledger.get(path)
        if row is None:
            problems.append(f"ledger: no row for {path}")
            continue
        _, status, rows_in, loaded, quarantined, dedup, _ = row
        if status != f.expected_status:
            problems.append(f"ledger: {path} is {status}, expected {f.expected_status}")
        got = (rows_in, loaded, quarantined, dedup)
        want = (f.rows_in, f.rows_loaded, f.rows_quarantined, f.rows_deduplicated)
        if status == "loaded" and got != want:
            problems.append(f"ledger: {path} counts {got}, expected {want}")
        if status == "loaded" and rows_in != loaded + quarantined + dedup:
            problems.append(f"ledger: {path} unbalanced: {rows_in} != {loaded} + {quarantined} + {dedup}")
        if status == "rejected" and loaded:
            problems.append(f"ledger: rejected {path} says {loaded} rows loaded")
    known = {f.path for f in manifest.files}
    problems += [f"ledger: row for unknown file {p}" for p in ledger if p not in known]
    return problems


def lineage_problems(cur: pymysql.cursors.Cursor, database: str) -> list[str]:
    """No data without a loaded ledger row; a loaded fact file's rows and quarantined rows all present."""
    loaded = {(r[0], r[1]): (r[2], r[3]) for r in _rows(
        cur, "SELECT source_file, source_version, rows_loaded, rows_quarantined FROM etl_file_ledger "
             "WHERE status = 'loaded'")}
    lineage_tables = [r[0] for r in _rows(
        cur, "SELECT TABLE_NAME FROM information_schema.COLUMNS c WHERE TABLE_SCHEMA = %s AND COLUMN_NAME = "
             "'_source_version' AND TABLE_NAME NOT LIKE 'etl\\_%%' AND TABLE_NAME IN (SELECT TABLE_NAME FROM "
             "information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE') ORDER BY 1",
        (database, database))]
    problems = []
    for table in lineage_tables:
        groups = _rows(cur, f"SELECT _source_file, _source_version, count(*) FROM {table} "
                            "GROUP BY _source_file, _source_version")
        for path, version, n in groups:
            if (path, version) not in loaded:
                problems.append(f"{table}: {n} row(s) from {path}@{version} which the ledger has not as loaded")
            elif table in FACT_TABLES and n != loaded[(path, version)][0]:
                problems.append(f"{table}: {n} row(s) from {path}, the ledger says {loaded[(path, version)][0]}")
    quarantined = {(r[0], r[1]): r[2] for r in _rows(
        cur, "SELECT source_file, source_version, count(*) FROM etl_quarantine GROUP BY source_file, source_version")}
    for pair, (_, q) in loaded.items():
        if quarantined.get(pair, 0) != q:
            problems.append(f"etl_quarantine: {quarantined.get(pair, 0)} row(s) for {pair[0]}, the ledger says {q}")
    return problems


def derived_problems(cur: pymysql.cursors.Cursor) -> list[str]:
    """rpt_sales_daily per date and agg_dd_tsr_month per month add up to the facts they summarise."""
    problems = []
    facts_by_day = dict(_rows(cur, "SELECT invoice_date, sum(net_amount) FROM fact_secondary_sales GROUP BY 1"))
    report = dict(_rows(cur, "SELECT invoice_date, sum(net_amount) FROM rpt_sales_daily GROUP BY 1"))
    for day in sorted(set(facts_by_day) | set(report)):
        if facts_by_day.get(day) != report.get(day):
            problems.append(f"rpt_sales_daily {day}: {report.get(day)}, facts {facts_by_day.get(day)}")
    facts_by_month = dict(_rows(cur, "SELECT DATE_FORMAT(invoice_date, '%Y-%m-01'), sum(net_amount) "
                                     "FROM fact_secondary_sales GROUP BY 1"))
    dd = dict(_rows(cur, "SELECT DATE_FORMAT(month_start, '%Y-%m-01'), sum(net_sales) FROM agg_dd_tsr_month "
                         "GROUP BY 1"))
    for month in sorted(set(facts_by_month) | set(dd)):
        if facts_by_month.get(month) != dd.get(month):
            problems.append(f"agg_dd_tsr_month {month}: {dd.get(month)}, facts {facts_by_month.get(month)}")
    return problems


def check_warehouse(server: Any, database: str, manifest: Manifest, *, facts: bool = True) -> tuple[list[str], int]:
    """Every check above on one database; `facts=False` after an evening run only. (problems, rows checked)"""
    tables = [t for t in manifest.tables if facts or t not in FACT_TABLES]
    ledger_tables = set(tables) | {"business_constants"}
    with server.connect(database) as conn, conn.cursor() as cur:
        problems, checked = table_problems(cur, manifest, tables)
        problems += duplicate_key_problems(cur)
        problems += ledger_problems(cur, manifest, ledger_tables)
        problems += lineage_problems(cur, database)
        if facts:
            problems += derived_problems(cur)
    return problems, checked


def assert_exact(server: Any, database: str, manifest: Manifest, tally: Tally, label: str, *,
                 facts: bool = True) -> None:
    """Check the warehouse, record rows checked and any discrepancy in the tally, and fail on one."""
    problems, checked = check_warehouse(server, database, manifest, facts=facts)
    tally.rows(checked)
    for p in problems:
        tally.discrepancy(f"{label}: {p}")
    assert not problems, f"{label}: the warehouse differs from the generator's totals:\n" + "\n".join(problems)

"""The same evening + morning runs on DuckDB and on MariaDB give the same warehouse, table by table.

Sample data with defects exercises every load path (quarantine, rejected files, duplicates,
orphans, snapshots, SCD2, constants, DD, reports); comparing row counts and sums per table
catches a MySQL SQL file or load step that drifts from the DuckDB reference.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import generate
from flows.evening import evening
from flows.morning import morning
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

END = dt.date(2025, 11, 20)

# What is compared per table: row count plus sums that a wrong translation would move.
CHECKS: dict[str, str] = {
    "dim_product": "count(*), sum(is_active), sum(mrp)",
    "dim_distributor": "count(*), sum(is_active)",
    "dim_retailer": "count(*), sum(is_active)",
    "dim_employee": "count(*), sum(is_active)",
    "stg_tsr_snapshot": "count(*), count(DISTINCT snapshot_date)",
    "dim_sales_hierarchy": "count(*), sum(is_current), count(DISTINCT valid_from)",
    "etl_hierarchy_broken": "count(*)",
    "dim_date": "count(*), sum(fiscal_month), count(DISTINCT fiscal_year), sum(is_weekend), sum(day_of_week)",
    "business_constants": "count(*)",
    "fact_secondary_sales": "count(*), sum(net_amount), sum(quantity)",
    "fact_primary_sales": "count(*), sum(net_amount), sum(quantity)",
    "agg_dd_tsr_month": "count(*), sum(net_sales), sum(billed_outlets), sum(productive_outlets), "
                        "sum(bills), sum(focus_brand_outlets), sum(lines_per_bill), count(so_code)",
    "agg_dd_outlet_month": "count(*), sum(net_sales), sum(distinct_skus), sum(distinct_brands), sum(is_productive)",
    "rpt_sales_daily": "count(*), sum(net_amount), sum(quantity), sum(billed_outlets)",
    "etl_file_ledger": "count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined), "
                       "sum(rows_deduplicated), sum(orphans), count(DISTINCT status)",
    "etl_quarantine": "count(*), count(DISTINCT source_file)",
}


def warehouse_numbers(url: str) -> dict[str, tuple]:
    """Every CHECKS row of one warehouse, with numbers normalised (DuckDB and MySQL type sums differently)."""
    wh = resolve_warehouse(url)
    try:
        out = {}
        for table, exprs in CHECKS.items():
            sql = f"SELECT {exprs.replace('lines_per_bill', 'CAST(lines_per_bill AS DECIMAL(18,4))')} FROM {table}"
            row = wh.query(sql).to_pylist()[0]
            out[table] = tuple(Decimal(str(v)) if v is not None else None for v in row.values())
        return out
    finally:
        wh.close()


def run_pipeline(landing: Path, url: str) -> None:
    for flow in (evening, morning):
        flow(business_date=END, source=str(landing), warehouse=url)


def test_mariadb_matches_duckdb_on_sample_data_with_defects(
    prefect_server: None, workdir: Path, mysql_url: str  # noqa: F811
) -> None:
    landing = workdir / "landing"
    manifest = generate(landing, days=4, fis_rows_per_day=1500, defects=True, end_date=END)
    duck_url = f"duckdb:///{workdir / 'wh.duckdb'}"
    run_pipeline(landing, duck_url)
    run_pipeline(landing, mysql_url)

    duck, maria = warehouse_numbers(duck_url), warehouse_numbers(mysql_url)
    assert {t: v for t, v in maria.items() if v != duck[t]} == {}, f"DuckDB: { {t: duck[t] for t in duck} }"
    # And both agree with what the generator says a correct pipeline produces.
    for table, exp in manifest.tables.items():
        assert maria[table][0] == exp.rows, table
        if exp.net_amount is not None:
            assert maria[table][1] == Decimal(exp.net_amount), table
    # The defects really were exercised: something was quarantined and something rejected.
    assert maria["etl_quarantine"][0] > 0
    wh = resolve_warehouse(mysql_url)
    try:
        statuses = set(wh.query("SELECT DISTINCT status FROM etl_file_ledger")["status"].to_pylist())
    finally:
        wh.close()
    assert {"loaded", "rejected"} <= statuses


def test_db_migrate_command_applies_once(mysql_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from blocks.warehouse.base import migrations
    from datawiz.cli import main

    assert main(["db", "migrate", "--warehouse", mysql_url]) == 0
    assert main(["db", "migrate", "--warehouse", mysql_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("applied " + ", ".join(m.path.name for m in migrations("mysql")))
    assert out[1].endswith("schema is up to date")
    wh = resolve_warehouse(mysql_url)
    try:
        tables = set(wh.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()")
                     ["t"].to_pylist())
    finally:
        wh.close()
    duck_tables = {line.split("(")[0].split()[-1] for line in
                   migrations("duckdb")[0].text().splitlines()
                   if line.startswith("CREATE TABLE")}
    assert duck_tables | {"schema_migrations", "sec_user_region"} <= tables

"""DD metrics and the SCD2 hierarchy on hand-built data, with numbers worked out by hand.

Each test runs on DuckDB and on MariaDB: the SQL of both backends must give the same answers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from blocks.warehouse import resolve_warehouse
from flows.evening import evening
from flows.morning import morning
from tests.e2e import business_fixture as fx

pytestmark = pytest.mark.integration
DAY = dt.date(2025, 11, 20)


def rows(url: str, sql: str, params: dict | None = None) -> list[dict]:
    wh = resolve_warehouse(url)
    try:
        return wh.query(sql, params).to_pylist()
    finally:
        wh.close()


def dec(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def test_dd_numbers_match_the_hand_worked_example(
    workdir: Path, warehouse_url: str, prefect_server: None
) -> None:
    landing = workdir / "landing"
    fx.write_dimensions(landing)
    fx.write_facts(landing)
    evening(business_date=DAY, source=str(landing), warehouse=warehouse_url)
    morning(business_date=DAY, source=str(landing), warehouse=warehouse_url)

    got = {r["tsr_code"]: r for r in rows(warehouse_url, "SELECT * FROM agg_dd_tsr_month")}
    assert set(got) == set(fx.EXPECTED_TSR)
    for tsr, (so, billed, productive, bills, lines, lpb, focus, net, vs) in fx.EXPECTED_TSR.items():
        r = got[tsr]
        assert r["month_start"] == fx.NOV
        assert (r["so_code"], r["asm_code"], r["rsm_code"], r["zsm_code"]) == (so, "E00004", "E00003", "E00002")
        assert (r["billed_outlets"], r["productive_outlets"], r["bills"], r["lines"], r["focus_brand_outlets"]) == (
            billed, productive, bills, lines, focus), tsr
        assert dec(r["lines_per_bill"]) == dec(lpb) and dec(r["lpb_vs_target"]) == dec(vs)
        assert Decimal(str(r["net_sales"])) == net

    outlets = {r["retailer_code"]: r for r in rows(warehouse_url, "SELECT * FROM agg_dd_outlet_month")}
    assert set(outlets) == set(fx.EXPECTED_OUTLET)
    for retailer, (tsr, so, skus, brands, net, productive) in fx.EXPECTED_OUTLET.items():
        r = outlets[retailer]
        assert (r["tsr_code"], r["so_code"], r["distinct_skus"], r["distinct_brands"]) == (tsr, so, skus, brands)
        assert Decimal(str(r["net_sales"])) == net and bool(r["is_productive"]) is productive

    daily = rows(warehouse_url, "SELECT invoice_date, region, brand, quantity, net_amount, billed_outlets "
                                "FROM rpt_sales_daily ORDER BY invoice_date, brand")
    assert [(r["invoice_date"], r["brand"], r["quantity"], Decimal(str(r["net_amount"])), r["billed_outlets"])
            for r in daily] == [
        (dt.date(2025, 11, 10), "Fevicol", 2, Decimal("150.00"), 2),
        (dt.date(2025, 11, 10), "M-Seal", 2, Decimal("159.99"), 2),
        (dt.date(2025, 11, 20), "Fevicol", 1, Decimal("150.00"), 1),
        (dt.date(2025, 11, 20), "M-Seal", 0, Decimal("-10.00"), 1),
    ]


def hierarchy(url: str) -> list[tuple]:
    return [(r["tsr_code"], r["so_code"], r["valid_from"], r["valid_to"], bool(r["is_current"]))
            for r in rows(url, "SELECT * FROM dim_sales_hierarchy ORDER BY tsr_code, valid_from")]


def test_scd2_history_over_a_sequence_of_snapshots(workdir: Path, warehouse_url: str, prefect_server: None) -> None:
    landing = workdir / "landing"
    emp = fx.employee
    d1, d2, d3, d4 = (dt.date(2025, 11, 1), dt.date(2025, 11, 15), dt.date(2025, 12, 1), dt.date(2025, 12, 15))
    end = dt.date(9999, 12, 31)

    def run_evening() -> object:
        return evening(business_date=d4, source=str(landing), warehouse=warehouse_url,
                       steps=["dimension_sync", "tsr_hierarchy"])

    # Two snapshots arriving together still give both versions of E00007's chain (manager change).
    fx.tsr_snapshot(landing, d1, [emp("E00006", "TSR", "E00005"), emp("E00007", "TSR", "E00005"),
                                  emp("E00009", "TSR", "E00005")])
    fx.tsr_snapshot(landing, d2, [emp("E00006", "TSR", "E00005"), emp("E00007", "TSR", "E00008"),
                                  emp("E00009", "TSR", "E00005")])
    run_evening()
    assert hierarchy(warehouse_url) == [
        ("E00006", "E00005", d1, end, True),
        ("E00007", "E00005", d1, d2 - dt.timedelta(days=1), False),
        ("E00007", "E00008", d2, end, True),
        ("E00009", "E00005", d1, end, True),
    ]
    # Role change (E00006 promoted to SO) and deactivation (E00007) close their rows; E00009 unchanged.
    fx.tsr_snapshot(landing, d3, [emp("E00006", "SO", "E00004"), emp("E00007", "TSR", "E00008", active=False),
                                  emp("E00009", "TSR", "E00005")])
    run_evening()
    after_d3 = hierarchy(warehouse_url)
    assert after_d3 == [
        ("E00006", "E00005", d1, d3 - dt.timedelta(days=1), False),
        ("E00007", "E00005", d1, d2 - dt.timedelta(days=1), False),
        ("E00007", "E00008", d2, d3 - dt.timedelta(days=1), False),
        ("E00009", "E00005", d1, end, True),  # unchanged across three snapshots: one row
    ]
    # A late, older snapshot changes nothing.
    fx.tsr_snapshot(landing, dt.date(2025, 10, 1), [emp("E00009", "TSR", "E00008")])
    (late,) = [f for f in run_evening().files if f.table == "dim_employee"]
    assert late.status == "superseded" and hierarchy(warehouse_url) == after_d3
    # A broken chain (manager missing from the snapshot) is reported; the last valid chain stays current.
    fx.tsr_snapshot(landing, d4, [emp("E00009", "TSR", "E09999")])
    summary = run_evening()
    assert summary.notes["hierarchy"].broken_chains == ["E00009"]
    assert hierarchy(warehouse_url) == after_d3

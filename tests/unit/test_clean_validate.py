"""Cleaning and validation on small hand-made tables: every outcome of DATA-CONTRACT §3 for a row."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest

from datawiz.core.errors import FileRejected
from datawiz.core.registry import CONTRACTS, resolve_path
from tasks.clean import clean_table
from tasks.validate import validate_rows

FIS_PATH = "facts/fis/2025/11/20/fis_20251120_001.csv"
HEADER = [c.name for c in CONTRACTS["fis"].columns]


def fis_row(**over: str) -> dict[str, str]:
    row = {
        "invoice_no": "INV0000000001", "line_no": "1", "doc_type": "INV", "invoice_date": "2025-11-20",
        "distributor_code": "D00001", "retailer_code": "R0000001", "tsr_code": "E00010", "sku_code": "SKU000001",
        "quantity": "5", "free_quantity": "0", "gross_amount": "100.00", "discount_amount": "10.00",
        "tax_amount": "18.00", "net_amount": "108.00", "updated_at": "2025-11-20 10:00:00",
    }
    row.update(over)
    return row


def run(rows: list[dict[str, str]], path: str = FIS_PATH):
    ref = resolve_path(path)
    assert ref is not None
    raw = pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in rows[0]})
    return validate_rows(clean_table(raw, ref.contract, path), ref)


def rules_of(split, row_number: int) -> set[str]:
    for rec in split.quarantine.to_pylist():
        if rec["row_number"] == row_number:
            return {r["rule"] for r in json.loads(rec["rules"])}
    return set()


def good_rows(n: int) -> list[dict[str, str]]:
    return [fis_row(invoice_no=f"INV{i:010d}") for i in range(1, n + 1)]


def test_clean_rows_pass_with_exact_types() -> None:
    split = run(good_rows(3))
    assert split.stats.rows_loaded == 3 and split.stats.balanced()
    row = split.good.to_pylist()[0]
    assert row["net_amount"] == Decimal("108.00")
    assert row["invoice_date"] == dt.date(2025, 11, 20)
    assert row["updated_at"] == dt.datetime(2025, 11, 20, 10, 0)


@pytest.mark.parametrize(
    ("override", "rule"),
    [
        ({"invoice_no": " "}, "not_nullable"),
        ({"quantity": "abc"}, "coerce_to_int"),
        ({"retailer_code": "RX12"}, "str_matches"),
        ({"doc_type": "XXX"}, "isin"),
        ({"free_quantity": "-1"}, "greater_than_or_equal_to(0)"),
        ({"quantity": "-5", "gross_amount": "-100.00", "tax_amount": "-18.00", "net_amount": "-108.00"},
         "sign_matches_doc_type"),
        ({"net_amount": "113.00"}, "net_equals_gross_minus_discount_plus_tax"),
        ({"invoice_date": "2025-11-19"}, "invoice_date_matches_file_name"),
        ({"gross_amount": "100.005"}, "coerce_to_dec"),
        ({"updated_at": "20/11/2025"}, "coerce_to_ts"),
    ],
)
def test_each_broken_rule_quarantines_its_row(override: dict[str, str], rule: str) -> None:
    rows = good_rows(40)
    rows[7] = fis_row(**({"invoice_no": "INV0000000008"} | override))
    split = run(rows)
    assert split.stats.rows_quarantined == 1
    assert any(rule in r for r in rules_of(split, 8)), rules_of(split, 8)
    assert split.stats.rows_loaded == 39 and split.stats.balanced()
    stored = json.loads(split.quarantine.to_pylist()[0]["row_json"])
    for column, value in override.items():
        assert stored[column] == value  # the row is kept as delivered, for a person to fix


def test_exact_duplicates_collapse_and_conflicts_are_all_quarantined() -> None:
    rows = good_rows(40)
    rows.append(dict(rows[0]))  # identical copy
    rows.append(fis_row(invoice_no="INV0000000002", quantity="6", gross_amount="120.00",
                        net_amount="128.00"))  # same key as row 2, different values
    split = run(rows)
    assert split.stats.rows_deduplicated == 1
    assert split.stats.rows_quarantined == 2
    assert rules_of(split, 2) == {"duplicate_key_conflict"} == rules_of(split, 42)
    assert split.stats.rows_loaded == 39 and split.stats.balanced()


def test_above_reject_ratio_rejects_the_whole_file() -> None:
    rows = good_rows(10)
    rows[0]["quantity"] = "x"
    with pytest.raises(FileRejected, match="above max_reject_ratio"):
        run(rows)


def test_missing_column_rejects_and_extra_column_is_drift() -> None:
    ref = resolve_path(FIS_PATH)
    raw = pa.table({k: ["x"] for k in HEADER if k != "net_amount"})
    with pytest.raises(FileRejected, match="missing required column"):
        clean_table(raw, ref.contract, FIS_PATH)
    rows = [fis_row(promo_code="P1") for _ in range(1)]
    cols = {("  " + k.upper() + " "): pa.array([r[k] for r in rows]) for k in rows[0]}
    cleaned = clean_table(pa.table(cols), ref.contract, FIS_PATH)
    assert cleaned.drift_columns == ["promo_code"]
    assert cleaned.table.column("invoice_no").to_pylist() == ["INV0000000001"]


def test_typed_parquet_values_coerce_losslessly() -> None:
    path = "dimensions/product/product_20251120.parquet"
    ref = resolve_path(path)
    raw = pa.table({
        "sku_code": ["sku000001"], "sku_name": ["Glue"], "brand": ["Fevicol"], "category": ["Adhesives"],
        "pack_size": pa.array([0.1 + 0.2]), "uom": ["ml"], "mrp": pa.array([Decimal("12.50")]),
        "gst_rate": pa.array([18]), "is_active": pa.array([1]), "updated_at": ["2025-11-20 08:00:00"],
    })
    split = validate_rows(clean_table(raw, ref.contract, path), ref)
    row = split.good.to_pylist()[0]
    assert row["sku_code"] == "SKU000001" and row["uom"] == "ML"
    assert row["pack_size"] == Decimal("0.300") and row["mrp"] == Decimal("12.50")
    assert row["is_active"] is True

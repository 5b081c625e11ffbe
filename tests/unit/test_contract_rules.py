"""Every rule of DATA-CONTRACT §2, both sides: a valid row passes, and each broken rule quarantines.

The invalid cases are derived from the contract registry itself (patterns, enums, ranges,
nullability), so a rule added to a contract is tested here without a new test.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from datawiz.core.registry import CONTRACTS, Column
from datawiz.core.registry import resolve_path as resolve
from tasks.clean import clean_table
from tasks.validate import validate_rows

PATHS = {
    "product": "dimensions/product/product_20251120.csv",
    "distributor": "dimensions/distributor/distributor_20251120.csv",
    "retailer": "dimensions/retailer/retailer_20251120.csv",
    "tsr": "dimensions/tsr/tsr_20251120.csv",
    "fis": "facts/fis/2025/11/20/fis_20251120_001.csv",
    "fid": "facts/fid/2025/11/20/fid_20251120_001.csv",
}
TS = "2025-11-20 09:30:00"
VALID = {
    "product": {"sku_code": "SKU000001", "sku_name": "Fevicol SH 1kg", "brand": "Fevicol", "category": "Adhesives",
                "pack_size": "1.000", "uom": "KG", "mrp": "450.00", "gst_rate": "18", "is_active": "true",
                "updated_at": TS},
    "distributor": {"distributor_code": "D00001", "distributor_name": "Shree Traders", "city": "Pune",
                    "state": "Maharashtra", "region": "West", "channel": "Urban", "onboarded_on": "2019-04-01",
                    "is_active": "1", "updated_at": TS},
    "retailer": {"retailer_code": "R0000001", "retailer_name": "Om Hardware", "distributor_code": "D00001",
                 "city": "Pune", "state": "Maharashtra", "pin_code": "411001", "outlet_type": "Hardware",
                 "is_active": "TRUE", "updated_at": TS},
    "tsr": {"employee_code": "E00010", "employee_name": "A. Kumar", "role": "TSR", "manager_code": "E00009",
            "region": "West", "territory": "Pune-1", "is_active": "false", "updated_at": TS},
    "fis": {"invoice_no": "INV0000000001", "line_no": "1", "doc_type": "INV", "invoice_date": "2025-11-20",
            "distributor_code": "D00001", "retailer_code": "R0000001", "tsr_code": "E00010",
            "sku_code": "SKU000001", "quantity": "5", "free_quantity": "0", "gross_amount": "100.00",
            "discount_amount": "10.00", "tax_amount": "18.00", "net_amount": "108.00", "updated_at": TS},
    "fid": {"dispatch_no": "DSP0000000001", "line_no": "1", "dispatch_date": "2025-11-20", "plant_code": "P001",
            "distributor_code": "D00001", "sku_code": "SKU000001", "quantity": "100", "net_amount": "45000.00",
            "updated_at": TS},
}
BAD_BY_TYPE = {"int": "1.5", "dec": "12,50", "date": "20-11-2025", "ts": "2025-11-20T09:30", "bool": "yes"}


def _with_keys(table: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Give every row its own key so rows never collide."""
    key = CONTRACTS[table].key[0]
    out = []
    for i, row in enumerate(rows, start=1):
        row = dict(row)
        if row.get(key) == VALID[table][key]:
            base = VALID[table][key]
            row[key] = base[: len(base) - 4] + f"{i:04d}"
        out.append(row)
    return out


def _validate(table: str, rows: list[dict[str, str]]):
    path = PATHS[table]
    ref = resolve(path)
    assert ref is not None
    rows = _with_keys(table, rows)
    raw = pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in rows[0]})
    return validate_rows(clean_table(raw, ref.contract, path), ref, enforce_ratio=False)


def _cases() -> list[tuple[str, str, str, str]]:
    """(table, column, bad value, rule fragment) for every rule a column carries."""
    cases = []
    for table in VALID:
        for col in CONTRACTS[table].columns:
            cases += [(table, col.name, bad, rule) for bad, rule in _bad_values(col)]
    return cases


def _bad_values(col: Column) -> list[tuple[str, str]]:
    bad: list[tuple[str, str]] = []
    if not col.nullable:
        bad.append(("", "not_nullable"))
    if col.type in BAD_BY_TYPE:
        bad.append((BAD_BY_TYPE[col.type], f"coerce_to_{col.type}"))
    if col.pattern:
        bad.append(("X" + "9" * 3, "str_matches"))
    if col.allowed is not None:
        bad.append(("999" if col.type == "dec" else "Nonsense", "isin"))
    if col.gt is not None:
        bad.append((str(int(col.gt)), "greater_than"))
    if col.ge is not None:
        bad.append((str(int(col.ge) - 1), "greater_than_or_equal_to"))
    return bad


@pytest.mark.parametrize("table", list(VALID))
def test_valid_row_of_every_table_passes(table: str) -> None:
    split = _validate(table, [VALID[table]])
    assert split.stats.rows_loaded == 1, split.quarantine.to_pylist()


@pytest.mark.parametrize(("table", "column", "bad", "rule"), _cases())
def test_every_column_rule_quarantines(table: str, column: str, bad: str, rule: str) -> None:
    if (table, column) == ("tsr", "manager_code"):
        pytest.skip("nullable column: covered by test_table_rules")
    rows = [VALID[table], VALID[table] | {column: bad}]
    split = _validate(table, rows)
    assert split.stats.rows_loaded == 1 and split.stats.rows_quarantined == 1
    rules = json.loads(split.quarantine.to_pylist()[0]["rules"])
    assert any(rule in r["rule"] and r["column"] in (column, None) for r in rules), rules


@pytest.mark.parametrize(
    ("table", "override", "rule"),
    [
        ("tsr", {"manager_code": ""}, "manager_required_below_nsm"),
        ("fis", {"doc_type": "CRN"}, "doc_type_matches_invoice_prefix"),
        ("fis", {"quantity": "-5"}, "sign_matches_doc_type"),
        ("fis", {"discount_amount": "-1.00", "net_amount": "119.00"}, "greater_than_or_equal_to"),
        ("fis", {"net_amount": "108.02"}, "net_equals_gross_minus_discount_plus_tax"),
        ("fis", {"invoice_date": "2025-11-21"}, "invoice_date_matches_file_name"),
        ("fid", {"dispatch_date": "2025-11-19"}, "dispatch_date_matches_file_name"),
    ],
)
def test_table_rules(table: str, override: dict[str, str], rule: str) -> None:
    split = _validate(table, [VALID[table], VALID[table] | override])
    assert split.stats.rows_quarantined == 1
    assert any(rule in r["rule"] for r in json.loads(split.quarantine.to_pylist()[0]["rules"]))


def test_table_rules_valid_side() -> None:
    nsm = VALID["tsr"] | {"role": "NSM", "manager_code": ""}
    crn = VALID["fis"] | {"invoice_no": "CRN0000000001", "doc_type": "CRN", "quantity": "-5",
                          "gross_amount": "-100.00", "discount_amount": "0.00", "tax_amount": "-18.00",
                          "net_amount": "-118.00"}
    within_cent = VALID["fis"] | {"net_amount": "108.01"}
    assert _validate("tsr", [nsm]).stats.rows_loaded == 1
    assert _validate("fis", [crn, within_cent]).stats.rows_loaded == 2


def test_historical_file_may_hold_any_day_of_its_month() -> None:
    path = "historical/fis/2025/02/fis_202502_001.csv"
    ref = resolve(path)
    rows = [VALID["fis"] | {"invoice_date": d, "invoice_no": f"INV00000000{i}"}
            for i, d in enumerate(["2025-02-01", "2025-02-28", "2025-03-01"], start=10)]
    raw = pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in rows[0]})
    split = validate_rows(clean_table(raw, ref.contract, path), ref, enforce_ratio=False)
    assert split.stats.rows_loaded == 2 and split.stats.rows_quarantined == 1

"""A hand-built tiny landing area whose DD numbers are worked out by hand (see EXPECTED_* below).

Chain: NSM E00001 > ZSM E00002 > RSM E00003 > ASM E00004 > SO E00005 / SO E00008.
TSR E00006 and E00007 start under SO E00005; on 2025-11-15 E00007 moves to SO E00008 (mid-month).
Constants: min_productive_bill_value 100, focus_brands [Fevicol], target_lines_per_bill 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

TS = "2025-11-01 08:00:00"
TSR_HEADER = ["employee_code", "employee_name", "role", "manager_code", "region", "territory", "is_active",
              "updated_at"]


def write_csv(root: Path, rel: str, header: list[str], rows: list[list[object]]) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return rel


def employee(code: str, role: str, manager: str | None, active: bool = True) -> list[object]:
    return [code, f"Name {code}", role, manager or "", "West", f"T-{code}", "true" if active else "false", TS]


MANAGERS = [
    employee("E00001", "NSM", None), employee("E00002", "ZSM", "E00001"), employee("E00003", "RSM", "E00002"),
    employee("E00004", "ASM", "E00003"), employee("E00005", "SO", "E00004"), employee("E00008", "SO", "E00004"),
]


def tsr_snapshot(root: Path, day: dt.date, tsrs: list[list[object]], managers: list[list[object]] = MANAGERS) -> str:
    return write_csv(root, f"dimensions/tsr/tsr_{day:%Y%m%d}.csv", TSR_HEADER, managers + tsrs)


def write_dimensions(root: Path) -> None:
    """Products, one distributor, four retailers, constants and the two tsr snapshots."""
    write_csv(root, "dimensions/product/product_20251101.csv",
              ["sku_code", "sku_name", "brand", "category", "pack_size", "uom", "mrp", "gst_rate", "is_active",
               "updated_at"],
              [["SKU000001", "Fevicol SH", "Fevicol", "Adhesives", "1", "KG", "450", "18", "true", TS],
               ["SKU000002", "M-Seal", "M-Seal", "Sealants", "0.1", "KG", "60", "18", "true", TS],
               ["SKU000003", "Fevicol Marine", "Fevicol", "Adhesives", "1", "L", "700", "18", "true", TS]])
    write_csv(root, "dimensions/distributor/distributor_20251101.csv",
              ["distributor_code", "distributor_name", "city", "state", "region", "channel", "onboarded_on",
               "is_active", "updated_at"],
              [["D00001", "Shree Traders", "Pune", "Maharashtra", "West", "Urban", "2019-04-01", "true", TS]])
    write_csv(root, "dimensions/retailer/retailer_20251101.csv",
              ["retailer_code", "retailer_name", "distributor_code", "city", "state", "pin_code", "outlet_type",
               "is_active", "updated_at"],
              [[f"R000000{i}", f"Shop {i}", "D00001", "Pune", "Maharashtra", "411001", "Hardware", "true", TS]
               for i in range(1, 5)])
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config/business_constants.json").write_text(json.dumps({
        "as_of": "2025-11-01",
        "constants": {"min_productive_bill_value": 100, "focus_brands": ["Fevicol"], "target_lines_per_bill": 2},
    }))
    tsr_snapshot(root, dt.date(2025, 11, 1), [employee("E00006", "TSR", "E00005"), employee("E00007", "TSR", "E00005")])
    tsr_snapshot(root, dt.date(2025, 11, 15), [employee("E00006", "TSR", "E00005"),
                                               employee("E00007", "TSR", "E00008")])


FIS_HEADER = ["invoice_no", "line_no", "doc_type", "invoice_date", "distributor_code", "retailer_code", "tsr_code",
              "sku_code", "quantity", "free_quantity", "gross_amount", "discount_amount", "tax_amount", "net_amount",
              "updated_at"]


def line(no: str, ln: int, day: str, retailer: str, tsr: str, sku: str, qty: int, net: str) -> list[object]:
    doc = no[:3]
    return [no, ln, doc, day, "D00001", retailer, tsr, sku, qty, 0, net, "0.00", "0.00", net, f"{day} 10:00:00"]


def write_facts(root: Path) -> None:
    """Two business days of secondary sales (a credit note, a bill just under and one at the threshold)."""
    d1, d2 = "2025-11-10", "2025-11-20"
    write_csv(root, "facts/fis/2025/11/10/fis_20251110_001.csv", FIS_HEADER, [
        line("INV0000000001", 1, d1, "R0000001", "E00006", "SKU000001", 1, "50.00"),
        line("INV0000000001", 2, d1, "R0000001", "E00006", "SKU000002", 1, "60.00"),
        line("INV0000000002", 1, d1, "R0000002", "E00006", "SKU000002", 1, "99.99"),   # just under 100
        line("INV0000000003", 1, d1, "R0000003", "E00007", "SKU000001", 1, "100.00"),  # exactly 100
    ])
    write_csv(root, "facts/fis/2025/11/20/fis_20251120_001.csv", FIS_HEADER, [
        line("CRN0000000001", 1, d2, "R0000001", "E00006", "SKU000002", -1, "-20.00"),  # R1 falls to 90
        line("INV0000000004", 1, d2, "R0000004", "E00007", "SKU000003", 1, "150.00"),
        line("INV0000000004", 2, d2, "R0000004", "E00007", "SKU000002", 1, "10.00"),
    ])


NOV = dt.date(2025, 11, 1)
# month_start, tsr: so, billed, productive, bills, lines, lines_per_bill, focus outlets, net_sales, lpb_vs_target
EXPECTED_TSR = {
    "E00006": ("E00005", 2, 0, 2, 3, Decimal("1.5"), 1, Decimal("189.99"), Decimal("0.75")),
    "E00007": ("E00008", 2, 2, 2, 3, Decimal("1.5"), 2, Decimal("260.00"), Decimal("0.75")),
}
# retailer: tsr, so, distinct_skus, distinct_brands, net_sales, is_productive
EXPECTED_OUTLET = {
    "R0000001": ("E00006", "E00005", 2, 2, Decimal("90.00"), False),
    "R0000002": ("E00006", "E00005", 1, 1, Decimal("99.99"), False),
    "R0000003": ("E00007", "E00008", 1, 1, Decimal("100.00"), True),
    "R0000004": ("E00007", "E00008", 2, 2, Decimal("160.00"), True),
}

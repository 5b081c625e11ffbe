"""The sample-data generator: deterministic, contract-conformant, and its manifest tells the truth.

`_Oracle` below is a deliberately simple, row-by-row reading of DATA-CONTRACT.md §3 written from the
contracts in `datawiz.core.registry`; it recomputes every file's expected outcome from the bytes on disk, so a
manifest that disagrees with its own files fails here rather than in a pipeline test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from datawiz.core.registry import (
    CONTRACTS,
    FID,
    FIS,
    PRODUCT,
    ROLES,
    TSR,
    Column,
    TableContract,
    owning_contract,
    resolve_path,
)
from datawiz.sample_data import (
    UNRECOGNISED_PATH,
    Manifest,
    Scale,
    arrow_schema,
    generate,
    retailer_count,
)

END = dt.date(2025, 1, 10)
SMALL = {"days": 3, "seed": 7, "fis_rows_per_day": 120, "end_date": END, "history_months": 1}
# Paths that must not resolve: the name-does-not-parse defect and the unrecognised file.
NON_RESOLVING = {"facts/fis/2025/01/10/fis_latest.csv", UNRECOGNISED_PATH}


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("clean") / "landing"
    return out, generate(out, **SMALL)


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("defective") / "landing"
    return out, generate(out, defects=True, **SMALL)


# ---------------------------------------------------------------------------------------------- determinism


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", defects=True, **SMALL)
    b = generate(tmp_path / "b", defects=True, **SMALL)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert a.to_json() == b.to_json()
    generate(tmp_path / "c", defects=True, **{**SMALL, "seed": 8})
    assert _hashes(tmp_path / "c") != _hashes(tmp_path / "a")


def test_rerun_into_same_folder_leaves_files_untouched(tmp_path: Path) -> None:
    generate(tmp_path, **{**SMALL, "days": 1})
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    generate(tmp_path, **{**SMALL, "days": 1})
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_defects_only_add_files(clean: tuple[Path, Manifest], defective: tuple[Path, Manifest]) -> None:
    """Normal files are identical with and without defects (only the later product snapshot differs)."""
    a, b = _hashes(clean[0]), _hashes(defective[0])
    changed = {p for p in a if a[p] != b.get(p)}
    assert changed == {"dimensions/product/product_20250110.parquet"}


def test_manifest_json_round_trip(defective: tuple[Path, Manifest]) -> None:
    manifest = defective[1]
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert "fact_secondary_sales" in manifest.summary()


# ---------------------------------------------------------------------------------------------- layout


def test_every_written_path_resolves_to_its_table(defective: tuple[Path, Manifest]) -> None:
    root, manifest = defective
    assert {f.path for f in manifest.files} == set(_hashes(root))
    for f in manifest.files:
        ref = resolve_path(f.path)
        if f.path in NON_RESOLVING:
            # A bad name in a table's folder is that table's rejected file; elsewhere it is unrecognised.
            assert ref is None, f.path
            owner = owning_contract(f.path)
            assert (owner.target_table if owner else None) == f.table
            continue
        assert ref is not None, f.path
        assert ref.contract.target_table == f.table


def test_scale_follows_fis_rows_per_day() -> None:
    assert retailer_count(5000) == 20_000 and retailer_count(10) == 200 and retailer_count(10**6) == 20_000
    assert Scale.for_rows(5000) == Scale(retailers=20_000, distributors=200, tsrs=300)
    assert Scale.for_rows(120).retailers == 480


def test_one_day_has_one_snapshot_per_dimension(tmp_path: Path) -> None:
    manifest = generate(tmp_path, **{**SMALL, "days": 1, "history_months": 0})
    snaps = [f.path for f in manifest.files if f.path.startswith("dimensions/")]
    assert len(snaps) == 4 and all("20250110" in p for p in snaps)
    assert manifest.tables["dim_sales_hierarchy"].rows == manifest.tables["dim_sales_hierarchy"].active


def test_daily_volumes_and_parts(clean: tuple[Path, Manifest]) -> None:
    _, manifest = clean
    per_day: dict[tuple[str, str], list[int]] = defaultdict(list)
    for f in manifest.files:
        ref = resolve_path(f.path)
        if ref and ref.origin.value == "incremental":
            per_day[(ref.contract.name, str(ref.business_date))].append(f.rows_in)
    for (table, _), parts in per_day.items():
        lo, hi, max_parts = (108, 132, 3) if table == "fis" else (10, 14, 2)
        assert lo <= sum(parts) <= hi and 1 <= len(parts) <= max_parts
    facts = [f.path for f in manifest.files if f.path.startswith(("facts/", "historical/"))]
    formats = Counter(Path(p).suffix for p in facts)
    assert formats[".csv"] and formats[".parquet"] > formats[".csv"]


# ---------------------------------------------------------------------------------------------- dimensions


def _table(path: Path, contract: TableContract) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=arrow_schema(contract)))


def _snapshots(root: Path, contract: TableContract) -> list[pa.Table]:
    return [_table(p, contract) for p in sorted((root / "dimensions" / contract.name).iterdir())]


def test_sales_chain_is_consistent(clean: tuple[Path, Manifest]) -> None:
    root, _ = clean
    first, later = _snapshots(root, TSR)
    for snap in (first, later):
        rows = {r["employee_code"]: r for r in snap.to_pylist()}
        assert [r["role"] for r in rows.values()].count("NSM") == 1
        for r in rows.values():
            if r["role"] == "NSM":
                assert r["manager_code"] is None
                continue
            boss = rows[r["manager_code"]]
            assert ROLES.index(boss["role"]) == ROLES.index(r["role"]) - 1
            assert boss["role"] in ("NSM", "ZSM") or boss["region"] == r["region"]
        assert sum(r["role"] == "TSR" for r in rows.values()) >= 20
    moved = [(a, b) for a, b in zip(first.to_pylist(), later.to_pylist(), strict=True) if a != b]
    assert len(moved) == 1 and moved[0][0]["role"] == "TSR"
    assert moved[0][0]["manager_code"] != moved[0][1]["manager_code"]


def test_snapshot_changes(clean: tuple[Path, Manifest]) -> None:
    root, manifest = clean
    r1, r2 = (set(t["retailer_code"].to_pylist()) for t in _snapshots(root, CONTRACTS["retailer"]))
    assert 1 <= len(r1 - r2) <= len(r1) * 0.02 and 3 <= len(r2 - r1) <= 10
    p1, p2 = (dict(zip(t["sku_code"].to_pylist(), t["mrp"].to_pylist(), strict=True))
              for t in _snapshots(root, PRODUCT))
    assert len(p1) == 300 and sum(p1[k] != p2[k] for k in p1) == 2
    assert manifest.tables["dim_retailer"].rows == len(r1 | r2)
    assert manifest.tables["dim_retailer"].active == len(r2)


def test_fact_lines_stay_within_one_region(clean: tuple[Path, Manifest]) -> None:
    """A line's retailer belongs to its distributor, and its TSR works in the distributor's region."""
    root, _ = clean
    dist = {r["distributor_code"]: r["region"]
            for r in _snapshots(root, CONTRACTS["distributor"])[0].to_pylist()}
    emp = {r["employee_code"]: r for r in _snapshots(root, TSR)[0].to_pylist()}
    retailer = {r["retailer_code"]: r["distributor_code"]
                for t in _snapshots(root, CONTRACTS["retailer"]) for r in t.to_pylist()}
    for path in sorted((root / "facts" / "fis").rglob("*.*")):
        for line in _table(path, FIS).to_pylist():
            assert retailer[line["retailer_code"]] == line["distributor_code"]
            assert emp[line["tsr_code"]]["role"] == "TSR"
            assert emp[line["tsr_code"]]["region"] == dist[line["distributor_code"]]


# ---------------------------------------------------------------------------------------------- facts


def test_good_fis_rows_obey_arithmetic_and_signs(clean: tuple[Path, Manifest]) -> None:
    root, manifest = clean
    docs = Counter()
    for f in manifest.files:
        if f.table != FIS.target_table:
            continue
        for r in _table(root / f.path, FIS).to_pylist():
            assert r["net_amount"] == r["gross_amount"] - r["discount_amount"] + r["tax_amount"]
            sign = 1 if r["doc_type"] == "INV" else -1
            assert r["invoice_no"].startswith(r["doc_type"]) and r["quantity"] * sign > 0
            assert r["gross_amount"] * sign > 0 and r["tax_amount"] * sign >= 0 and r["net_amount"] * sign > 0
            assert r["discount_amount"] >= 0 and r["free_quantity"] >= 0 and 1 <= r["line_no"] <= 6
            docs[r["doc_type"], r["invoice_no"]] += 1
    crn = sum(1 for t, _ in docs if t == "CRN") / len(docs)
    assert 0.005 < crn < 0.08


def test_fact_keys_unique_across_files(defective: tuple[Path, Manifest]) -> None:
    root, manifest = defective
    seen: dict[tuple, str] = {}
    for f in manifest.files:
        ref = resolve_path(f.path)
        if f.expected_status != "loaded" or ref is None or ref.contract not in (FIS, FID) or f.note:
            continue
        contract = ref.contract
        t = _table(root / f.path, contract)
        for key in zip(*(t[k].to_pylist() for k in contract.key), strict=True):
            assert key not in seen, (key, f.path, seen.get(key))
            seen[key] = f.path


def test_table_totals_match_file_expectations(defective: tuple[Path, Manifest]) -> None:
    root, manifest = defective
    for contract in (FIS, FID):
        files = [f for f in manifest.files if f.table == contract.target_table]
        expected = manifest.tables[contract.target_table]
        assert expected.rows == sum(f.rows_loaded for f in files)
        assert expected.orphans == sum(f.orphans for f in files)
        total = Decimal(0)
        for f in files:
            if f.expected_status == "loaded" and not f.note:
                total += sum(_table(root / f.path, contract)["net_amount"].to_pylist(), Decimal(0))
        oracle = _Oracle(root)  # files with planted defects: sum only the rows that load
        total += sum((oracle.outcome(f.path).net for f in files if f.note and f.expected_status == "loaded"),
                     Decimal(0))
        assert Decimal(expected.net_amount) == total
    for f in manifest.files:
        assert f.rows_in >= f.rows_loaded + f.rows_quarantined + f.rows_deduplicated
        if f.expected_status == "loaded":
            assert f.rows_in == f.rows_loaded + f.rows_quarantined + f.rows_deduplicated


# ---------------------------------------------------------------------------------------------- defects

def test_documented_defects_in_manifest(defective: tuple[Path, Manifest]) -> None:
    _, manifest = defective
    by_note = {f.note.split(":")[0].split(" (")[0]: f for f in manifest.files if f.note}
    rows = by_note["row defects"]
    assert rows.path.startswith("facts/fis/2025/01/09/fis_20250109_") and rows.path.endswith(".csv")
    assert (rows.expected_status, rows.rows_in, rows.rows_loaded, rows.rows_quarantined,
            rows.rows_deduplicated, rows.orphans) == ("loaded", 411, 401, 9, 1, 1)
    expected = {
        "missing required column net_amount": ("rejected", 60),
        "schema drift": ("loaded", 80),
        "bad encoding": ("rejected", 0),
        "zero-byte file": ("rejected", 0),
        "file name does not parse": ("rejected", 0),
        "20 % of rows with quantity 0": ("rejected", 50),
        "corrupt Parquet": ("rejected", 0),
        "path matches no contract": ("unrecognised", 0),
        "one product with category 'Toys'": ("loaded", 301),
    }
    assert set(by_note) == set(expected) | {"row defects"}
    for note, (status, rows_in) in expected.items():
        assert (by_note[note].expected_status, by_note[note].rows_in) == (status, rows_in), note
    assert by_note["one product with category 'Toys'"].rows_quarantined == 1
    assert manifest.tables["dim_product"].rows == 300
    assert manifest.tables["fact_secondary_sales"].orphans == 1


def test_unreadable_defect_files_are_unreadable(defective: tuple[Path, Manifest]) -> None:
    root, manifest = defective
    note = {f.note: root / f.path for f in manifest.files if f.note}
    by = {k.split(" (")[0].split(":")[0]: v for k, v in note.items()}
    assert by["zero-byte file"].stat().st_size == 0
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(by["corrupt Parquet"])
    with pytest.raises(UnicodeDecodeError):
        by["bad encoding"].read_bytes().decode("utf-8")
    header = by["missing required column net_amount"].read_text().splitlines()[0].split(",")
    assert "net_amount" not in header and set(header) == set(FIS.column_names) - {"net_amount"}
    assert pq.read_schema(by["schema drift"]).names == [*FIS.column_names, "promo_code"]


# ---------------------------------------------------------------------------------------------- oracle


class _Outcome:
    def __init__(self) -> None:
        self.rows_in = self.loaded = self.quarantined = self.deduplicated = self.orphans = 0
        self.net = Decimal(0)
        self.status = "loaded"


class _Oracle:
    """Recompute a file's outcome from its bytes and the contracts, row by row (small files only)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.known: dict[str, set[str]] = defaultdict(set)
        for name, key in (("product", "sku_code"), ("distributor", "distributor_code"),
                          ("retailer", "retailer_code"), ("tsr", "employee_code")):
            for t in _snapshots(root, CONTRACTS[name]):
                self.known[name].update(t[key].to_pylist())
        self.ref_dim = {"distributor_code": "distributor", "retailer_code": "retailer",
                        "tsr_code": "tsr", "sku_code": "product"}

    def rows(self, path: Path) -> list[dict[str, str | None]]:
        if path.suffix == ".parquet":
            return [{k: _as_text(v) for k, v in r.items()} for r in pq.read_table(path).to_pylist()]
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        opts = pcsv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=True)
        return pcsv.read_csv(path, convert_options=opts).to_pylist()

    def outcome(self, rel: str) -> _Outcome:
        ref = resolve_path(rel)
        assert ref is not None
        contract, out = ref.contract, _Outcome()
        rows = self.rows(self.root / rel)
        out.rows_in = len(rows)
        good: dict[tuple, list[dict]] = defaultdict(list)
        for row in rows:
            if _broken(row, contract, ref.business_date, ref.period):
                out.quarantined += 1
            else:
                good[tuple(row[k] for k in contract.key)].append(row)
        for copies in good.values():
            if len({tuple(sorted(c.items())) for c in copies}) > 1:
                out.quarantined += len(copies)
                continue
            out.deduplicated += len(copies) - 1
            out.loaded += 1
            row = copies[0]
            if contract.references:
                out.orphans += any(row[c] not in self.known[self.ref_dim[c]] for c in contract.references)
            if "net_amount" in row and contract in (FIS, FID):
                out.net += Decimal(row["net_amount"])
        if out.quarantined > contract.max_reject_ratio * out.rows_in:
            out.status, out.loaded, out.quarantined, out.deduplicated, out.orphans = "rejected", 0, 0, 0, 0
            out.net = Decimal(0)
        return out


def _as_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _coerce(v: str, col: Column) -> object | None:
    try:
        if col.type == "int":
            return int(v) if re.fullmatch(r"[+-]?\d+", v) else None
        if col.type == "dec":
            d = Decimal(v)
            return d if d.as_tuple().exponent >= -(col.scale or 0) else None
        if col.type == "date":
            return dt.date.fromisoformat(v)
        if col.type == "ts":
            return dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S")
        if col.type == "bool":
            return {"true": True, "false": False, "1": True, "0": False}.get(v.lower())
        return v
    except (ValueError, InvalidOperation):
        return None


def _broken(row: dict, contract: TableContract, day: dt.date | None, period: str) -> bool:
    values = {}
    for col in contract.columns:
        v = row.get(col.name)
        if v is None or not v.strip():
            if col.nullable:
                continue
            return True
        value = _coerce(v.strip(), col)
        if value is None:
            return True
        if col.pattern and not re.fullmatch(col.pattern, v.strip()):
            return True
        if col.allowed is not None and not any(value == a or _num_eq(value, a) for a in col.allowed):
            return True
        if (col.gt is not None and value <= col.gt) or (col.ge is not None and value < col.ge):
            return True
        values[col.name] = value
    if contract.date_column and day is not None:
        d = values[contract.date_column]
        if (d != day) if period == "day" else (d.year, d.month) != (day.year, day.month):
            return True
    if contract is FIS:
        sign = 1 if values["doc_type"] == "INV" else -1
        if not values["invoice_no"].startswith(values["doc_type"]) or values["quantity"] * sign <= 0:
            return True
        if any(values[a] * sign < 0 for a in ("gross_amount", "tax_amount", "net_amount")):
            return True
        arith = values["gross_amount"] - values["discount_amount"] + values["tax_amount"]
        if abs(values["net_amount"] - arith) > Decimal("0.01"):
            return True
    return False


def _num_eq(value: object, allowed: object) -> bool:
    try:
        return Decimal(str(value)) == Decimal(str(allowed))
    except InvalidOperation:
        return False


def test_manifest_agrees_with_an_independent_reading_of_the_files(defective: tuple[Path, Manifest]) -> None:
    root, manifest = defective
    oracle = _Oracle(root)
    # Files rejected before any row is judged (unreadable, missing column, bad name) or not a table at all.
    whole_file = ("bad encoding", "zero-byte", "corrupt Parquet", "file name does not parse", "path matches",
                  "missing required column")
    checked = 0
    for f in manifest.files:
        if f.table == "business_constants" or (f.note or "").startswith(whole_file):
            continue
        got = oracle.outcome(f.path)
        assert (got.status, got.rows_in, got.loaded, got.quarantined, got.deduplicated, got.orphans) == (
            f.expected_status, f.rows_in, f.rows_loaded, f.rows_quarantined, f.rows_deduplicated, f.orphans,
        ), f.path
        checked += 1
    assert checked == len(manifest.files) - len(whole_file) - 1

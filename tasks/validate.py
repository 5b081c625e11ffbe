"""Validation: split a cleaned file into good rows, quarantined rows and collapsed duplicates.

Order matters and is deliberate:
1. exact duplicate rows collapse to one (counted as `rows_deduplicated`);
2. rows that share a key but differ are *all* quarantined (`duplicate_key_conflict`);
3. the pandera model runs lazily and every failure is attached to its row.
A row with several failures is one quarantined row listing every rule it broke.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from blocks.types import FileStats
from tasks.clean import ROW_NUMBER, Cleaned, Failure
from tasks.contracts import FileRef
from tasks.errors import FileRejected
from tasks.schemas import file_date_range, schema_for

QUARANTINE_SCHEMA = pa_arrow.schema(
    [
        ("row_number", pa_arrow.int64()),
        ("quarantined_key", pa_arrow.string()),
        ("row_json", pa_arrow.string()),
        ("rules", pa_arrow.string()),
    ]
)


@dataclass
class Split:
    """The outcome of validating one file version."""

    good: pa_arrow.Table  # contract columns only
    quarantine: pa_arrow.Table  # QUARANTINE_SCHEMA
    stats: FileStats
    rule_counts: Counter[str] = field(default_factory=Counter)

    def examples(self, limit: int = 3) -> list[dict[str, object]]:
        """A few quarantined rows (row number, rules) for reports; never the whole row."""
        rows = self.quarantine.slice(0, limit).to_pylist()
        return [{"row_number": r["row_number"], "rules": json.loads(r["rules"])} for r in rows]


def validate_rows(cleaned: Cleaned, ref: FileRef, enforce_ratio: bool = True) -> Split:
    """Deduplicate, check every rule, and split; raises FileRejected above the reject ratio."""
    contract = ref.contract
    table = cleaned.table
    rows_in = table.num_rows
    df = _to_pandas(table)
    columns = list(contract.column_names)

    if enforce_ratio:
        _reject_early(cleaned, ref)
    key = list(contract.key)
    exact_dup, conflict = _duplicates(df, columns, key)
    failures = list(cleaned.failures)
    kept = ~exact_dup
    if conflict.any():
        failures.append(Failure(np.flatnonzero(conflict), ",".join(key), "duplicate_key_conflict", "data"))
    failures.extend(_pandera_failures(df, ref, cleaned.failures))

    per_row = _rules_per_row(failures, kept)
    bad = np.zeros(rows_in, dtype=bool)
    if per_row:
        bad[list(per_row)] = True
    rule_counts = Counter(r["rule"] for rules in per_row.values() for r in rules)
    stats = FileStats(
        rows_in=rows_in,
        rows_quarantined=int(bad.sum()),
        rows_deduplicated=int(exact_dup.sum()),
    )
    if enforce_ratio:
        _enforce_reject_ratio(ref, stats, rule_counts, contract.max_reject_ratio)
    good_mask = kept & ~bad
    good = table.filter(pa_arrow.array(good_mask)).select(columns)
    stats.rows_loaded = good.num_rows
    quarantine = _quarantine_table(table, cleaned.raw, per_row, key)
    return Split(good, quarantine, stats, rule_counts)


def _duplicates(df: pd.DataFrame, columns: list[str], key: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(exact copies to drop, rows whose key repeats with different values).

    Only rows whose key repeats can be either, so the full-row comparison runs on those alone.
    """
    exact = np.zeros(len(df), dtype=bool)
    conflict = np.zeros(len(df), dtype=bool)
    same_key = df.duplicated(subset=key, keep=False).to_numpy()
    if not same_key.any():
        return exact, conflict
    positions = np.flatnonzero(same_key)
    candidates = df.iloc[positions]
    copies = candidates.duplicated(subset=columns, keep="first").to_numpy()
    exact[positions[copies]] = True
    rest = candidates[~copies]
    clash = rest.duplicated(subset=key, keep=False) & rest[key].notna().all(axis=1)
    conflict[positions[~copies][clash.to_numpy()]] = True
    return exact, conflict


def _to_pandas(table: pa_arrow.Table) -> pd.DataFrame:
    """A pandas view for pandera: decimals as float64 (the rules allow 0.01), nullable ints."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa_arrow.types.is_decimal(col.type):
            col = col.cast(pa_arrow.float64())
        cols[name] = col
    return pa_arrow.table(cols).to_pandas(
        types_mapper={pa_arrow.int64(): pd.Int64Dtype(), pa_arrow.bool_(): pd.BooleanDtype()}.get,
        date_as_object=False,
    )


def _pandera_failures(df: pd.DataFrame, ref: FileRef, coercions: list[Failure]) -> list[Failure]:
    """Run the contract's pandera model lazily and turn its failure cases into per-row failures."""
    date_range = file_date_range(ref.period, ref.business_date)
    schema = schema_for(ref.contract, date_range)
    try:
        schema.validate(df, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    # A value that failed coercion is already reported; its null is not a second "not_nullable".
    coerced = {(int(r), f.column) for f in coercions for r in f.rows}
    out: list[Failure] = []
    cases = cases[cases["index"].notna()].copy()
    # A table-level check is reported once per column of its row: it belongs to no single column.
    table_level = cases["schema_context"] == "DataFrameSchema"
    cases["column"] = cases["column"].where(~table_level, None)
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        col = None if pd.isna(column) else str(column)
        rows = np.unique(group["index"].astype(np.int64).to_numpy())
        if check == "not_nullable":
            rows = np.array([r for r in rows if (int(r), col) not in coerced], dtype=np.int64)
        if len(rows):
            out.append(Failure(rows, col, str(check), "data"))
    return out


def _rules_per_row(failures: list[Failure], kept: np.ndarray) -> dict[int, list[dict[str, str | None]]]:
    """Row index -> every rule it broke; dropped exact duplicates are never quarantined again."""
    per_row: dict[int, list[dict[str, str | None]]] = {}
    for f in failures:
        for r in f.rows:
            idx = int(r)
            if kept[idx]:
                per_row.setdefault(idx, []).append(
                    {"column": f.column, "rule": f.rule, "category": f.category}
                )
    return per_row


def _reject_early(cleaned: Cleaned, ref: FileRef) -> None:
    """Reject before the rule checks when values that cannot even be read already pass the ratio.

    A file of the wrong shape (say, every timestamp in another format) would otherwise pay for
    building a quarantine record per row only to be rejected anyway.
    """
    rows_in = cleaned.table.num_rows
    bad = np.zeros(rows_in, dtype=bool)
    for f in cleaned.failures:
        bad[f.rows] = True
    stats = FileStats(rows_in=rows_in, rows_quarantined=int(bad.sum()))
    rules = Counter({f.rule: len(f.rows) for f in cleaned.failures})
    _enforce_reject_ratio(ref, stats, rules, ref.contract.max_reject_ratio)


def _enforce_reject_ratio(ref: FileRef, stats: FileStats, rules: Counter[str], ratio: float) -> None:
    if stats.rows_in == 0 or stats.rows_quarantined / stats.rows_in <= ratio:
        return
    top = ", ".join(f"{rule} x{n}" for rule, n in rules.most_common(3))
    share = stats.rows_quarantined / stats.rows_in
    raise FileRejected(
        ref.path,
        f"{stats.rows_quarantined} of {stats.rows_in} rows ({share:.1%}) broke rules, above "
        f"max_reject_ratio {ratio:g}; top rules: {top}",
        stats.rows_in,
    )


def _quarantine_table(
    table: pa_arrow.Table,
    raw: pa_arrow.Table | None,
    per_row: dict[int, list[dict[str, str | None]]],
    key: list[str],
) -> pa_arrow.Table:
    """One record per bad row: file row number, key (when readable), the row *as delivered*, its rules."""
    if not per_row:
        return QUARANTINE_SCHEMA.empty_table()
    idx = pa_arrow.array(sorted(per_row))
    typed = table.take(idx)
    rows = (raw.take(idx) if raw is not None else typed.drop_columns([ROW_NUMBER])).to_pylist()
    numbers = typed.column(ROW_NUMBER).to_pylist()
    key_parts = [typed.column(k).to_pylist() for k in key]
    keys = [
        None if any(p is None for p in parts) else "|".join(str(p) for p in parts)
        for parts in zip(*key_parts, strict=True)
    ]
    return pa_arrow.table(
        {
            "row_number": numbers,
            "quarantined_key": keys,
            "row_json": [json.dumps(r, default=str, ensure_ascii=False) for r in rows],
            "rules": [json.dumps(per_row[i]) for i in sorted(per_row)],
        },
        schema=QUARANTINE_SCHEMA,
    )

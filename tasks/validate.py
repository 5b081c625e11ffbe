"""Validation: split a cleaned file into good rows, quarantined rows and collapsed duplicates.

Order matters and is deliberate:
1. exact duplicate rows collapse to one (counted as `rows_deduplicated`);
2. rows that share a key but differ are *all* quarantined (`duplicate_key_conflict`);
3. the pandera model runs lazily and every failure is attached to its row.
A row with several failures is one quarantined row listing every rule it broke.

A file is validated in bounded batches (`StreamValidator`) with exactly the outcome of validating it
whole (`validate_rows` is the one-batch case). The two questions that span the file are answered
without holding it: a first pass hashes every row's key, so only rows whose key repeats somewhere in
the file are held back and resolved together at the end — every other row is settled in its batch —
and the row count is known up front, so the reject ratio is judged on the whole file.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa_arrow
import pyarrow.compute as pc

from blocks.types import FileStats, QuarantineExample
from datawiz.core.errors import FileRejected
from datawiz.core.registry import FileRef
from tasks.clean import ROW_NUMBER, Cleaned, Failure, arrow_type
from tasks.schemas import ContractRules, file_date_range, rules_for

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

    def examples(self, limit: int = 3) -> list[QuarantineExample]:
        """A few quarantined rows (row number, rules) for reports; never the whole row."""
        return examples(self.quarantine, limit)


def examples(quarantine: pa_arrow.Table, limit: int = 3) -> list[QuarantineExample]:
    """The first quarantined rows (row number, rules) of a QUARANTINE_SCHEMA table."""
    rows = quarantine.slice(0, limit).select(["row_number", "rules"]).to_pylist()
    return [{"row_number": r["row_number"], "rules": json.loads(r["rules"])} for r in rows]


@dataclass
class Part:
    """What validation settled for some rows: good rows (contract columns + ROW_NUMBER) and quarantine records."""

    good: pa_arrow.Table
    quarantine: pa_arrow.Table  # QUARANTINE_SCHEMA


class Checked(NamedTuple):
    """A batch's rule failures (pandera's order) and the rows held back because their key repeats in the file."""

    pandera: list[Failure]
    held: np.ndarray


@dataclass
class _Held:
    """Rows whose key repeats in the file: kept until every copy has been seen."""

    table: pa_arrow.Table
    raw: pa_arrow.Table | None
    coercions: list[Failure]
    pandera: list[Failure]


def validate_rows(cleaned: Cleaned, ref: FileRef, enforce_ratio: bool = True) -> Split:
    """Deduplicate, check every rule, and split; raises FileRejected above the reject ratio."""
    table = cleaned.table
    validator = StreamValidator(ref, table.num_rows, None, enforce_ratio)
    parts = [validator.add(cleaned), validator.finish()]
    good = pa_arrow.concat_tables([p.good for p in parts]).sort_by(ROW_NUMBER)
    quarantine = pa_arrow.concat_tables([p.quarantine for p in parts]).sort_by("row_number")
    return Split(good.select(list(ref.contract.column_names)), quarantine, validator.stats, validator.rule_counts)


class StreamValidator:
    """Validates one file batch by batch (`add` each cleaned batch in file order, then `finish`).

    `repeated` holds the key hashes that occur more than once in the file (`repeated_keys`): rows
    with such a key are held back, and `finish` deduplicates them and finds conflicts across the
    whole file. `repeated` None means the whole file comes as one batch: its repeated keys are found
    in that batch itself (exactly, as pandas compares keys; no first pass needed). `rows_in` is the
    file's row count, so a file bound to break the reject ratio is known as soon as its bad rows pass
    it: from then on nothing is settled (the load is void) and only the counts for the rejection
    message are kept.
    """

    def __init__(self, ref: FileRef, rows_in: int, repeated: np.ndarray | None, enforce_ratio: bool = True) -> None:
        self.ref = ref
        self.columns = list(ref.contract.column_names)
        self.key = list(ref.contract.key)
        self.repeated = repeated
        self.enforce_ratio = enforce_ratio
        self.stats = FileStats(rows_in=rows_in)
        self.rule_counts: Counter[str] = Counter()
        self._ratio = ref.contract.max_reject_ratio
        self._coercion_bad = 0
        self._coercion_rules: Counter[str] = Counter()
        self._held: list[_Held] = []
        self._rules = rules_for(ref.contract, file_date_range(ref.period, ref.business_date))
        self._good_schema = pa_arrow.schema(
            [*((c.name, arrow_type(c)) for c in ref.contract.columns), (ROW_NUMBER, pa_arrow.int64())])

    @property
    def doomed(self) -> bool:
        """True once the file is certain to be rejected (its quarantined rows already pass the ratio)."""
        return self.enforce_ratio and self.stats.rows_quarantined > self._ratio * self.stats.rows_in

    @property
    def unreadable(self) -> bool:
        """True once values that cannot even be read pass the ratio (the file has the wrong shape)."""
        return self.enforce_ratio and self._coercion_bad > self._ratio * self.stats.rows_in

    def check(self, cleaned: Cleaned) -> Checked:
        """The batch's rule checks and its held-back rows, touching no state of the validator.

        The costly half of `add`, safe to run for several batches at once (tasks/load.py runs the next
        batches' on a thread pool while one is settled); `add` then settles the batches in file order.
        """
        df = _to_pandas(cleaned.table)
        return Checked(rule_failures(cleaned.table, df, self._rules, cleaned.failures),
                       self._repeating(cleaned.table, df))

    def add(self, cleaned: Cleaned, checked: Checked | None = None) -> Part:
        """Validate one batch (row numbers file-absolute; `checked`: its `check`, if done); returns what it settles."""
        table = cleaned.table
        bad = np.zeros(table.num_rows, dtype=bool)
        for f in cleaned.failures:
            bad[f.rows] = True
            self._coercion_rules[f.rule] += len(f.rows)
        self._coercion_bad += int(bad.sum())
        if self.unreadable:  # _reject_early: no rule checks for a file that is rejected anyway
            return self._empty()
        pandera, held = checked or self.check(cleaned)
        if held.any():
            self._held.append(_Held(table.filter(held), _take(cleaned.raw, held),
                                    _subset(cleaned.failures, held), _subset(pandera, held)))
        return self._settle(table, cleaned.raw, [*cleaned.failures, *pandera], ~held)

    def _repeating(self, table: pa_arrow.Table, df: pd.DataFrame) -> np.ndarray:
        """Rows of this batch whose key occurs more than once in the file (held back until `finish`)."""
        if self.repeated is None:  # the whole file is this batch: its repeats are found in it, exactly
            return df.duplicated(subset=self.key, keep=False).to_numpy()
        if len(self.repeated):
            return np.isin(key_hashes(table, self.key), self.repeated)
        return np.zeros(table.num_rows, dtype=bool)

    def finish(self) -> Part:
        """Resolve the held-back rows (exact copies collapse, conflicting keys are quarantined); check the ratio."""
        if self.enforce_ratio:  # the unreadable-shape rejection, counted on the whole file as before
            coercion = FileStats(rows_in=self.stats.rows_in, rows_quarantined=self._coercion_bad)
            _enforce_reject_ratio(self.ref, coercion, self._coercion_rules, self._ratio)
        part = self._empty()
        if self._held:
            table = pa_arrow.concat_tables([h.table for h in self._held])
            raws = [h.raw for h in self._held if h.raw is not None]
            raw = pa_arrow.concat_tables(raws) if len(raws) == len(self._held) else None
            offsets = np.cumsum([0, *(h.table.num_rows for h in self._held)])
            coercions = [_shift(f, o) for h, o in zip(self._held, offsets, strict=False) for f in h.coercions]
            pandera = [_shift(f, o) for h, o in zip(self._held, offsets, strict=False) for f in h.pandera]
            self._held = []
            exact_dup, conflict = _duplicates(_to_pandas(table), self.columns, self.key)
            if conflict.any():
                coercions.append(Failure(np.flatnonzero(conflict), ",".join(self.key), "duplicate_key_conflict"))
            self.stats.rows_deduplicated += int(exact_dup.sum())
            part = self._settle(table, raw, [*coercions, *pandera], ~exact_dup)
        if self.enforce_ratio:
            _enforce_reject_ratio(self.ref, self.stats, self.rule_counts, self._ratio)
        return part

    def _settle(self, table: pa_arrow.Table, raw: pa_arrow.Table | None, failures: list[Failure],
                considered: np.ndarray) -> Part:
        """Split the `considered` rows into good rows and quarantine records."""
        rows, rules, counts = rules_per_row(failures, considered)
        self.rule_counts.update(counts)
        self.stats.rows_quarantined += len(rows)
        if self.doomed:
            return self._empty()
        good_mask = considered.copy()
        good_mask[rows] = False
        good = table.filter(pa_arrow.array(good_mask)).select([*self.columns, ROW_NUMBER])
        self.stats.rows_loaded += good.num_rows
        return Part(good, quarantine_table(table, raw, rows, rules, self.key))

    def _empty(self) -> Part:
        return Part(self._good_schema.empty_table(), QUARANTINE_SCHEMA.empty_table())


# ------------------------------------------------------------------------------------ keys
_duck = duckdb.connect()
_duck_lock = threading.Lock()


def key_hashes(table: pa_arrow.Table, key: list[str] | tuple[str, ...]) -> np.ndarray:
    """A 64-bit hash of each row's key: equal keys (as pandas compares them) give equal hashes.

    A collision only holds a row back for the exact comparison in `StreamValidator.finish`, so it
    can cost time, never a wrong answer. Decimals are hashed as the float64 pandas compares.
    """
    cols = {}
    for k in key:
        col = table.column(k)
        cols[k] = col.cast(pa_arrow.float64()) if pa_arrow.types.is_decimal(col.type) else col
    keys = pa_arrow.table(cols)
    with _duck_lock:
        cur = _duck.cursor()
    try:
        args = ", ".join(f'"{k}"' for k in key)
        hashed = cur.from_arrow(keys).select(f"hash({args}) AS h").to_arrow_table()
    finally:
        cur.close()
    return hashed.column("h").to_numpy()


def repeated_keys(hashes: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct hashes that occur more than once across `hashes`."""
    if not hashes:
        return np.empty(0, dtype=np.uint64)
    ordered = np.sort(np.concatenate(hashes))
    return np.unique(ordered[1:][ordered[1:] == ordered[:-1]])


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


def _take(table: pa_arrow.Table | None, mask: np.ndarray) -> pa_arrow.Table | None:
    return None if table is None else table.filter(pa_arrow.array(mask))


def _subset(failures: list[Failure], mask: np.ndarray) -> list[Failure]:
    """Failures of the rows in `mask`, renumbered to positions among those rows."""
    new_pos = np.cumsum(mask) - 1
    out = []
    for f in failures:
        rows = f.rows[mask[f.rows]]
        if len(rows):
            out.append(Failure(new_pos[rows], f.column, f.rule, f.category))
    return out


def _shift(f: Failure, offset: int) -> Failure:
    return Failure(f.rows + offset, f.column, f.rule, f.category)


# ------------------------------------------------------------------------------------ rules
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


def rule_failures(table: pa_arrow.Table, df: pd.DataFrame, rules: ContractRules,
                  coercions: list[Failure]) -> list[Failure]:
    """Every rule of the contract's pandera model (`schema_for`) on a batch, as per-row failures, in pandera's order.

    Exactly what `schema.validate(df, lazy=True)` reports — per column (in contract order) `not_nullable`,
    then its checks on the non-null values (`ignore_na`), then the table-level checks — but each column
    check is one Arrow call on `table` (`ColumnRule.test`) instead of pandera's per-check machinery (~1 ms
    per column per batch, most of a small file's validation); nulls are pandas' (`df`, the frame pandera
    would see). tests/unit/test_rule_failures.py holds the two to the same answer.
    The table-level checks are read from their boolean output: pandera's own report of a failing one
    formats every failing row as text (row by row), which cost ~40 µs per bad row.
    """
    out: list[Failure] = []
    # A value that failed coercion is already reported; its null is not a second "not_nullable".
    coerced = {f.column: f.rows for f in coercions}
    for name, nullable, column_rules in rules.columns:
        isna = df[name].isna().to_numpy()
        if not nullable and isna.any():
            rows = np.flatnonzero(isna)
            if name in coerced:
                rows = np.setdiff1d(rows, coerced[name])
            if len(rows):
                out.append(Failure(rows, name, "not_nullable", "data"))
        column = table.column(name).combine_chunks() if column_rules else None
        for rule in column_rules:
            # A null passes (pandera drops nulls before a check); so does pandas' null that Arrow holds as a value.
            passed = pc.fill_null(rule.test(column), True).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(~passed & ~isna)
            if len(rows):
                out.append(Failure(rows, name, rule.name, "data"))
    for check_name, check in rules.table:  # a table-level check belongs to no single column
        # pandera also passes a row whose every value is null; ROW_NUMBER is never null, so none is.
        verdict = check(df)
        if not isinstance(verdict, pd.Series):  # a verdict on the whole table names no row (as in pandera's report)
            continue
        rows = np.flatnonzero(~verdict.astype(bool).to_numpy())
        if len(rows):
            out.append(Failure(rows, None, check_name, "data"))
    return out


def rules_per_row(failures: list[Failure], kept: np.ndarray) -> tuple[np.ndarray, pa_arrow.Array, Counter[str]]:
    """(bad row positions ascending, each one's rules as a JSON list, rule counts) over the `kept` rows.

    A row's rules are listed in the order of `failures`; dropped exact duplicates are never quarantined.
    Vectorised: one JSON text per failure, gathered per row with Arrow list offsets.
    """
    counts: Counter[str] = Counter()
    rows_parts, which_parts = [], []
    for i, f in enumerate(failures):
        rows = np.asarray(f.rows, dtype=np.int64)
        rows = rows[kept[rows]]
        if len(rows):
            rows_parts.append(rows)
            which_parts.append(np.full(len(rows), i, dtype=np.int64))
            counts[f.rule] += len(rows)
    if not rows_parts:
        return np.empty(0, dtype=np.int64), pa_arrow.array([], pa_arrow.string()), counts
    rows, which = np.concatenate(rows_parts), np.concatenate(which_parts)
    order = np.lexsort((which, rows))
    rows, which = rows[order], which[order]
    texts = pa_arrow.array([json.dumps({"column": f.column, "rule": f.rule, "category": f.category})
                            for f in failures], pa_arrow.string())
    bad, starts = np.unique(rows, return_index=True)
    offsets = pa_arrow.array(np.append(starts, len(rows)).astype(np.int32))
    listed = pc.binary_join(pa_arrow.ListArray.from_arrays(offsets, texts.take(pa_arrow.array(which))), ", ")
    return bad, pc.binary_join_element_wise("[", listed, "]", ""), counts


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


# ------------------------------------------------------------------------------------ quarantine records
def quarantine_table(
    table: pa_arrow.Table, raw: pa_arrow.Table | None, rows: np.ndarray, rules: pa_arrow.Array, key: list[str]
) -> pa_arrow.Table:
    """One record per bad row: file row number, key (when readable), the row *as delivered*, its rules."""
    if not len(rows):
        return QUARANTINE_SCHEMA.empty_table()
    idx = pa_arrow.array(rows)
    typed = table.take(idx)
    delivered = raw.take(idx) if raw is not None else typed.drop_columns([ROW_NUMBER])
    parts = [_as_text(typed.column(k)) for k in key]
    keys = pc.binary_join_element_wise(*parts, "|") if parts else pa_arrow.nulls(len(rows), pa_arrow.string())
    return pa_arrow.table(
        {"row_number": typed.column(ROW_NUMBER), "quarantined_key": keys, "row_json": row_json(delivered),
         "rules": rules},
        schema=QUARANTINE_SCHEMA,
    )


def _as_text(col: pa_arrow.ChunkedArray) -> pa_arrow.ChunkedArray | pa_arrow.Array:
    """str() of each value, null kept (Arrow's cast where it prints like Python)."""
    t = col.type
    if pa_arrow.types.is_string(t) or pa_arrow.types.is_integer(t):
        return col.cast(pa_arrow.string())
    text = _plain_text(col)
    if text is not None:
        return text
    return pa_arrow.array([None if v is None else str(v) for v in col.to_pylist()], pa_arrow.string())


def _plain_text(col: pa_arrow.ChunkedArray) -> pa_arrow.ChunkedArray | None:
    """str() of each date, decimal or naive timestamp, by Arrow where it prints exactly as Python does; else None."""
    t = col.type
    if pa_arrow.types.is_date32(t):
        return col.cast(pa_arrow.string())
    if pa_arrow.types.is_decimal(t) and 0 <= t.scale <= 6:  # Decimal's str turns to exponents below 1e-6
        return col.cast(pa_arrow.string())
    if pa_arrow.types.is_timestamp(t) and t.tz is None and t.unit in ("s", "ms", "us"):
        # datetime's str leaves out a zero fraction; Arrow always prints six digits.
        text = col.cast(pa_arrow.timestamp("us")).cast(pa_arrow.string())
        return pc.replace_substring_regex(text, r"\.000000$", "")
    return None


# json.dumps escapes these itself; any other control character sends the column through json.dumps.
_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
                 ("\f", "\\f")]
_OTHER_CONTROL = "[\x00-\x07\x0b\x0e-\x1f]"
_NEEDS_ESCAPE = '[\\\\"\x00-\x1f]'


def _any_match(col: pa_arrow.ChunkedArray, pattern: str) -> bool:
    return bool(pc.any(pc.match_substring_regex(col, pattern)).as_py())


def row_json(rows: pa_arrow.Table) -> pa_arrow.Array:
    """Each row as `json.dumps(row_dict, default=str, ensure_ascii=False)` would write it, vectorised."""
    fragments = [pc.binary_join_element_wise(json.dumps(name, ensure_ascii=False) + ": ", _json_values(col), "")
                 for name, col in zip(rows.column_names, rows.columns, strict=True)]
    if not fragments:
        return pa_arrow.array(["{}"] * rows.num_rows, pa_arrow.string())
    body = pc.binary_join_element_wise(*fragments, ", ")
    return pc.binary_join_element_wise("{", body, "}", "").combine_chunks()


def _json_values(col: pa_arrow.ChunkedArray) -> pa_arrow.ChunkedArray | pa_arrow.Array:
    """One column's values as JSON text: in Arrow for the usual types, value by value for the rest."""
    t = col.type
    if pa_arrow.types.is_large_string(t):
        col, t = col.cast(pa_arrow.string()), pa_arrow.string()
    if pa_arrow.types.is_string(t) and not _any_match(col, _OTHER_CONTROL):
        if _any_match(col, _NEEDS_ESCAPE):  # most columns hold nothing to escape: one scan instead of seven
            for old, new in _JSON_ESCAPES:
                col = pc.replace_substring(col, old, new)
        return pc.fill_null(pc.binary_join_element_wise('"', col, '"', ""), "null")
    if pa_arrow.types.is_integer(t):
        return pc.fill_null(col.cast(pa_arrow.string()), "null")
    if pa_arrow.types.is_boolean(t):
        return pc.fill_null(pc.if_else(col, "true", "false"), "null")
    if pa_arrow.types.is_null(t):
        return pa_arrow.array(["null"] * len(col), pa_arrow.string())
    text = _plain_text(col)  # json.dumps(default=str) writes these as the quoted str()
    if text is not None:
        return pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
    return pa_arrow.array([json.dumps(v, default=str, ensure_ascii=False) for v in col.to_pylist()],
                          pa_arrow.string())

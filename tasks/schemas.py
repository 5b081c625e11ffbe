"""pandera models derived from the contract registry (no second list of columns).

Types are already enforced by cleaning (a value that cannot be coerced is a `coercion`
failure there), so these models check the *rules*: nullability, patterns, enums, ranges,
and the table-level rules each contract names (RULES: sign, arithmetic, ...) and the file-date rule
of DATA-CONTRACT.md §2.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

from datawiz.core.registry import CONTRACTS, Column, TableContract


@dataclass(frozen=True)
class ColumnRule:
    """One element-wise rule of a contract column, in the two forms validation needs.

    `check` is the pandera Check of the model (`schema_for`). `test` computes the same verdict on the
    column's Arrow array in one vectorised call: pandera's machinery around a check cost ~1 ms per column
    and batch, most of a small file's validation. Pandera's built-ins are one pandas expression each
    (pandera/backends/pandas/builtin_checks.py: `s.str.match(pattern, na=False)`, `s.isin(values)`,
    `s > v`, `s >= v`); each `test` below says why its Arrow form gives the same answer, and
    tests/unit/test_rule_failures.py holds the two to it on hostile values. A null passes (pandera's
    `ignore_na`); `name` is what pandera's failure cases call the rule (its error text, else its name).
    """

    check: pa.Check
    test: Callable[[pa_arrow.Array], pa_arrow.Array]  # True where a value passes (null where it is null)

    @property
    def name(self) -> str:
        return str(self.check.error or self.check.name)


def column_rules(column: Column) -> list[ColumnRule]:
    """The element-wise rules of one contract column, in the order pandera runs (and reports) them."""
    rules: list[ColumnRule] = []
    if column.pattern:
        rules.append(ColumnRule(pa.Check.str_matches(column.pattern), _matches(column.pattern)))
    if column.allowed is not None:
        values = [float(v) for v in column.allowed] if column.type == "dec" else list(column.allowed)
        allowed = pa_arrow.array(values)
        rules.append(ColumnRule(pa.Check.isin(values), lambda a: pc.is_in(_numeric(a), value_set=allowed)))
    if column.gt is not None:
        gt = column.gt
        rules.append(ColumnRule(pa.Check.gt(gt), lambda a: pc.greater(_numeric(a), gt)))
    if column.ge is not None:
        ge = column.ge
        rules.append(ColumnRule(pa.Check.ge(ge), lambda a: pc.greater_equal(_numeric(a), ge)))
    if column.type == "str" and not (column.pattern or column.allowed):
        limit = column.max_length
        # Arrow strings are valid UTF-8: their byte length is what `str.encode("utf-8")` would give.
        rules.append(ColumnRule(pa.Check(_max_length(limit), name=f"max_length_{limit}_bytes"),
                                lambda a: pc.less_equal(pc.binary_length(a), limit)))
    return rules


def column_checks(column: Column) -> list[pa.Check]:
    """The element-wise checks of one contract column (pandera's form)."""
    return [rule.check for rule in column_rules(column)]


def _numeric(array: pa_arrow.Array) -> pa_arrow.Array:
    # Validation compares decimals as the float64 pandas holds them (tasks.validate._to_pandas).
    return array.cast(pa_arrow.float64()) if pa_arrow.types.is_decimal(array.type) else array


# Patterns in which RE2 (Arrow) and Python's `re` agree on ASCII text without newlines: literals, `\d`,
# repetition counts, groups and alternation. `$` differs only before a trailing newline, `\d` only on
# non-ASCII digits; pandas' own string methods make the same choice (pandas/core/arrays/string_arrow.py).
_RE2_AGREES = re.compile(r"\^?(?:[A-Za-z0-9_ |()\-]|\\d|\{\d+(?:,\d*)?\})*\$?")


def _matches(pattern: str) -> Callable[[pa_arrow.Array], pa_arrow.Array]:
    """`s.str.match(pattern)`: the pattern matches at the start of the value."""
    anchored = f"^({pattern.removeprefix('^')})"  # as pandas anchors it for Arrow

    def by_pandas(array: pa_arrow.Array) -> pa_arrow.Array:
        text = array.to_pandas()  # pandas decides between RE2 and Python's `re`, as for pandera
        return pa_arrow.array(text.str.match(pattern, na=False).to_numpy(), mask=text.isna().to_numpy())

    def test(array: pa_arrow.Array) -> pa_arrow.Array:
        if not _RE2_AGREES.fullmatch(pattern):
            return by_pandas(array)
        # For these patterns Python's `re` accepts every value RE2 accepts, and more only on non-ASCII
        # digits (its `\d`) or a trailing newline (its `$`). So RE2 runs on every value and pandas only
        # on the values RE2 refuses — usually none. (Checking the whole column for non-ASCII text and
        # newlines first, as before, cost two more scans per patterned column: ~0.2 s per 1M fis rows.)
        passed = pc.match_substring_regex(array, anchored)
        refused = pc.invert(pc.fill_null(passed, True))
        if not pc.any(refused).as_py():
            return passed
        where = pc.indices_nonzero(refused)
        verdict = passed.to_numpy(zero_copy_only=False).astype(object)
        verdict[where.to_numpy()] = by_pandas(array.take(where)).to_numpy(zero_copy_only=False)
        return pa_arrow.array(verdict, pa_arrow.bool_(), mask=array.is_null().to_numpy(zero_copy_only=False))

    return test


def _max_length(limit: int) -> Callable[[pd.Series], pd.Series]:
    """Free text fits its warehouse column: at most `limit` UTF-8 bytes (a 10 MB cell is quarantined, not cut)."""

    def fits(s: pd.Series) -> pd.Series:
        return s.isna() | (s.str.encode("utf-8", "surrogatepass").str.len() <= limit)

    return fits


def _manager_rule(df: pd.DataFrame) -> pd.Series:
    # manager_code may be null only for the NSM (the top of the chain).
    return df["manager_code"].notna() | (df["role"] == "NSM")


def _doc_type_rule(df: pd.DataFrame) -> pd.Series:
    return df["invoice_no"].isna() | df["doc_type"].isna() | (df["invoice_no"].str[:3] == df["doc_type"])


def _sign_rule(df: pd.DataFrame) -> pd.Series:
    """INV lines are positive, CRN lines negative; the discount is never negative."""
    # In numpy: pandas' nullable-dtype and row-wise operations cost ~7 ms per call even on 2,000 rows.
    inv = (df["doc_type"] == "INV").to_numpy(dtype=bool, na_value=False)
    crn = (df["doc_type"] == "CRN").to_numpy(dtype=bool, na_value=False)
    quantity, *amounts = (df[c].to_numpy(dtype="float64", na_value=np.nan)
                          for c in ("quantity", "gross_amount", "tax_amount", "net_amount"))
    positive, negative, has_values = quantity > 0, quantity < 0, ~np.isnan(quantity)
    for amount in amounts:  # column by column: numpy's row-wise .all(axis=1) over 3 columns is slow too
        positive &= amount >= 0
        negative &= amount <= 0
        has_values &= ~np.isnan(amount)
    decided = inv | crn
    return pd.Series(~decided | ~has_values | (inv & positive) | (crn & negative), index=df.index)


def _arithmetic_rule(df: pd.DataFrame) -> pd.Series:
    """net = gross - discount + tax within 0.01."""
    expected = df["gross_amount"] - df["discount_amount"] + df["tax_amount"]
    diff = (df["net_amount"] - expected).abs()
    return diff.isna() | (diff <= 0.01 + 1e-9)


def _date_rule(column: str, start: dt.date, end: dt.date) -> Callable[[pd.DataFrame], pd.Series]:
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)

    def rule(df: pd.DataFrame) -> pd.Series:
        d = df[column]
        return d.isna() | ((d >= lo) & (d <= hi))

    return rule


def file_date_range(period: str, business_date: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """Dates a fact file may hold: its day, or its month for historical files."""
    if business_date is None or period == "none":
        return None
    if period == "day":
        return business_date, business_date
    nxt = (business_date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return business_date, nxt - dt.timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    """A table-level rule a contract names in `rules`: the columns it reads and its pandera check."""

    columns: tuple[str, ...]
    check: Callable[[pd.DataFrame], pd.Series]
    name: str  # the name reports and etl_quarantine give a failing row


# Contract rule name -> rule. A contract opts in by name (TableContract.rules); no rule is chosen by
# spotting column names, so a new table with an `invoice_no` column gets no rule it did not ask for.
RULES: dict[str, Rule] = {
    "manager": Rule(("manager_code", "role"), _manager_rule, "manager_required_below_nsm"),
    "doc_type": Rule(("invoice_no", "doc_type"), _doc_type_rule, "doc_type_matches_invoice_prefix"),
    "sign": Rule(("doc_type", "quantity", "gross_amount", "tax_amount", "net_amount"), _sign_rule,
                 "sign_matches_doc_type"),
    "net_arithmetic": Rule(("gross_amount", "discount_amount", "tax_amount", "net_amount"), _arithmetic_rule,
                           "net_equals_gross_minus_discount_plus_tax"),
}


def table_rules(contract: TableContract) -> list[Rule]:
    """The rules a contract names, checked: an unknown name or a column the contract lacks is a ValueError."""
    unknown = [r for r in contract.rules if r not in RULES]
    if unknown:
        raise ValueError(f"contract {contract.name!r}: unknown table rule(s) {', '.join(unknown)}; "
                         f"known: {', '.join(RULES)}")
    rules = [RULES[r] for r in contract.rules]
    for name, rule in zip(contract.rules, rules, strict=True):
        missing = [c for c in rule.columns if c not in contract.column_names]
        if missing:
            raise ValueError(f"contract {contract.name!r}: rule {name!r} needs column(s) {', '.join(missing)}")
    return rules


@dataclass(frozen=True)
class ContractRules:
    """Every rule of a contract for one file's date range: per column (name, nullable, rules), then table-level."""

    columns: tuple[tuple[str, bool, tuple[ColumnRule, ...]], ...]
    table: tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...]  # (name, check over the frame)


@lru_cache(maxsize=256)
def rules_for(contract: TableContract, date_range: tuple[dt.date, dt.date] | None = None) -> ContractRules:
    """The contract's rules: its column rules, its named table rules and (facts) its file's dates. Built once."""
    columns = tuple((c.name, c.nullable, tuple(column_rules(c))) for c in contract.columns)
    table = [(rule.name, rule.check) for rule in table_rules(contract)]
    if contract.date_column and date_range:
        table.append((f"{contract.date_column}_matches_file_name", _date_rule(contract.date_column, *date_range)))
    return ContractRules(columns, tuple(table))


@lru_cache(maxsize=256)
def schema_for(contract: TableContract, date_range: tuple[dt.date, dt.date] | None = None) -> pa.DataFrameSchema:
    """The pandera model of a contract: `rules_for` as a DataFrameSchema (what validation enforces)."""
    rules = rules_for(contract, date_range)
    columns = {
        name: pa.Column(nullable=nullable, checks=[r.check for r in column], required=True)
        for name, nullable, column in rules.columns
    }
    checks = [pa.Check(check, name=name) for name, check in rules.table]
    return pa.DataFrameSchema(columns, checks=checks, name=contract.name, strict=False, coerce=False)


# Every contract of the registry names only known rules over its own columns: fail at import, not mid-load.
for _contract in CONTRACTS.values():
    table_rules(_contract)

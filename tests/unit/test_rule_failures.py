"""`rule_failures` (validation's direct run of the rules) reports exactly what pandera's lazy validation of
the same model (`schema_for`) reports: the same rules, rows and order, for every contract, on hostile values."""

from __future__ import annotations

import copy
import datetime as dt
import random

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pytest

from datawiz.core.registry import CONTRACTS, Column, TableContract
from tasks.clean import ROW_NUMBER, Failure, arrow_type
from tasks.schemas import file_date_range, rules_for, schema_for
from tasks.validate import _to_pandas, rule_failures

DAY = dt.date(2025, 11, 20)
ROWS = 600

# Strings that pass or break the registry's patterns, enums and length limits, including the cases where
# Python's `re` and RE2 differ (Unicode digits, a trailing newline before `$`).
TEXTS = ["", "X", "E12345", "e12345", "E1234", "E١٢٣٤٥", "E12345\n", "D12345", "R1234567", "SKU123456",
         "INV0123456789", "CRN0123456789", "INV012345678", "DSP0123456789", "P123", "123456", "12345a", "NSM",
         "TSR", "INV", "CRN", "North", "Urban", "ML", "Paint", "Adhesives", "a" * 300, "é" * 100, "é" * 130,
         "x" * 64, "x" * 65]


def _values(column: Column, ascii_only: bool) -> list[object]:
    """Candidate values of one column: nulls, the column's own allowed values, and breakers."""
    if column.type == "str":
        texts = [t for t in TEXTS if t.isascii() and "\n" not in t] if ascii_only else TEXTS
        return [None, *texts, *(column.allowed or ())]
    if column.type == "int":
        return [None, -5, -1, 0, 1, 2, 10**9]
    if column.type == "dec":
        return [None, -12.5, -1.0, 0.0, 5.0, 12.0, 18.0, 28.0, 0.01, 99.99, *(float(v) for v in column.allowed or ())]
    if column.type == "date":
        return [None, DAY, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1), dt.date(2025, 11, 30)]
    if column.type == "ts":
        return [None, dt.datetime(2025, 11, 20, 10, 0), dt.datetime(2024, 1, 1)]
    return [None, True, False]


def _hostile_frame(contract: TableContract, seed: int) -> tuple[pa_arrow.Table, pd.DataFrame]:
    """Hostile rows; odd seeds keep strings ASCII without newlines (the pattern checks' Arrow path), even
    seeds mix in the values where RE2 and Python's `re` differ (the pandas path)."""
    rng = random.Random(seed)
    arrays = []
    for column in contract.columns:
        pool = _values(column, ascii_only=seed % 2 == 1)
        mostly_null = rng.random() < 0.1  # a column almost all null, and one wholly null, are cases too
        picks = [None if mostly_null and rng.random() < 0.95 else rng.choice(pool) for _ in range(ROWS)]
        if column.type == "dec":
            picks = [None if v is None else round(float(v), column.scale or 0) for v in picks]
            arrays.append(pa_arrow.array(picks, pa_arrow.float64()).cast(arrow_type(column)))
        else:
            arrays.append(pa_arrow.array(picks, arrow_type(column)))
    arrays.append(pa_arrow.array(np.arange(1, ROWS + 1, dtype=np.int64)))
    table = pa_arrow.Table.from_arrays(arrays, names=[*contract.column_names, ROW_NUMBER])
    return table, _to_pandas(table)


def _pandera_report(df: pd.DataFrame, schema: pa.DataFrameSchema) -> list[tuple[str | None, str, list[int]]]:
    """What pandera's lazy validation reports, grouped as validation groups failures (column, rule, rows)."""
    out: list[tuple[str | None, str, list[int]]] = []
    column_only = copy.copy(schema)
    column_only.checks = []
    try:
        column_only.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        cases = cases[cases["index"].notna()]
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            rows = sorted(set(group["index"].astype(np.int64)))
            out.append((None if pd.isna(column) else str(column), str(check), rows))
    for check in schema.checks:
        passed = check(df).check_output
        rows = np.flatnonzero(~passed.astype(bool).to_numpy()).tolist()
        if rows:
            out.append((None, str(check.name), rows))
    return out


def _ours(failures: list[Failure]) -> list[tuple[str | None, str, list[int]]]:
    return [(f.column, f.rule, [int(r) for r in f.rows]) for f in failures]


@pytest.mark.parametrize("name", sorted(c.name for c in CONTRACTS.values() if c.columns))
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rule_failures_equal_pandera_validation(name: str, seed: int) -> None:
    contract = next(c for c in CONTRACTS.values() if c.name == name)
    dates = file_date_range("day", DAY) if contract.date_column else None
    table, df = _hostile_frame(contract, seed)
    expected = _pandera_report(df, schema_for(contract, dates))
    assert expected, "the hostile frame breaks some rule"
    assert _ours(rule_failures(table, df, rules_for(contract, dates), [])) == expected


def test_a_coercion_failure_is_not_also_reported_as_a_null() -> None:
    contract = next(c for c in CONTRACTS.values() if c.date_column)
    table, df = _hostile_frame(contract, 7)
    column = next(c.name for c in contract.columns if not c.nullable)
    nulls = np.flatnonzero(df[column].isna().to_numpy())
    assert len(nulls) > 1
    coerced = [Failure(nulls[:1], column, "coerce_to_x", "coercion")]
    reported = {f.rule: f.rows for f in rule_failures(table, df, rules_for(contract), coerced) if f.column == column}
    assert reported["not_nullable"].tolist() == nulls[1:].tolist()

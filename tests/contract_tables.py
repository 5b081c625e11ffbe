"""What every backend's contract tables must look like, derived from the registry alone (shared by the
unit and integration schema tests), and a registry-only table to add in tests."""

from __future__ import annotations

from dataclasses import dataclass

from datawiz.core.contract import Column, LoadMode, Origin, PathPattern, TableContract
from datawiz.core.registry import CONTRACTS, LINEAGE_COLUMNS

# A fact table that exists only in the registry (no SQL file, Physical.since left None).
RETURNS = TableContract(
    name="returns",
    target_table="fact_returns",
    load_mode=LoadMode.FACT_UPSERT,
    paths=(PathPattern(r"facts/returns/(?P<date>\d{8})_(?P<part>\d{3})\.parquet", Origin.INCREMENTAL),),
    date_column="return_date",
    columns=(
        Column("return_no", "str", key=True, pattern=r"^RET\d{10}$", is_code=True),
        Column("line_no", "int", key=True, ge=1),
        Column("return_date", "date"),
        Column("sku_code", "str", pattern=r"^SKU\d{6}$", is_code=True),
        Column("reason", "str", nullable=True),
        Column("quantity", "int", gt=0),
        Column("net_amount", "dec", precision=14, scale=2),
        Column("updated_at", "ts"),
    ),
)


@dataclass(frozen=True)
class Expected:
    """One table as the registry declares it: (column, contract type, nullable) in order, and its key."""

    table: str
    contract: TableContract
    columns: tuple[tuple[str, str, bool], ...]
    key: tuple[str, ...]


def expected_tables(contracts: list[TableContract] | None = None) -> list[Expected]:
    """Every contract's target table, and its history table (snapshot_date first, keyed by it too)."""
    lineage = tuple((n, "ts" if n == "_loaded_at" else "str", False) for n in LINEAGE_COLUMNS)
    found = []
    for c in contracts or list(CONTRACTS.values()):
        source = tuple((col.name, col.type, col.nullable) for col in c.columns)
        found.append(Expected(c.target_table, c, source + lineage, c.key))
        if c.history_table:
            found.append(Expected(c.history_table, c, (("snapshot_date", "date", False),) + source + lineage,
                                  ("snapshot_date", *c.key)))
    return found


def column_of(contract: TableContract, name: str) -> Column | None:
    """The contract column `name` (None for lineage and snapshot_date)."""
    return next((col for col in contract.columns if col.name == name), None)

"""The table-contract registry: the single source of truth every stage reads.

Each source table of DATA-CONTRACT.md §2 has one `TableContract` (model in `datawiz.core.contract`):
where its files land (path patterns), its columns and their rules, its key, the warehouse table it
feeds and how it is loaded. Cleaning, pandera models, DDL, the sample generator and the planner all
derive from this module.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, overload

from datawiz.core.contract import (
    Column as Column,
)
from datawiz.core.contract import (
    ColumnType as ColumnType,
)
from datawiz.core.contract import (
    FileRef as FileRef,
)
from datawiz.core.contract import (
    Index as Index,
)
from datawiz.core.contract import (
    LoadMode as LoadMode,
)
from datawiz.core.contract import (
    Origin as Origin,
)
from datawiz.core.contract import (
    PathPattern as PathPattern,
)
from datawiz.core.contract import (
    Physical as Physical,
)
from datawiz.core.contract import (
    TableContract as TableContract,
)

# ---------------------------------------------------------------------------- columns
_EXT = r"\.(?P<ext>parquet|csv)"
_UPDATED_AT = Column("updated_at", "ts")
_IS_ACTIVE = Column("is_active", "bool")

SKU = r"^SKU\d{6}$"
DISTRIBUTOR = r"^D\d{5}$"
RETAILER = r"^R\d{7}$"
EMPLOYEE = r"^E\d{5}$"

CATEGORIES = (
    "Adhesives", "Sealants", "Waterproofing", "Art & Craft", "Construction Chemicals", "Wood Finishes",
)
REGIONS = ("North", "South", "East", "West", "Central")
ROLES = ("NSM", "ZSM", "RSM", "ASM", "SO", "TSR")  # top of the chain first


def dimension_paths(name: str) -> tuple[PathPattern, ...]:
    return (PathPattern(rf"dimensions/{name}/{name}_(?P<date>\d{{8}}){_EXT}", Origin.SNAPSHOT),)


def fact_paths(name: str) -> tuple[PathPattern, ...]:
    return (
        PathPattern(
            rf"facts/{name}/(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/"
            rf"{name}_(?P<date>\d{{8}})_(?P<part>\d{{3}}){_EXT}",
            Origin.INCREMENTAL,
        ),
        PathPattern(
            rf"historical/{name}/(?P<y>\d{{4}})/(?P<m>\d{{2}})/{name}_(?P<date>\d{{6}})_(?P<part>\d{{3}}){_EXT}",
            Origin.HISTORICAL,
        ),
    )


PRODUCT = TableContract(
    name="product",
    target_table="dim_product",
    load_mode=LoadMode.SNAPSHOT_UPSERT,
    paths=dimension_paths("product"),
    columns=(
        Column("sku_code", "str", key=True, pattern=SKU, is_code=True),
        Column("sku_name", "str"),
        Column("brand", "str"),
        Column("category", "str", allowed=CATEGORIES),
        Column("pack_size", "dec", precision=10, scale=3, gt=0),
        Column("uom", "str", allowed=("ML", "L", "G", "KG", "PC"), is_code=True),
        Column("mrp", "dec", precision=12, scale=2, gt=0),
        Column("gst_rate", "dec", precision=5, scale=2, allowed=(0, 5, 12, 18, 28)),
        _IS_ACTIVE,
        _UPDATED_AT,
    ),
    physical=Physical(since=1, widths={"category": 255}, indexes=(Index("brand", ("brand(191)",)),)),
)

DISTRIBUTOR_CONTRACT = TableContract(
    name="distributor",
    target_table="dim_distributor",
    load_mode=LoadMode.SNAPSHOT_UPSERT,
    paths=dimension_paths("distributor"),
    columns=(
        Column("distributor_code", "str", key=True, pattern=DISTRIBUTOR, is_code=True),
        Column("distributor_name", "str"),
        Column("city", "str"),
        Column("state", "str"),
        Column("region", "str", allowed=REGIONS),
        Column("channel", "str", allowed=("Urban", "Rural")),
        Column("onboarded_on", "date"),
        _IS_ACTIVE,
        _UPDATED_AT,
    ),
    physical=Physical(since=1, indexes=(Index("region", ("region",)),), bitmap_indexes=("region",)),
)

RETAILER_CONTRACT = TableContract(
    name="retailer",
    target_table="dim_retailer",
    load_mode=LoadMode.SNAPSHOT_UPSERT,
    paths=dimension_paths("retailer"),
    columns=(
        Column("retailer_code", "str", key=True, pattern=RETAILER, is_code=True),
        Column("retailer_name", "str"),
        Column("distributor_code", "str", pattern=DISTRIBUTOR, is_code=True),
        Column("city", "str"),
        Column("state", "str"),
        Column("pin_code", "str", pattern=r"^\d{6}$"),
        Column("outlet_type", "str", allowed=("Hardware", "Paint", "Stationery", "Plywood", "General")),
        _IS_ACTIVE,
        _UPDATED_AT,
    ),
    physical=Physical(since=1, widths={"pin_code": 16}, indexes=(Index("distributor", ("distributor_code",)),),
                      bloom_filter=("distributor_code",)),
)

TSR = TableContract(
    name="tsr",
    target_table="dim_employee",
    load_mode=LoadMode.SNAPSHOT_UPSERT,
    paths=dimension_paths("tsr"),
    history_table="stg_tsr_snapshot",
    rules=("manager",),
    columns=(
        Column("employee_code", "str", key=True, pattern=EMPLOYEE, is_code=True),
        Column("employee_name", "str"),
        Column("role", "str", allowed=ROLES, is_code=True),
        # Null only for the NSM: enforced by a table-level check in the pandera model.
        Column("manager_code", "str", nullable=True, pattern=EMPLOYEE, is_code=True),
        Column("region", "str", max_length=64),
        Column("territory", "str"),
        _IS_ACTIVE,
        _UPDATED_AT,
    ),
    physical=Physical(since=1, widths={"role": 16}, bitmap_indexes=("role",)),
)

FIS = TableContract(
    name="fis",
    target_table="fact_secondary_sales",
    load_mode=LoadMode.FACT_UPSERT,
    paths=fact_paths("fis"),
    date_column="invoice_date",
    label="secondary-sales",
    rules=("doc_type", "sign", "net_arithmetic"),
    columns=(
        Column("invoice_no", "str", key=True, pattern=r"^(INV|CRN)\d{10}$", is_code=True),
        Column("line_no", "int", key=True, ge=1),
        Column("doc_type", "str", allowed=("INV", "CRN"), is_code=True),
        Column("invoice_date", "date"),
        Column("distributor_code", "str", pattern=DISTRIBUTOR, is_code=True),
        Column("retailer_code", "str", pattern=RETAILER, is_code=True),
        Column("tsr_code", "str", pattern=EMPLOYEE, is_code=True),
        Column("sku_code", "str", pattern=SKU, is_code=True),
        Column("quantity", "int"),
        Column("free_quantity", "int", ge=0),
        Column("gross_amount", "dec", precision=14, scale=2),
        Column("discount_amount", "dec", precision=14, scale=2, ge=0),
        Column("tax_amount", "dec", precision=14, scale=2),
        Column("net_amount", "dec", precision=14, scale=2),
        _UPDATED_AT,
    ),
    references={
        "distributor_code": ("dim_distributor", "distributor_code"),
        "retailer_code": ("dim_retailer", "retailer_code"),
        "tsr_code": ("dim_employee", "employee_code"),
        "sku_code": ("dim_product", "sku_code"),
    },
    # DD and reports read one month / a date range (ix_fis_date); point lookups and joins filter on the codes.
    physical=Physical(since=1, short_name="fis", widths={"doc_type": 8},
                      indexes=(Index("date", ("invoice_date", "tsr_code")),), bitmap_indexes=("doc_type",),
                      bloom_filter=("retailer_code", "sku_code", "tsr_code", "distributor_code", "_source_file")),
)

FID = TableContract(
    name="fid",
    target_table="fact_primary_sales",
    load_mode=LoadMode.FACT_UPSERT,
    paths=fact_paths("fid"),
    date_column="dispatch_date",
    label="primary-dispatch",
    columns=(
        Column("dispatch_no", "str", key=True, pattern=r"^DSP\d{10}$", is_code=True),
        Column("line_no", "int", key=True, ge=1),
        Column("dispatch_date", "date"),
        Column("plant_code", "str", pattern=r"^P\d{3}$", is_code=True),
        Column("distributor_code", "str", pattern=DISTRIBUTOR, is_code=True),
        Column("sku_code", "str", pattern=SKU, is_code=True),
        Column("quantity", "int", gt=0),
        Column("net_amount", "dec", precision=14, scale=2, gt=0),
        _UPDATED_AT,
    ),
    references={
        "distributor_code": ("dim_distributor", "distributor_code"),
        "sku_code": ("dim_product", "sku_code"),
    },
    physical=Physical(since=1, short_name="fid", widths={"plant_code": 16},
                      indexes=(Index("date", ("dispatch_date",)),),
                      bloom_filter=("sku_code", "distributor_code", "_source_file")),
)

BUSINESS_CONSTANTS = TableContract(
    name="business_constants",
    target_table="business_constants",
    load_mode=LoadMode.CONSTANTS,
    paths=(PathPattern(r"config/business_constants\.json", Origin.CONFIG),),
    # The JSON document becomes one row per constant (value kept as JSON text).
    columns=(Column("constant_name", "str", key=True, max_length=128),
             Column("value", "str", max_length=65_533),  # TEXT on MySQL, STRING (65,533 bytes) on StarRocks
             Column("as_of", "date")),
    max_reject_ratio=0.0,
    physical=Physical(since=1, lineage_index=False),  # replaced whole, never deleted by file
)
REQUIRED_CONSTANTS = ("min_productive_bill_value", "focus_brands", "target_lines_per_bill")

CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (PRODUCT, DISTRIBUTOR_CONTRACT, RETAILER_CONTRACT, TSR, FIS, FID, BUSINESS_CONSTANTS)
}


class _Names(Sequence[str]):
    """Names of the registered contracts that pass a test, in registry order, read live from CONTRACTS.

    Live so that a table added with `register()` is in every list at once (a tuple built at import
    would miss it); it still iterates, indexes and answers `in` like the tuples it replaces.
    """

    def __init__(self, keep: Callable[[TableContract], bool]) -> None:
        self._keep = keep

    def _names(self) -> tuple[str, ...]:
        return tuple(c.name for c in CONTRACTS.values() if self._keep(c))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:  # one read of the registry per iteration
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return repr(self._names())


DIMENSIONS: Sequence[str] = _Names(lambda c: c.load_mode is LoadMode.SNAPSHOT_UPSERT)  # applied in this order
FACTS: Sequence[str] = _Names(lambda c: c.load_mode is LoadMode.FACT_UPSERT)
CONSTANTS: Sequence[str] = _Names(lambda c: c.load_mode is LoadMode.CONSTANTS)
BACKFILLABLE: Sequence[str] = _Names(lambda c: c.backfillable)

# The fact table the DD metrics and rpt_sales_daily are computed from: a load into it makes its days stale.
SALES = "fis"

# Tables the pipeline builds from the loaded ones (sql/): no file feeds them, so they have no contract.
DERIVED_DIMENSIONS = ("dim_sales_hierarchy", "dim_date")
DERIVED_FACTS = ("agg_dd_tsr_month", "agg_dd_outlet_month", "rpt_sales_daily")


def scheduled(flow: Literal["evening", "morning"]) -> tuple[TableContract, ...]:
    """The contracts whose new files `flow` loads, in registry order."""
    return tuple(c for c in CONTRACTS.values() if c.schedule == flow)


def target_tables(names: Sequence[str]) -> tuple[str, ...]:
    """The warehouse tables of the named contracts, in the order given."""
    return tuple(CONTRACTS[n].target_table for n in names)


def summary_tables() -> tuple[str, ...]:
    """Every warehouse table a run summary counts: dimensions, constants, facts and what is derived from them."""
    return (*target_tables(DIMENSIONS), *DERIVED_DIMENSIONS, *target_tables(CONSTANTS), *target_tables(FACTS),
            *DERIVED_FACTS)


def register(contract: TableContract) -> None:
    """Add a table to the registry: from here on every stage and every table list includes it.

    Refuses a name, a warehouse table or a landing folder another contract already has, so two
    contracts never claim the same file or the same table.
    """
    if contract.name in CONTRACTS:
        raise ValueError(f"contract {contract.name!r} is already registered")
    taken = {c.target_table: c.name for c in CONTRACTS.values()}
    if contract.target_table in taken or contract.target_table in (*DERIVED_DIMENSIONS, *DERIVED_FACTS):
        raise ValueError(f"contract {contract.name!r}: table {contract.target_table} belongs to "
                         f"{taken.get(contract.target_table, 'a derived table')}")
    if not contract.paths:
        raise ValueError(f"contract {contract.name!r} has no landing path")
    unlisted = [p.regex for p in contract.paths if f"{p.folder.split('/')[0]}/" not in PREFIXES]
    if unlisted:  # the planner lists PREFIXES only: such files would never be seen
        raise ValueError(f"contract {contract.name!r}: {unlisted[0]} is outside the listed prefixes {PREFIXES}")
    missing = {contract.date_column, *contract.references} - {None, *contract.column_names}
    if missing:
        raise ValueError(f"contract {contract.name!r} names columns it does not have: {sorted(map(str, missing))}")
    CONTRACTS[contract.name] = contract


def unregister(name: str) -> TableContract:
    """Remove a table that `register()` added; returns its contract."""
    return CONTRACTS.pop(name)


@contextmanager
def registered(*contracts: TableContract) -> Iterator[tuple[TableContract, ...]]:
    """The tables registered for the duration of a `with` block (tests, one-off loads), removed after."""
    added: list[str] = []
    try:
        for contract in contracts:
            register(contract)
            added.append(contract.name)
        yield contracts
    finally:
        for name in reversed(added):
            unregister(name)

# Landing prefixes the source lists, one listing call per prefix: the top folders of every path pattern
# (dimensions/, facts/, historical/, config/). A plain tuple, as of import (it is a task parameter's default).
PREFIXES = tuple(dict.fromkeys(f"{p.folder.split('/')[0]}/" for c in CONTRACTS.values() for p in c.paths))

# Lineage columns every loaded table carries.
LINEAGE_COLUMNS = ("_source_file", "_source_version", "_loaded_at", "_run_id")


def resolve_path(path: str) -> FileRef | None:
    """Match a landing path against every contract; None means "unrecognised"."""
    for contract in CONTRACTS.values():
        for pattern in contract.paths:
            m = pattern.match(path)
            if m is None:
                continue
            return _file_ref(path, contract, pattern, m)
    return None


def _file_ref(path: str, contract: TableContract, pattern: PathPattern, m: re.Match[str]) -> FileRef | None:
    groups = m.groupdict()
    raw = groups.get("date")
    part = int(groups["part"]) if groups.get("part") else None
    if raw is None:
        return FileRef(path, contract, pattern.origin, None, "none", part)
    try:
        if len(raw) == 8:
            day = dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            period: Literal["day", "month"] = "day"
        else:
            day = dt.date(int(raw[:4]), int(raw[4:6]), 1)
            period = "month"
    except ValueError:
        return None  # e.g. fis_20251332_001: looks right, is not a date -> unrecognised
    # The folder (YYYY/MM[/DD]) must agree with the date in the file name.
    if groups.get("y") and (int(groups["y"]), int(groups["m"])) != (day.year, day.month):
        return None
    if groups.get("d") and int(groups["d"]) != day.day:
        return None
    return FileRef(path, contract, pattern.origin, day, period, part)


def owning_contract(path: str) -> TableContract | None:
    """The contract whose folder a path sits in, even when its file name does not parse.

    A file in `facts/fis/...` with a malformed name is *rejected* with a reason (it was meant
    for fis); a path outside every table's folder is merely *unrecognised*.
    """
    for contract in CONTRACTS.values():
        for pattern in contract.paths:
            folder = pattern.regex.split("/")[0] + "/"
            second = pattern.regex.split("/")[1] if "/" in pattern.regex else ""
            prefix = folder + (second + "/" if "(" not in second and "\\" not in second else "")
            if contract.load_mode is not LoadMode.CONSTANTS and path.startswith(prefix):
                return contract
    return None

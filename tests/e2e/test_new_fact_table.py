"""A new fact table is one registry entry: `returns` goes through the evening and morning flows end to end.

Nothing but the `TableContract` below is written for it: planning, extract, clean, validate, load,
ledger, quarantine, the morning's steps, the run summary's table counts and the backfill's table list all
come from the registry. The warehouse table itself comes from `warehouse.migrate()`, which creates every
registered table from its contract (generated DDL); `test_migrate_creates_the_registered_table` says so
first and plainly when it does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blocks.warehouse import resolve_warehouse
from datawiz.core.registry import (
    BACKFILLABLE,
    CONTRACTS,
    DISTRIBUTOR,
    FACTS,
    LINEAGE_COLUMNS,
    RETAILER,
    SKU,
    Column,
    LoadMode,
    TableContract,
    fact_paths,
    registered,
    resolve_path,
    summary_tables,
)
from datawiz.sample_data import arrow_schema
from flows.evening import evening
from flows.morning import STEPS, morning
from tasks.backfill import check_tables
from tests.e2e import business_fixture as fx

pytestmark = pytest.mark.integration

DAY = dt.date(2025, 11, 20)

RETURNS = TableContract(
    name="returns",
    target_table="fact_returns",
    load_mode=LoadMode.FACT_UPSERT,
    paths=fact_paths("returns"),
    date_column="return_date",
    label="sales-returns",
    columns=(
        Column("return_no", "str", key=True, pattern=r"^RET\d{10}$", is_code=True),
        Column("line_no", "int", key=True, ge=1),
        Column("return_date", "date"),
        Column("distributor_code", "str", pattern=DISTRIBUTOR, is_code=True),
        Column("retailer_code", "str", pattern=RETAILER, is_code=True),
        Column("sku_code", "str", pattern=SKU, is_code=True),
        Column("quantity", "int", gt=0),
        Column("net_amount", "dec", precision=14, scale=2, gt=0),
        Column("updated_at", "ts"),
    ),
    references={
        "distributor_code": ("dim_distributor", "distributor_code"),
        "retailer_code": ("dim_retailer", "retailer_code"),
        "sku_code": ("dim_product", "sku_code"),
    },
)


def _row(no: int, line: int, net: str, *, day: dt.date = DAY, retailer: str = "R0000001", sku: str = "SKU000001",
         qty: int = 1) -> dict[str, object]:
    return {"return_no": f"RET{no:010d}", "line_no": line, "return_date": day, "distributor_code": "D00001",
            "retailer_code": retailer, "sku_code": sku, "quantity": qty, "net_amount": Decimal(net),
            "updated_at": dt.datetime(2025, 11, 20, 9, 30)}


# File 001: 66 good lines, one of them for a retailer the dimensions do not know (loaded, counted as an
# orphan); an exact copy of a good line (deduplicated); three lines breaking a rule (quarantined: 3 of 70
# rows, under the default max_reject_ratio of 5%).
GOOD_1 = [_row(1, 1, "100.00"), _row(1, 2, "25.50", sku="SKU000002"), _row(2, 1, "10.00", retailer="R0000002"),
          _row(3, 1, "7.25", qty=3), _row(4, 1, "1.00", sku="SKU000003"), _row(5, 1, "12.00", retailer="R0000009"),
          *(_row(100 + n, 1 + n % 3, f"{n + 1}.{n % 100:02d}", retailer=f"R000000{1 + n % 4}") for n in range(60))]
BAD_1 = {
    "sku_code": _row(6, 1, "5.00", sku="XYZ"),                      # pattern
    "quantity": _row(7, 1, "5.00", qty=0),                          # gt 0
    "return_date": _row(8, 1, "5.00", day=DAY - dt.timedelta(1)),   # not the file's day
}
# File 002 of the same day: 2 more good lines.
GOOD_2 = [_row(9, 1, "40.00", retailer="R0000003"), _row(9, 2, "0.75", sku="SKU000002")]
PATH_1 = f"facts/returns/{DAY:%Y/%m/%d}/returns_{DAY:%Y%m%d}_001.parquet"
PATH_2 = f"facts/returns/{DAY:%Y/%m/%d}/returns_{DAY:%Y%m%d}_002.parquet"


def write_returns(landing: Path) -> None:
    """The two returns files of DAY, written as upstream would (Parquet, contract column types)."""
    schema = arrow_schema(RETURNS)
    for rel, rows in ((PATH_1, [*GOOD_1, GOOD_1[0], *BAD_1.values()]), (PATH_2, GOOD_2)):
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), landing / rel)


@pytest.fixture
def returns_registered() -> Iterator[TableContract]:
    """`returns` is in the registry for one test, and out of it afterwards."""
    with registered(RETURNS):
        yield RETURNS
    assert "returns" not in CONTRACTS


@pytest.fixture
def landing(workdir: Path) -> Path:
    """The small business fixture (dimensions, constants, fis) plus the returns files."""
    root = workdir / "landing"
    fx.write_dimensions(root)
    fx.write_facts(root)
    write_returns(root)
    return root


def _rows(url: str, sql: str) -> list[dict[str, object]]:
    wh = resolve_warehouse(url)
    try:
        return wh.query(sql).to_pylist()
    finally:
        wh.close()


def test_the_registry_entry_alone_puts_returns_in_every_table_list(returns_registered: TableContract) -> None:
    ref = resolve_path(PATH_1)
    assert ref is not None and ref.contract is returns_registered and ref.business_date == DAY and ref.part == 1
    assert "returns" in FACTS and "returns" in BACKFILLABLE and returns_registered.schedule == "morning"
    assert list(STEPS)[2:5] == ["fis", "fid", "returns"]  # a morning step of its own, after the others
    assert "fact_returns" in summary_tables()
    assert check_tables(["returns"]) == ["returns"]


def migrated_columns(url: str) -> list[str]:
    """`migrate()` the warehouse, then the columns of fact_returns; fails plainly when migrate() made no such table."""
    wh = resolve_warehouse(url)
    try:
        wh.migrate()
        try:
            return wh.query("SELECT * FROM fact_returns WHERE 1 = 0").column_names
        except Exception as exc:  # noqa: BLE001 - the message below says what is missing
            pytest.fail(f"migrate() did not create fact_returns from the registry entry: {exc}")
    finally:
        wh.close()


def test_migrate_creates_the_registered_table(returns_registered: TableContract, warehouse_url: str) -> None:
    """What the pipeline needs from `migrate()`: the registered table, its columns plus the lineage columns."""
    assert set(migrated_columns(warehouse_url)) == {*RETURNS.column_names, *LINEAGE_COLUMNS}


def test_returns_load_end_to_end(returns_registered: TableContract, landing: Path, warehouse_url: str,
                                 prefect_server: None) -> None:
    migrated_columns(warehouse_url)  # the flows migrate too; this says plainly when the table is missing
    evening(business_date=DAY, source=str(landing), warehouse=warehouse_url)
    first = morning(business_date=DAY, source=str(landing), warehouse=warehouse_url)

    reports = {f.path: f for f in first.files if f.table == "fact_returns"}
    assert {p: r.status for p, r in reports.items()} == {PATH_1: "loaded", PATH_2: "loaded"}
    stats = reports[PATH_1].stats
    assert (stats.rows_in, stats.rows_loaded, stats.rows_quarantined, stats.rows_deduplicated, stats.orphans) == (
        len(GOOD_1) + 1 + len(BAD_1), len(GOOD_1), len(BAD_1), 1, 1)
    assert reports[PATH_2].stats.rows_loaded == len(GOOD_2)

    # Exactly the good lines, with their values and lineage.
    good = [*GOOD_1, *GOOD_2]
    loaded = _rows(warehouse_url, "SELECT return_no, line_no, net_amount, quantity, _source_file FROM fact_returns")
    assert sorted((r["return_no"], r["line_no"], Decimal(str(r["net_amount"])), r["quantity"]) for r in loaded) == \
        sorted((r["return_no"], r["line_no"], r["net_amount"], r["quantity"]) for r in good)
    assert {r["_source_file"] for r in loaded} == {PATH_1, PATH_2}
    assert first.notes["table_counts"]["fact_returns"] == len(good)

    # The bad lines are in etl_quarantine, each with the rule it broke.
    quarantined = _rows(warehouse_url, "SELECT source_file, table_name, rules FROM etl_quarantine "
                                       "WHERE table_name = 'fact_returns'")
    assert len(quarantined) == len(BAD_1) and {q["source_file"] for q in quarantined} == {PATH_1}
    rules = " ".join(str(q["rules"]) for q in quarantined)
    assert "sku_code" in rules and "quantity" in rules and "return_date_matches_file_name" in rules
    ledger = _rows(warehouse_url, "SELECT source_file, status, rows_loaded FROM etl_file_ledger "
                                  "WHERE table_name = 'fact_returns' ORDER BY source_file")
    assert [(r["source_file"], r["status"], r["rows_loaded"]) for r in ledger] == [
        (PATH_1, "loaded", len(GOOD_1)), (PATH_2, "loaded", len(GOOD_2))]

    # A second morning finds nothing new: nothing is loaded twice.
    again = morning(business_date=DAY, source=str(landing), warehouse=warehouse_url)
    assert again.files == []
    assert _rows(warehouse_url, "SELECT count(*) AS n FROM fact_returns")[0]["n"] == len(good)
    assert _rows(warehouse_url, "SELECT count(*) AS n FROM etl_quarantine WHERE table_name = 'fact_returns'"
                 )[0]["n"] == len(BAD_1)

"""Whole evening + morning runs on generated data into the embedded DuckDB, with exact numbers.

One landing folder and warehouse are shared by the tests of this module, in order: each test
changes the landing area the way upstream would (re-delivery, a late file, a new snapshot) and
checks exactly what the warehouse holds afterwards.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from prefect.variables import Variable

from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import Manifest, generate
from flows.evening import evening
from flows.morning import morning
from tasks.constants import variable_name

pytestmark = pytest.mark.integration

END = dt.date(2025, 11, 20)


class World:
    """The shared landing folder, warehouse URL and the generator's manifest."""

    def __init__(self, root: Path) -> None:
        self.landing = root / "landing"
        self.url = f"duckdb:///{root / 'wh.duckdb'}"
        self.manifest: Manifest = generate(self.landing, days=3, fis_rows_per_day=800, end_date=END)

    def run(self, *flows: str) -> list:
        runs = {"evening": evening, "morning": morning}
        return [runs[f](business_date=END, source=str(self.landing), warehouse=self.url) for f in flows]

    def scalar(self, sql: str, params: dict | None = None):
        wh = resolve_warehouse(self.url)
        try:
            row = wh.query(sql, params).to_pylist()[0]
            return next(iter(row.values()))
        finally:
            wh.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> World:
    root = tmp_path_factory.mktemp("e2e")
    import os

    os.environ["DATAWIZ_DATA_DIR"] = str(root / "data")
    return World(root)


def fact_totals(world: World, table: str) -> tuple[int, Decimal]:
    return (
        world.scalar(f"SELECT count(*) FROM {table}"),
        Decimal(world.scalar(f"SELECT coalesce(sum(net_amount), 0) FROM {table}")),
    )


def test_first_run_loads_every_file_with_the_generators_counts(world: World) -> None:
    ev, mo = world.run("evening", "morning")
    expected_files = [f for f in world.manifest.files if f.expected_status == "loaded"]
    assert len(ev.files) + len(mo.files) == len(expected_files)
    assert all(f.status == "loaded" for f in ev.files + mo.files)
    for table, exp in world.manifest.tables.items():
        assert world.scalar(f"SELECT count(*) FROM {table}") == exp.rows, table
        if exp.net_amount is not None:
            assert fact_totals(world, table)[1] == Decimal(exp.net_amount), table
        if exp.active is not None and table.startswith("dim_") and table != "dim_sales_hierarchy":
            assert world.scalar(f"SELECT count(*) FROM {table} WHERE is_active") == exp.active, table
    ledger = world.scalar("SELECT count(*) FROM etl_file_ledger WHERE status = 'loaded'")
    assert ledger == len(expected_files)
    # Every file version balances: rows_in = loaded + quarantined + deduplicated.
    assert world.scalar(
        "SELECT count(*) FROM etl_file_ledger WHERE rows_in <> rows_loaded + rows_quarantined + rows_deduplicated"
    ) == 0
    # Derived tables were built from the loaded facts.
    assert world.scalar("SELECT count(*) FROM agg_dd_tsr_month") > 0
    assert world.scalar("SELECT sum(net_sales) FROM agg_dd_tsr_month") == fact_totals(world, "fact_secondary_sales")[1]
    assert world.scalar("SELECT sum(net_amount) FROM rpt_sales_daily") == fact_totals(world, "fact_secondary_sales")[1]
    assert world.scalar("SELECT fiscal_year FROM dim_date WHERE date_key = DATE '2026-03-31'") == "FY2025-26"
    assert world.scalar("SELECT fiscal_month FROM dim_date WHERE date_key = DATE '2026-04-01'") == 1
    constants = Variable.get(variable_name())  # datawiz-<env>-business-constants
    assert constants["constants"]["min_productive_bill_value"] == 100.0
    assert world.scalar("SELECT count(*) FROM etl_run_log WHERE status = 'completed'") == 2


def test_second_run_loads_nothing_and_changes_nothing(world: World) -> None:
    before = {t: world.scalar(f"SELECT count(*) FROM {t}") for t in world.manifest.tables}
    ev, mo = world.run("evening", "morning")
    assert ev.files == [] and mo.files == []
    after = {t: world.scalar(f"SELECT count(*) FROM {t}") for t in world.manifest.tables}
    assert after == before


def _a_fis_parquet(world: World) -> Path:
    return sorted(world.landing.glob("facts/fis/**/*.parquet"))[0]


def test_redelivered_fact_file_leaves_exactly_its_new_rows(world: World) -> None:
    path = _a_fis_parquet(world)
    rel = path.relative_to(world.landing).as_posix()
    old = pq.read_table(path)
    rows_before, net_before = fact_totals(world, "fact_secondary_sales")
    # Upstream re-sends the file: the last 10 lines are gone and line 1's amounts changed.
    new = old.slice(0, old.num_rows - 10)
    first_net = new.column("net_amount")[0].as_py()
    bump = Decimal("1.00")
    for name in ("gross_amount", "net_amount"):
        col = new.column(name).to_pylist()
        col[0] = col[0] + bump
        new = new.set_column(new.schema.get_field_index(name), name, pa.array(col, new.schema.field(name).type))
    pq.write_table(new, path)

    (mo,) = world.run("morning")
    assert [(f.path, f.status, f.stats.rows_loaded) for f in mo.files] == [(rel, "loaded", new.num_rows)]
    removed_net = Decimal(str(pc.sum(old.slice(old.num_rows - 10).column("net_amount")).as_py()))
    rows_after, net_after = fact_totals(world, "fact_secondary_sales")
    assert rows_after == rows_before - 10
    assert net_after == net_before - removed_net + bump
    in_file = world.scalar("SELECT count(*) FROM fact_secondary_sales WHERE _source_file = :f", {"f": rel})
    assert in_file == new.num_rows
    changed = world.scalar(
        "SELECT net_amount FROM fact_secondary_sales WHERE invoice_no = :i AND line_no = :l",
        {"i": new.column("invoice_no")[0].as_py(), "l": new.column("line_no")[0].as_py()},
    )
    assert changed == first_net + bump
    statuses = world.scalar(
        "SELECT string_agg(status, ',' ORDER BY status) FROM etl_file_ledger WHERE source_file = :f", {"f": rel}
    )
    assert statuses == "loaded,superseded"


def test_late_file_for_an_old_date_is_loaded(world: World) -> None:
    template = _a_fis_parquet(world)
    old_day = END - dt.timedelta(days=2)
    late = pq.read_table(template).slice(0, 25)
    late = late.set_column(late.schema.get_field_index("invoice_date"), "invoice_date",
                           pa.array([old_day] * late.num_rows, pa.date32()))
    numbers = [f"{doc}9{i:09d}" for i, doc in enumerate(late.column("doc_type").to_pylist())]
    late = late.set_column(late.schema.get_field_index("invoice_no"), "invoice_no", pa.array(numbers))
    rel = f"facts/fis/{old_day:%Y/%m/%d}/fis_{old_day:%Y%m%d}_009.parquet"
    (world.landing / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(late, world.landing / rel)
    rows_before, _ = fact_totals(world, "fact_secondary_sales")

    (mo,) = world.run("morning")
    assert [(f.path, f.status, f.stats.rows_loaded) for f in mo.files] == [(rel, "loaded", 25)]
    assert fact_totals(world, "fact_secondary_sales")[0] == rows_before + 25
    assert world.scalar(
        "SELECT count(*) FROM fact_secondary_sales WHERE invoice_date = :d AND _source_file = :f",
        {"d": old_day, "f": rel},
    ) == 25


def test_newer_snapshot_deactivates_missing_records_and_older_one_changes_nothing(world: World) -> None:
    latest = sorted(world.landing.glob("dimensions/retailer/retailer_*.parquet"))[-1]
    snap = pq.read_table(latest)
    dropped = snap.column("retailer_code").to_pylist()[:7]
    newer = snap.slice(7)
    day = END + dt.timedelta(days=1)
    pq.write_table(newer, world.landing / f"dimensions/retailer/retailer_{day:%Y%m%d}.parquet")
    total_before = world.scalar("SELECT count(*) FROM dim_retailer")

    (ev,) = world.run("evening")
    assert [(f.status, f.stats.rows_loaded) for f in ev.files] == [("loaded", newer.num_rows)]
    assert world.scalar("SELECT count(*) FROM dim_retailer") == total_before  # never deleted
    # After a full snapshot exactly its active records are active.
    assert world.scalar("SELECT count(*) FROM dim_retailer WHERE is_active") == pc.sum(newer["is_active"]).as_py()
    for code in dropped:
        assert world.scalar("SELECT is_active FROM dim_retailer WHERE retailer_code = :c", {"c": code}) is False

    # An older snapshot arriving late is recorded but never applied.
    stale = f"dimensions/retailer/retailer_{END - dt.timedelta(days=30):%Y%m%d}.parquet"
    pq.write_table(snap, world.landing / stale)
    (ev,) = world.run("evening")
    assert [(f.path, f.status) for f in ev.files] == [(stale, "superseded")]
    for code in dropped:
        assert world.scalar("SELECT is_active FROM dim_retailer WHERE retailer_code = :c", {"c": code}) is False

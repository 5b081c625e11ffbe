"""The registry drives every table list and rule; backends say what they can do; bookkeeping SQL lives in blocks/."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks.source import LocalFolderSource
from blocks.warehouse.base import sql_file
from blocks.warehouse.duckdb import DuckDBWarehouse
from blocks.warehouse.mysql import MySQLWarehouse
from blocks.warehouse.starrocks import StarRocksConnector
from datawiz.core.errors import ConfigError
from datawiz.core.registry import (
    BACKFILLABLE,
    CONSTANTS,
    CONTRACTS,
    DIMENSIONS,
    FACTS,
    FID,
    FIS,
    PRODUCT,
    TSR,
    Column,
    LoadMode,
    Origin,
    PathPattern,
    TableContract,
    dimension_paths,
    fact_paths,
    register,
    registered,
    scheduled,
    summary_tables,
)
from flows.evening import STEPS as EVENING_STEPS
from flows.morning import STEPS as MORNING_STEPS
from tasks.backfill import BACKFILL_TABLES, check_tables, require_pushdown
from tasks.report import SUMMARY_TABLES
from tasks.schemas import RULES, schema_for, table_rules

NEW_FACT = TableContract(
    name="returns", target_table="fact_returns", load_mode=LoadMode.FACT_UPSERT, paths=fact_paths("returns"),
    date_column="return_date",
    columns=(Column("return_no", "str", key=True), Column("return_date", "date"), Column("quantity", "int")),
)
NEW_DIMENSION = TableContract(
    name="plant", target_table="dim_plant", load_mode=LoadMode.SNAPSHOT_UPSERT, paths=dimension_paths("plant"),
    columns=(Column("plant_code", "str", key=True), Column("is_active", "bool")),
)


# ------------------------------------------------------------------------------------------ the lists
def test_the_lists_derived_from_the_registry_are_the_ones_there_were() -> None:
    assert tuple(DIMENSIONS) == ("product", "distributor", "retailer", "tsr")
    assert tuple(FACTS) == ("fis", "fid") == BACKFILL_TABLES == tuple(BACKFILLABLE)
    assert tuple(CONSTANTS) == ("business_constants",)
    assert [c.name for c in scheduled("morning")] == ["fis", "fid"]
    assert SUMMARY_TABLES == summary_tables() == (
        "dim_product", "dim_distributor", "dim_retailer", "dim_employee", "dim_sales_hierarchy", "dim_date",
        "business_constants", "fact_secondary_sales", "fact_primary_sales", "agg_dd_tsr_month",
        "agg_dd_outlet_month", "rpt_sales_daily")
    assert list(MORNING_STEPS) == ["wait_for_evening", "blob_backup", "fis", "fid", "dd", "reporting_views"]
    assert MORNING_STEPS["fis"] == "load new secondary-sales files (facts/fis), whatever their date"
    assert MORNING_STEPS["fid"] == "load new primary-dispatch files (facts/fid), whatever their date"
    assert EVENING_STEPS["dimension_sync"].startswith("apply new product/distributor/retailer/tsr snapshots")


def test_a_registered_table_joins_every_list_and_leaves_them_after() -> None:
    with registered(NEW_FACT, NEW_DIMENSION):
        assert "returns" in FACTS and "returns" in BACKFILLABLE and "plant" in DIMENSIONS
        assert list(MORNING_STEPS)[2:5] == ["fis", "fid", "returns"]
        assert "plant" in EVENING_STEPS["dimension_sync"]
        assert {"fact_returns", "dim_plant"} <= set(summary_tables())
        assert check_tables(["fis", "returns"]) == ["fis", "returns"]
    assert "returns" not in CONTRACTS and "plant" not in DIMENSIONS
    with pytest.raises(ValueError, match="choose from fis, fid"):
        check_tables(["returns"])


def test_maintenance_analyses_the_registered_tables() -> None:
    """sql/maintenance.sql's table lists come from the registry: a registered fact table is analysed too."""
    with registered(NEW_FACT, NEW_DIMENSION):
        mysql, starrocks = sql_file("mysql", "maintenance"), sql_file("starrocks", "maintenance")
        assert "fact_returns" in mysql and "dim_plant" in mysql
        assert "ANALYZE FULL TABLE fact_returns WITH ASYNC MODE" in starrocks
    assert "fact_returns" not in sql_file("mysql", "maintenance")


def test_registered_removes_its_tables_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), registered(NEW_FACT):
        raise RuntimeError("boom")
    assert "returns" not in CONTRACTS


@pytest.mark.parametrize(("contract", "message"), [
    (dataclasses.replace(NEW_FACT, name="fis"), "already registered"),
    (dataclasses.replace(NEW_FACT, target_table="fact_secondary_sales"), "belongs to fis"),
    (dataclasses.replace(NEW_FACT, target_table="rpt_sales_daily"), "belongs to a derived table"),
    (dataclasses.replace(NEW_FACT, paths=()), "no landing path"),
    (dataclasses.replace(NEW_FACT, paths=(PathPattern(r"returns/(?P<date>\d{8})\.csv", Origin.INCREMENTAL),)),
     "outside the listed prefixes"),
    (dataclasses.replace(NEW_FACT, date_column="returned_on"), "returned_on"),
])
def test_register_refuses_a_contract_that_clashes(contract: TableContract, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register(contract)
    assert CONTRACTS["fis"] is FIS


def test_schedule_and_backfill_follow_the_load_mode_and_the_paths() -> None:
    assert (FIS.schedule, PRODUCT.schedule, CONTRACTS["business_constants"].schedule) == (
        "morning", "evening", "evening")
    assert FIS.backfillable and not PRODUCT.backfillable
    history_less = dataclasses.replace(NEW_FACT, paths=fact_paths("returns")[:1])
    assert not history_less.backfillable


# ------------------------------------------------------------------------------------------ table rules
def test_table_rules_are_the_named_ones_in_their_order() -> None:
    assert [c.name for c in schema_for(FIS).checks] == [
        "doc_type_matches_invoice_prefix", "sign_matches_doc_type", "net_equals_gross_minus_discount_plus_tax"]
    assert [c.name for c in schema_for(TSR).checks] == ["manager_required_below_nsm"]
    assert schema_for(FID).checks == [] and schema_for(PRODUCT).checks == []
    assert set(RULES) == {"manager", "doc_type", "sign", "net_arithmetic"}


def test_no_rule_is_picked_by_column_names_alone() -> None:
    # fis's columns without its `rules`: no sign or arithmetic rule is guessed from the column names.
    bare = dataclasses.replace(FIS, name="fis_copy", rules=())
    assert schema_for(bare).checks == []


def test_an_unknown_rule_or_a_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown table rule\(s\) nope; known: manager, doc_type"):
        table_rules(dataclasses.replace(NEW_FACT, rules=("nope",)))
    with pytest.raises(ValueError, match="rule 'sign' needs column"):
        schema_for(dataclasses.replace(NEW_FACT, rules=("sign",)))


# ------------------------------------------------------------------------------------------ capabilities
def test_each_backend_says_what_it_can_do() -> None:
    duck = DuckDBWarehouse(path=":memory:")
    mysql = MySQLWarehouse(database="dw")
    starrocks = StarRocksConnector(database="dw")
    assert (duck.capabilities.dialect, mysql.capabilities.dialect, starrocks.capabilities.dialect) == (
        "duckdb", "mysql", "starrocks")
    assert [w.capabilities.stream_load for w in (duck, mysql, starrocks)] == [False, False, True]
    assert [w.capabilities.pushdown_files for w in (duck, mysql, starrocks)] == [False, False, True]
    with pytest.raises(dataclasses.FrozenInstanceError):
        duck.capabilities.stream_load = True  # type: ignore[misc]


def test_pushdown_is_refused_by_capability(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pushdown needs a StarRocks warehouse"):
        require_pushdown(LocalFolderSource(root=str(tmp_path)), DuckDBWarehouse(path=":memory:"))


# ------------------------------------------------------------------------------------------ bookkeeping tables
@pytest.fixture
def duck() -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(path=":memory:")
    wh.migrate()
    yield wh
    wh.close()


def test_run_log_methods(duck: DuckDBWarehouse) -> None:
    t0, t1 = dt.datetime(2025, 11, 20, 12, 30), dt.datetime(2025, 11, 20, 12, 45)
    duck.run_log_start("r1", "evening", dt.date(2025, 11, 20), t0)
    duck.run_log_start("r2", "evening", dt.date(2025, 11, 21), t0)
    duck.run_log_start("r2", "evening", dt.date(2025, 11, 21), t1)  # a retry of r2 rewrites its row
    assert duck.run_log_running() == {"r1": t0, "r2": t1}
    assert duck.run_log_completed("evening", dt.date(2025, 11, 1)) is None
    duck.run_log_finish("r1", "completed", t1, None)
    duck.run_log_end_running("r2", t0, "crashed", t1, "stale attempt")  # not the row's started_at: kept
    assert duck.run_log_running() == {"r2": t1}
    assert duck.run_log_completed("evening", dt.date(2025, 11, 20)) == dt.date(2025, 11, 20)
    assert duck.run_log_completed("evening", dt.date(2025, 11, 21)) is None
    duck.run_log_end_running("r2", t1, "crashed", t1, "Crashed in Prefect")
    runs = duck.run_log_runs(t0, t1 + dt.timedelta(seconds=1))
    assert [(r["flow"], r["status"], r["message"]) for r in runs] == [
        ("evening", "completed", None), ("evening", "crashed", "Crashed in Prefect")]


def test_watermark_methods(duck: DuckDBWarehouse) -> None:
    assert duck.watermark_get("post_load") is None
    duck.watermark_set("post_load", dt.date(2025, 11, 19), dt.datetime(2025, 11, 20, 3))
    duck.watermark_set("post_load", dt.date(2025, 11, 20), dt.datetime(2025, 11, 21, 3))
    mark = duck.watermark_get("post_load")
    assert mark is not None and (mark.value, mark.updated_at) == (dt.date(2025, 11, 20), dt.datetime(2025, 11, 21, 3))


def test_empty_ledger_and_quarantine(duck: DuckDBWarehouse) -> None:
    now = dt.datetime(2025, 11, 21)
    assert duck.ledger_newest_dates() == {} and duck.ledger_loaded_version("facts/fis/x.csv") is None
    assert duck.ledger_files(now - dt.timedelta(days=1), now) == [] == duck.ledger_loads(now, now)
    assert duck.ledger_loaded_days("fact_secondary_sales", now) == []
    assert duck.quarantined_rows("f", "v").num_rows == 0 and duck.quarantined_rows_of_run("r", 10) == []
    assert duck.quarantine_purge(now) == 0


def test_tasks_hold_no_sql_for_the_bookkeeping_tables() -> None:
    """Run log, watermark, ledger and quarantine SQL lives in blocks/warehouse/etl_tables.py, not in tasks/."""
    import ast

    tables = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(etl_run_log|etl_watermark|etl_file_ledger|etl_quarantine)\b",
                        re.IGNORECASE)
    found = []
    for path in sorted((Path(__file__).resolve().parents[2] / "tasks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and tables.search(node.value):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []

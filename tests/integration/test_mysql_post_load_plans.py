"""The post-load SQL's planner choices on MariaDB, read from the server's own EXPLAIN (sql/dd_month.sql).

- The DD's bills pass reads the (invoice_date, tsr_code) index alone ("Using index": InnoDB keeps the primary
  key, invoice_no, in every secondary index), never the rows; `force_index` makes MariaDB take it even when
  the month is most of the table.
- The product lookup joined to every line of the month is a MEMORY table (`temp_table(..., in_memory=true)`).

The results themselves are held by the DuckDB/MariaDB parity and the hand-computed DD tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from blocks.warehouse import base, resolve_warehouse
from blocks.warehouse.mysql import MySQLWarehouse, _exec
from datawiz.core.registry import FIS
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.test_per_file_index_paths import load_history

pytestmark = pytest.mark.integration

PARAMS = {"month_start": dt.date(2025, 11, 1), "month_end": dt.date(2025, 11, 30), "run_id": "run-plans",
          "loaded_at": dt.datetime(2025, 12, 1)}


def explain(cur: Any, statement: str) -> list[dict[str, Any]]:
    text, names = base.bind_style(statement, "pyformat")
    cur.execute("EXPLAIN " + text, {n: PARAMS[n] for n in names})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_mariadb_dd_counts_bills_from_the_date_index_and_looks_products_up_in_memory(
        mysql_url: str) -> None:  # noqa: F811
    wh = resolve_warehouse(mysql_url)
    assert isinstance(wh, MySQLWarehouse)
    try:
        wh.migrate()
        load_history(wh)
        statements = wh._statements(base.sql_file("mysql", "dd_month"))
        tsr_insert = next(i for i, s in enumerate(statements) if s.lstrip().startswith("INSERT INTO agg_dd_tsr_month"))
        with wh._cursor() as cur:
            for statement in statements[:tsr_insert]:  # the temporary tables the INSERT reads
                _exec(cur, statement, PARAMS)
            cur.execute("SHOW CREATE TABLE _dd_product")
            assert "ENGINE=MEMORY" in cur.fetchone()[1]
            plan = explain(cur, statements[tsr_insert])
            lines = [r for r in plan if r["table"] == FIS.target_table]
            assert len(lines) == 1, plan  # the bills pass: the only read of the fact table in this statement
            assert lines[0]["key"] == "ix_fis_date" and "Using index" in (lines[0]["Extra"] or ""), lines
    finally:
        wh.close()

"""Loading one file into MariaDB is atomic and exactly-once, even when the connection dies mid-load.

A big fis file is loaded while a second connection waits for the `LOAD DATA` to show up in the
process list and kills it (`KILL CONNECTION`). Afterwards the table holds none of the file's rows
and the ledger knows nothing of it; the retry loads exactly the file; a third attempt loads
nothing; a re-delivery of the path (rows removed and changed) replaces exactly its rows.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pytest

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import AlreadyLoaded
from datawiz.core.registry import FIS
from tasks.load import with_lineage
from tasks.validate import QUARANTINE_SCHEMA
from tests.integration.mariadb import admin_connection, mysql_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

BIG = 100_000
PATH = "facts/fis/2025/11/20/fis_20251120_001.parquet"
OTHER = "facts/fis/2025/11/20/fis_20251120_002.parquet"
DAY = dt.date(2025, 11, 20)


def fis_rows(n: int, first_invoice: int = 0) -> pa.Table:
    """n valid fis lines (two lines per invoice)."""
    idx = np.arange(n)
    invoice = pc.binary_join_element_wise(
        "INV", pc.utf8_lpad(pa.array(idx // 2 + first_invoice).cast(pa.string()), 10, "0"), "")
    cents = (idx % 997 + 100).astype(np.int64)

    def amount(values: np.ndarray) -> pa.Array:
        return pa.array([Decimal(int(c)).scaleb(-2) for c in values], pa.decimal128(14, 2))

    def const(value: object, typ: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, typ), n)

    return pa.table({
        "invoice_no": invoice,
        "line_no": pa.array(idx % 2 + 1, pa.int64()),
        "doc_type": const("INV", pa.string()),
        "invoice_date": const(DAY, pa.date32()),
        "distributor_code": const("D00001", pa.string()),
        "retailer_code": const("R0000001", pa.string()),
        "tsr_code": const("E00001", pa.string()),
        "sku_code": const("SKU000001", pa.string()),
        "quantity": pa.array(idx % 5 + 1, pa.int64()),
        "free_quantity": const(0, pa.int64()),
        "gross_amount": amount(cents),
        "discount_amount": amount(np.zeros(n, np.int64)),
        "tax_amount": amount(np.zeros(n, np.int64)),
        "net_amount": amount(cents),
        "updated_at": const(dt.datetime(2025, 11, 20, 10, 0, 0, 123456), pa.timestamp("us")),
    })


def entry_for(path: str, version: str, n: int) -> LedgerEntry:
    return LedgerEntry(
        source_file=path, source_version=version, table_name="fact_secondary_sales", status="loaded",
        stats=FileStats(rows_in=n, rows_loaded=n), run_id="test-run", started_at=dt.datetime.now(dt.UTC),
        business_date=DAY,
    )


def load(wh, path: str, version: str, rows: pa.Table) -> LedgerEntry:  # noqa: ANN001
    entry = entry_for(path, version, rows.num_rows)
    return wh.load_file(FIS, entry, with_lineage(rows, entry), QUARANTINE_SCHEMA.empty_table())


def totals(wh, where: str = "1=1") -> tuple[int, Decimal]:  # noqa: ANN001
    row = wh.query(f"SELECT count(*) AS n, coalesce(sum(net_amount), 0) AS s FROM fact_secondary_sales "
                   f"WHERE {where}").to_pylist()[0]
    return int(row["n"]), Decimal(row["s"])


def kill_load_when_running(admin: pymysql.connections.Connection, database: str, stop: threading.Event) -> list[int]:
    """Poll the process list; KILL the connection running LOAD DATA in `database`. Returns killed ids."""
    killed: list[int] = []
    with admin.cursor() as cur:
        while not stop.is_set() and not killed:
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND info LIKE 'LOAD DATA%%'",
                        (database,))
            for (conn_id,) in cur.fetchall():
                time.sleep(0.2)  # let part of the file reach the table first
                cur.execute(f"KILL CONNECTION {int(conn_id)}")
                killed.append(int(conn_id))
            time.sleep(0.005)
    return killed


def test_killed_load_leaves_nothing_and_retry_loads_exactly_once(
    mysql_url: str, admin_connection: pymysql.connections.Connection  # noqa: F811
) -> None:
    database = urlsplit(mysql_url).path.lstrip("/")
    # After KILL the server stops reading the upload without closing the socket: a short write
    # timeout ends the client's wait in seconds instead of the default minute.
    wh = resolve_warehouse(mysql_url + "?write_timeout=3")
    wh.migrate()
    big = fis_rows(BIG)
    expected_sum = Decimal(pc.sum(big["net_amount"]).as_py())
    other = fis_rows(10, first_invoice=10_000_000)
    load(wh, OTHER, "o1", other)  # another file's rows must survive everything below

    # 1. Kill the connection while LOAD DATA runs: nothing of the file, nothing in the ledger.
    stop, outcome = threading.Event(), {}

    def loader() -> None:
        try:
            load(wh, PATH, "v1", big)
            outcome["result"] = "loaded"
        except Exception as exc:  # noqa: BLE001  (the failure is what we check)
            outcome["result"] = exc
        finally:
            stop.set()

    thread = threading.Thread(target=loader)
    thread.start()
    killed = kill_load_when_running(admin_connection, database, stop)
    thread.join(timeout=120)
    assert killed, f"the LOAD DATA finished before it could be killed: {outcome}"
    assert isinstance(outcome["result"], pymysql.err.OperationalError), outcome
    assert totals(wh, f"_source_file = '{PATH}'") == (0, Decimal(0))
    assert (PATH, "v1") not in wh.ledger_versions()
    assert wh.query("SELECT count(*) AS n FROM etl_quarantine")["n"][0].as_py() == 0

    # 2. The retry (same block: it reconnects by itself) loads the file exactly.
    done = load(wh, PATH, "v1", big)
    assert done.status == "loaded"
    assert totals(wh, f"_source_file = '{PATH}'") == (BIG, expected_sum)
    assert totals(wh) == (BIG + 10, expected_sum + Decimal(pc.sum(other["net_amount"]).as_py()))

    # 3. Running it again loads nothing.
    with pytest.raises(AlreadyLoaded):
        load(wh, PATH, "v1", big)
    assert totals(wh, f"_source_file = '{PATH}'") == (BIG, expected_sum)

    # 4. Re-delivery: the last 1,000 rows removed, the first 500 changed -> exactly the new content.
    v2 = big.slice(0, BIG - 1000)
    changed = pc.add(v2["net_amount"].slice(0, 500), pa.scalar(Decimal("1.00"), pa.decimal128(14, 2)))
    net = pa.concat_arrays([changed.combine_chunks().cast(pa.decimal128(14, 2)),
                            v2["net_amount"].slice(500).combine_chunks()])
    v2 = v2.set_column(v2.schema.get_field_index("net_amount"), "net_amount", net)
    load(wh, PATH, "v2", v2)
    v2_sum = Decimal(pc.sum(v2["net_amount"]).as_py())
    assert v2_sum == expected_sum - Decimal(pc.sum(big["net_amount"].slice(BIG - 1000)).as_py()) + 500
    assert totals(wh, f"_source_file = '{PATH}'") == (BIG - 1000, v2_sum)
    assert totals(wh, "_source_version = 'v1'") == (0, Decimal(0))
    assert totals(wh, f"_source_file = '{OTHER}'") == (10, Decimal(pc.sum(other["net_amount"]).as_py()))
    ledger = wh.query("SELECT source_version, status FROM etl_file_ledger WHERE source_file = :p "
                      "ORDER BY source_version", {"p": PATH}).to_pylist()
    assert ledger == [{"source_version": "v1", "status": "superseded"},
                      {"source_version": "v2", "status": "loaded"}]
    wh.close()


def test_load_rejects_values_mysql_would_silently_mangle(mysql_url: str) -> None:  # noqa: F811
    """A value the table cannot hold fails the load (strict mode: an error; otherwise LOAD DATA LOCAL
    only warns, and the block turns any warning into an error) — nothing is truncated and committed."""
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    rows = fis_rows(3)
    too_long = pa.array(["INV" + "9" * 100, "INV0000000000", "INV0000000000"])
    rows = rows.set_column(0, "invoice_no", too_long)
    with pytest.raises(pymysql.err.DataError, match="too long|warning"):
        load(wh, PATH, "bad", rows)
    assert totals(wh) == (0, Decimal(0))
    assert wh.ledger_versions() == set()
    # A leniently configured server (strict mode off) only warns: the block's warning check refuses.
    wh.execute("SET SESSION sql_mode = ''")  # this thread's connection is reused by the next call
    with pytest.raises(pymysql.err.DataError, match="warning"):
        load(wh, PATH, "bad", rows)
    assert totals(wh) == (0, Decimal(0))
    assert wh.ledger_versions() == set()
    wh.close()


def test_a_load_refused_before_reading_its_pipe_does_not_hang(mysql_url: str) -> None:  # noqa: F811
    """The CSV writer thread blocks on the named pipe until LOAD DATA opens it; a statement the
    server refuses up front never opens it, and the writer must still be released."""
    from blocks.warehouse.mysql import _load_data, csv_pipe

    wh = resolve_warehouse(mysql_url)
    rows = fis_rows(50_000)
    started = time.perf_counter()
    with pytest.raises(pymysql.err.ProgrammingError), wh._cursor(transaction=True) as cur, csv_pipe(rows) as path:
        _load_data(cur, "no_such_table", rows.column_names, path, rows.num_rows)
    assert time.perf_counter() - started < 10
    assert not [t for t in threading.enumerate() if t.name == "datawiz-csv"]
    wh.close()


def test_replay_loads_fixed_rows_and_moves_them_in_the_ledger(mysql_url: str) -> None:  # noqa: F811
    """replay_rows (quarantine replay after a contract fix): rows upserted, quarantine and ledger in step."""
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    rows = fis_rows(12)
    entry = entry_for(PATH, "v1", 12)
    entry.stats.rows_loaded, entry.stats.rows_quarantined = 10, 2
    quarantine = pa.table({"row_number": pa.array([11, 12], pa.int64()), "quarantined_key": pa.array([None, None],
                           pa.string()), "row_json": ["{}", "{}"], "rules": ["[]", "[]"]}, schema=QUARANTINE_SCHEMA)
    wh.load_file(FIS, entry, with_lineage(rows.slice(0, 10), entry), quarantine)
    assert totals(wh)[0] == 10
    wh.replay_rows(FIS, entry, with_lineage(rows.slice(10), entry), [11, 12])
    assert totals(wh) == (12, Decimal(sum(rows["net_amount"].to_pylist())))
    assert wh.query("SELECT count(*) AS n FROM etl_quarantine")["n"][0].as_py() == 0
    ledger = wh.query("SELECT rows_in, rows_loaded, rows_quarantined, rows_deduplicated FROM etl_file_ledger")
    assert ledger.to_pylist() == [{"rows_in": 12, "rows_loaded": 12, "rows_quarantined": 0, "rows_deduplicated": 0}]
    wh.close()

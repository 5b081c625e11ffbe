"""StarRocksConnector end to end against the StarRocks stand-in (tests/integration/starrocks_cluster.py):
the StarRocks DDL and SQL run on the SQL stand-in, data goes through Stream Load to the HTTP FE/BE, whose
BE writes through the same Primary Key write path into the same tables.

Proves the exactly-once story of the StarRocks path: a crash after some batches committed leaves no
ledger row; the retry re-sends the same labels, counts the committed batches once, loads the rest
and only then writes the ledger row; a re-run loads nothing; a re-delivery replaces exactly. And what a
real cluster would have broken (issue 14): long paths against the 128-byte key limit, a quarantined row
over STRING's 65,533 bytes, two runs racing for one ledger row on a Primary Key table, asynchronous
view refreshes on every load, replicas on a one-BE cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse import resolve_warehouse
from blocks.warehouse import sql_builders as sb
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.starrocks import StarRocksConnector, ledger_label
from blocks.warehouse.stream_load import StreamLoadUnavailable, label_for
from datawiz.core.registry import FIS
from datawiz.starrocks_selftest import run_selftest
from tasks.lineage import with_lineage
from tasks.validate import QUARANTINE_SCHEMA
from tests.integration.fake_starrocks import Script
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.starrocks_cluster import StarRocksCluster, starrocks_cluster, start_cluster  # noqa: F401
from tests.integration.test_mysql_load_atomicity import PATH, entry_for, fis_rows, load, totals

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(starrocks_cluster: StarRocksCluster) -> Iterator[StarRocksCluster]:  # noqa: F811
    resolve_warehouse(starrocks_cluster.url()).migrate()
    yield starrocks_cluster


def connector(cluster: StarRocksCluster, **options: object) -> StarRocksConnector:
    wh = resolve_warehouse(cluster.url(batch_rows=10, **options))
    assert isinstance(wh, StarRocksConnector)
    return wh


def test_crash_between_batches_then_retry_counts_every_batch_once(cluster: StarRocksCluster) -> None:
    rows = fis_rows(25)
    expected = (25, Decimal(sum(rows["net_amount"].to_pylist())))
    # Batch 1 commits on the BE but its answer is lost: the "process" dies there.
    cluster.http.scripts[label_for("fact_secondary_sales", PATH, "v1", 1)] = Script("Drop")
    first = connector(cluster)
    with pytest.raises(StreamLoadUnavailable):
        load(first, PATH, "v1", rows)
    first.close()
    assert totals(first) == (20, Decimal(sum(rows["net_amount"].to_pylist()[:20])))  # batches 0 and 1 visible
    assert first.ledger_versions() == set(), "no ledger row before every batch is visible"

    retry = connector(cluster)
    entry = load(retry, PATH, "v1", rows)
    assert entry.status == "loaded" and entry.load_label.endswith("_2")
    assert totals(retry) == expected
    assert len(cluster.http.bodies) == 3, "the two committed batches were not sent again"
    assert retry.ledger_versions() == {(PATH, "v1")}

    with pytest.raises(AlreadyLoaded):
        load(retry, PATH, "v1", rows)
    assert len(cluster.http.bodies) == 3 and totals(retry) == expected

    # Re-delivery: 5 rows removed, the first row changed -> the path holds exactly the new content.
    v2 = rows.slice(0, 20)
    net = v2["net_amount"].to_pylist()
    net[0] += Decimal("1.00")
    v2 = v2.set_column(v2.schema.get_field_index("net_amount"), "net_amount",
                       pa.array(net, v2.schema.field("net_amount").type))
    load(retry, PATH, "v2", v2)
    assert totals(retry) == (20, Decimal(sum(net)))
    assert totals(retry, "_source_version = 'v1'") == (0, Decimal(0))
    statuses = retry.query("SELECT source_version, status FROM etl_file_ledger ORDER BY source_version").to_pylist()
    assert statuses == [{"source_version": "v1", "status": "superseded"}, {"source_version": "v2", "status": "loaded"}]
    retry.close()


def test_describe_and_errors_never_show_the_password(cluster: StarRocksCluster) -> None:
    sr = StarRocksConnector(host=cluster.sql.host, port=cluster.sql.port, user=cluster.sql.user,
                            password="hunter2-secret", database=cluster.sql.database, http_port=cluster.http.fe_port)
    assert "hunter2" not in sr.describe() and "hunter2" not in repr(sr) and "hunter2" not in repr(sr.stream_client())
    with pytest.raises(pymysql.err.OperationalError) as err:  # the FE refuses the wrong password
        sr.query("SELECT 1")
    assert "hunter2" not in str(err.value)


# ------------------------------------------------------------------------------------------ issue 14
LONG = "facts/fis/2025/11/20/" + "a-long-landing-prefix-that-a-real-container-has/" * 2 + "fis_20251120_001.parquet"


def test_long_paths_fit_the_128_byte_primary_key_limit(cluster: StarRocksCluster) -> None:
    """(source_file, source_version) as the key passes 128 encoded bytes with a long path (the stand-in
    refuses it as StarRocks does: "primary key size exceed the limit."); file_key keeps it at 64."""
    assert len(LONG) + 2 + len("0x8DC1A2B3C4D5E6F") > 128
    wh = connector(cluster)
    entry = load(wh, LONG, "0x8DC1A2B3C4D5E6F", fis_rows(4))
    assert entry.status == "loaded"
    row = wh.query("SELECT file_key, source_file FROM etl_file_ledger").to_pylist()
    assert row == [{"file_key": sb.file_key(LONG, "0x8DC1A2B3C4D5E6F"), "source_file": LONG}]


def test_the_old_composite_key_is_refused_by_the_stand_in(cluster: StarRocksCluster) -> None:
    """The stand-in really enforces the limit on a (VARCHAR(512), VARCHAR(128)) key — what V001's ledger had."""
    wh = connector(cluster)
    wh.execute("CREATE TABLE old_ledger (source_file VARCHAR(512) NOT NULL, source_version VARCHAR(128) NOT NULL, "
               "n BIGINT) PRIMARY KEY (source_file, source_version) DISTRIBUTED BY HASH (source_file) "
               'PROPERTIES ("replication_num" = "1")')
    with pytest.raises(pymysql.err.Error, match="primary key size exceed the limit"):
        wh.execute("INSERT INTO old_ledger VALUES (:f, :v, 1)", {"f": LONG, "v": "0x8DC1A2B3C4D5E6F"})


def test_a_quarantined_row_over_65533_bytes_does_not_fail_the_file(cluster: StarRocksCluster) -> None:
    wh = connector(cluster)
    rows = fis_rows(6)
    entry = entry_for(PATH, "v1", 7)
    bad = pa.table({"row_number": pa.array([7], pa.int64()), "quarantined_key": pa.array([None], pa.string()),
                    "row_json": [json.dumps({"invoice_no": "X" * 70_000})], "rules": ["invoice_no: too long"]},
                   schema=QUARANTINE_SCHEMA)
    wh.load_file(FIS, entry, with_lineage(rows, entry), bad)
    stored = wh.query("SELECT row_json FROM etl_quarantine").to_pylist()
    marker = json.loads(stored[0]["row_json"])
    assert marker[sb.TRUNCATED_KEY]["bytes"] > 70_000
    assert wh.ledger_versions() == {(PATH, "v1")}


def _entry(run_id: str) -> LedgerEntry:
    return LedgerEntry(PATH, "v1", "fact_secondary_sales", "loaded", FileStats(rows_in=3, rows_loaded=3), run_id,
                       dt.datetime.now(dt.UTC), dt.date(2025, 11, 20))


def test_two_runs_racing_for_one_ledger_row_one_wins(cluster: StarRocksCluster) -> None:
    """A Primary Key table upserts (no 1062): without the label both runs would record the version."""
    wh = connector(cluster)
    with wh._cursor() as cur:
        wh._write_ledger(cur, _entry("run-a"))
        with pytest.raises(AlreadyLoaded):
            wh._write_ledger(cur, _entry("run-b"))
        wh._write_ledger(cur, _entry("run-a"))  # a retried task of the winner: its own row, not an error
    assert wh.query("SELECT run_id FROM etl_file_ledger").to_pylist() == [{"run_id": "run-a"}]
    assert cluster.sql.labels[ledger_label(sb.file_key(PATH, "v1"))] == "VISIBLE"


def test_ledger_label_held_by_a_running_insert_is_waited_for(cluster: StarRocksCluster) -> None:
    """"Label already used" also answers while the other INSERT still runs (PREPARED): wait, then decide."""
    wh = connector(cluster)
    label = ledger_label(sb.file_key(PATH, "v1"))
    cluster.sql.labels[label] = "PREPARED"
    cluster.http.scripts[label] = Script(states=["PREPARED", "ABORTED"])  # the other attempt gives up
    with wh._cursor() as cur:
        wh._write_ledger(cur, _entry("run-a"))  # the label is free again: our INSERT goes in
    assert wh.query("SELECT run_id FROM etl_file_ledger").to_pylist() == [{"run_id": "run-a"}]


def test_loads_do_not_refresh_the_report_view_only_the_run_does(cluster: StarRocksCluster) -> None:
    wh = connector(cluster)
    before = cluster.sql.refreshes.get("rpt_sales_daily", 0)
    load(wh, PATH, "v1", fis_rows(25))  # three Stream Load batches and the SQL after them
    assert cluster.sql.refreshes.get("rpt_sales_daily", 0) == before, "an ASYNC view refreshed on every load"
    wh.run_sql_file("rpt_sales_daily", {"start": dt.date(2025, 11, 1), "end": dt.date(2025, 11, 30)})
    assert cluster.sql.refreshes["rpt_sales_daily"] == before + 1


def test_one_backend_cluster_gets_one_replica(mysql_url: str) -> None:  # noqa: F811
    """default_replication_num 3 on one BE refuses a CREATE without replication_num (the stand-in as StarRocks)."""
    cluster = start_cluster(mysql_url, backends=1)
    try:
        wh = connector(cluster)
        assert wh.replicas() == 1
        assert "V001__core.sql" in wh.migrate()
        with pytest.raises(pymysql.err.Error, match="replication"):
            wh.execute("CREATE TABLE t_default (k INT NOT NULL) PRIMARY KEY (k) DISTRIBUTED BY HASH (k)")
        pinned = connector(cluster, replication_num=1)
        assert pinned.replicas() == 1
    finally:
        cluster.close()


def test_temporary_tables_need_3_3_1_and_the_selftest_says_so(mysql_url: str) -> None:  # noqa: F811
    """The transforms' temporary tables exist from 3.3.1 (docs table_design/temporary_table), not 3.3: on a
    3.3.0 FE the schema installs but the DD SQL fails, and `datawiz starrocks selftest` names the floor."""
    cluster = start_cluster(mysql_url, version="3.3.0")
    try:
        wh = connector(cluster)
        wh.migrate()
        params = {"month_start": dt.date(2025, 11, 1), "month_end": dt.date(2025, 11, 30), "run_id": "r",
                  "loaded_at": dt.datetime(2025, 11, 30)}
        with pytest.raises(pymysql.err.Error, match="TEMPORARY"):
            wh.run_sql_file("dd_month", params)
        results = {r.feature: r for r in run_selftest(wh)}
        assert results["version"].status == "FAIL" and "3.3.1" in results["version"].detail
    finally:
        cluster.close()


def test_the_next_batch_is_read_and_encoded_while_one_is_being_sent(cluster: StarRocksCluster) -> None:
    # Batch 0 answers "Publish Timeout" and stays COMMITTED for one poll (the connector polls every second), so
    # sending it takes over a second. The next batch must be pulled (then encoded) meanwhile, not after it.
    rows = fis_rows(30)
    entry = entry_for(PATH, "v1", 30)
    data = with_lineage(rows, entry)
    cluster.http.scripts[label_for("fact_secondary_sales", PATH, "v1", 0)] = Script(
        "Publish Timeout", states=["COMMITTED", "VISIBLE"])
    pulled: list[float] = []

    def batches() -> Iterator[pa.Table]:
        for start in range(0, 30, 10):
            pulled.append(time.monotonic())
            yield data.slice(start, 10)

    wh = connector(cluster)
    started = time.monotonic()
    wh._stream("fact_secondary_sales", entry, batches())
    seconds = time.monotonic() - started
    wh.close()
    assert seconds >= 1.0, "batch 0 waited for its publish"
    assert pulled[1] - pulled[0] < 0.5 * seconds, "batch 1 was read while batch 0 was still being sent"
    assert totals(wh) == (30, Decimal(sum(rows["net_amount"].to_pylist())))

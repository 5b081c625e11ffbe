"""StarRocksConnector.load_file end to end: SQL on MariaDB (same protocol and driver), data through
Stream Load to the fake FE/BE, whose BE writes what it accepts into the same MariaDB tables.

Proves the exactly-once story of the StarRocks path: a crash after some batches committed leaves no
ledger row; the retry re-sends the same labels, counts the committed batches once, loads the rest
and only then writes the ledger row; a re-run loads nothing; a re-delivery replaces exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from urllib.parse import urlsplit

import pyarrow as pa
import pymysql
import pytest

from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.starrocks import StarRocksConnector
from blocks.warehouse.stream_load import StreamLoadUnavailable, label_for
from tests.integration.fake_starrocks import FakeStarRocks, Row, Script
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.test_mysql_load_atomicity import PATH, fis_rows, load, totals

pytestmark = pytest.mark.integration


def mariadb_sink(url: str) -> Callable[[str, list[Row]], None]:
    """What the fake BE does with accepted rows: upsert them by primary key, like a PK table."""
    parts = urlsplit(url)

    def sink(table: str, rows: list[Row]) -> None:
        conn = pymysql.connect(host=parts.hostname, port=parts.port, user=parts.username,
                               database=parts.path.lstrip("/"), autocommit=True)
        with conn, conn.cursor() as cur:
            cols = list(rows[0])
            cur.executemany(
                f"REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                [[{"true": 1, "false": 0}.get(v, v) if isinstance(v, str) else v for v in r.values()] for r in rows],
            )

    return sink


@pytest.fixture
def cluster(mysql_url: str) -> Iterator[tuple[FakeStarRocks, str]]:  # noqa: F811
    resolve_warehouse(mysql_url).migrate()  # MySQL DDL: the StarRocks DDL cannot run on MariaDB
    fake = FakeStarRocks(user="root", password="", sink=mariadb_sink(mysql_url))
    yield fake, mysql_url
    fake.close()


def connector(fake: FakeStarRocks, url: str) -> StarRocksConnector:
    parts = urlsplit(url)
    return StarRocksConnector(host=parts.hostname, port=parts.port, user="root", database=parts.path.lstrip("/"),
                              http_port=int(fake.fe_url.rsplit(":", 1)[1]), batch_rows=10)


def test_crash_between_batches_then_retry_counts_every_batch_once(cluster: tuple[FakeStarRocks, str]) -> None:
    fake, url = cluster
    rows = fis_rows(25)
    expected = (25, Decimal(sum(rows["net_amount"].to_pylist())))
    # Batch 1 commits on the BE but its answer is lost: the "process" dies there.
    fake.scripts[label_for("fact_secondary_sales", PATH, "v1", 1)] = Script("Drop")
    first = connector(fake, url)
    with pytest.raises(StreamLoadUnavailable):
        load(first, PATH, "v1", rows)
    first.close()
    assert totals(first) == (20, Decimal(sum(rows["net_amount"].to_pylist()[:20])))  # batches 0 and 1 visible
    assert first.ledger_versions() == set(), "no ledger row before every batch is visible"

    retry = connector(fake, url)
    entry = load(retry, PATH, "v1", rows)
    assert entry.status == "loaded" and entry.load_label.endswith("_2")
    assert totals(retry) == expected
    assert len(fake.bodies) == 3, "the two committed batches were not sent again"
    assert retry.ledger_versions() == {(PATH, "v1")}

    with pytest.raises(AlreadyLoaded):
        load(retry, PATH, "v1", rows)
    assert len(fake.bodies) == 3 and totals(retry) == expected

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


def test_describe_and_errors_never_show_the_password(cluster: tuple[FakeStarRocks, str]) -> None:
    fake, url = cluster
    parts = urlsplit(url)
    sr = StarRocksConnector(host=parts.hostname, port=parts.port, user="root", password="hunter2-secret",
                            database=parts.path.lstrip("/"), http_port=int(fake.fe_url.rsplit(":", 1)[1]))
    assert "hunter2" not in sr.describe() and "hunter2" not in repr(sr) and "hunter2" not in repr(sr.stream_client())
    with pytest.raises(pymysql.err.OperationalError) as err:  # MariaDB refuses the wrong password
        sr.query("SELECT 1")
    assert "hunter2" not in str(err.value)

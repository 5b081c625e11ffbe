"""Row-level security on MariaDB: two real logins, two regions, each sees only its own rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymysql
import pytest

from blocks.warehouse import resolve_warehouse

pytestmark = pytest.mark.integration
TS = "2025-11-20 10:00:00"


def _fact(invoice: str, distributor: str) -> tuple:
    return (invoice, 1, "INV", "2025-11-20", distributor, "R0000001", "E00006", "SKU000001", 1, 0,
            "100.00", "0.00", "0.00", "100.00", TS, "f.csv", "v1", TS, "run")


@pytest.fixture
def secured(mysql_url: str, admin_connection: pymysql.connections.Connection) -> Iterator[tuple[str, dict]]:
    """A migrated database with one West and one North distributor, 2 + 1 fact rows, and two readers."""
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    wh.close()
    db = mysql_url.rsplit("/", 1)[1]
    users = {f"dw_west_{uuid.uuid4().hex[:6]}": "West", f"dw_north_{uuid.uuid4().hex[:6]}": "North"}
    with admin_connection.cursor() as cur:
        cur.execute(f"USE {db}")
        cur.executemany(
            "INSERT INTO dim_distributor VALUES "
            "(%s, 'n', 'c', 's', %s, 'Urban', '2020-01-01', 1, %s, 'f', 'v', %s, 'r')",
            [("D00001", "West", TS, TS), ("D00002", "North", TS, TS)],
        )
        cur.executemany("INSERT INTO fact_secondary_sales VALUES (" + ", ".join(["%s"] * 19) + ")",
                        [_fact("INV0000000001", "D00001"), _fact("INV0000000002", "D00001"),
                         _fact("INV0000000003", "D00002")])
        for user, region in users.items():
            cur.execute("INSERT INTO sec_user_region (user_name, region) VALUES (%s, %s)", (user, region))
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'Reader-pw-1'")
            cur.execute(f"GRANT SELECT ON {db}.v_secondary_sales_secure TO '{user}'@'%'")
    try:
        yield db, users
    finally:
        with admin_connection.cursor() as cur:
            for user in users:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def _as(user: str, db: str, sql: str) -> list[tuple]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user=user, password="Reader-pw-1", database=db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_each_user_sees_only_the_rows_of_its_regions(secured: tuple[str, dict]) -> None:
    db, users = secured
    west, north = list(users)
    sql = "SELECT invoice_no FROM v_secondary_sales_secure ORDER BY invoice_no"
    assert _as(west, db, sql) == [("INV0000000001",), ("INV0000000002",)]
    assert _as(north, db, sql) == [("INV0000000003",)]


def test_readers_cannot_read_the_base_table(secured: tuple[str, dict]) -> None:
    db, users = secured
    with pytest.raises(pymysql.err.OperationalError, match="denied"):
        _as(next(iter(users)), db, "SELECT count(*) FROM fact_secondary_sales")

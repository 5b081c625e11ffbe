"""The whole StarRocks stand-in: the SQL FE (starrocks_standin) and the HTTP FE/BE (fake_starrocks) as one cluster.

Stream Load rows the BE accepts go through the SQL stand-in's write path (Primary Key upsert, 128-byte
key limit, VARCHAR byte limits) into the same MariaDB tables the SQL side reads, and both sides share
one label registry: labels are unique per database across all load types (Stream Load, INSERT WITH
LABEL; docs loading/Loading_intro "label"), and get_load_state reports any of them.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.fake_starrocks import FakeStarRocks, RefusedRows, Row
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.starrocks_standin import StandinRefused, StarRocksStandin


@dataclass
class StarRocksCluster:
    """A started stand-in cluster; `url()` is a warehouse URL for `resolve_warehouse`."""

    sql: StarRocksStandin
    http: FakeStarRocks

    def url(self, **query: Any) -> str:
        """starrocks://user:pw@host:port/db?http_port=<FE HTTP>[&...] (http_scheme=https when the FE has TLS)."""
        options = {"http_port": str(self.http.fe_port), **{k: str(v) for k, v in query.items()}}
        if self.http.fe_scheme == "https":
            options.setdefault("http_scheme", "https")
        return self.sql.url(**options)

    def close(self) -> None:
        self.http.close()
        self.sql.close()


def start_cluster(backing_url: str, *, host: str = "127.0.0.1", sql_ssl: ssl.SSLContext | None = None,
                  fe_ssl: ssl.SSLContext | None = None, **standin: Any) -> StarRocksCluster:
    """SQL stand-in over `backing_url` (a MariaDB database) + HTTP FE/BE whose BE writes through it."""
    sql = StarRocksStandin(backing_url, host=host, ssl=sql_ssl, **standin)

    def sink(database: str, table: str, rows: list[Row]) -> None:
        try:
            sql.write_rows(table, rows, database=database)
        except StandinRefused as exc:
            raise RefusedRows(str(exc)) from None

    http = FakeStarRocks(user=sql.user, password=sql.password, sink=sink, host=host, fe_ssl=fe_ssl, labels=sql.labels)
    return StarRocksCluster(sql, http)


@pytest.fixture
def starrocks_cluster(mysql_url: str) -> Iterator[StarRocksCluster]:  # noqa: F811
    """A stand-in StarRocks cluster on loopback over a fresh MariaDB database."""
    cluster = start_cluster(mysql_url)
    try:
        yield cluster
    finally:
        cluster.close()

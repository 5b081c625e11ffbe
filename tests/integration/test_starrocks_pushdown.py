"""Contract tests of the StarRocks pushdown load (`INSERT ... WITH LABEL ... SELECT ... FROM FILES()`).

No StarRocks runs here. The connector's SQL goes to MariaDB (same protocol, same driver) through a
cursor wrapper that plays the FE for the one StarRocks-only statement: it records the labelled
INSERT exactly as it would be sent, "reads the Parquet" (the rows the test put under that wasbs://
URL), inserts them with the bound lineage values, and applies StarRocks' label semantics — a label
used before is answered `Label [..] has already been used`. Every other statement (ledger, DELETE
of the superseded version, orphan count) runs on MariaDB for real.

Proves: the label is deterministic and identical on retry; the statement has the documented shape
(the SELECT part parses with sqlglot's StarRocks dialect; `WITH LABEL` is known not to); a crash
after the INSERT committed is retried to one copy of the rows and one ledger row; a re-delivery
replaces the path's rows; the shared key appears in no log record, exception text or traceback, and
no description; values that cannot be placed in FILES() are refused before anything is sent.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import re
import traceback
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pymysql
import pytest
import sqlglot
from pydantic import SecretStr
from sqlglot import exp

from blocks.types import FileStats, LedgerEntry
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.files_load import LINEAGE, AzureFiles, PushdownRefused, files_label
from blocks.warehouse.starrocks import StarRocksConnector
from tasks.contracts import FIS
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.test_mysql_load_atomicity import fis_rows, totals

pytestmark = pytest.mark.integration

PATH = "historical/fis/2024/01/fis_202401_001.parquet"
KEY = base64.b64encode(os.urandom(64)).decode()
FILES = AzureFiles("dwlanding", "landing", SecretStr(KEY))
_LABEL = re.compile(r"\bWITH LABEL (\S+) ")


def files_call(select: exp.Expression) -> exp.Anonymous:
    """The FILES(...) table function of a parsed SELECT."""
    return next(a for a in select.find_all(exp.Anonymous) if a.name.upper() == "FILES")


class FakeFE:
    """The StarRocks side of the labelled INSERT: label registry, Parquet 'files', what was sent."""

    def __init__(self) -> None:
        self.files: dict[str, pa.Table] = {}  # wasbs URL -> the rows of the Parquet file
        self.labels: set[str] = set()  # committed labels
        self.sent: list[str] = []  # every labelled INSERT, as sent (parameters interpolated)
        self.statements: list[str] = []  # every statement the connector ran
        self.crash_after_commit = False
        self.echo_error = False  # fail, quoting the whole statement back (as some servers do)

    def insert(self, cur: pymysql.cursors.Cursor, sql: str, params: tuple[Any, ...]) -> int:
        text = cur.mogrify(sql, params)
        self.sent.append(text)
        label = _LABEL.search(sql).group(1)
        if self.echo_error:
            raise pymysql.err.OperationalError(1064, f"Access denied for FILES(): {text}")
        if label in self.labels:
            raise pymysql.err.InternalError(5025, f"Label [{label}] has already been used.")
        select = sqlglot.parse_one(text[text.index("SELECT "):], read="starrocks")
        props = {e.this.this: e.expression.this for e in files_call(select).expressions}
        rows = self.files[props["path"]]
        target = re.match(r"INSERT INTO (\w+) ", sql).group(1)
        path, version, run_id = params
        stamped = [(*r.values(), path, version, dt.datetime(2026, 1, 1), run_id) for r in rows.to_pylist()]
        cols = ", ".join(f"`{c}`" for c in (*rows.column_names, *LINEAGE))
        cur.executemany(f"REPLACE INTO {target} ({cols}) VALUES ({', '.join(['%s'] * len(stamped[0]))})", stamped)
        self.labels.add(label)
        if self.crash_after_commit:
            self.crash_after_commit = False
            raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
        return len(stamped)


class CursorProxy:
    """A pymysql cursor whose labelled INSERTs go to the fake FE; everything else runs on MariaDB."""

    def __init__(self, cur: pymysql.cursors.Cursor, fe: FakeFE) -> None:
        self._cur, self._fe = cur, fe

    def execute(self, sql: str, params: Any = None) -> int:
        self._fe.statements.append(sql)
        if " WITH LABEL " in sql:
            return self._fe.insert(self._cur, sql, params)
        return self._cur.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


@pytest.fixture
def cluster(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StarRocksConnector, FakeFE]]:  # noqa: F811
    resolve_warehouse(mysql_url).migrate()  # MySQL DDL: the StarRocks DDL cannot run on MariaDB
    fe = FakeFE()
    original = StarRocksConnector._cursor

    @contextlib.contextmanager
    def capturing(self: StarRocksConnector, transaction: bool = False) -> Iterator[CursorProxy]:
        with original(self, transaction) as cur:
            yield CursorProxy(cur, fe)

    monkeypatch.setattr(StarRocksConnector, "_cursor", capturing)
    parts = urlsplit(mysql_url)
    sr = StarRocksConnector(host=parts.hostname, port=parts.port, user="root", database=parts.path.lstrip("/"))
    yield sr, fe
    sr.close()


def entry(version: str, path: str = PATH) -> LedgerEntry:
    return LedgerEntry(source_file=path, source_version=version, table_name="fact_secondary_sales", status="loaded",
                       stats=FileStats(), run_id="0b8c7a1e-run", started_at=dt.datetime.now(dt.UTC),
                       business_date=dt.date(2024, 1, 1))


def ledger(sr: StarRocksConnector) -> list[dict[str, Any]]:
    return sr.query("SELECT source_version, status, rows_in, rows_loaded, rows_quarantined, load_label "
                    "FROM etl_file_ledger ORDER BY source_version").to_pylist()


def test_statement_shape_label_and_ledger(cluster: tuple[StarRocksConnector, FakeFE]) -> None:
    sr, fe = cluster
    rows = fis_rows(12)
    fe.files[FILES.url(PATH)] = rows
    done = sr.load_from_files(FIS, entry("0x8DC1"), FILES)

    label = files_label("fact_secondary_sales", PATH, "0x8DC1")
    assert done.load_label == label == files_label("fact_secondary_sales", PATH, "0x8DC1")
    assert label != files_label("fact_secondary_sales", PATH, "0x8DC2") and re.fullmatch(r"[A-Za-z0-9_]{1,128}", label)
    assert len(fe.sent) == 1
    sent = fe.sent[0]
    head, select_sql = sent[: sent.index("SELECT ")], sent[sent.index("SELECT "):]
    columns = [*FIS.column_names, *LINEAGE]
    assert head == f"INSERT INTO fact_secondary_sales WITH LABEL {label} ({', '.join(f'`{c}`' for c in columns)}) "
    select = sqlglot.parse_one(select_sql, read="starrocks")  # WITH LABEL is known-unparseable; the SELECT is not
    projections = select.expressions
    assert len(projections) == len(columns)
    casts = {p.find(exp.Column).name: p.to.sql("starrocks") for p in projections[: len(FIS.columns)]}
    assert casts["net_amount"] == "DECIMAL(14, 2)" and casts["line_no"] == "BIGINT"
    assert casts["invoice_date"] == "DATE" and casts["updated_at"] == "DATETIME"
    assert [p.sql("starrocks") for p in projections[len(FIS.columns):]] == [
        f"'{PATH}'", "'0x8DC1'", "NOW()", "'0b8c7a1e-run'"]
    files = files_call(select)
    assert {e.this.this: e.expression.this for e in files.expressions} == {
        "path": f"wasbs://landing@dwlanding.blob.core.windows.net/{PATH}", "format": "parquet",
        "azure.blob.storage_account": "dwlanding", "azure.blob.shared_key": KEY,
    }
    # The old version's rows go first (re-delivery), the ledger row last.
    assert fe.statements[1].startswith("DELETE FROM fact_secondary_sales WHERE _source_file")
    assert fe.statements[-1].startswith("INSERT INTO etl_file_ledger")
    assert ledger(sr) == [{"source_version": "0x8DC1", "status": "loaded", "rows_in": 12, "rows_loaded": 12,
                           "rows_quarantined": 0, "load_label": label}]
    assert totals(sr) == (12, Decimal(sum(rows["net_amount"].to_pylist())))
    with pytest.raises(AlreadyLoaded):  # the ledger refuses a second load before anything is sent
        sr.load_from_files(FIS, entry("0x8DC1"), FILES)
    assert len(fe.sent) == 1


def test_crash_after_commit_then_retry_counts_once(cluster: tuple[StarRocksConnector, FakeFE]) -> None:
    sr, fe = cluster
    rows = fis_rows(10)
    fe.files[FILES.url(PATH)] = rows
    fe.crash_after_commit = True
    with pytest.raises(pymysql.err.OperationalError):
        sr.load_from_files(FIS, entry("v1"), FILES)
    assert ledger(sr) == [] and totals(sr)[0] == 10  # committed on the cluster, not yet in the ledger

    done = sr.load_from_files(FIS, entry("v1"), FILES)  # same label: "already used" = loaded
    assert len(fe.sent) == 2 and len({_LABEL.search(s).group(1) for s in fe.sent}) == 1
    assert done.stats.rows_loaded == done.stats.rows_in == 10
    assert totals(sr) == (10, Decimal(sum(rows["net_amount"].to_pylist()))), "no row loaded twice"
    assert [r["rows_loaded"] for r in ledger(sr)] == [10]

    # Re-delivery of the path: the new version replaces the old one's rows exactly.
    fe.files[FILES.url(PATH)] = fis_rows(4, first_invoice=500)
    sr.load_from_files(FIS, entry("v2"), FILES)
    assert totals(sr)[0] == 4 and totals(sr, "_source_version = 'v1'")[0] == 0
    assert [(r["source_version"], r["status"]) for r in ledger(sr)] == [("v1", "superseded"), ("v2", "loaded")]


def test_shared_key_never_leaks(cluster: tuple[StarRocksConnector, FakeFE], caplog: pytest.LogCaptureFixture) -> None:
    sr, fe = cluster
    caplog.set_level(logging.DEBUG)
    fe.echo_error = True
    with pytest.raises(pymysql.err.OperationalError) as err:
        sr.load_from_files(FIS, entry("v1"), FILES)
    assert KEY in fe.sent[0], "the key does reach the server (the only place it may go)"
    shown = "".join(traceback.format_exception(err.value)) + repr(err.value) + str(err.value.args)
    assert "Access denied for FILES()" in shown and "***" in shown
    assert KEY not in shown and err.value.__cause__ is None and err.value.__suppress_context__
    assert all(KEY not in r.getMessage() for r in caplog.records)
    for text in (FILES.describe(), repr(FILES), str(FILES), sr.describe(), repr(sr)):
        assert KEY not in text
    assert ledger(sr) == []


@pytest.mark.parametrize("path", [
    'historical/fis/2024/01/x".parquet', "historical/fis/2024/01/../../secret.parquet",
    "historical/fis/2024/01/fis_202401_001.csv", "historical/fis/2024/01/a b.parquet",
])
def test_unsafe_values_are_refused_before_anything_is_sent(cluster: tuple[StarRocksConnector, FakeFE],
                                                           path: str) -> None:
    sr, fe = cluster
    with pytest.raises(PushdownRefused):
        sr.load_from_files(FIS, entry("v1", path), FILES)
    bad_version = entry("v1'); DROP TABLE x; --")
    with pytest.raises(PushdownRefused):
        sr.load_from_files(FIS, bad_version, FILES)
    assert fe.sent == [] and fe.statements == []
    with pytest.raises(PushdownRefused):
        AzureFiles("dwlanding", "landing", SecretStr('abc" , "format" = "csv'))

"""Contract tests of the StarRocks pushdown load (`INSERT ... WITH LABEL ... SELECT ... FROM FILES()`).

No StarRocks runs here: the statements go to the StarRocks stand-in (tests/integration/starrocks_cluster.py),
whose SQL FE parses them as StarRocks SQL, applies label semantics (FE LabelAlreadyUsedException) and
reads FILES("path" = "wasbs://...") as Parquet from a local folder standing in for the container; its
HTTP FE answers get_load_state for the INSERT's label. Every other statement (ledger, DELETE of the
superseded version, orphan count) runs there too.

Proves: the label is deterministic and identical on retry; the statement has the documented shape
(the SELECT part parses with sqlglot's StarRocks dialect; `WITH LABEL` is known not to); a crash
after the INSERT committed is retried to one copy of the rows and one ledger row; a label still held by a
running INSERT is waited for, not counted at once; `_loaded_at` is UTC, not the session's Asia/Shanghai;
a re-delivery replaces the path's rows; the shared key appears in no log record, exception text or
traceback, and no description; values that cannot be placed in FILES() are refused before anything is sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import traceback
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
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
from datawiz.core.registry import FIS
from tests.integration.fake_starrocks import Script
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.starrocks_cluster import StarRocksCluster, start_cluster
from tests.integration.test_mysql_load_atomicity import fis_rows, totals

pytestmark = pytest.mark.integration

PATH = "historical/fis/2024/01/fis_202401_001.parquet"
KEY = base64.b64encode(os.urandom(64)).decode()
FILES = AzureFiles("dwlanding", "landing", SecretStr(KEY))
_LABEL = re.compile(r"\bWITH LABEL (\S+) ")


def files_call(select: exp.Expression) -> exp.Anonymous:
    """The FILES(...) table function of a parsed SELECT."""
    return next(a for a in select.find_all(exp.Anonymous) if a.name.upper() == "FILES")


@pytest.fixture
def cluster(mysql_url: str, tmp_path: Path) -> Iterator[tuple[StarRocksConnector, StarRocksCluster, Path]]:  # noqa: F811
    """A migrated stand-in cluster whose FILES() reads the container from `tmp_path`."""
    started = start_cluster(mysql_url, files_root=tmp_path)
    sr = resolve_warehouse(started.url())
    assert isinstance(sr, StarRocksConnector)
    sr.migrate()
    yield sr, started, tmp_path
    sr.close()
    started.close()


def put(root: Path, rows: pa.Table, path: str = PATH) -> None:
    """The Parquet file of `path` in the stand-in's container."""
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, root / path)


def sent(cluster: StarRocksCluster) -> list[str]:
    """Every labelled INSERT ... FROM FILES() the FE received (parameters interpolated by the driver)."""
    return [s for s in cluster.sql.statements if " WITH LABEL " in s and "FILES(" in s]


def entry(version: str, path: str = PATH) -> LedgerEntry:
    return LedgerEntry(source_file=path, source_version=version, table_name="fact_secondary_sales", status="loaded",
                       stats=FileStats(), run_id="0b8c7a1e-run", started_at=dt.datetime.now(dt.UTC),
                       business_date=dt.date(2024, 1, 1))


def ledger(sr: StarRocksConnector) -> list[dict[str, Any]]:
    return sr.query("SELECT source_version, status, rows_in, rows_loaded, rows_quarantined, load_label "
                    "FROM etl_file_ledger ORDER BY source_version").to_pylist()


Cluster = tuple[StarRocksConnector, StarRocksCluster, Path]


def test_statement_shape_label_and_ledger(cluster: Cluster) -> None:
    sr, fe, root = cluster
    rows = fis_rows(12)
    put(root, rows)
    before = len(fe.sql.statements)
    done = sr.load_from_files(FIS, entry("0x8DC1"), FILES)

    label = files_label("fact_secondary_sales", PATH, "0x8DC1")
    assert done.load_label == label == files_label("fact_secondary_sales", PATH, "0x8DC1")
    assert label != files_label("fact_secondary_sales", PATH, "0x8DC2") and re.fullmatch(r"[A-Za-z0-9_]{1,128}", label)
    assert len(sent(fe)) == 1
    text = sent(fe)[0]
    head, select_sql = text[: text.index("SELECT ")], text[text.index("SELECT "):]
    columns = [*FIS.column_names, *LINEAGE]
    assert head == f"INSERT INTO fact_secondary_sales WITH LABEL {label} ({', '.join(f'`{c}`' for c in columns)}) "
    select = sqlglot.parse_one(select_sql, read="starrocks")  # WITH LABEL is known-unparseable; the SELECT is not
    projections = select.expressions
    assert len(projections) == len(columns)
    casts = {p.find(exp.Column).name: p.to.sql("starrocks") for p in projections[: len(FIS.columns)]}
    assert casts["net_amount"] == "DECIMAL(14, 2)" and casts["line_no"] == "BIGINT"
    assert casts["invoice_date"] == "DATE" and casts["updated_at"] == "DATETIME"
    lineage = [p.sql("starrocks") for p in projections[len(FIS.columns):]]
    assert lineage[:2] == [f"'{PATH}'", "'0x8DC1'"] and lineage[3] == "'0b8c7a1e-run'"
    assert re.fullmatch(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'", lineage[2]), "_loaded_at is bound, not now()"
    files = files_call(select)
    assert {e.this.this: e.expression.this for e in files.expressions} == {
        "path": f"wasbs://landing@dwlanding.blob.core.windows.net/{PATH}", "format": "parquet",
        "azure.blob.storage_account": "dwlanding", "azure.blob.shared_key": KEY,
    }
    # The old version's rows go first (re-delivery), the ledger row last.
    ran = [st for st in fe.sql.statements[before:] if not st.upper().startswith(("SELECT", "SHOW", "SET"))]
    assert ran[0].startswith("DELETE FROM fact_secondary_sales WHERE _source_file")
    assert ran[-1].startswith("INSERT INTO etl_file_ledger WITH LABEL datawiz_ledger_")
    assert ledger(sr) == [{"source_version": "0x8DC1", "status": "loaded", "rows_in": 12, "rows_loaded": 12,
                           "rows_quarantined": 0, "load_label": label}]
    assert totals(sr) == (12, Decimal(sum(rows["net_amount"].to_pylist())))
    with pytest.raises(AlreadyLoaded):  # the ledger refuses a second load before anything is sent
        sr.load_from_files(FIS, entry("0x8DC1"), FILES)
    assert len(sent(fe)) == 1


def test_loaded_at_is_utc_not_the_sessions_shanghai_time(cluster: Cluster) -> None:
    """StarRocks' now() reads the session time zone, Asia/Shanghai by default: 8 hours off UTC."""
    sr, fe, root = cluster
    put(root, fis_rows(3))
    sr.load_from_files(FIS, entry("v1"), FILES)
    stamped = sr.query("SELECT max(_loaded_at) AS t FROM fact_secondary_sales").to_pylist()[0]["t"]
    assert abs(stamped - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=5)
    shanghai = sr.query("SELECT now() AS t").to_pylist()[0]["t"]
    assert shanghai - stamped > dt.timedelta(hours=7), "the stand-in's session clock is Shanghai's, as StarRocks'"


class _CrashAfterInsert(Exception):
    pass


def test_crash_after_commit_then_retry_counts_once(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    sr, fe, root = cluster
    rows = fis_rows(10)
    put(root, rows)
    with monkeypatch.context() as m:  # the process dies between the committed INSERT and the ledger row
        m.setattr(StarRocksConnector, "_write_ledger", lambda *_: (_ for _ in ()).throw(_CrashAfterInsert()))
        with pytest.raises(_CrashAfterInsert):
            sr.load_from_files(FIS, entry("v1"), FILES)
    assert ledger(sr) == [] and totals(sr)[0] == 10  # committed on the cluster, not yet in the ledger

    done = sr.load_from_files(FIS, entry("v1"), FILES)  # same label: "already used", VISIBLE = loaded
    assert len(sent(fe)) == 2 and len({_LABEL.search(s).group(1) for s in sent(fe)}) == 1
    assert done.stats.rows_loaded == done.stats.rows_in == 10
    assert totals(sr) == (10, Decimal(sum(rows["net_amount"].to_pylist()))), "no row loaded twice"
    assert [r["rows_loaded"] for r in ledger(sr)] == [10]

    # Re-delivery of the path: the new version replaces the old one's rows exactly.
    put(root, fis_rows(4, first_invoice=500))
    sr.load_from_files(FIS, entry("v2"), FILES)
    assert totals(sr)[0] == 4 and totals(sr, "_source_version = 'v1'")[0] == 0
    assert [(r["source_version"], r["status"]) for r in ledger(sr)] == [("v1", "superseded"), ("v2", "loaded")]


def test_label_of_a_still_running_insert_is_waited_for_not_counted(cluster: Cluster) -> None:
    """"Label already used" also answers while the earlier INSERT runs (FE LabelAlreadyUsedException:
    PREPARE/PREPARED); counting then would record 0 rows as loaded. Here it then aborts: the INSERT runs again."""
    sr, fe, root = cluster
    put(root, fis_rows(8))
    label = files_label("fact_secondary_sales", PATH, "v1")
    fe.sql.labels[label] = "PREPARED"
    fe.http.scripts[label] = Script(states=["PREPARED", "PREPARED", "ABORTED"])
    done = sr.load_from_files(FIS, entry("v1"), FILES)
    assert done.stats.rows_loaded == 8 and totals(sr)[0] == 8
    assert [r["rows_loaded"] for r in ledger(sr)] == [8]
    polls = [r for r in fe.http.requests if "get_load_state" in r.path and label in r.path]
    assert len(polls) == 3


def test_shared_key_never_leaks(cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    sr, fe, root = cluster
    caplog.set_level(logging.DEBUG)
    put(root, fis_rows(2))
    fe.sql.refuse["files"] = f"Access denied for FILES(): azure.blob.shared_key = {KEY}"  # a server quoting it back
    with pytest.raises(pymysql.err.Error) as err:
        sr.load_from_files(FIS, entry("v1"), FILES)
    assert KEY in sent(fe)[0], "the key does reach the server (the only place it may go)"
    shown = "".join(traceback.format_exception(err.value)) + repr(err.value) + str(err.value.args)
    assert "Access denied for FILES()" in shown and "***" in shown
    assert KEY not in shown and err.value.__cause__ is None and err.value.__suppress_context__
    ours = [r for r in caplog.records if not r.name.startswith("mysql_mimic")]  # not the stand-in FE's own log
    assert all(KEY not in r.getMessage() for r in ours)
    for text in (FILES.describe(), repr(FILES), str(FILES), sr.describe(), repr(sr)):
        assert KEY not in text
    assert ledger(sr) == []


@pytest.mark.parametrize("path", [
    'historical/fis/2024/01/x".parquet', "historical/fis/2024/01/../../secret.parquet",
    "historical/fis/2024/01/fis_202401_001.csv", "historical/fis/2024/01/a b.parquet",
])
def test_unsafe_values_are_refused_before_anything_is_sent(cluster: Cluster, path: str) -> None:
    sr, fe, _ = cluster
    before = len(fe.sql.statements)
    with pytest.raises(PushdownRefused):
        sr.load_from_files(FIS, entry("v1", path), FILES)
    bad_version = entry("v1'); DROP TABLE x; --")
    with pytest.raises(PushdownRefused):
        sr.load_from_files(FIS, bad_version, FILES)
    assert sent(fe) == [] and fe.sql.statements[before:] == []
    with pytest.raises(PushdownRefused):
        AzureFiles("dwlanding", "landing", SecretStr('abc" , "format" = "csv'))

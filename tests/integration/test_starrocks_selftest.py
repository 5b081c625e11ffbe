"""`datawiz starrocks selftest` end to end against the StarRocks stand-in cluster (SQL + Stream Load).

The CLI runs as an operator runs it (`datawiz.cli.main`), its stdout is read line by line: every feature
passes against a cluster that does what StarRocks documents; a refused statement is a FAIL line carrying
the server's own message (and what needs it is skipped); roles are followed for the grants line; the
scratch database is gone afterwards, whatever happened; neither the password nor the Azure key is printed.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pytest
from azure.storage.blob import BlobServiceClient

from datawiz.cli import main
from datawiz.starrocks_selftest import FEATURES
from tasks.health import check_load_privileges
from tests.integration.azurite import AZURITE_KEY, azurite  # noqa: F401  (fixture)
from tests.integration.mariadb import admin_connection, mariadb  # noqa: F401  (fixtures)
from tests.integration.starrocks_cluster import starrocks_cluster  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
SCRATCH = re.compile(r"datawiz_selftest_[0-9a-f]{8}")


def complete_grants(user: str, database: str) -> list[str]:
    """Everything the pipeline needs on `database`, as StarRocks 3.x prints it in SHOW GRANTS."""
    to = f"TO USER '{user}'@'%'"
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN DATABASE {database} {to}",
        f"GRANT CREATE TABLE, CREATE VIEW, CREATE MATERIALIZED VIEW ON DATABASE {database} {to}",
        f"GRANT SELECT, REFRESH ON ALL MATERIALIZED VIEWS IN DATABASE {database} {to}",
        f"GRANT CREATE DATABASE ON CATALOG default_catalog {to}",
        f"GRANT ALL ON ALL DATABASES {to}",  # the scratch database: create tables in it, drop it
        f"GRANT ALL ON ALL TABLES IN ALL DATABASES {to}",
        f"GRANT ALL ON ALL MATERIALIZED VIEWS IN ALL DATABASES {to}",
    ]


def selftest(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str], str]:
    """Run the CLI; (exit code, stdout lines, stdout)."""
    capsys.readouterr()
    code = main(["starrocks", "selftest", "--warehouse", url, *extra])
    out = capsys.readouterr().out
    return code, out.splitlines(), out


def by_feature(lines: list[str]) -> dict[str, tuple[str, str]]:
    found = {}
    for line in lines:
        status, feature, *detail = line.split(None, 2)
        found[feature] = (status, detail[0] if detail else "")
    return found


def standin_databases(url: str) -> set[str]:
    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port, user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""), database=parts.path.lstrip("/"))
    with conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return {str(r[0]) for r in cur.fetchall()}


def mariadb_databases(conn: pymysql.connections.Connection, scratch: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return [str(r[0]) for r in cur.fetchall() if scratch in str(r[0])]


def assert_nothing_left(url: str, out: str, conn: pymysql.connections.Connection) -> str:
    scratch = SCRATCH.search(out)
    assert scratch, out
    assert scratch.group() not in standin_databases(url)
    assert mariadb_databases(conn, scratch.group()) == []
    return scratch.group()


def test_every_feature_passes_against_a_cluster_that_does_what_starrocks_documents(
    starrocks_cluster, capsys: pytest.CaptureFixture[str],  # noqa: ANN001, F811
    admin_connection: pymysql.connections.Connection,  # noqa: F811
) -> None:
    sql = starrocks_cluster.sql
    url = starrocks_cluster.url()
    sql.grants["user"] = complete_grants(sql.user, sql.database)
    code, lines, out = selftest(url, capsys)
    assert [line.split()[1] for line in lines] == list(FEATURES), out
    results = by_feature(lines)
    assert {f: s for f, (s, _) in results.items() if s != "PASS"} == {"files": "SKIP"}, out
    assert "no --source" in results["files"][1]
    assert code == 0
    assert results["version"][1].startswith("StarRocks 3.3.5")
    assert "as CSV" in results["stream_load_csv"][1] and "via FE http://127.0.0.1:" in results["stream_load_csv"][1]
    assert "as JSON" in results["stream_load_json"][1]
    assert "rows stay 3, nothing loaded twice" in results["label_reuse"][1]
    assert "is VISIBLE" in results["visibility"][1]
    assert lines[-1].startswith("PASS cleanup") and "label_keep_max_second" in lines[-1]
    assert sql.password not in out
    scratch = assert_nothing_left(url, out, admin_connection)
    tag = scratch[len("datawiz_selftest_"):]
    assert {f"datawiz_selftest_{tag}_csv", f"datawiz_selftest_{tag}_json"} <= set(sql.labels), \
        "the Stream Load labels are the run's own"
    fe_puts = [r for r in starrocks_cluster.http.requests if r.server == "fe" and r.method == "PUT"]
    assert fe_puts and all(r.path.startswith(f"/api/{scratch}/etl_run_log/") for r in fe_puts), \
        "loads go through the FE (307 to the BE), into the scratch database"


def test_a_refused_feature_fails_with_the_servers_message_and_its_dependants_are_skipped(
    starrocks_cluster, capsys: pytest.CaptureFixture[str],  # noqa: ANN001, F811
    admin_connection: pymysql.connections.Connection,  # noqa: F811
) -> None:
    sql = starrocks_cluster.sql
    url = starrocks_cluster.url()
    # The grants come through two roles; the materialized view privileges are missing.
    sql.grants["user"] = [f"GRANT 'loader', 'ddl' TO '{sql.user}'@'%'", *complete_grants(sql.user, sql.database)[3:5]]
    sql.grants["role:loader"] = [
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN ALL DATABASES TO ROLE 'loader'"]
    sql.grants["role:ddl"] = [
        f"GRANT CREATE TABLE, CREATE VIEW, CREATE MATERIALIZED VIEW ON DATABASE {sql.database} TO ROLE 'ddl'"]
    sql.refuse["temporary_table"] = "Unexpected input 'TEMPORARY'"
    code, lines, out = selftest(url, capsys)
    results = by_feature(lines)
    assert code != 0
    assert results["temporary_table"] == ("FAIL", "Unexpected input 'TEMPORARY'"), out
    assert results["hierarchy_sql"] == ("SKIP", "needs temporary_table")
    assert results["dd_sql"] == ("SKIP", "needs temporary_table")
    assert results["grants"][0] == "FAIL"
    assert results["grants"][1].startswith(
        f"user {sql.user} lacks ALTER, DROP on tables of {sql.database}; ALTER, REFRESH, SELECT on materialized "
        f"view {sql.database}.rpt_sales_daily (roles followed: loader, ddl"), out
    for feature in ("version", "ddl", "stream_load_csv", "stream_load_json", "label_reuse", "visibility", "delete",
                    "mv_refresh", "cleanup"):
        assert results[feature][0] == "PASS", (feature, out)
    assert sql.password not in out
    assert_nothing_left(url, out, admin_connection)
    # `datawiz check` reads the same grants: one FAIL line naming what is missing and the roles followed.
    route, load = check_load_privileges(url)
    assert route.ok and route.target == "stream load"
    assert load.line().startswith(f"FAIL load      StarRocks 3.3.5: user {sql.user} lacks ALTER, DROP on tables "
                                  f"of {sql.database}; ALTER, REFRESH, SELECT on materialized view"), load.line()


def test_a_failed_ddl_skips_what_needs_it_and_still_drops_the_scratch_database(
    starrocks_cluster, capsys: pytest.CaptureFixture[str],  # noqa: ANN001, F811
    admin_connection: pymysql.connections.Connection,  # noqa: F811
) -> None:
    sql = starrocks_cluster.sql
    url = starrocks_cluster.url()
    sql.grants["user"] = complete_grants(sql.user, sql.database)
    sql.refuse["create_table"] = "Getting analyzing error. Detail message: Unknown storage medium"
    code, lines, out = selftest(url, capsys)
    results = by_feature(lines)
    assert code == 1
    assert results["ddl"] == ("FAIL", "Getting analyzing error. Detail message: Unknown storage medium"), out
    for feature in ("stream_load_csv", "stream_load_json", "delete", "temporary_table", "mv_refresh"):
        assert results[feature] == ("SKIP", "needs ddl"), out
    assert results["label_reuse"] == ("SKIP", "needs stream_load_csv")
    assert results["version"][0] == results["grants"][0] == results["cleanup"][0] == "PASS"
    assert "dropped database" in results["cleanup"][1]
    assert_nothing_left(url, out, admin_connection)


def test_files_reads_one_listed_parquet_file_and_never_prints_the_key(
    starrocks_cluster, azurite: str, capsys: pytest.CaptureFixture[str],  # noqa: ANN001, F811
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    sql = starrocks_cluster.sql
    sql.grants["user"] = complete_grants(sql.user, sql.database)
    container, path = f"selftest{uuid.uuid4().hex[:8]}", "historical/fis/2024/01/fis_202401_001.parquet"
    client = BlobServiceClient.from_connection_string(azurite).create_container(container)
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2, 3]}), sink)
    client.upload_blob(path, sink.getvalue())
    client.upload_blob("config/constants.csv", b"name,value\n")  # listed, not Parquet: not the one read
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    # The SQL stand-in reads wasbs://<container>@<account>.blob.core.windows.net/<path> from files_root/<path>.
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_bytes(sink.getvalue())
    sql.files_root = tmp_path
    code, lines, out = selftest(starrocks_cluster.url(), capsys, "--source", f"az://{container}")
    results = by_feature(lines)
    assert results["files"] == ("PASS", f"FILES() read wasbs://{container}@devstoreaccount1.blob."
                                        f"core.windows.net/{path}: 3 rows"), out
    assert code == 0
    sent = [s for s in sql.statements if "FILES(" in s]
    assert len(sent) == 1 and f'"azure.blob.shared_key" = "{AZURITE_KEY}"' in sent[0]
    assert AZURITE_KEY not in out and sql.password not in out
    # A server that echoes the statement (and so the key) in its error: the FAIL line must not repeat it.
    sql.refuse["files"] = f'Access denied for FILES("azure.blob.shared_key" = "{AZURITE_KEY}") {AZURITE_KEY}'
    code, lines, out = selftest(starrocks_cluster.url(), capsys, "--source", f"az://{container}")
    status, detail = by_feature(lines)["files"]
    assert (status, code) == ("FAIL", 1), out
    assert detail.startswith("Access denied for FILES(") and AZURITE_KEY not in out and sql.password not in out

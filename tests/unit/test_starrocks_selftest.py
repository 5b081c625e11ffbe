"""The pure parts of `datawiz starrocks selftest`: lines, order, the scratch copy, seed data, secrets.

No StarRocks here: a connector to a closed port shows the run's shape when nothing can be reached
(the full run against the stand-in cluster is tests/integration/test_starrocks_selftest.py).
"""

from __future__ import annotations

import base64
import io
import re
import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from blocks.warehouse.base import migrations
from blocks.warehouse.files_load import AzureFiles
from blocks.warehouse.starrocks import StarRocksConnector
from blocks.warehouse.stream_load import encode_batch
from datawiz.cli import main
from datawiz.starrocks_selftest import (
    FEATURES,
    FeatureResult,
    SelftestRun,
    Skip,
    files_count_sql,
    migration_summary,
    new_scratch_name,
    run_log_rows,
    run_selftest,
    scratch_copy,
    seed_rows,
    selftest_command,
    version_ok,
)

PASSWORD = "s3cret:pw@x"
KEY = base64.b64encode(b"k" * 64).decode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connector(**kw: object) -> StarRocksConnector:
    return StarRocksConnector(host="127.0.0.1", port=closed_port(), user="etl", password=PASSWORD, database="dw",
                              connect_timeout=2, **kw)


def test_features_are_in_the_documented_order() -> None:
    assert FEATURES == ("version", "grants", "ddl", "stream_load_csv", "stream_load_json", "label_reuse",
                        "visibility", "delete", "temporary_table", "hierarchy_sql", "dd_sql", "mv_refresh", "files",
                        "cleanup")


def test_a_line_is_status_feature_two_spaces_detail() -> None:
    assert FeatureResult("stream_load_json", "PASS", "2 rows").line() == "PASS stream_load_json  2 rows"
    assert re.fullmatch(r"FAIL version {2,}too old", FeatureResult("version", "FAIL", "too old").line())


def test_minimum_version_is_3_3_1() -> None:
    assert version_ok((3, 3, 1)) and version_ok((3, 4, 0)) and version_ok((4, 0, 0))
    assert not version_ok((3, 3, 0)) and not version_ok((3, 2, 9)) and not version_ok(None)


def test_scratch_names_are_unique_and_valid() -> None:
    names = {new_scratch_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"datawiz_selftest_[0-9a-f]{8}", n) for n in names)


def test_the_scratch_copy_has_its_own_database_and_connections() -> None:
    original = connector()
    original._block_document_id = "00000000-0000-0000-0000-000000000001"  # type: ignore[assignment]
    copy = scratch_copy(original, "datawiz_selftest_0badcafe")
    assert (copy.database, original.database) == ("datawiz_selftest_0badcafe", "dw")
    assert copy.password is not None and copy.password.get_secret_value() == PASSWORD
    assert (copy.host, copy.port, copy.http_port, copy.user) == (original.host, original.port, original.http_port,
                                                                  original.user)
    # pydantic's model_copy alone would share these: the copy would reuse the original's connection.
    assert copy._tls is not original._tls and copy._opened is not original._opened and copy._lock is not original._lock
    assert copy._block_document_id is None, "saving the copy must not overwrite the saved block"
    assert copy.stream_client().database == "datawiz_selftest_0badcafe"


def test_migration_summary_counts_what_the_ddl_creates() -> None:
    s = migration_summary()
    assert {"schema_migrations", "fact_secondary_sales", "dim_sales_hierarchy", "etl_run_log"} <= set(s.tables)
    assert s.materialized_views == ("rpt_sales_daily",)
    assert "v_secondary_sales_secure" in s.views
    assert s.expression_partitioned >= 2 and s.bloom_filter_tables >= 1 and s.bitmap_indexes >= 1
    assert "Primary Key tables" in s.describe()


def test_seed_rows_fit_the_starrocks_ddl() -> None:
    ddl = "\n".join(m.text() for m in migrations("starrocks"))
    for table, rows in seed_rows("selftest-x").items():
        block = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\)", ddl, re.S)
        assert block, table
        columns = set(re.findall(r"^\s+`?(\w+)`?\s+[A-Z]", block.group(1), re.M))
        for row in rows:
            assert set(row) <= columns, (table, set(row) - columns)


def test_stream_load_batches_take_the_csv_and_the_json_paths() -> None:
    plain = run_log_rows(["a", "b"], ["plain, \"quoted\"", "tab\there"])
    assert encode_batch(plain).headers["format"] == "CSV"
    assert encode_batch(run_log_rows(["a"], ["\\N"])).headers["format"] == "JSON"
    assert encode_batch(run_log_rows(["a"], ["x\x01y"])).headers["format"] == "JSON"


def test_the_files_statement_holds_the_key_and_the_run_scrubs_it() -> None:
    access = AzureFiles("dwlanding", "landing", SecretStr(KEY), "area/")
    sql = files_count_sql(access, "historical/fis/2024/01/fis_202401_001.parquet")
    assert sql.startswith('SELECT count(*) FROM FILES("path" = "wasbs://landing@dwlanding.blob.core.windows.net/'
                          'area/historical/fis/2024/01/fis_202401_001.parquet", "format" = "parquet", ')
    assert f'"azure.blob.storage_account" = "dwlanding", "azure.blob.shared_key" = "{KEY}"' in sql
    run = SelftestRun(connector())
    run.secrets.append(KEY)
    scrubbed = run.scrub(f"error near {sql} for etl:{PASSWORD}")
    assert KEY not in scrubbed and PASSWORD not in scrubbed


def test_files_is_skipped_without_an_azure_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAWIZ_SOURCE", raising=False)
    with pytest.raises(Skip, match="no --source"):
        SelftestRun(connector()).files_target()
    with pytest.raises(Skip, match="not an Azure container"):
        SelftestRun(connector(), source=str(tmp_path)).files_target()
    sas = "az://landing"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       "BlobEndpoint=https://dwlanding.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc")
    with pytest.raises(Skip, match="shared key"):
        SelftestRun(connector(), source=sas).files_target()


def test_an_unreachable_cluster_fails_version_skips_the_rest_and_cleans_up() -> None:
    seen: list[FeatureResult] = []
    results = run_selftest(connector(), on_result=seen.append)
    assert seen == results
    assert [r.feature for r in results] == list(FEATURES)
    assert results[0].status == "FAIL" and "Can't connect" in results[0].detail
    assert {r.status for r in results[1:-1]} == {"SKIP"}
    by_feature = {r.feature: r for r in results}
    assert by_feature["grants"].detail == "needs a connection (see version)"
    assert by_feature["label_reuse"].detail == "needs stream_load_csv"
    assert by_feature["hierarchy_sql"].detail == "needs ddl, temporary_table"
    assert results[-1].status == "PASS" and "label_keep_max_second" in results[-1].detail
    assert not any(PASSWORD in r.line() for r in results)


def test_the_command_refuses_a_warehouse_that_is_not_starrocks(tmp_path: Path) -> None:
    err = io.StringIO()
    assert selftest_command(f"duckdb:///{tmp_path}/w.duckdb", None, io.StringIO(), err) == 2
    assert "is not a StarRocks warehouse" in err.getvalue()
    err = io.StringIO()
    assert selftest_command("starrocks://etl:pw@/nodb", None, io.StringIO(), err) == 2
    assert "host and database are required" in err.getvalue() and ":pw@" not in err.getvalue()


def test_the_cli_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"starrocks://etl:{PASSWORD.replace(':', '%3A').replace('@', '%40')}@127.0.0.1:{closed_port()}/dw"
    assert main(["starrocks", "selftest", "--warehouse", url + "?connect_timeout=2"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("FAIL version")
    assert out.splitlines()[-1].startswith("PASS cleanup")
    assert PASSWORD not in out
    assert main(["starrocks", "selftest", "--warehouse", "duckdb:///:memory:"]) == 2

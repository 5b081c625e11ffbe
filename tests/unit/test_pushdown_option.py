"""The backfill's `pushdown` option refuses what it cannot do, and the grant parsers of `datawiz check`.

No server: blocks are built (not connected), Azure clients from connection strings (no request).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from blocks.azure import AzureBlobSource
from blocks.source import SourceConfigError, resolve_source
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.starrocks import StarRocksConnector
from datawiz.core.errors import ConfigError
from tasks.backfill import require_pushdown
from tasks.health import mysql_missing_privileges, starrocks_can_load

KEY = base64.b64encode(b"k" * 64).decode()
CONN = f"DefaultEndpointsProtocol=https;AccountName=dwlanding;AccountKey={KEY};EndpointSuffix=core.windows.net"


def azure(conn: str = CONN, prefix: str = "") -> AzureBlobSource:
    return AzureBlobSource(ContainerClient.from_connection_string(conn, "landing"), prefix, "env TEST")


def starrocks() -> StarRocksConnector:
    return StarRocksConnector(host="sr.example", database="dw")


def test_refuses_a_warehouse_that_is_not_starrocks(tmp_path: Path) -> None:
    duck = resolve_warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    try:
        with pytest.raises(ConfigError, match="pushdown needs a StarRocks warehouse"):
            require_pushdown(azure(), duck)
    finally:
        duck.close()


def test_refuses_a_source_that_is_not_azure(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    with pytest.raises(ConfigError, match="pushdown needs an Azure Blob source"):
        require_pushdown(resolve_source(str(tmp_path / "landing")), starrocks())


def test_refuses_azure_credentials_without_a_shared_key() -> None:
    sas = "BlobEndpoint=https://dwlanding.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc"
    with pytest.raises(SourceConfigError, match="shared key") as err:
        require_pushdown(azure(sas), starrocks())
    assert "abc" not in str(err.value)


def test_accepts_starrocks_with_azure_and_keeps_the_key_out_of_descriptions() -> None:
    files = require_pushdown(azure(prefix="landing-area"), starrocks())
    assert (files.account, files.container, files.prefix) == ("dwlanding", "landing", "landing-area/")
    assert files.url("historical/fis/2024/01/fis_202401_001.parquet") == (
        "wasbs://landing@dwlanding.blob.core.windows.net/landing-area/historical/fis/2024/01/fis_202401_001.parquet")
    for text in (repr(files), str(files), files.describe(), azure().describe()):
        assert KEY not in text


def test_cli_flag() -> None:
    from flows.backfill import backfill
    from tasks.run import flow_cli

    assert flow_cli(backfill).parse_args(["--pushdown"]).pushdown is True
    assert flow_cli(backfill).parse_args([]).pushdown is False
    assert flow_cli(backfill).parse_args(["--tables", "fid"]).tables == ["fid"]


def test_mysql_grants() -> None:
    only_select = ["GRANT USAGE ON *.* TO `u`@`%`", "GRANT SELECT ON `dw\\_x`.* TO `u`@`%`"]
    assert mysql_missing_privileges(only_select, "dw_x") == ["INSERT", "DELETE", "CREATE"]
    assert mysql_missing_privileges(["GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION"], "a") == []
    scoped = ["GRANT SELECT, INSERT, DELETE, CREATE ON `dw\\_%`.* TO `u`@`%`"]
    assert mysql_missing_privileges(scoped, "dw_prod") == []
    assert mysql_missing_privileges(scoped, "other") == ["INSERT", "DELETE", "CREATE"]
    table_level = ["GRANT INSERT, DELETE, CREATE ON `dw`.`t` TO `u`@`%`"]
    assert mysql_missing_privileges(table_level, "dw") == ["INSERT", "DELETE", "CREATE"]


def test_starrocks_grants() -> None:
    assert not starrocks_can_load(["'u'@'%' default_catalog GRANT SELECT ON ALL TABLES IN ALL DATABASES TO USER 'u'"])
    assert starrocks_can_load(["'u'@'%' default_catalog GRANT INSERT, SELECT ON TABLE dw.* TO USER 'u'@'%'"])
    assert starrocks_can_load(["'root'@'%' NULL GRANT 'root' TO USER 'root'@'%'"])
    assert starrocks_can_load(["'u'@'%' default_cluster:dw: Select_priv Load_priv"])
    assert not starrocks_can_load(["'u'@'%' default_cluster:dw: Select_priv"])

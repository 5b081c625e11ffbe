"""Warehouse URLs: parsed into blocks, passwords from the URL or $DB_PASSWORD, never shown again."""

from __future__ import annotations

import pytest

from blocks.warehouse import redact, resolve_warehouse
from blocks.warehouse.mysql import MySQLWarehouse
from blocks.warehouse.starrocks import StarRocksConnector


def test_mysql_url_with_options() -> None:
    wh = resolve_warehouse("mysql://etl:p%40ss%3Aw0rd@db.internal:3307/dw?tls=true&ssl_ca=/ca.pem&connect_timeout=5")
    assert isinstance(wh, MySQLWarehouse)
    assert (wh.host, wh.port, wh.user, wh.database, wh.tls, wh.ssl_ca, wh.connect_timeout) == (
        "db.internal", 3307, "etl", "dw", True, "/ca.pem", 5)
    assert wh.password is not None and wh.password.get_secret_value() == "p@ss:w0rd"
    assert "p@ss" not in wh.describe() and "p@ss" not in repr(wh) and "w0rd" not in str(wh.model_dump())


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "from-env")
    wh = resolve_warehouse("mysql://etl@db/dw")
    assert wh.port == 3306 and wh.password.get_secret_value() == "from-env"


def test_starrocks_url() -> None:
    wh = resolve_warehouse("starrocks://loader:pw@fe:9030/dw?http_port=8031&load_urls=http://be1:8040,http://be2:8040")
    assert isinstance(wh, StarRocksConnector)
    assert (wh.port, wh.http_port, wh.load_urls) == (9030, 8031, ["http://be1:8040", "http://be2:8040"])
    assert wh.describe() == "starrocks://loader@fe:9030/dw"


def test_unknown_scheme_error_hides_the_password() -> None:
    with pytest.raises(ValueError) as err:
        resolve_warehouse("postgres://u:topsecret@h/db")
    assert "topsecret" not in str(err.value)
    assert redact("mysql://u:topsecret@h/db") == "mysql://u:***@h/db"
    with pytest.raises(ValueError, match="host and database"):
        resolve_warehouse("mysql://u:topsecret@h")

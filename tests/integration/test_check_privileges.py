"""`datawiz check` on MariaDB: the load line names the server version and what the user lacks.

A user with only SELECT on the test database gets a FAIL line naming INSERT, DELETE and CREATE;
root (ALL PRIVILEGES, local_infile on) gets an OK line. The user is created and dropped here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pymysql
import pytest

from tasks.health import check_load_privileges, run_checks
from tests.integration.mariadb import HOST, PORT, admin_connection, mysql_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


@pytest.fixture
def read_only_url(mysql_url: str, admin_connection: pymysql.connections.Connection) -> Iterator[str]:  # noqa: F811
    database = urlsplit(mysql_url).path.lstrip("/")
    user, password = f"dw_ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with admin_connection.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'{HOST}' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'{HOST}'")
    try:
        yield f"mysql://{user}:{password}@{HOST}:{PORT}/{database}"
    finally:
        with admin_connection.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{HOST}'")


def test_select_only_user_fails_naming_the_missing_privileges(read_only_url: str) -> None:
    (result,) = check_load_privileges(read_only_url)
    assert not result.ok and result.target == "load"
    line = result.line()
    assert line.startswith("FAIL load")
    assert "MariaDB" in line, "the server version is shown"
    assert "lacks INSERT, DELETE, CREATE on database" in line
    assert urlsplit(read_only_url).password not in line


def test_root_can_load_and_check_prints_one_load_line(mysql_url: str, tmp_path) -> None:  # noqa: F811, ANN001
    (result,) = check_load_privileges(mysql_url)
    assert result.ok, result.line()
    assert "MariaDB" in result.detail and "can load" in result.detail and "local_infile ON" in result.detail
    (tmp_path / "config").mkdir()
    results = run_checks(str(tmp_path), mysql_url)
    assert [r.target for r in results] == ["source", "warehouse", "load"]


def test_embedded_duckdb_has_no_load_line(tmp_path) -> None:  # noqa: ANN001
    assert check_load_privileges(f"duckdb:///{tmp_path}/w.duckdb") == []

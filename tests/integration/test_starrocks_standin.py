"""The StarRocks stand-in answers like a StarRocks 3.3 FE (tests/integration/starrocks_standin).

Everything goes through a real MySQL-protocol client (pymysql), and through the StarRocks connector
(`resolve_warehouse(standin.url())`) for the migrations and the transforms in sql/starrocks/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import sqlglot

from blocks.warehouse import base, files_load, resolve_warehouse
from blocks.warehouse.starrocks import StarRocksConnector
from tests.integration.starrocks_standin import StandinRefused, StarRocksStandin, starrocks_standin  # noqa: F401
from tests.integration.starrocks_standin.functions import STARROCKS_FUNCTIONS, check_functions
from tests.integration.starrocks_standin.statements import take_label

pytestmark = pytest.mark.integration

PK_TABLE = "CREATE TABLE t (k VARCHAR(200) NOT NULL, v STRING, n INT) PRIMARY KEY (k) DISTRIBUTED BY HASH (k)"


def connect(standin: StarRocksStandin, password: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host=standin.host, port=standin.port, user=standin.user,
                           password=standin.password if password is None else password,
                           database=standin.database, autocommit=True, charset="utf8mb4")


@pytest.fixture
def cur(starrocks_standin: StarRocksStandin) -> Iterator[pymysql.cursors.Cursor]:  # noqa: F811
    conn = connect(starrocks_standin)
    with conn.cursor() as cursor:
        yield cursor
    conn.close()


def error_of(cursor: pymysql.cursors.Cursor, sql: str, args: Any = None) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        cursor.execute(sql, args)
    return info.value.args[0], info.value.args[1]


def rows(cursor: pymysql.cursors.Cursor, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    cursor.execute(sql, args)
    return list(cursor.fetchall())


# ---------------------------------------------------------------------------------------- protocol, FE answers
def test_a_wrong_password_is_refused_like_the_fe_does(starrocks_standin: StarRocksStandin) -> None:  # noqa: F811
    with pytest.raises(pymysql.err.OperationalError) as info:
        connect(starrocks_standin, password="wrong")
    assert info.value.args == (1045, "Access denied for user 'datawiz_etl' (using password: YES)")
    connect(starrocks_standin).close()


def test_version_user_backends_and_grants(starrocks_standin: StarRocksStandin,  # noqa: F811
                                          cur: pymysql.cursors.Cursor) -> None:
    (current, mysql_version, user, db), = rows(cur, "SELECT current_version(), version(), current_user(), database()")
    assert current.startswith("3.3.5 ") and mysql_version == "8.0.33"
    assert user == "'datawiz_etl'@'%'" and db == starrocks_standin.database
    assert [d[0] for d in cur.description] == ["current_version()", "version()", "current_user()", "database()"]
    backends = rows(cur, "SHOW BACKENDS")
    names = [d[0] for d in cur.description]
    assert len(backends) == 3 and names[:9] == ["BackendId", "IP", "HeartbeatPort", "BePort", "HttpPort", "BrpcPort",
                                                 "LastStartTime", "LastHeartbeat", "Alive"]
    assert {r[names.index("Alive")] for r in backends} == {"true"}
    starrocks_standin.grants["user"] = ["GRANT 'loader' TO 'datawiz_etl'@'%'"]
    starrocks_standin.grants["role:loader"] = ["GRANT INSERT ON ALL TABLES IN DATABASE d TO ROLE 'loader'"]
    assert rows(cur, "SHOW GRANTS") == [("'datawiz_etl'@'%'", None, "GRANT 'loader' TO 'datawiz_etl'@'%'")]
    assert rows(cur, "SHOW GRANTS FOR ROLE loader") == [
        ("loader", "default_catalog", "GRANT INSERT ON ALL TABLES IN DATABASE d TO ROLE 'loader'")]
    assert [d[0] for d in cur.description] == ["RoleName", "Catalog", "Grants"]
    assert starrocks_standin.database in {r[0] for r in rows(cur, "SHOW DATABASES")}
    assert rows(cur, "SELECT 1") == [(1,)]


def test_syntax_errors_and_undocumented_functions_are_refused(cur: pymysql.cursors.Cursor) -> None:
    code, message = error_of(cur, "SELEC 1")
    assert code == 1064 and message.startswith("Getting syntax error at line 1, column")
    # soundex() is MariaDB's, not StarRocks' (docs/en/sql-reference/sql-functions/ lists no such function).
    assert error_of(cur, "SELECT soundex('abc')") == (
        1064, "Getting analyzing error from line 1, column 7 to line 1, column 20. "
              "Detail message: No matching function with signature: soundex(varchar).")


def test_refuse_answers_the_scripted_message(starrocks_standin: StarRocksStandin,  # noqa: F811
                                             cur: pymysql.cursors.Cursor) -> None:
    starrocks_standin.refuse["create_table"] = "Getting analyzing error. Detail message: Unknown storage medium"
    assert error_of(cur, PK_TABLE) == (1064, "Getting analyzing error. Detail message: Unknown storage medium")
    del starrocks_standin.refuse["create_table"]
    cur.execute(PK_TABLE)
    starrocks_standin.refuse["insert"] = "Access denied; you need (at least one of) the INSERT privilege(s)"
    assert error_of(cur, "INSERT INTO t (k) VALUES ('a')")[1].startswith("Access denied; you need")
    assert rows(cur, "SELECT count(*) FROM t") == [(0,)]
    assert "INSERT INTO t (k) VALUES ('a')" in starrocks_standin.statements


def test_session_time_zone_is_asia_shanghai_by_default(cur: pymysql.cursors.Cursor) -> None:
    (now, utc, zone), = rows(cur, "SELECT now(), utc_timestamp(), @@time_zone")
    assert zone == "Asia/Shanghai" and abs((now - utc) - dt.timedelta(hours=8)) < dt.timedelta(seconds=2)
    cur.execute("SET time_zone = 'UTC'")
    (now, utc), = rows(cur, "SELECT current_timestamp(), utc_timestamp()")
    assert abs(now - utc) < dt.timedelta(seconds=2)
    assert error_of(cur, "SET time_zone = 'Mars/Base'") == (1298, "Unknown or incorrect time zone: 'Mars/Base'")


# ---------------------------------------------------------------------------------------- writes
def test_primary_key_tables_upsert_by_key(starrocks_standin: StarRocksStandin,  # noqa: F811
                                          cur: pymysql.cursors.Cursor) -> None:
    cur.execute(PK_TABLE)
    assert cur.execute("INSERT INTO t (k, v, n) VALUES (%s, %s, %s), (%s, %s, %s)", ("a", "x", 1, "b", "y", 2)) == 2
    assert cur.execute("INSERT INTO t (k, v, n) VALUES ('a', 'z', 3)") == 1  # no 1062: the row is replaced
    assert rows(cur, "SELECT k, v, n FROM t ORDER BY k") == [("a", "z", 3), ("b", "y", 2)]
    assert cur.execute("INSERT INTO t (k, v) SELECT k, concat(v, '!') FROM t") == 2
    assert cur.execute("UPDATE t SET n = 7 WHERE k = 'b'") == 1
    assert cur.execute("DELETE FROM t WHERE k = 'a'") == 1
    assert rows(cur, "SELECT k, v, n FROM t") == [("b", "y!", 7)]
    assert starrocks_standin.write_rows("t", [{"k": "b", "v": "stream", "n": 1}, {"k": "c", "v": None}]) == 2
    assert rows(cur, "SELECT k, v, n FROM t ORDER BY k") == [("b", "stream", 1), ("c", None, None)]
    cur.execute("CREATE TABLE d (a INT, b STRING) DUPLICATE KEY (a) DISTRIBUTED BY HASH (a)")
    cur.execute("INSERT INTO d VALUES (1, 'x'), (1, 'x')")
    assert rows(cur, "SELECT count(*) FROM d") == [(2,)]  # Duplicate Key tables append


def test_the_encoded_primary_key_is_limited_to_128_bytes(starrocks_standin: StarRocksStandin,  # noqa: F811
                                                          cur: pymysql.cursors.Cursor) -> None:
    cur.execute(PK_TABLE)
    cur.execute("INSERT INTO t (k) VALUES (%s)", ("a" * 128,))
    assert error_of(cur, "INSERT INTO t (k) VALUES ('ok'), (%s)", ("é" * 65,)) == (
        1064, "primary key size exceed the limit.")  # 130 bytes; nothing of the statement is written
    assert rows(cur, "SELECT count(*) FROM t") == [(1,)]
    # Composite: a VARCHAR that is not the last key column costs bytes + 2, BIGINT 8.
    cur.execute("CREATE TABLE c (s VARCHAR(200) NOT NULL, b BIGINT NOT NULL, x INT) PRIMARY KEY (s, b) "
                "DISTRIBUTED BY HASH (s)")
    cur.execute("INSERT INTO c (s, b) VALUES (%s, 1)", ("s" * 118,))  # 118 + 2 + 8 = 128
    assert error_of(cur, "INSERT INTO c (s, b) VALUES (%s, 1)", ("s" * 119,))[1] == "primary key size exceed the limit."
    cur.execute("CREATE TABLE e (b BIGINT NOT NULL, s VARCHAR(200) NOT NULL) PRIMARY KEY (b, s) "
                "DISTRIBUTED BY HASH (b)")
    cur.execute("INSERT INTO e VALUES (1, %s)", ("s" * 120,))  # the last key column: its bytes only
    with pytest.raises(StandinRefused, match=r"^primary key size exceed the limit\.$"):
        starrocks_standin.write_rows("e", [{"b": 2, "s": "s"}, {"b": 3, "s": "s" * 121}])
    assert rows(cur, "SELECT count(*) FROM e") == [(1,)]


def test_string_limits_count_bytes_and_strict_mode_decides(starrocks_standin: StarRocksStandin,  # noqa: F811
                                                           cur: pymysql.cursors.Cursor) -> None:
    cur.execute("CREATE TABLE s (id INT NOT NULL, short VARCHAR(4), long STRING) PRIMARY KEY (id) "
                "DISTRIBUTED BY HASH (id)")
    code, message = error_of(cur, "INSERT INTO s VALUES (1, 'ok', 'x'), (2, 'ééé', 'x')")  # 6 bytes > 4
    assert code == 1064 and message.startswith("Insert has filtered data in strict mode, tracking_url=")
    assert error_of(cur, "INSERT INTO s (id, long) VALUES (3, %s)", ("x" * 65534,))[1].startswith(
        "Insert has filtered data in strict mode")
    assert rows(cur, "SELECT count(*) FROM s") == [(0,)]
    # Without strict mode an over-long value is loaded as NULL; a NULL where NOT NULL is required drops the row
    # (docs/en/loading/load_concept/strict_mode.md).
    cur.execute("SET enable_insert_strict = false")
    assert rows(cur, "SELECT @@enable_insert_strict") == [(0,)]
    assert cur.execute("INSERT INTO s (id, long) VALUES (3, %s), (4, %s), (NULL, 'x')",
                       ("x" * 65534, "x" * 65533)) == 2
    assert rows(cur, "SELECT id, length(long) FROM s ORDER BY id") == [(3, None), (4, 65533)]
    assert starrocks_standin.filtered_rows == 1
    with pytest.raises(StandinRefused, match="too many filtered rows"):
        starrocks_standin.write_rows("s", [{"id": 5, "short": "12345"}])
    assert starrocks_standin.write_rows("s", [{"id": 5, "short": "12345"}], strict=False) == 1
    assert rows(cur, "SELECT short FROM s WHERE id = 5") == [(None,)]


def test_labels_are_unique_while_running_and_after_commit(starrocks_standin: StarRocksStandin,  # noqa: F811
                                                          cur: pymysql.cursors.Cursor) -> None:
    cur.execute(PK_TABLE)
    assert cur.execute("INSERT INTO t WITH LABEL l1 (k) VALUES ('a')") == 1
    assert "'label':'l1'" in cur._result.message.decode()
    assert starrocks_standin.labels["l1"] == "VISIBLE"
    with pytest.raises(pymysql.err.MySQLError) as info:
        cur.execute("INSERT INTO t WITH LABEL l1 (k) VALUES ('b')")
    assert info.value.args == (1064, "Label [l1] has already been used.")
    assert files_load.label_already_used(info.value)  # what the pushdown load recognises
    starrocks_standin.labels["running"] = "PREPARED"  # a load under that label still runs elsewhere
    assert error_of(cur, "INSERT INTO t WITH LABEL running SELECT 'c', NULL, NULL") == (
        1064, "Label [running] has already been used.")
    starrocks_standin.labels["again"] = "ABORTED"  # an aborted label may be used again
    cur.execute("INSERT INTO t WITH LABEL again (k) VALUES ('d')")
    assert rows(cur, "SELECT k FROM t ORDER BY k") == [("a",), ("d",)]


# ---------------------------------------------------------------------------------------- DDL features
def test_replication_num_above_the_alive_backends_is_refused(mysql_url: str) -> None:
    standin = StarRocksStandin(mysql_url, backends=1)
    try:
        conn = connect(standin)
        with conn.cursor() as cursor:
            code, message = error_of(cursor, PK_TABLE)
            assert code == 1064 and message.startswith(
                "Table replication num should be less than or equal to the number of available BE nodes. "
                "You can change this default by setting the replication_num table properties. "
                "Current alive backend is [10001].")
            cursor.execute(PK_TABLE + ' PROPERTIES ("replication_num" = "1")')
            assert rows(cursor, "SELECT count(*) FROM t") == [(0,)]
        conn.close()
    finally:
        standin.close()


@pytest.mark.parametrize("version, allowed", [("3.3.0", False), ("3.3.1", True)])
def test_temporary_tables_need_3_3_1_and_belong_to_their_session(mysql_url: str, version: str,
                                                                  allowed: bool) -> None:
    standin = StarRocksStandin(mysql_url, version=version)
    try:
        one, two = connect(standin), connect(standin)
        with one.cursor() as cursor, two.cursor() as other:
            sql = "CREATE TEMPORARY TABLE tmp AS SELECT 1 AS a"
            if not allowed:
                assert error_of(cursor, sql) == (
                    1064, "Getting syntax error at line 1, column 7. Detail message: Unexpected input 'TEMPORARY'.")
                return
            cursor.execute(sql)
            assert rows(cursor, "SELECT a FROM tmp") == [(1,)]
            assert error_of(other, "SELECT a FROM tmp")[0] == 1146  # another session does not see it
            cursor.execute("DROP TEMPORARY TABLE tmp")
        one.close()
        two.close()
    finally:
        standin.close()


def test_async_views_refresh_on_base_changes_and_manual_ones_on_request(
        starrocks_standin: StarRocksStandin, cur: pymysql.cursors.Cursor) -> None:  # noqa: F811
    cur.execute(PK_TABLE)
    cur.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
    cur.execute("CREATE MATERIALIZED VIEW mv DISTRIBUTED BY HASH (k) REFRESH ASYNC AS SELECT k, sum(n) AS total "
                "FROM t GROUP BY k")
    assert starrocks_standin.refreshes == {"mv": 1}  # IMMEDIATE (the default): refreshed at creation
    cur.execute("INSERT INTO t (k, n) VALUES ('b', 2)")
    starrocks_standin.write_rows("t", [{"k": "c", "n": 3}])
    cur.execute("DELETE FROM t WHERE k = 'a'")
    assert starrocks_standin.refreshes == {"mv": 4}
    assert rows(cur, "SELECT k, total FROM mv ORDER BY k") == [("b", 2), ("c", 3)]
    cur.execute("ALTER MATERIALIZED VIEW mv REFRESH MANUAL")
    cur.execute("INSERT INTO t (k, n) VALUES ('d', 4)")
    assert starrocks_standin.refreshes == {"mv": 4} and len(rows(cur, "SELECT * FROM mv")) == 2
    cur.execute("REFRESH MATERIALIZED VIEW mv PARTITION START ('2024-01-01') END ('2024-02-01') WITH SYNC MODE")
    assert starrocks_standin.refreshes == {"mv": 5} and len(rows(cur, "SELECT * FROM mv")) == 3


def test_scratch_databases_are_created_used_and_dropped(starrocks_standin: StarRocksStandin,  # noqa: F811
                                                        cur: pymysql.cursors.Cursor) -> None:
    cur.execute("CREATE DATABASE datawiz_selftest_0badcafe")
    cur.execute("USE datawiz_selftest_0badcafe")
    cur.execute(PK_TABLE + ' PROPERTIES ("replication_num" = "1")')
    cur.execute("INSERT INTO t (k) VALUES ('x')")
    assert rows(cur, "SELECT database(), count(*) FROM t") == [("datawiz_selftest_0badcafe", 1)]
    cur.connection.select_db(starrocks_standin.database)  # COM_INIT_DB
    cur.execute("DROP DATABASE IF EXISTS datawiz_selftest_0badcafe FORCE")
    assert "datawiz_selftest_0badcafe" not in {r[0] for r in rows(cur, "SHOW DATABASES")}
    assert error_of(cur, "USE datawiz_selftest_0badcafe") == (1049, "Unknown database 'datawiz_selftest_0badcafe'")


# ---------------------------------------------------------------------------------------- our own SQL
@pytest.mark.parametrize("name", sorted(base.dialect_sql("starrocks")))
def test_our_starrocks_sql_calls_only_documented_functions(name: str) -> None:
    for statement in base.split_statements(base.dialect_sql("starrocks")[name].replace("${replication_num}", "1")):
        text = re.sub(r"(?<![:\w]):[A-Za-z_]\w*", "NULL", statement)  # :name parameters (bound client-side)
        _label, text = take_label(text)
        header = re.match(r"(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+.*?\bAS\s+(SELECT\b.*)$", text)
        text = header.group(1) if header else text
        if re.match(r"(?i)^(REFRESH|ALTER\s+(MATERIALIZED\s+VIEW|TABLE\s+\w+\s+SWAP)|ANALYZE)\b", text):
            continue
        check_functions(sqlglot.parse_one(text, read="starrocks"), text)
    assert {"upper", "trim", "now", "count", "max", "min", "sum", "sha2", "concat"} <= STARROCKS_FUNCTIONS


def test_migrations_and_every_transform_run_through_the_connector(starrocks_standin: StarRocksStandin  # noqa: F811
                                                                   ) -> None:
    wh = resolve_warehouse(starrocks_standin.url())
    assert isinstance(wh, StarRocksConnector)
    try:
        assert wh.migrate() == ["V001__core.sql", "V002__row_level_security.sql", "V003__short_keys_manual_mv.sql"]
        assert wh.migrate() == []
        seed(wh)
        wh.run_sql_file("sales_hierarchy", {
            "snapshot_date": dt.date(2024, 1, 1), "day_before": dt.date(2023, 12, 31), "run_id": "r1",
            "loaded_at": dt.datetime(2024, 2, 1), "source_file": "stg/x.csv", "source_version": "v1"})
        assert wh.query("SELECT tsr_code, so_code, nsm_code FROM dim_sales_hierarchy WHERE is_current").to_pylist() \
            == [{"tsr_code": "T1", "so_code": "S1", "nsm_code": "N1"}]
        wh.run_sql_file("dd_month", {"month_start": dt.date(2024, 1, 1), "month_end": dt.date(2024, 1, 31),
                                     "loaded_at": dt.datetime(2024, 2, 1), "run_id": "r1"})
        tsr = wh.query("SELECT tsr_code, so_code, bills, `lines`, focus_brand_outlets, net_sales "
                       "FROM agg_dd_tsr_month").to_pylist()
        assert len(tsr) == 1 and tsr[0]["so_code"] == "S1" and tsr[0]["bills"] == 2 and tsr[0]["lines"] == 3
        assert tsr[0]["focus_brand_outlets"] == 1
        assert wh.query("SELECT count(*) AS n FROM agg_dd_outlet_month")["n"][0].as_py() == 2
        wh.run_sql_file("rpt_sales_daily", {})
        assert wh.query("SELECT count(*) AS n FROM rpt_sales_daily")["n"][0].as_py() == 3  # (day, region, brand)
        wh.run_sql_file("dim_date", {"start": dt.date(2024, 3, 30), "end": dt.date(2024, 4, 2)})
        dates = wh.query("SELECT date_key, day_of_week, fiscal_year, fiscal_quarter, fiscal_month, is_weekend "
                         "FROM dim_date ORDER BY date_key").to_pylist()
        assert [d["fiscal_year"] for d in dates] == ["FY2023-24", "FY2023-24", "FY2024-25", "FY2024-25"]
        assert dates[0]["day_of_week"] == 6 and dates[0]["is_weekend"] == 1 and dates[2]["fiscal_month"] == 1
        wh.run_sql_file("maintenance", {})
        # V002's view filters by current_user(): the stand-in's login user.
        wh.execute("INSERT INTO sec_user_region (user_name, region) VALUES ('datawiz_etl', 'North')")
        assert wh.query("SELECT count(*) AS n FROM v_secondary_sales_secure")["n"][0].as_py() == 3
    finally:
        wh.close()


def seed(wh: StarRocksConnector) -> None:
    """A TSR chain, two products (one a focus brand), two retailers, three invoice lines in January 2024."""
    lineage = {"f": "seed.csv", "v": "v1", "t": dt.datetime(2024, 2, 1), "r": "r0"}
    for code, role, manager in [("T1", "TSR", "S1"), ("S1", "SO", "A1"), ("A1", "ASM", "R1"), ("R1", "RSM", "Z1"),
                                ("Z1", "ZSM", "N1"), ("N1", "NSM", None)]:
        wh.execute("INSERT INTO stg_tsr_snapshot (snapshot_date, employee_code, employee_name, `role`, manager_code, "
                   "region, territory, is_active, updated_at, _source_file, _source_version, _loaded_at, _run_id) "
                   "VALUES (:d, :c, :c, :role, :m, 'North', 'T', true, :t, :f, :v, :t, :r)",
                   {"d": dt.date(2024, 1, 1), "c": code, "role": role, "m": manager, **lineage})
    for sku, brand in [("P1", "BrandA"), ("P2", "BrandB")]:
        wh.execute("INSERT INTO dim_product (sku_code, sku_name, brand, category, pack_size, uom, mrp, gst_rate, "
                   "is_active, updated_at, _source_file, _source_version, _loaded_at, _run_id) VALUES "
                   "(:s, :s, :b, 'C', 1, 'EA', 10, 5, true, :t, :f, :v, :t, :r)", {"s": sku, "b": brand, **lineage})
    wh.execute("INSERT INTO dim_distributor (distributor_code, distributor_name, city, state, region, channel, "
               "onboarded_on, is_active, updated_at, _source_file, _source_version, _loaded_at, _run_id) VALUES "
               "('D1', 'D', 'c', 's', 'North', 'GT', :d, true, :t, :f, :v, :t, :r)",
               {"d": dt.date(2020, 1, 1), **lineage})
    for name, value in [("focus_brands", '["BrandA"]'), ("min_productive_bill_value", "100"),
                        ("target_lines_per_bill", "2")]:
        wh.execute("INSERT INTO business_constants (constant_name, `value`, as_of, _source_file, _source_version, "
                   "_loaded_at, _run_id) VALUES (:n, :val, :d, :f, :v, :t, :r)",
                   {"n": name, "val": value, "d": dt.date(2024, 1, 1), **lineage})
    for invoice, line, day, retailer, sku, amount in [("INV0000000001", 1, 5, "R1", "P1", 150),
                                                       ("INV0000000001", 2, 5, "R1", "P2", 20),
                                                       ("INV0000000002", 1, 6, "R2", "P2", 50)]:
        wh.execute("INSERT INTO fact_secondary_sales (invoice_no, line_no, invoice_date, doc_type, distributor_code, "
                   "retailer_code, tsr_code, sku_code, quantity, free_quantity, gross_amount, discount_amount, "
                   "tax_amount, net_amount, updated_at, _source_file, _source_version, _loaded_at, _run_id) VALUES "
                   "(:i, :l, :d, 'INV', 'D1', :ret, 'T1', :s, 1, 0, :a, 0, 0, :a, :t, :f, :v, :t, :r)",
                   {"i": invoice, "l": line, "d": dt.date(2024, 1, day), "ret": retailer, "s": sku, "a": amount,
                    **lineage})


def test_files_reads_parquet_from_the_local_folder_behind_the_blob_url(mysql_url: str, tmp_path: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"code": [" a1 ", "b2"], "qty": [1, 2]}), tmp_path / "in" / "x.parquet")
    standin = StarRocksStandin(mysql_url, files_root=tmp_path)
    try:
        conn = connect(standin)
        with conn.cursor() as cursor:
            cursor.execute(PK_TABLE)
            files = ('FILES("path" = "wasbs://c@acct.blob.core.windows.net/in/x.parquet", "format" = "parquet", '
                     '"azure.blob.storage_account" = "acct", "azure.blob.shared_key" = "a2V5")')
            assert cursor.execute(f"INSERT INTO t WITH LABEL f1 (k, v, n) SELECT upper(trim(code)), %s, qty "
                                  f"FROM {files}", ("v1",)) == 2
            assert rows(cursor, "SELECT k, v, n FROM t ORDER BY k") == [("A1", "v1", 1), ("B2", "v1", 2)]
            assert standin.labels["f1"] == "VISIBLE"
            standin.refuse["files"] = "Access denied for FILES()"
            assert error_of(cursor, f"SELECT count(*) FROM {files}") == (1064, "Access denied for FILES()")
        conn.close()
    finally:
        standin.close()

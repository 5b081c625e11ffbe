"""`datawiz check` on StarRocks: SHOW GRANTS is read as StarRocks >= 3.0 prints it, roles are followed.

The rows copy the shapes of StarRocks' own output: the SHOW GRANTS examples of
docs/en/sql-reference/sql-statements/account-management/SHOW_GRANTS.md ((UserIdentity, Catalog, Grants);
(RoleName, Catalog, Grants); role assignments with Catalog NULL), and the text the FE prints for a grant
(AstToStringBuilder.visitGrantRevokePrivilegeStatement: `GRANT SELECT, INSERT ON ALL TABLES IN DATABASE dw
TO ROLE 'loader'`, `... ON TABLE dw.t TO USER 'u'@'%'`, role grants `GRANT 'r1', 'r2' TO 'u'@'%'`).
No server: the role lookups are a dict.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tasks.health import CheckResult, _run_check, _starrocks_load
from tasks.starrocks_grants import (
    GrantReport,
    PrivilegeGrant,
    RoleGrant,
    StarRocksNeeds,
    evaluate_grants,
    follow_roles,
    parse_active_roles,
    parse_grant,
    parse_show_grants,
    privileges_on,
    starrocks_needs,
    starrocks_version,
)

USER = "'datawiz_etl'@'%'"
TABLES = ("fact_secondary_sales", "dim_product", "etl_file_ledger")
MVS = ("rpt_sales_daily",)
NEEDS = StarRocksNeeds(TABLES, MVS)  # the runtime needs (no migration ALTER/DROP): see the last tests

# The example of SHOW_GRANTS.md, as the docs print it (CREATE_TABLE with an underscore, `;` at the end).
DOCS_USER_G = [
    ("'user_g'@'%'", None, "GRANT role_g, public to `user_g`@`%`;"),
    ("'user_g'@'%'", None, "GRANT IMPERSONATE ON USER `user_a`@`%` TO USER `user_g`@`%`;"),
    ("'user_g'@'%'", "default", "GRANT CREATE_DATABASE ON CATALOG default_catalog TO USER `user_g`@`%`;"),
    ("'user_g'@'%'", "default", "GRANT ALTER, DROP, CREATE_TABLE ON DATABASE db1 TO USER `user_g`@`%`;"),
    ("'user_g'@'%'", "default", "GRANT CREATE_VIEW ON DATABASE db1 TO USER `user_g`@`%` WITH GRANT OPTION;"),
    ("'user_g'@'%'", "default",
     "GRANT ALTER, DROP, SELECT, INGEST, EXPORT, DELETE, UPDATE ON TABLE db.* TO USER `user_g`@`%`;"),
    ("'user_g'@'%'", "default", "GRANT ALTER, DROP, SELECT ON VIEW db2.view TO USER `user_g`@`%`;"),
    ("'user_g'@'%'", "Hive_catalog", "GRANT USAGE ON CATALOG Hive_catalog TO USER `user_g`@`%`"),
]


def user_rows(*grants: str, roles: tuple[str, ...] = ()) -> list[tuple[str, str | None, str]]:
    rows: list[tuple[str, str | None, str]] = []
    if roles:
        rows.append((USER, None, f"GRANT {', '.join(repr(r) for r in roles)} TO {USER}"))
    rows += [(USER, "default_catalog", g) for g in grants]
    return rows


def role_rows(name: str, *grants: str, parents: tuple[str, ...] = ()) -> list[tuple[str, str | None, str]]:
    rows: list[tuple[str, str | None, str]] = []
    if parents:
        rows.append((name, None, f"GRANT {', '.join(repr(p) for p in parents)} TO  ROLE {name}"))
    rows += [(name, "default_catalog", g) for g in grants]
    return rows


def lookup(roles: dict[str, list[tuple[str, str | None, str]]], calls: list[str] | None = None
           ) -> Callable[[str], list[object]]:
    def fetch(role: str) -> list[object]:
        if calls is not None:
            calls.append(role)
        if role not in roles:
            raise RuntimeError(f"Access denied; you need (at least one of) the GRANT privilege(s) for role {role}")
        return list(roles[role])

    return fetch


def report(rows: list[tuple[str, str | None, str]], roles: dict[str, list[tuple[str, str | None, str]]] | None = None,
           active: set[str] | None = None, needs: StarRocksNeeds = NEEDS) -> GrantReport:
    return evaluate_grants(follow_roles(list(rows), lookup(roles or {})), "dw", needs, active)


FULL_TABLES = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN DATABASE dw TO USER 'datawiz_etl'@'%'"
FULL_DB = "GRANT CREATE TABLE, CREATE VIEW, CREATE MATERIALIZED VIEW ON DATABASE dw TO USER 'datawiz_etl'@'%'"
FULL_MV = "GRANT SELECT, REFRESH ON ALL MATERIALIZED VIEWS IN DATABASE dw TO USER 'datawiz_etl'@'%'"


# ------------------------------------------------------------------------------------------------ parsing
def test_the_docs_example_parses_into_roles_and_scoped_grants() -> None:
    grants, roles = parse_show_grants(list(DOCS_USER_G))
    assert roles == ["role_g", "public"]
    assert PrivilegeGrant(frozenset({"ALTER", "DROP", "CREATE TABLE"}), "DATABASE", "db1", None, "default") in grants
    assert PrivilegeGrant(frozenset({"CREATE VIEW"}), "DATABASE", "db1", None, "default") in grants
    tables = next(g for g in grants if g.object_type == "TABLE")
    assert (tables.database, tables.name) == ("db", None), "ON TABLE db.* covers every table of db"
    assert {"SELECT", "DELETE", "UPDATE"} <= tables.privileges
    assert PrivilegeGrant(frozenset({"SELECT", "ALTER", "DROP"}), "VIEW", "db2", "view", "default") in grants
    assert privileges_on(grants, "DATABASE", "db1") == {"ALTER", "DROP", "CREATE TABLE", "CREATE VIEW"}
    assert privileges_on(grants, "TABLE", "db1") == set(), "db.* is not db1.*"


@pytest.mark.parametrize(("text", "expected"), [
    ("GRANT SELECT, INSERT ON ALL TABLES IN ALL DATABASES TO ROLE 'loader'",
     [("TABLE", None, None, {"SELECT", "INSERT"})]),
    ("GRANT DELETE ON ALL TABLES IN DATABASE dw TO USER 'u'@'%'", [("TABLE", "dw", None, {"DELETE"})]),
    ("GRANT UPDATE ON TABLE dw.etl_file_ledger TO USER 'u'@'%'", [("TABLE", "dw", "etl_file_ledger", {"UPDATE"})]),
    ("GRANT INSERT ON TABLE `dw`.`fact_secondary_sales` TO ROLE 'r'",
     [("TABLE", "dw", "fact_secondary_sales", {"INSERT"})]),
    ("GRANT SELECT ON *.* TO 'jack'@'%'", [("TABLE", None, None, {"SELECT"})]),  # GRANT.md example 1
    ("GRANT INSERT ON db1.* TO ROLE 'my_role'", [("TABLE", "db1", None, {"INSERT"})]),  # GRANT.md example 2
    ("GRANT SELECT ON TABLE t1, t2 IN DATABASE dw TO ROLE r",
     [("TABLE", "dw", "t1", {"SELECT"}), ("TABLE", "dw", "t2", {"SELECT"})]),
    ("GRANT CREATE TABLE, CREATE MATERIALIZED VIEW ON ALL DATABASES TO ROLE 'r'",
     [("DATABASE", None, None, {"CREATE TABLE", "CREATE MATERIALIZED VIEW"})]),
    ("GRANT ALL PRIVILEGES ON DATABASE dw TO ROLE 'r'", [("DATABASE", "dw", None, {"ALL"})]),
    ("GRANT REFRESH ON ALL MATERIALIZED VIEWS IN DATABASE dw TO ROLE 'r'",
     [("MATERIALIZED VIEW", "dw", None, {"REFRESH"})]),
    ("GRANT SELECT, REFRESH ON MATERIALIZED VIEW dw.rpt_sales_daily TO ROLE 'r'",
     [("MATERIALIZED VIEW", "dw", "rpt_sales_daily", {"SELECT", "REFRESH"})]),
    ("GRANT USAGE, CREATE DATABASE ON CATALOG default_catalog TO USER 'u'@'%'",
     [("CATALOG", None, "default_catalog", {"USAGE", "CREATE DATABASE"})]),
    ("GRANT OPERATE ON SYSTEM TO ROLE 'ops'", [("SYSTEM", None, None, {"OPERATE"})]),
])
def test_grant_objects_and_scopes(text: str, expected: list[tuple[str, str | None, str | None, set[str]]]) -> None:
    parsed = parse_grant(text)
    assert isinstance(parsed, list)
    assert [(g.object_type, g.database, g.name, set(g.privileges)) for g in parsed] == expected


def test_role_assignments_to_users_and_roles() -> None:
    assert parse_grant("GRANT 'root', 'testrole' TO 'root'@'%'") == RoleGrant(("root", "testrole"))  # SHOW_GRANTS.md
    assert parse_grant("GRANT 'role_p', 'role_test' TO  ROLE role_g") == RoleGrant(("role_p", "role_test"))
    assert parse_grant("GRANT db_admin, user_admin, cluster_admin TO USER user_platform") == RoleGrant(
        ("db_admin", "user_admin", "cluster_admin"))  # GRANT.md example 8
    assert parse_grant("not a grant") is None


def test_all_expands_per_object_type() -> None:
    (table_all,) = parse_grant("GRANT ALL ON ALL TABLES IN DATABASE dw TO ROLE r")  # type: ignore[misc]
    assert {"SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "DROP", "EXPORT"} <= table_all.expanded()
    assert "CREATE TABLE" not in table_all.expanded(), "ALL on tables is not a database privilege"
    (mv_all,) = parse_grant("GRANT ALL ON ALL MATERIALIZED VIEWS IN ALL DATABASES TO ROLE r")  # type: ignore[misc]
    assert {"SELECT", "REFRESH"} <= mv_all.expanded()


@pytest.mark.parametrize(("value", "expected"), [
    ("loader, reader", {"loader", "reader"}), ("db_admin", {"db_admin"}), ("NONE", set()), (None, None), ("", None),
])
def test_current_role_answer(value: object, expected: set[str] | None) -> None:
    assert parse_active_roles(value) == expected


def test_version_parsing() -> None:
    assert starrocks_version("3.3.5 6e2b2a0") == (3, 3, 5)
    assert starrocks_version("2.1.2 0782ad7") == (2, 1, 2)  # current_version.md example
    assert starrocks_version("3.4") == (3, 4, 0)
    assert starrocks_version("unknown") is None


# ------------------------------------------------------------------------------------------------ evaluation
def test_the_check_names_what_is_missing_and_the_roles_followed() -> None:
    rows = user_rows("GRANT CREATE TABLE, CREATE VIEW ON DATABASE dw TO USER 'datawiz_etl'@'%'",
                     roles=("loader", "reader"))
    roles = {
        "loader": role_rows("loader", "GRANT INSERT, SELECT ON ALL TABLES IN DATABASE dw TO ROLE 'loader'"),
        "reader": role_rows("reader",
                            "GRANT SELECT, REFRESH ON ALL MATERIALIZED VIEWS IN DATABASE dw TO ROLE 'reader'"),
    }
    result = report(rows, roles, active={"loader", "reader"})
    assert not result.ok
    assert result.describe("datawiz_etl") == (
        "user datawiz_etl lacks DELETE, UPDATE on tables of dw; CREATE MATERIALIZED VIEW on database dw "
        "(roles followed: loader, reader)")


def test_everything_granted_directly_passes_and_says_so() -> None:
    result = report(user_rows(FULL_TABLES, FULL_DB, FULL_MV), active=set())
    assert result.ok and result.roles_followed == ()
    assert "user datawiz_etl can load into dw" in result.describe("datawiz_etl")
    assert "roles followed: none" in result.describe("datawiz_etl")


def test_roles_granted_to_roles_are_followed_recursively() -> None:
    rows = user_rows(roles=("etl",))
    roles = {
        "etl": role_rows("etl", FULL_DB.replace("USER 'datawiz_etl'@'%'", "ROLE 'etl'"), parents=("writer",)),
        "writer": role_rows("writer", "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN ALL DATABASES TO ROLE 'writer'",
                            parents=("reader",)),
        "reader": role_rows("reader", "GRANT SELECT ON ALL TABLES IN DATABASE dw TO ROLE 'reader'",
                            "GRANT SELECT, REFRESH ON MATERIALIZED VIEW dw.rpt_sales_daily TO ROLE 'reader'"),
    }
    result = report(rows, roles, active={"etl"})
    assert result.ok, result.describe("datawiz_etl")
    assert result.roles_followed == ("etl", "writer", "reader")


def test_a_cycle_of_role_grants_is_read_once_each() -> None:
    calls: list[str] = []
    roles = {"a": role_rows("a", parents=("b",)), "b": role_rows("b", FULL_TABLES, parents=("a",))}
    graph = follow_roles(user_rows(roles=("a",)), lookup(roles, calls))
    assert sorted(calls) == ["a", "b"]
    assert graph.closure(["a"]) == ["a", "b"]


@pytest.mark.parametrize("system_role", ["root", "db_admin"])
def test_root_and_db_admin_give_everything_even_when_inherited(system_role: str) -> None:
    calls: list[str] = []
    roles = {"platform": role_rows("platform", parents=(system_role,))}
    graph = follow_roles(user_rows(roles=("platform",)), lookup(roles, calls))
    result = evaluate_grants(graph, "dw", NEEDS, {"platform"})
    assert result.ok and result.admin_role == system_role
    assert calls == ["platform"], "a system role's scope is fixed: it is not read"
    assert f"role {system_role} gives every privilege" in result.describe("u")


def test_only_active_roles_count_and_inactive_ones_are_named_with_the_fix() -> None:
    rows = user_rows(FULL_DB, roles=("reader", "loader"))
    roles = {"reader": role_rows("reader", FULL_MV.replace("USER 'datawiz_etl'@'%'", "ROLE 'reader'")),
             "loader": role_rows("loader", FULL_TABLES.replace("USER 'datawiz_etl'@'%'", "ROLE 'loader'"))}
    result = report(rows, roles, active={"reader"})  # SET DEFAULT ROLE reader: loader is granted, not active
    assert not result.ok and result.inactive_roles == ("loader",) and result.inactive_would_help
    text = result.describe("datawiz_etl")
    assert text.startswith(
        "user datawiz_etl lacks DELETE, INSERT, SELECT, UPDATE on tables of dw (roles followed: reader)")
    assert "granted but not active at login: loader (they would give what is missing)" in text
    assert "SET DEFAULT ROLE loader TO datawiz_etl" in text and "activate_all_roles_on_login" in text
    assert report(rows, roles, active={"reader", "loader"}).ok


def test_public_is_always_active_and_an_unknown_active_set_counts_every_role() -> None:
    rows = user_rows(FULL_DB, FULL_MV, roles=("public", "loader"))
    roles = {"public": role_rows("public", "GRANT SELECT ON ALL TABLES IN ALL DATABASES TO ROLE 'public'"),
             "loader": role_rows("loader", "GRANT INSERT, UPDATE, DELETE ON TABLE dw.* TO ROLE 'loader'")}
    none_active = report(rows, roles, active=set())  # current_role() = NONE
    assert none_active.roles_followed == ("public",)
    assert none_active.missing == (("tables of dw", ("DELETE", "INSERT", "UPDATE")),)
    unknown = report(rows, roles, active=None)  # current_role() unanswered
    assert unknown.ok and not unknown.active_roles_known
    assert "every granted role counted" in unknown.describe("datawiz_etl")


def test_other_databases_external_catalogs_and_table_grants_do_not_count_where_they_do_not_apply() -> None:
    rows = [
        (USER, "default_catalog", "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN DATABASE dw_test TO USER 'u'"),
        (USER, "hive_prod", "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN DATABASE dw TO USER 'u'"),
        (USER, "default_catalog", "GRANT ALL ON ALL TABLES IN DATABASE dw TO USER 'u'"),  # not the MV, not the db
        (USER, "default_catalog", "GRANT CREATE DATABASE ON CATALOG default_catalog TO USER 'u'"),
    ]
    result = report(rows, active=set())
    assert result.missing == (
        ("database dw", ("CREATE MATERIALIZED VIEW", "CREATE TABLE", "CREATE VIEW")),
        ("materialized view dw.rpt_sales_daily", ("REFRESH", "SELECT")),
    )


def test_per_table_grants_count_only_for_the_tables_they_name() -> None:
    per_table = [f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE dw.{t} TO USER 'u'@'%'" for t in TABLES]
    assert report(user_rows(*per_table, FULL_DB, FULL_MV), active=set()).ok
    partial = report(user_rows(*per_table[:-1], FULL_DB, FULL_MV), active=set())
    assert partial.missing == (("tables dw.etl_file_ledger", ("DELETE", "INSERT", "SELECT", "UPDATE")),)


def test_all_databases_and_all_privileges_scopes() -> None:
    rows = user_rows("GRANT ALL PRIVILEGES ON ALL TABLES IN ALL DATABASES TO USER 'u'@'%'",
                     "GRANT ALL ON ALL DATABASES TO USER 'u'@'%'",
                     "GRANT ALL ON ALL MATERIALIZED VIEWS IN ALL DATABASES TO USER 'u'@'%'")
    assert report(rows, active=set()).ok


def test_an_unreadable_role_is_reported_and_gives_nothing() -> None:
    result = report(user_rows(FULL_DB, FULL_MV, roles=("loader",)), {}, active={"loader"})
    assert not result.ok and result.unreadable_roles[0][0] == "loader"
    assert "could not read role loader: Access denied" in result.describe("datawiz_etl")


# ------------------------------------------------------------------------------------------------ the check line
class FakeStarRocks:
    """What `_starrocks_load` asks of the connector: current_version(), SHOW GRANTS [FOR ROLE], current_role()."""

    user, database = "datawiz_etl", "dw"

    def __init__(self, rows: list[tuple[str, str | None, str]], roles: dict[str, list[tuple[str, str | None, str]]],
                 active: str | None) -> None:
        self.rows, self.roles, self.active = rows, roles, active

    def fetch_one(self, sql: str, *_: object) -> tuple[object, ...]:
        return ("3.3.5 6e2b2a0",) if "current_version" in sql else (self.active,)

    def fetch_all(self, sql: str, *_: object) -> list[tuple[str, str | None, str]]:
        if sql == "SHOW GRANTS":
            return self.rows
        return self.roles[sql.rsplit(" ", 1)[-1]]


def test_the_load_line_on_failure_and_success() -> None:
    rows = user_rows("GRANT CREATE TABLE, CREATE VIEW ON DATABASE dw TO USER 'datawiz_etl'@'%'",
                     roles=("loader", "reader"))
    roles = {"loader": role_rows("loader", "GRANT INSERT, SELECT ON ALL TABLES IN DATABASE dw TO ROLE 'loader'"),
             "reader": role_rows("reader", "GRANT SELECT, REFRESH ON ALL MATERIALIZED VIEWS IN DATABASE dw TO ROLE r")}
    fail = _run_check("load", lambda: _starrocks_load(FakeStarRocks(rows, roles, "loader, reader")))  # type: ignore[arg-type]
    # The real needs: V003's ALTER TABLE ... SWAP, DROP TABLE and ALTER MATERIALIZED VIEW count too.
    assert fail.line() == (
        "FAIL load      StarRocks 3.3.5: user datawiz_etl lacks ALTER, DELETE, DROP, UPDATE on tables of dw; "
        "CREATE MATERIALIZED VIEW on database dw; ALTER on materialized view dw.rpt_sales_daily "
        "(roles followed: loader, reader)")
    roles["loader"] = role_rows("loader", "GRANT ALL ON ALL TABLES IN DATABASE dw TO ROLE 'loader'",
                                "GRANT CREATE MATERIALIZED VIEW ON DATABASE dw TO ROLE 'loader'",
                                "GRANT ALTER ON MATERIALIZED VIEW dw.rpt_sales_daily TO ROLE 'loader'")
    ok = _run_check("load", lambda: _starrocks_load(FakeStarRocks(rows, roles, "loader, reader")))  # type: ignore[arg-type]
    assert isinstance(ok, CheckResult) and ok.ok
    assert ok.line().startswith("OK   load      StarRocks 3.3.5: user datawiz_etl can load into dw (")
    assert ok.line().endswith("roles followed: loader, reader)")


def test_the_needs_come_from_the_migrations() -> None:
    needs = starrocks_needs()
    assert {"schema_migrations", "fact_secondary_sales", "etl_file_ledger", "etl_quarantine"} <= set(needs.tables)
    assert not any(t.endswith("_v3") for t in needs.tables), "V003's swap tables are dropped again"
    assert needs.materialized_views == ("rpt_sales_daily",)
    # V003 runs ALTER TABLE ... SWAP WITH, DROP TABLE and ALTER MATERIALIZED VIEW ... REFRESH MANUAL.
    assert needs.on_tables == ("SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "DROP")
    assert needs.on_database == ("CREATE TABLE", "CREATE VIEW", "CREATE MATERIALIZED VIEW")
    assert needs.on_mvs == ("SELECT", "REFRESH", "ALTER")

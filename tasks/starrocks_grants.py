"""StarRocks privileges (>= 3.0): does the login user have everything the pipeline needs on its database?

`datawiz check` and `datawiz starrocks selftest` read `SHOW GRANTS`, follow every granted role through
`SHOW GRANTS FOR ROLE` (roles granted to roles too), keep only the roles active in a fresh session, and
name exactly what is missing, on what. Pure parsing and evaluation here; the two reads at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from blocks.warehouse.starrocks import StarRocksConnector

# ------------------------------------------------------------------------------- StarRocks privileges (>= 3.0)
# The StarRocks 3.x privilege model, as its documentation and FE source describe it:
# * SHOW GRANTS returns rows (UserIdentity, Catalog, Grants); SHOW GRANTS FOR ROLE r returns
#   (RoleName, Catalog, Grants). Catalog is `default_catalog` (the docs print `default`) for the internal
#   catalog, the catalog's name for an external one, and NULL for a role assignment or an ALL CATALOGS
#   object. (docs: sql-reference/sql-statements/account-management/SHOW_GRANTS.md; FE source
#   qe/ShowExecutor.java privilegeToRowString / getCatalogNameFromPEntry.)
# * A Grants cell is a GRANT statement printed by AstToStringBuilder.visitGrantRevokePrivilegeStatement:
#   privilege names with `_` replaced by a space (`CREATE TABLE`; the docs' examples show `CREATE_TABLE`,
#   both are read), then `ON ` + either `ALL TABLES IN ALL DATABASES`, `ALL TABLES IN DATABASE db`,
#   `ALL MATERIALIZED VIEWS IN DATABASE db`, `ALL DATABASES` (fuzzy objects, TablePEntryObject.toStringImpl /
#   DbPEntryObject.toString) or `<TYPE> <object>` (`TABLE db.t`, `DATABASE db`, `MATERIALIZED VIEW db.mv`,
#   `CATALOG default_catalog`, `SYSTEM`), then `TO USER 'u'@'%'` / `TO ROLE 'r'` [WITH GRANT OPTION].
#   The GRANT statement's own shorthands (`ON db.*`, `ON *.*`, `ON TABLE db.*`, `ON TABLE t IN DATABASE db`)
#   are read too (docs: GRANT.md examples).
# * Roles: a role assignment prints as `GRANT 'r1', 'r2' TO 'u'@'%'` (to a role: `GRANT 'p' TO ROLE r`).
#   Privileges are the union of the user's own and those of its roles; a role inherits the roles granted
#   to it (docs: administration/user_privs/privilege_overview.md, "Role hierarchy and privilege
#   inheritance"). A user may read SHOW GRANTS FOR ROLE of any role it holds, directly or by inheritance
#   (FE source sql/analyzer/AuthorizerStmtVisitor.visitShowGrantsStatement).
# * System roles `root` and `db_admin` hold every privilege on catalogs, databases, tables, views and
#   materialized views; their scope cannot be changed (privilege_overview.md, "System-defined roles").
#   `public` is owned by every user and active in every session.
# * Active roles: only the roles active in a session give privileges there. A new session activates the
#   user's default roles (CREATE USER ... DEFAULT ROLE, ALTER USER / SET DEFAULT ROLE), or every granted role
#   when the global variable activate_all_roles_on_login is TRUE; `public` always (privilege_overview.md,
#   "Active roles", "Default roles"; User_privilege.md, "Enable all roles"). `SELECT current_role()` returns
#   the session's active roles joined by ", ", or NONE (sql-functions/utility-functions/current_role.md;
#   FE source ExpressionAnalyzer, FunctionSet.CURRENT_ROLE).
#   Decision: the pipeline's connections never run SET ROLE, so a role counts only if current_role()
#   lists it in a fresh session of the same user (or it is inherited by one that does, or it is `public`);
#   granted-but-inactive roles are named in the result with the fix. When the server does not answer
#   current_role() (NULL, an error), every granted role is counted and the line says so.
# * What the pipeline needs (read from blocks/warehouse/starrocks.py, mysql.py, sql_builders.py,
#   files_load.py, sql/**/*.sql rendered for starrocks, tasks/*.py), privilege names as in
#   administration/user_privs/privilege_item.md:
#   - every table: SELECT, INSERT (Stream Load and INSERT ... FROM FILES() need INSERT on the target table:
#     docs sql-statements/loading_unloading/STREAM_LOAD.md and loading/azure.md "Check privileges"; FILES()
#     needs no further object privilege — no RESOURCE is involved, USAGE on a resource is checked only for
#     CREATE TABLE ... PROPERTIES ("resource"), AuthorizerStmtVisitor.visitCreateTableStatement), UPDATE
#     (ledger, SCD2, deactivation), DELETE (re-delivery, quarantine, transforms). ANALYZE TABLE (monthly
#     maintenance) checks SELECT and INSERT (FE source PrivilegeCheckerV2.visitAnalyzeStatement). ALTER and
#     DROP only as far as the migrations use them (below); DROP TEMPORARY TABLE acts on the session's own
#     temporary tables.
#   - the database: CREATE TABLE (migrations; CREATE TEMPORARY TABLE ... AS SELECT in the transforms is a
#     CreateTableStmt and is checked as CREATE TABLE plus SELECT on what it reads: AuthorizerStmtVisitor.
#     visitCreateTableAsSelectStatement), CREATE VIEW (V002's v_secondary_sales_secure), CREATE MATERIALIZED
#     VIEW (rpt_sales_daily).
#   - the materialized view rpt_sales_daily: REFRESH (sql/rpt_sales_daily.sql) and SELECT
#     (tasks/transform.refresh_reports counts its rows). Table privileges do not cover materialized views:
#     they are a separate object type (privilege_item.md, "MATERIALIZED VIEW").
#   - what the migrations' statements need on top (`starrocks_needs` reads sql/starrocks/migrations): ALTER on
#     tables for ALTER TABLE (V003's ... SWAP WITH: AuthorizerStmtVisitor.visitAlterTableStatement checks ALTER),
#     DROP on tables for DROP TABLE (privilege_item.md, TABLE: DROP), ALTER on the materialized view for
#     ALTER MATERIALIZED VIEW (V003's REFRESH MANUAL; privilege_item.md, MATERIALIZED VIEW: ALTER). Every
#     migration counts, applied or not: a new (or restored) database runs them all before its first load.
#   - nothing on the catalog: catalog privileges (USAGE, CREATE DATABASE) do not reach the tables.
SR_SYSTEM_ALL_ROLES = ("root", "db_admin")
SR_PUBLIC_ROLE = "public"
# What `ALL [PRIVILEGES]` stands for on each object type (privilege_item.md).
SR_ALL_PRIVILEGES: dict[str, frozenset[str]] = {
    "TABLE": frozenset({"ALTER", "DROP", "SELECT", "INSERT", "UPDATE", "EXPORT", "DELETE"}),
    "VIEW": frozenset({"SELECT", "ALTER", "DROP"}),
    "MATERIALIZED VIEW": frozenset({"SELECT", "ALTER", "REFRESH", "DROP"}),
    "DATABASE": frozenset({"ALTER", "DROP", "CREATE TABLE", "CREATE VIEW", "CREATE FUNCTION",
                           "CREATE MATERIALIZED VIEW"}),
    "CATALOG": frozenset({"USAGE", "CREATE DATABASE", "DROP"}),
}
SR_TABLE_NEEDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
SR_DATABASE_NEEDS = ("CREATE TABLE", "CREATE VIEW", "CREATE MATERIALIZED VIEW")
SR_MV_NEEDS = ("SELECT", "REFRESH")
_INTERNAL_CATALOGS = {None, "", "null", "default", "default_catalog"}
_SR_TYPES = ("MATERIALIZED VIEW", "GLOBAL FUNCTION", "RESOURCE GROUP", "STORAGE VOLUME", "TABLE", "VIEW",
             "DATABASE", "CATALOG", "FUNCTION", "RESOURCE", "USER", "PIPE", "WAREHOUSE", "SYSTEM")
_SR_PLURALS = {t + "S": t for t in _SR_TYPES if t != "SYSTEM"} | {"MATERIALIZED VIEWS": "MATERIALIZED VIEW"}
_PRIVILEGE_GRANT = re.compile(r"(?is)^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<object>.+?)\s+TO\s+(?P<grantee>.+)$")
_ROLE_GRANT = re.compile(r"(?is)^GRANT\s+(?P<roles>.+?)\s+TO\s+(?P<grantee>.+)$")
_ALL_IN = re.compile(r"(?is)^ALL\s+(?P<plural>[A-Z ]+?)\s+IN\s+(?:ALL\s+DATABASES|DATABASE\s+(?P<db>.+))$")
_ALL_OF = re.compile(r"(?is)^ALL\s+(?P<plural>[A-Z ]+)$")
_IN_DATABASE = re.compile(r"(?is)^(?P<objects>.+?)\s+IN\s+DATABASE\s+(?P<db>\S+)$")
_PLAIN_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SR_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_UNQUALIFIED = ""  # a table named without its database in a raw GRANT text: cannot be placed, never matches


@dataclass(frozen=True)
class PrivilegeGrant:
    """One privilege grant of StarRocks, reduced to what it covers.

    `database`/`name` None mean "all" (ALL DATABASES, ALL TABLES IN ...); `catalog` is the SHOW GRANTS
    Catalog column (None: internal catalog or all catalogs).
    """

    privileges: frozenset[str]
    object_type: str
    database: str | None = None
    name: str | None = None
    catalog: str | None = None

    def expanded(self) -> frozenset[str]:
        """The privileges with ALL replaced by what it stands for on this object type."""
        if "ALL" in self.privileges:
            return (self.privileges - {"ALL"}) | SR_ALL_PRIVILEGES.get(self.object_type, frozenset())
        return self.privileges


@dataclass(frozen=True)
class RoleGrant:
    """A role assignment: `GRANT 'r1', 'r2' TO USER ...` or `... TO ROLE ...`."""

    roles: tuple[str, ...]


def _ident(text: str) -> str:
    text = text.strip().rstrip(";").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`'\"":
        return text[1:-1]
    return text


def _privilege_names(text: str) -> frozenset[str]:
    names = set()
    for raw in text.split(","):
        name = " ".join(raw.replace("_", " ").upper().split())
        names.add("ALL" if name in ("ALL", "ALL PRIVILEGES") else name)
    return frozenset(n for n in names if n)


def _qualified(item: str, default_db: str | None) -> tuple[str | None, str | None]:
    """`db.t` / `db.*` / `*.*` / `t` -> (database, name), None meaning "all"."""
    parts = [_ident(p) for p in item.strip().replace("`", "").split(".")]
    if len(parts) >= 2:
        db, name = parts[-2], parts[-1]
    else:
        db, name = (default_db if default_db is not None else _UNQUALIFIED), parts[0]
    return (None if db == "*" else db), (None if name == "*" else name)


def _grant_objects(text: str) -> list[tuple[str, str | None, str | None]]:
    """The (object type, database, name) triples an `ON ...` clause covers."""
    text = " ".join(text.strip().rstrip(";").split())
    upper = text.upper()
    if upper == "SYSTEM":
        return [("SYSTEM", None, None)]
    m = _ALL_IN.match(text)
    if m and m.group("plural").upper() in _SR_PLURALS:
        db = _ident(m.group("db")) if m.group("db") else None
        return [(_SR_PLURALS[m.group("plural").upper()], db, None)]
    m = _ALL_OF.match(text)
    if m and m.group("plural").upper() in _SR_PLURALS:
        return [(_SR_PLURALS[m.group("plural").upper()], None, None)]
    object_type = next((t for t in _SR_TYPES if upper.startswith(t + " ")), None)
    rest = text[len(object_type) + 1:] if object_type else text
    default_db = None
    m = _IN_DATABASE.match(rest)
    if m:  # GRANT ... ON TABLE t1, t2 IN DATABASE db
        rest, default_db = m.group("objects"), _ident(m.group("db"))
    items = [i for i in rest.split(",") if i.strip()]
    if object_type in ("DATABASE", "CATALOG", "RESOURCE", "RESOURCE GROUP", "STORAGE VOLUME", "WAREHOUSE"):
        names = [_ident(i) for i in items]
        if object_type == "DATABASE":
            return [("DATABASE", None if n == "*" else n, None) for n in names]
        return [(object_type, None, None if n == "*" else n) for n in names]
    if object_type in (None, "TABLE", "VIEW", "MATERIALIZED VIEW", "FUNCTION", "PIPE"):
        # No type keyword: the GRANT shorthand `ON db.*` / `ON *.*` means tables (GRANT.md, examples 1-3).
        return [(object_type or "TABLE", *_qualified(i, default_db)) for i in items]
    return [(object_type, None, None)]


def parse_grant(text: str, catalog: str | None = None) -> list[PrivilegeGrant] | RoleGrant | None:
    """One Grants cell of SHOW GRANTS: the privilege grants it makes, the roles it assigns, or None."""
    text = " ".join(str(text).strip().rstrip(";").split())
    m = _PRIVILEGE_GRANT.match(text)
    if m:
        privileges = _privilege_names(m.group("privs"))
        return [PrivilegeGrant(privileges, t, db, name, catalog) for t, db, name in _grant_objects(m.group("object"))]
    m = _ROLE_GRANT.match(text)
    if m:
        roles = tuple(r for r in (_ident(x) for x in m.group("roles").split(",")) if r)
        return RoleGrant(roles) if roles else None
    return None


def _row_parts(row: object) -> tuple[str | None, str]:
    """(Catalog, Grants) of one SHOW GRANTS row (a 3-column row, or just the Grants text)."""
    if isinstance(row, str):
        return None, row
    values = list(row)  # type: ignore[call-overload]
    if not values:
        return None, ""
    catalog = values[1] if len(values) >= 3 else None
    return (None if catalog is None else str(catalog)), str(values[-1] if values[-1] is not None else "")


def parse_show_grants(rows: list[object]) -> tuple[list[PrivilegeGrant], list[str]]:
    """The privilege grants and the assigned roles (in order, without repeats) of SHOW GRANTS rows."""
    grants: list[PrivilegeGrant] = []
    roles: list[str] = []
    for row in rows:
        catalog, text = _row_parts(row)
        parsed = parse_grant(text, catalog)
        if isinstance(parsed, RoleGrant):
            roles.extend(r for r in parsed.roles if r not in roles)
        elif parsed:
            grants.extend(parsed)
    return grants, roles


@dataclass
class RoleGraph:
    """The login user's own grants and every role reachable from it, as read from the server."""

    own: list[PrivilegeGrant]
    user_roles: list[str]
    role_grants: dict[str, list[PrivilegeGrant]]
    role_parents: dict[str, list[str]]
    unreadable: dict[str, str]

    def closure(self, start: list[str]) -> list[str]:
        """`start` and every role they inherit, breadth first, each once (a cycle cannot loop)."""
        seen: list[str] = []
        queue = list(start)
        while queue:
            role = queue.pop(0)
            if role in seen:
                continue
            seen.append(role)
            queue.extend(self.role_parents.get(role, []))
        return seen


def follow_roles(user_rows: list[object], fetch_role: Callable[[str], list[object]]) -> RoleGraph:
    """Read SHOW GRANTS, then SHOW GRANTS FOR ROLE of every role reached (roles granted to roles too).

    `fetch_role(name)` returns that role's SHOW GRANTS rows; an error is kept as the role's reason
    (the role then gives nothing). Each role is read once, so a cycle of grants cannot loop.
    """
    own, user_roles = parse_show_grants(user_rows)
    graph = RoleGraph(own, user_roles, {}, {}, {})
    queue = list(user_roles)
    while queue:
        role = queue.pop(0)
        if role in graph.role_grants or role in graph.unreadable:
            continue
        if role in SR_SYSTEM_ALL_ROLES:  # their scope is fixed: nothing to read
            graph.role_grants[role], graph.role_parents[role] = [], []
            continue
        try:
            rows = fetch_role(role)
        except Exception as exc:  # noqa: BLE001  (reported in the result, not a crash of the check)
            graph.unreadable[role] = str(exc.args[-1]) if getattr(exc, "args", None) else str(exc)
            continue
        grants, parents = parse_show_grants(rows)
        graph.role_grants[role], graph.role_parents[role] = grants, parents
        queue.extend(parents)
    return graph


def parse_active_roles(value: object) -> set[str] | None:
    """`current_role()`'s answer as a set of role names; None when the server did not say."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.upper() == "NONE":
        return set()
    return {_ident(r) for r in text.split(",") if r.strip()}


def _is_internal(catalog: str | None) -> bool:
    return (catalog.lower() if catalog else catalog) in _INTERNAL_CATALOGS


def privileges_on(grants: list[PrivilegeGrant], object_type: str, database: str, name: str | None = None) -> set[str]:
    """What `grants` give on `database` (name None: on every object of the type in it, else on that one)."""
    have: set[str] = set()
    for g in grants:
        if g.object_type != object_type or not _is_internal(g.catalog):
            continue
        if g.database is not None and g.database != database:
            continue
        if g.name is not None and g.name != name:
            continue
        have |= g.expanded()
    return have


@dataclass(frozen=True)
class GrantReport:
    """What the login user lacks on the warehouse database, and which roles were counted."""

    database: str
    missing: tuple[tuple[str, tuple[str, ...]], ...]  # (on what, privileges)
    roles_followed: tuple[str, ...]
    inactive_roles: tuple[str, ...] = ()
    unreadable_roles: tuple[tuple[str, str], ...] = ()
    admin_role: str | None = None
    active_roles_known: bool = True
    inactive_would_help: bool = False
    needs: StarRocksNeeds | None = None

    @property
    def ok(self) -> bool:
        return not self.missing

    def _roles_note(self) -> str:
        note = f"roles followed: {', '.join(self.roles_followed) or 'none'}"
        if not self.active_roles_known:
            note += "; active roles unknown (current_role() gave no answer): every granted role counted"
        return note

    def describe(self, user: str) -> str:
        """`user u lacks DELETE, UPDATE on tables of dw; ... (roles followed: a, b)` or what it can do."""
        if self.ok:
            if self.admin_role:
                what = f"role {self.admin_role} gives every privilege"
            else:
                needs = self.needs or StarRocksNeeds((), ())
                what = (f"{', '.join(needs.on_tables)} on its tables; {', '.join(needs.on_database)}; "
                        f"{', '.join(needs.on_mvs)} on its materialized views")
            text = f"user {user} can load into {self.database} ({what}; {self._roles_note()})"
        else:
            lacks = "; ".join(f"{', '.join(privs)} on {where}" for where, privs in self.missing)
            text = f"user {user} lacks {lacks} ({self._roles_note()})"
        if self.inactive_roles:
            roles = ", ".join(self.inactive_roles)
            text += (f"; granted but not active at login: {roles}"
                     + (" (they would give what is missing)" if self.inactive_would_help else "")
                     + f": SET DEFAULT ROLE {roles} TO {user}, or SET GLOBAL activate_all_roles_on_login = TRUE")
        if self.unreadable_roles:
            text += "; could not read " + "; ".join(f"role {r}: {why}" for r, why in self.unreadable_roles)
        return text


@dataclass(frozen=True)
class StarRocksNeeds:
    """What the pipeline needs on its database: privileges per object type, and the objects they must cover."""

    tables: tuple[str, ...]
    materialized_views: tuple[str, ...]
    on_tables: tuple[str, ...] = SR_TABLE_NEEDS
    on_database: tuple[str, ...] = SR_DATABASE_NEEDS
    on_mvs: tuple[str, ...] = SR_MV_NEEDS


def _missing(grants: list[PrivilegeGrant], database: str, needs: StarRocksNeeds) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    tables = list(needs.tables)
    everywhere = privileges_on(grants, "TABLE", database)
    lacking: dict[str, list[str]] = {}  # privilege -> tables without it (db-wide or per table)
    for privilege in needs.on_tables:
        if privilege in everywhere:
            continue
        without = [t for t in tables if privilege not in privileges_on(grants, "TABLE", database, t)]
        if without or not tables:
            lacking[privilege] = without
    on_all = sorted(p for p, ts in lacking.items() if not tables or len(ts) == len(tables))
    if on_all:
        out.append((f"tables of {database}", tuple(on_all)))
    partial: dict[tuple[str, ...], list[str]] = {}
    for p, ts in lacking.items():
        if p not in on_all:
            partial.setdefault(tuple(ts), []).append(p)
    for ts, privileges in partial.items():
        shown = ", ".join(f"{database}.{t}" for t in ts[:5]) + (f" and {len(ts) - 5} more" if len(ts) > 5 else "")
        out.append((f"tables {shown}", tuple(sorted(privileges))))
    on_db = privileges_on(grants, "DATABASE", database)
    if missing_db := sorted(p for p in needs.on_database if p not in on_db):
        out.append((f"database {database}", tuple(missing_db)))
    for mv in needs.materialized_views:
        on_mv = privileges_on(grants, "MATERIALIZED VIEW", database, mv)
        if missing_mv := sorted(p for p in needs.on_mvs if p not in on_mv):
            out.append((f"materialized view {database}.{mv}", tuple(missing_mv)))
    return out


def evaluate_grants(graph: RoleGraph, database: str, needs: StarRocksNeeds,
                    active_roles: set[str] | None) -> GrantReport:
    """What the user lacks on `database` for the pipeline, counting its own grants and its active roles."""
    known = active_roles is not None
    if active_roles is not None:
        start = [r for r in graph.user_roles if r in active_roles or r.lower() == SR_PUBLIC_ROLE]
    else:
        start = list(graph.user_roles)
    counted = graph.closure(start)
    inactive = tuple(r for r in graph.user_roles if r not in counted)
    unreadable = tuple((r, why) for r, why in graph.unreadable.items() if r in counted)
    followed = tuple(r for r in counted if r not in graph.unreadable)
    admin = next((r for r in counted if r in SR_SYSTEM_ALL_ROLES), None)
    if admin:
        return GrantReport(database, (), followed, inactive, unreadable, admin, known, needs=needs)
    grants = graph.own + [g for r in counted for g in graph.role_grants.get(r, [])]
    missing = _missing(grants, database, needs)
    would_help = False
    if missing and inactive:
        every = graph.closure(list(graph.user_roles))
        every_grants = graph.own + [g for r in every for g in graph.role_grants.get(r, [])]
        would_help = any(r in SR_SYSTEM_ALL_ROLES for r in every) or not _missing(every_grants, database, needs)
    return GrantReport(database, tuple(missing), followed, inactive, unreadable, None, known, would_help, needs)


def _created_minus_dropped(text: str, kind: str) -> list[str]:
    created = re.findall(rf"(?i)\bCREATE\s+{kind}\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?", text)
    dropped = set(re.findall(rf"(?i)\bDROP\s+{kind}\s+(?:IF\s+EXISTS\s+)?`?(\w+)`?", text))
    return [n for n in dict.fromkeys(created) if n not in dropped]


def starrocks_needs() -> StarRocksNeeds:
    """What the pipeline needs, with the objects and statements of sql/starrocks/migrations.

    Tables and materialized views: those the migrations create and do not drop again (V003's `*_v3`
    swap tables are gone when it ends), plus schema_migrations. ALTER / DROP are needed on tables (on
    materialized views) when a migration runs ALTER TABLE / DROP TABLE (ALTER / DROP MATERIALIZED VIEW).
    """
    from blocks.warehouse.base import migrations

    text = "\n".join(ln for m in migrations("starrocks") for ln in m.text().splitlines()
                     if not ln.lstrip().startswith("--"))
    on_tables = SR_TABLE_NEEDS + tuple(p for p in ("ALTER", "DROP") if re.search(rf"(?i)\b{p}\s+TABLE\b", text))
    on_mvs = SR_MV_NEEDS + tuple(p for p in ("ALTER", "DROP")
                                 if re.search(rf"(?i)\b{p}\s+MATERIALIZED\s+VIEW\b", text))
    tables = ["schema_migrations", *_created_minus_dropped(text, "TABLE")]
    mvs = _created_minus_dropped(text, r"MATERIALIZED\s+VIEW")
    return StarRocksNeeds(tuple(dict.fromkeys(tables)), tuple(mvs), on_tables, SR_DATABASE_NEEDS, on_mvs)


def _role_sql(role: str) -> str:
    return f"SHOW GRANTS FOR ROLE {role if _PLAIN_ROLE.fullmatch(role) else '`' + role.replace('`', '``') + '`'}"


def starrocks_grant_report(wh: StarRocksConnector) -> GrantReport:
    """Read the login user's grants and roles from the server and evaluate them for `wh.database`."""
    graph = follow_roles(list(wh.fetch_all("SHOW GRANTS")), lambda role: list(wh.fetch_all(_role_sql(role))))
    try:
        row = wh.fetch_one("SELECT current_role()")
        active = parse_active_roles(row[0] if row else None)
    except Exception:  # noqa: BLE001  (a server without current_role(): every granted role counts)
        active = None
    return evaluate_grants(graph, wh.database, starrocks_needs(), active)


def starrocks_version(text: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) of `current_version()` (e.g. "3.3.5 6e2b2a0"), None if it has none."""
    m = _SR_VERSION.search(str(text or ""))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def short_version(text: object) -> str:
    return str(text or "").split()[0] if str(text or "").split() else "?"



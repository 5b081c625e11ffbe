"""DDL: tables, temporary tables, views, materialized views, databases, ANALYZE."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mysql_mimic.results import AllowedResult
from sqlglot import exp

from tests.integration.starrocks_standin.catalog import (
    MaterializedView,
    Table,
    column_from_def,
    mariadb_ddl,
    table_from_create,
)
from tests.integration.starrocks_standin.errors import (
    ERR_DB_CREATE_EXISTS,
    ERR_DB_DROP_EXISTS,
    StarRocksError,
    analyzing_error,
    replication_too_high,
    syntax_error,
)
from tests.integration.starrocks_standin.functions import check_functions
from tests.integration.starrocks_standin.sentinel import NOT_SPECIAL as _NOT_SPECIAL
from tests.integration.starrocks_standin.translate import to_mariadb

if TYPE_CHECKING:
    from tests.integration.starrocks_standin.session import StandinSession

_I = re.I | re.S
# docs/en/sql-reference/sql-statements/materialized_view/CREATE_MATERIALIZED_VIEW.md
_CREATE_MV = re.compile(r"^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?([`\w.]+)(.*?)"
                        r"\bAS\s+((?:SELECT|WITH)\b.*)$", _I)
_REFRESH_CLAUSE = re.compile(r"\bREFRESH\s+(?:(IMMEDIATE|DEFERRED)\s*)?(ASYNC|MANUAL|INCREMENTAL)?(.*?)"
                             r"(?=\bPROPERTIES\b|\bORDER\s+BY\b|$)", _I)
# docs .../materialized_view/REFRESH_MATERIALIZED_VIEW.md:
# REFRESH MATERIALIZED VIEW [db.]mv [PARTITION START ("a") END ("b")] [FORCE] [WITH {SYNC|ASYNC} MODE]
_REFRESH_MV = re.compile(r"^REFRESH\s+MATERIALIZED\s+VIEW\s+([`\w.]+)(\s+PARTITION\s+START\s*\(.*?\)\s*END\s*\(.*?\))?"
                         r"(\s+FORCE)?(\s+WITH\s+(SYNC|ASYNC)\s+MODE)?$", _I)
# docs .../materialized_view/ALTER_MATERIALIZED_VIEW.md: ALTER MATERIALIZED VIEW mv REFRESH <scheme> | ACTIVE | ...
_ALTER_MV = re.compile(r"^ALTER\s+MATERIALIZED\s+VIEW\s+([`\w.]+)\s+(.*)$", _I)
_DROP_MV = re.compile(r"^DROP\s+MATERIALIZED\s+VIEW\s+(IF\s+EXISTS\s+)?([`\w.]+)$", _I)
# docs .../table_bucket_part_index/ALTER_TABLE.md: ALTER TABLE a SWAP WITH b (atomic exchange of two tables)
_SWAP = re.compile(r"^ALTER\s+TABLE\s+([`\w.]+)\s+SWAP\s+WITH\s+([`\w.]+)$", _I)
# docs .../cbo/ANALYZE_TABLE.md: ANALYZE [FULL|SAMPLE] TABLE t [(cols)] [WITH SYNC|ASYNC MODE] [PROPERTIES (...)]
_ANALYZE = re.compile(r"^ANALYZE\s+(?:FULL\s+|SAMPLE\s+)?TABLE\s+([`\w.]+)", _I)
# docs .../Database/CREATE_DATABASE.md, DROP_DATABASE.md
_CREATE_DB = re.compile(r"^CREATE\s+(?:DATABASE|SCHEMA)\s+(IF\s+NOT\s+EXISTS\s+)?([`\w]+)(\s+PROPERTIES.*)?$", _I)
_DROP_DB = re.compile(r"^DROP\s+(?:DATABASE|SCHEMA)\s+(IF\s+EXISTS\s+)?([`\w]+)(\s+FORCE)?$", _I)
_TEMPORARY = re.compile(r"^(CREATE|DROP)\s+TEMPORARY\s+TABLE\b", _I)
# docs/en/table_design/temporary_table.md: "From v3.3.1 onwards, StarRocks supports creating temporary tables".
TEMPORARY_SINCE = (3, 3, 1)


def _name(raw: str) -> tuple[str | None, str]:
    parts = [p.strip("`") for p in raw.split(".")]
    return (parts[-2], parts[-1]) if len(parts) > 1 else (None, parts[-1])


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def special(session: StandinSession, text: str) -> AllowedResult | object:
    """The DDL statements recognised before (or instead of) sqlglot parsing."""
    if _TEMPORARY.match(text):
        if version_tuple(session.standin.version) < TEMPORARY_SINCE:
            raise syntax_error(text, "TEMPORARY")  # the 3.3.0 grammar has no TEMPORARY here
        session.standin.check_refused("temporary_table")
        return _NOT_SPECIAL
    for pattern, handler in ((_CREATE_MV, create_mv), (_REFRESH_MV, refresh_mv), (_ALTER_MV, alter_mv),
                             (_DROP_MV, drop_mv), (_SWAP, swap), (_ANALYZE, analyze), (_CREATE_DB, create_database),
                             (_DROP_DB, drop_database)):
        m = pattern.match(text)
        if m:
            return handler(session, m, text)
    return _NOT_SPECIAL


def dispatch(session: StandinSession, tree: exp.Expression, text: str) -> AllowedResult | object:
    """DDL that sqlglot parses."""
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "TABLE":
            return create_table(session, tree)
        if kind == "VIEW":
            return _execute(session, tree)
    if isinstance(tree, exp.Drop):
        return drop(session, tree)
    if isinstance(tree, exp.TruncateTable):
        _execute(session, tree)
        for table in tree.expressions:
            session.standin.after_write(session.conn, table.db or session.database or "", table.name)
        return None
    if isinstance(tree, exp.Alter):
        return alter_table(session, tree)
    if isinstance(tree, exp.Describe):
        return describe(session, tree.this)
    return _NOT_SPECIAL


def _execute(session: StandinSession, tree: exp.Expression) -> None:
    session.execute(to_mariadb(tree, session.context()))


# ---------------------------------------------------------------------------------------- tables
def create_table(session: StandinSession, tree: exp.Create) -> AllowedResult:
    """CREATE [TEMPORARY] TABLE [IF NOT EXISTS] ... [key_desc] [partition] [distribution] [PROPERTIES]
    (docs .../table_bucket_part_index/CREATE_TABLE.md), and CREATE [TEMPORARY] TABLE ... AS SELECT."""
    props = tree.args.get("properties")
    temporary = bool(props and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions))
    if not temporary:
        session.standin.check_refused("create_table")
    if tree.expression is not None:  # CTAS: a Duplicate Key table shaped by the query
        return _create_table_as(session, tree, temporary)
    info = table_from_create(tree, session.standin.default_replication_num)
    db = tree.this.this.db or session.database or ""
    if tree.args.get("exists") and _exists(session, db, info.name, temporary):
        return None
    _check_keys(info)
    _check_replicas(session, info.name, info.replication_num)
    ddl = mariadb_ddl(info, temporary=temporary)
    if tree.this.this.db:
        ddl = ddl.replace(f"`{info.name}`", f"`{db}`.`{info.name}`", 1)
    session.execute(ddl)
    if temporary:
        info.kind = "TEMPORARY" if info.kind == "DUPLICATE" else info.kind
        session.temp[info.name.lower()] = info
    else:
        session.standin.catalog.put(db, info)
    return None


def _create_table_as(session: StandinSession, tree: exp.Create, temporary: bool) -> AllowedResult:
    """CREATE [TEMPORARY] TABLE t [PROPERTIES (...)] AS SELECT (docs .../CREATE_TABLE_AS_SELECT.md)."""
    table = tree.this if isinstance(tree.this, exp.Table) else tree.this.this
    props = tree.args.get("properties")
    replication = session.standin.default_replication_num
    for prop in props.expressions if props else []:
        if isinstance(prop, exp.Property) and prop.name.lower() == "replication_num":
            replication = int(table_from_create(exp.Create(this=exp.Schema(this=table, expressions=[]),
                                                           properties=exp.Properties(expressions=[prop])),
                                                1).replication_num)
    if tree.args.get("exists") and _exists(session, table.db or session.database or "", table.name, temporary):
        return None
    _check_replicas(session, table.name, replication)
    plain = tree.copy()  # MariaDB takes no StarRocks properties: keep only TEMPORARY
    plain.set("properties", exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None)
    _execute(session, plain)
    return None


def _check_replicas(session: StandinSession, table: str, replication: int) -> None:
    """More replicas than alive backends: the FE cannot place them (errors.replication_too_high)."""
    if replication > session.standin.backends:
        raise replication_too_high(table, [10001 + i for i in range(session.standin.backends)],
                                   session.standin.default_replication_num)


def _check_keys(info: Table) -> None:
    """fe/fe-core/src/main/java/com/starrocks/sql/ast/KeysDesc.java: key columns must exist and be "a ordered
    prefix of the schema" (SemanticException)."""
    names = list(info.columns)
    for i, key in enumerate(info.keys):
        if key not in info.columns:
            raise analyzing_error(f"Key column({key}) doesn't exist.")
        if i >= len(names) or names[i] != key:
            raise analyzing_error("Key columns should be a ordered prefix of the schema.")


def _exists(session: StandinSession, db: str, name: str, temporary: bool) -> bool:
    if temporary:
        return name.lower() in session.temp
    with session.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (db, name))
        return bool(cur.fetchone()[0])


def drop(session: StandinSession, tree: exp.Drop) -> AllowedResult:
    """DROP [TEMPORARY] TABLE | VIEW [IF EXISTS] name [FORCE]."""
    kind = str(tree.args.get("kind") or "").upper()
    if kind not in ("TABLE", "VIEW"):
        raise StarRocksError(f"The StarRocks stand-in does not model DROP {kind}")
    exists = " IF EXISTS" if tree.args.get("exists") else ""
    temporary = bool(tree.args.get("temporary"))
    for table in tree.args.get("tables") or [tree.this]:
        target = f"`{table.db}`.`{table.name}`" if table.db else f"`{table.name}`"
        session.execute(f"DROP {'TEMPORARY ' if temporary else ''}{kind}{exists} {target}")
        if table.name.lower() in session.temp and (temporary or not table.db):
            del session.temp[table.name.lower()]
        elif not temporary:
            session.standin.catalog.drop(table.db or session.database or "", table.name)
    return None


def alter_table(session: StandinSession, tree: exp.Alter) -> AllowedResult:
    """ALTER TABLE ... ADD / MODIFY COLUMN (docs .../ALTER_TABLE.md); the catalog takes the new definitions."""
    _execute(session, tree)
    table = tree.this
    info = session.table(table.name, table.db or None)
    if info is not None:
        for col in tree.find_all(exp.ColumnDef):
            column = column_from_def(col)
            info.columns[column.name] = column
    return None


def swap(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """ALTER TABLE a SWAP WITH b: the two tables exchange names atomically (docs .../ALTER_TABLE.md, "Swap")."""
    (_, a), (_, b) = _name(m.group(1)), _name(m.group(2))
    tmp = f"_standin_swap_{a}"[:64]
    session.execute(f"RENAME TABLE `{a}` TO `{tmp}`, `{b}` TO `{a}`, `{tmp}` TO `{b}`")
    if session.standin.catalog.get(session.database or "", a) and session.standin.catalog.get(
            session.database or "", b):
        session.standin.catalog.swap(session.database or "", a, b)
    return None


def analyze(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """ANALYZE TABLE collects optimizer statistics (docs .../cbo/ANALYZE_TABLE.md): nothing to do on MariaDB
    beyond checking that the table exists."""
    db, name = _name(m.group(1))
    if not _exists(session, db or session.database or "", name, False):
        raise analyzing_error(f"Table {name} is not found")
    return None


def describe(session: StandinSession, target: exp.Expression) -> AllowedResult:
    """DESC t: Field, Type, Null, Key, Default, Extra (docs .../Utility/DESCRIBE.md) from the catalog."""
    info = session.table(target.name, target.db or None) if isinstance(target, exp.Table) else None
    if info is None:
        return session.query(f"DESCRIBE {target.sql(dialect='mysql')}")
    rows = [(c.name, c.sql_type(), "YES" if c.nullable else "NO", "true" if c.name in info.keys else "false",
             None, "") for c in info.columns.values()]
    return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]


# ---------------------------------------------------------------------------------------- databases
def create_database(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """CREATE DATABASE [IF NOT EXISTS] db: a real backing database (ERR_DB_CREATE_EXISTS when it exists)."""
    name = m.group(2).strip("`")
    if session.database_exists(name):
        if m.group(1):
            return None
        raise StarRocksError(f"Can't create database '{name}'; database exists", *ERR_DB_CREATE_EXISTS)
    session.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    session.standin.created_databases.add(name)
    return None


def drop_database(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """DROP DATABASE [IF EXISTS] db [FORCE] (ERR_DB_DROP_EXISTS when it does not exist)."""
    name = m.group(2).strip("`")
    if not session.database_exists(name):
        if m.group(1):
            return None
        raise StarRocksError(f"Can't drop database '{name}'; database doesn't exist", *ERR_DB_DROP_EXISTS)
    session.execute(f"DROP DATABASE `{name}`")
    session.standin.catalog.drop_database(name)
    session.standin.created_databases.discard(name)
    if session.database == name:
        session.database = None
    return None


# ---------------------------------------------------------------------------------------- materialized views
def create_mv(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """CREATE MATERIALIZED VIEW [IF NOT EXISTS] mv [PARTITION BY ...] [DISTRIBUTED BY ...] [REFRESH ...]
    [PROPERTIES (...)] AS <query>: the query's result is stored in a backing table named like the view.

    REFRESH [IMMEDIATE (default) | DEFERRED]: refreshed at creation (counted in `refreshes`) or not;
    ASYNC without START/EVERY: after every change of a base table; MANUAL: only on REFRESH."""
    from tests.integration.starrocks_standin.statements import reparse

    session.standin.check_refused("create_mv")
    db, name = _name(m.group(2))
    db = db or session.database or ""
    query_text, header = m.group(4), m.group(3)
    tree = reparse(query_text)
    check_functions(tree, query_text)
    if session.standin.catalog.views.get((db, name.lower())) or _exists(session, db, name, False):
        if m.group(1):
            return None
        raise StarRocksError(f"Table '{name}' already exists", 1050, "42S01")  # ErrorCode.ERR_TABLE_EXISTS_ERROR
    refresh = _REFRESH_CLAUSE.search(header)
    moment = (refresh.group(1) or "IMMEDIATE").upper() if refresh else "IMMEDIATE"
    # No REFRESH clause: taken as MANUAL (assumption: the default is not verified against the docs).
    mode = (refresh.group(2) or "ASYNC").upper() if refresh else "MANUAL"
    scheduled = bool(refresh and re.search(r"\b(START|EVERY)\b", refresh.group(3) or "", re.I))
    query = to_mariadb(tree, session.context())
    bases = {t.name.lower() for t in tree.find_all(exp.Table)} - {c.alias_or_name.lower() for c in
                                                                 tree.find_all(exp.CTE)}
    view = MaterializedView(name, query, bases, "MANUAL" if mode == "MANUAL" else "ASYNC", scheduled)
    session.execute(f"CREATE TABLE `{db}`.`{name}` AS SELECT * FROM ({query}) AS _mv WHERE 1 = 0")
    with session.standin.catalog.lock:
        session.standin.catalog.views[(db, name.lower())] = view
        session.standin.catalog.tables[(db, name.lower())] = Table(name, "MV", [], {})
    if moment == "IMMEDIATE":
        session.standin.refresh(session.conn, db, view)  # type: ignore[arg-type]
    return None


def _view(session: StandinSession, raw: str) -> tuple[str, MaterializedView]:
    db, name = _name(raw)
    db = db or session.database or ""
    view = session.standin.catalog.views.get((db, name.lower()))
    if view is None:
        # Message text not verified against StarRocks' source.
        raise analyzing_error(f"Can not find materialized view:{name}")
    return db, view


def refresh_mv(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """REFRESH MATERIALIZED VIEW: recompute (a PARTITION START/END range recomputes the whole view here);
    WITH SYNC MODE returns when done — so does ASYNC (the default) here."""
    session.standin.check_refused("refresh_mv")
    db, view = _view(session, m.group(1))
    session.standin.refresh(session.conn, db, view)  # type: ignore[arg-type]
    return None


def alter_mv(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    """ALTER MATERIALIZED VIEW mv REFRESH ASYNC [START/EVERY] | MANUAL changes the refresh strategy;
    ACTIVE / INACTIVE / SET (...) / RENAME are accepted and not modelled."""
    _, view = _view(session, m.group(1))
    refresh = re.match(r"REFRESH\s+(?:(IMMEDIATE|DEFERRED)\s*)?(ASYNC|MANUAL)(.*)$", m.group(2).strip(), _I)
    if refresh:
        view.mode = refresh.group(2).upper()
        view.scheduled = bool(re.search(r"\b(START|EVERY)\b", refresh.group(3) or "", re.I))
    return None


def drop_mv(session: StandinSession, m: re.Match[str], text: str) -> AllowedResult:
    db, name = _name(m.group(2))
    db = db or session.database or ""
    if (db, name.lower()) not in session.standin.catalog.views:
        if m.group(1):
            return None
        _view(session, m.group(2))
    session.execute(f"DROP TABLE IF EXISTS `{db}`.`{name}`")
    session.standin.catalog.drop(db, name)
    return None


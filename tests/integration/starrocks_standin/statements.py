"""Statement handlers: what the FE does with each kind of statement, run on the session's MariaDB connection."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlglot
from mysql_mimic.results import AllowedResult
from sqlglot import exp

from tests.integration.starrocks_standin import ddl, show
from tests.integration.starrocks_standin.errors import (
    PRIMARY_KEY_TOO_LONG,
    StarRocksError,
    insert_filtered,
    label_already_used,
    syntax_error,
)
from tests.integration.starrocks_standin.files import replace_files
from tests.integration.starrocks_standin.functions import called_names, check_functions
from tests.integration.starrocks_standin.sentinel import NOT_SPECIAL
from tests.integration.starrocks_standin.translate import MYSQL_VERSION_MARK, to_mariadb
from tests.integration.starrocks_standin.variables import DEFAULTS, parse_value
from tests.integration.starrocks_standin.writes import WriteRefused, write

if TYPE_CHECKING:
    from tests.integration.starrocks_standin.session import StandinSession

# docs/en/sql-reference/sql-statements/loading_unloading/INSERT.md:
# INSERT { INTO | OVERWRITE } table_name [ PARTITION (...) ] [ WITH LABEL label ] [ (column, ...) ] { VALUES | query }
_LABEL = re.compile(r"^(INSERT\s+(?:INTO|OVERWRITE)\s+(?:TABLE\s+)?[`\w.]+(?:\s+PARTITION\s*\([^)]*\))?)"
                    r"\s+WITH\s+LABEL\s+`?([\w.:-]+)`?", re.I | re.S)
_TRANSACTION = re.compile(r"^(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK)(\s+WORK)?$", re.I)


def take_label(text: str) -> tuple[str | None, str]:
    """(label, statement without WITH LABEL): sqlglot does not know the clause."""
    m = _LABEL.match(text)
    if not m:
        return None, text
    return m.group(2), m.group(1) + text[m.end():]


def special(session: StandinSession, text: str) -> AllowedResult | object:
    """Statements sqlglot cannot parse as StarRocks does (materialized views, SHOW of the FE, SWAP, ...)."""
    if _TRANSACTION.match(text):
        # No multi-statement transaction is modelled: every statement commits on its own (autocommit).
        return None
    for handler in (show.answer, ddl.special):
        result = handler(session, text)
        if result is not NOT_SPECIAL:
            return result
    return NOT_SPECIAL


def dispatch(session: StandinSession, tree: exp.Expression, text: str, label: str | None) -> AllowedResult:
    """Route one parsed statement."""
    check_functions(tree, text)
    if "files" in called_names(text):
        # docs/en/sql-reference/sql-functions/table-functions/files.md: FILES() reads Parquet/ORC/CSV from cloud
        # storage; modelled only over a local folder (files.py, `files_root`).
        session.standin.check_refused("files")
        if session.standin.files_root is None:
            raise StarRocksError("FILES() is not modelled by this StarRocks stand-in (no files_root)")
        tree = replace_files(session, tree, session.standin.files_root)
    if isinstance(tree, exp.Insert):
        return insert(session, tree, label)
    if isinstance(tree, (exp.Update, exp.Delete)):
        return update_or_delete(session, tree)
    if isinstance(tree, exp.Set):
        return set_variables(session, tree)
    if isinstance(tree, exp.Use):
        session.use_database(tree.this.name)
        return None
    if isinstance(tree, (exp.Query, exp.Values)):
        return session.query(to_mariadb(_label_columns(tree), session.context()))
    result = ddl.dispatch(session, tree, text)
    if result is not NOT_SPECIAL:
        return result  # type: ignore[return-value]
    raise StarRocksError(f"The StarRocks stand-in does not model this statement: {text[:80]}")


def _label_columns(tree: exp.Expression) -> exp.Expression:
    """Name un-aliased select items as StarRocks labels them, by their SQL text (current_version(),
    @@time_zone, count(*)): MariaDB would name them after what the stand-in substituted."""
    if not isinstance(tree, exp.Select):
        return tree
    fixed = {exp.CurrentVersion: "current_version()", exp.CurrentUser: "current_user()",
             exp.CurrentSchema: "database()"}
    items = []
    for item in tree.expressions:
        name = None
        if not isinstance(item, (exp.Alias, exp.Column, exp.Star)):
            name = fixed.get(type(item)) or item.sql(dialect="starrocks", normalize_functions="lower")
            if isinstance(item, exp.Anonymous) and item.name == MYSQL_VERSION_MARK:
                name = "version()"
        items.append(exp.alias_(item, name[:64], quoted=True) if name else item)
    tree = tree.copy()
    tree.set("expressions", items)
    return tree


# ---------------------------------------------------------------------------------------- INSERT
def insert(session: StandinSession, tree: exp.Insert, label: str | None) -> AllowedResult:
    """INSERT INTO / OVERWRITE [WITH LABEL l] [(cols)] VALUES | SELECT (docs .../loading_unloading/INSERT.md).

    Labels are unique per database across load types (docs/en/loading/Loading_intro.md, "label"): a label
    known in any state but ABORTED is refused (LabelAlreadyUsedException) — also while its load runs.
    """
    session.standin.check_refused("insert")
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    columns = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else []
    db = target.db or session.database or ""
    info = session.table(target.name, target.db or None)
    if label is not None:
        _claim_label(session, label)
    try:
        if info is None:  # a table the catalog does not model (e.g. CREATE TEMPORARY TABLE ... AS SELECT)
            loaded = session.execute(to_mariadb(tree, session.context()))
        else:
            loaded = _insert_rows(session, tree, info, columns or list(info.columns), db)
    except BaseException:
        if label is not None:
            session.standin.labels[label] = "ABORTED"
        raise
    label = label or session.new_label()
    if label in session.standin.labels:
        session.standin.labels[label] = "VISIBLE"
    # docs/en/loading/InsertInto.md: Query OK, 2 rows affected ... {'label':'insert_load_wikipedia',
    # 'status':'VISIBLE', 'txnId':'1006'}
    session.done(loaded, f"{{'label':'{label}', 'status':'VISIBLE', 'txnId':'{abs(hash(label)) % 100000}'}}")
    return None


def _claim_label(session: StandinSession, label: str) -> None:
    with session.standin.lock:
        state = session.standin.labels.get(label)
        if state is not None and state != "ABORTED":
            raise label_already_used(label)
        session.standin.labels[label] = "PREPARE"


def _insert_rows(session: StandinSession, tree: exp.Insert, info: Any, columns: list[str], db: str) -> int:
    rows = _source_rows(session, tree.expression)
    if rows and len(rows[0]) != len(columns):
        # The text of ErrorCode.ERR_WRONG_VALUE_COUNT (fe/.../common/ErrorCode.java); the code sent is not verified.
        raise StarRocksError("Column count doesn't match value count")
    strict = bool(session.vars.get("enable_insert_strict", DEFAULTS["enable_insert_strict"]))
    with session.cursor() as cur:
        if tree.args.get("overwrite"):
            cur.execute(f"DELETE FROM `{db}`.`{info.name}`")
        try:
            result = write(cur, info, columns, rows, strict, db)
        except WriteRefused as exc:
            if exc.kind == "key_too_long":
                raise StarRocksError(PRIMARY_KEY_TOO_LONG) from None
            raise insert_filtered(session.standin.host) from None
    session.standin.filtered_rows += result.filtered
    if info.kind != "TEMPORARY":
        session.standin.after_write(session.conn, db, info.name)  # type: ignore[arg-type]
    return result.loaded


def _source_rows(session: StandinSession, source: exp.Expression) -> list[tuple[Any, ...]]:
    """The rows an INSERT writes: literal VALUES evaluated here, anything else by MariaDB."""
    if isinstance(source, exp.Values):
        tuples = [t.expressions if isinstance(t, exp.Tuple) else [t] for t in source.expressions]
        if all(_is_literal(e) for row in tuples for e in row):
            return [tuple(_literal(e) for e in row) for row in tuples]
        sql = " UNION ALL ".join("SELECT " + ", ".join(
            to_mariadb(e, session.context()) for e in row) for row in tuples)
    else:
        sql = to_mariadb(source, session.context())
    with session.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _is_literal(e: exp.Expression) -> bool:
    if isinstance(e, exp.Neg):
        return _is_literal(e.this)
    return isinstance(e, (exp.Literal, exp.Null, exp.Boolean))


def _literal(e: exp.Expression) -> Any:
    if isinstance(e, exp.Neg):
        return -_literal(e.this)
    if isinstance(e, exp.Null):
        return None
    if isinstance(e, exp.Boolean):
        return e.this
    if e.is_string:
        return e.this
    text = e.this
    return int(text) if re.fullmatch(r"\d+", text) else Decimal(text)


# ---------------------------------------------------------------------------------------- UPDATE / DELETE
def update_or_delete(session: StandinSession, tree: exp.Update | exp.Delete) -> AllowedResult:
    """UPDATE / DELETE with WHERE on a Primary Key table (docs .../table_bucket_part_index/UPDATE.md,
    DELETE.md); the affected rows are the rows matched. ASYNC views on the table refresh afterwards."""
    session.standin.check_refused("update" if isinstance(tree, exp.Update) else "delete")
    target = tree.this
    affected = session.execute(to_mariadb(tree, session.context()))
    info = session.table(target.name, target.db or None)
    if info is None or info.kind != "TEMPORARY":
        session.standin.after_write(session.conn, target.db or session.database or "", target.name)  # type: ignore[arg-type]
    session.done(affected)
    return None


# ---------------------------------------------------------------------------------------- SET
def set_variables(session: StandinSession, tree: exp.Set) -> AllowedResult:
    """SET [SESSION|GLOBAL] var = value[, ...] (docs .../cluster-management/config_vars/SET.md); SET NAMES and
    user variables (@x) go to MariaDB as they are."""
    for item in tree.expressions:
        kind = str(item.args.get("kind") or "").upper()
        if kind in ("NAMES", "CHARACTER SET", "CHARSET") or not isinstance(item.this, exp.EQ):
            continue
        target, value = item.this.this, item.this.expression
        if isinstance(target, exp.Parameter) and not isinstance(target, exp.SessionParameter):
            session.execute(f"SET {to_mariadb(item.this, session.context())}")
            continue
        name = target.name.lower()
        session.vars[name] = parse_value(name, _set_value(session, value))
        if name == "time_zone":
            from tests.integration.starrocks_standin.backing import utc_offset

            utc_offset(session.vars[name])  # refuses an unknown zone now, as StarRocks does
    return None


def _set_value(session: StandinSession, value: exp.Expression) -> Any:
    if isinstance(value, exp.Literal):
        return _literal(value)
    if isinstance(value, exp.Boolean):
        return value.this
    if isinstance(value, (exp.Column, exp.Var, exp.Identifier)):
        return value.name  # SET x = ON / DEFAULT / an unquoted word
    with session.cursor() as cur:
        cur.execute(f"SELECT {to_mariadb(value, session.context())}")
        return cur.fetchone()[0]


def reparse(text: str) -> exp.Expression:
    """Parse StarRocks text (a SELECT embedded in a statement sqlglot does not know) or answer a syntax error."""
    try:
        tree = sqlglot.parse_one(text, read="starrocks")
    except sqlglot.errors.ParseError as exc:
        errors = exc.errors[0] if exc.errors else {}
        raise syntax_error(text, errors.get("highlight")) from None
    return tree

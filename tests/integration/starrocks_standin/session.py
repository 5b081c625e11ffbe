"""One client session of the stand-in: parses each statement as StarRocks would and runs it on MariaDB."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from typing import TYPE_CHECKING, Any

import pymysql
import sqlglot
from mysql_mimic.errors import MysqlError
from mysql_mimic.results import AllowedResult
from mysql_mimic.session import BaseSession
from mysql_mimic.types import ServerStatus
from mysql_mimic.variables import SYSTEM_VARIABLES, GlobalVariables, SessionVariables

from tests.integration.starrocks_standin import statements as st
from tests.integration.starrocks_standin.backing import ensure_current_user_function, result_columns, utc_offset
from tests.integration.starrocks_standin.errors import StarRocksError, syntax_error, unknown_database
from tests.integration.starrocks_standin.translate import MYSQL_SERVER_VERSION, Context, mark_mysql_version

if TYPE_CHECKING:
    from mysql_mimic.connection import Connection

    from tests.integration.starrocks_standin.catalog import Table
    from tests.integration.starrocks_standin.server import StarRocksStandin


class ErrorCode(int):
    """An error code that carries its SQLSTATE (mysql_mimic derives the state from the code alone)."""

    sqlstate: str

    def __new__(cls, code: int, sqlstate: str) -> ErrorCode:
        obj = super().__new__(cls, code)
        obj.sqlstate = sqlstate
        return obj


class StandinSession(BaseSession):
    """Per client connection: its backing MariaDB connection (temporary tables live there), its session
    variables, its temporary tables' catalog entries and the affected-row count of the last statement."""

    def __init__(self, standin: StarRocksStandin) -> None:
        self.standin = standin
        # mysql_mimic reads these for the handshake: the server version there is Config.mysql_server_version.
        self.variables = SessionVariables(GlobalVariables({**SYSTEM_VARIABLES,
                                                           "version": (str, MYSQL_SERVER_VERSION, False)}))
        self.username: str | None = None
        self.database: str | None = None
        self.vars: dict[str, Any] = {}
        self.temp: dict[str, Table] = {}
        self.files_tables: list[str] = []  # FILES() rows of the running statement (files.py)
        self.conn: pymysql.connections.Connection | None = None
        self._sent_zone: str | None = None
        self._pending: tuple[int, str] | None = None

    # ------------------------------------------------------------------ mysql_mimic hooks
    async def init(self, connection: Connection) -> None:
        """After authentication: open the backing connection; make OK packets carry affected rows."""
        connection.status_flags = ServerStatus.SERVER_STATUS_AUTOCOMMIT
        original_ok, original_error = connection.ok, connection.error

        def ok(**kwargs: Any) -> bytes:
            pending, self._pending = self._pending, None
            if pending is None or kwargs.get("eof"):
                return original_ok(**kwargs)
            kwargs["affected_rows"] = pending[0]
            return original_ok(**kwargs) + pending[1].encode()

        def error(**kwargs: Any) -> bytes:
            packet = original_error(**kwargs)
            state = getattr(kwargs.get("code"), "sqlstate", None)
            if state and packet[3:4] == b"#":
                packet = packet[:4] + state.encode() + packet[9:]
            return packet

        connection.ok, connection.error = ok, error  # type: ignore[method-assign]
        await asyncio.to_thread(self._open, self.database)

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> AllowedResult:
        self._pending = None
        try:
            return await asyncio.to_thread(self.run, sql)
        except StarRocksError as exc:
            raise MysqlError(exc.message, ErrorCode(exc.code, exc.sqlstate)) from None  # type: ignore[arg-type]
        except pymysql.err.MySQLError as exc:  # MariaDB's own answer, passed through (not modelled)
            code, message = (exc.args + ("",))[:2] if exc.args else (1064, str(exc))
            raise MysqlError(str(message), ErrorCode(int(code), "HY000")) from None  # type: ignore[arg-type]

    async def use(self, database: str) -> None:
        try:
            await asyncio.to_thread(self.use_database, database)
        except StarRocksError as exc:
            raise MysqlError(exc.message, ErrorCode(exc.code, exc.sqlstate)) from None  # type: ignore[arg-type]

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()

    # ------------------------------------------------------------------ backing connection
    def _open(self, database: str | None) -> None:
        if database and not self.database_exists(database):
            raise unknown_database(database)
        self.conn = self.standin.backing.connect(database)
        self.database = database
        with self.conn.cursor() as cur:
            cur.execute("SET @standin_current_user = %s", (f"'{self.username}'@'%'",))
        if database:
            ensure_current_user_function(self.conn)

    def database_exists(self, name: str) -> bool:
        conn = self.conn or self.standin.backing.connect(None)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            found = bool(cur.fetchone()[0])
        if conn is not self.conn:
            conn.close()
        return found

    def use_database(self, database: str) -> None:
        """USE / COM_INIT_DB: switch the backing connection (ErrorCode ERR_BAD_DB_ERROR if unknown)."""
        if not self.database_exists(database):
            raise unknown_database(database)
        assert self.conn is not None
        self.conn.select_db(database)
        self.database = database
        ensure_current_user_function(self.conn)

    def cursor(self) -> pymysql.cursors.Cursor:
        """A cursor whose session time zone is the client's (now() answers in it; utc_timestamp() in UTC)."""
        assert self.conn is not None
        zone = utc_offset(self.vars.get("time_zone", "Asia/Shanghai"))
        if zone != self._sent_zone:
            with self.conn.cursor() as cur:
                cur.execute("SET time_zone = %s", (zone,))
            self._sent_zone = zone
        return self.conn.cursor()

    def context(self) -> Context:
        return Context(self.standin.version, self.vars)

    def done(self, affected: int, info: str = "") -> None:
        """The OK packet of this statement carries `affected` rows (and StarRocks' info text)."""
        self._pending = (affected, info)

    def table(self, name: str, db: str | None = None) -> Table | None:
        """A temporary table of this session shadows a table of the same name (docs table_design/
        temporary_table.md), else the catalog's."""
        if db is None and name.lower() in self.temp:
            return self.temp[name.lower()]
        return self.standin.catalog.get(db or self.database or "", name)

    # ------------------------------------------------------------------ statements
    def run(self, sql: str) -> AllowedResult:
        """Answer one statement (recorded verbatim first)."""
        self.standin.statements.append(sql)
        text = _strip(sql)
        if not text:
            return None
        special = st.special(self, text)
        if special is not st.NOT_SPECIAL:
            return special  # type: ignore[no-any-return]
        label, text = st.take_label(text)
        try:
            tree = sqlglot.parse_one(mark_mysql_version(text), read="starrocks")
        except sqlglot.errors.ParseError as exc:
            errors = exc.errors[0] if exc.errors else {}
            raise syntax_error(text, errors.get("highlight")) from None
        if tree is None:
            return None
        try:
            return st.dispatch(self, tree, text, label)
        finally:
            while self.files_tables:
                self.execute(f"DROP TEMPORARY TABLE IF EXISTS `{self.files_tables.pop()}`")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> AllowedResult:
        """Run MariaDB SQL that returns rows; answer them with MariaDB's column types."""
        with self.cursor() as cur:
            cur.execute(sql, params or None)
            if cur.description is None:
                self.done(cur.rowcount if cur.rowcount > 0 else 0)
                return None
            return list(cur.fetchall()), result_columns(cur.description)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.cursor() as cur:
            return int(cur.execute(sql, params or None) or 0)

    def new_label(self) -> str:
        """StarRocks labels an INSERT without WITH LABEL itself: insert_<query id> (docs loading/InsertInto.md)."""
        return f"insert_{uuid.uuid4()}"


def _strip(sql: str) -> str:
    """The statement without surrounding blanks, trailing ';' and leading comment lines."""
    text = sql.strip()
    while text.startswith("--") or text.startswith("/*"):
        text = text.split("\n", 1)[1].strip() if text.startswith("--") and "\n" in text else (
            text[text.index("*/") + 2:].strip() if text.startswith("/*") and "*/" in text else "")
    return re.sub(r"[;\s]+$", "", text)

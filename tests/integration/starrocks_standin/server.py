"""StarRocksStandin: a MySQL-protocol server answering like a StarRocks 3.3 FE, backed by MariaDB."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl as ssl_module
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pymysql
from mysql_mimic import MysqlServer
from mysql_mimic.auth import AuthInfo, AuthState, Forbidden, IdentityProvider, NativePasswordAuthPlugin, Success, User
from mysql_mimic.utils import nonce

from tests.integration.starrocks_standin.backing import BackingServer
from tests.integration.starrocks_standin.catalog import Catalog, MaterializedView
from tests.integration.starrocks_standin.errors import (
    PRIMARY_KEY_TOO_LONG,
    TOO_MANY_FILTERED_ROWS,
    StandinRefused,
    access_denied,
)
from tests.integration.starrocks_standin.tls_front import TlsFront
from tests.integration.starrocks_standin.writes import WriteRefused, write

FEATURES = ("create_table", "create_mv", "refresh_mv", "temporary_table", "delete", "update", "insert",
            "show_grants", "files")


class _FePassword(NativePasswordAuthPlugin):
    """mysql_native_password against the FE's user, refusing with StarRocks' text: ErrorCode
    ERR_ACCESS_DENIED_ERROR (1045, 28000) "Access denied for user '%s' (using password: %s)"."""

    async def auth(self, auth_info: AuthInfo | None = None) -> AuthState:
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            challenge = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            challenge = nonce(20)
            auth_info = yield challenge + b"\x00"
        if self.password_matches(user=auth_info.user, scramble=auth_info.data, nonce=challenge):
            yield Success(auth_info.user.name)
        else:
            yield Forbidden(access_denied(auth_info.user.name))


class _FeUsers(IdentityProvider):
    """One user, the stand-in's; any other name fails like a wrong password (StarRocks does not say which)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.auth_string = user, NativePasswordAuthPlugin.create_auth_string(password)

    def get_plugins(self) -> Sequence[_FePassword]:
        return [_FePassword()]

    async def get_user(self, username: str) -> User | None:
        known = username == self.user
        return User(name=username, auth_string=self.auth_string if known else secrets.token_hex(20),
                    auth_plugin=_FePassword.name)


class StarRocksStandin:
    """A StarRocks FE stand-in on a free local port; SQL runs on MariaDB (see the package docstring).

    Shared state tests read and script: `labels` (label -> PREPARE|PREPARED|COMMITTED|VISIBLE|ABORTED, also
    used by the Stream Load stand-in), `grants` (SHOW GRANTS lines: "user" and "role:<name>"), `refuse`
    (feature -> message: refused with ERROR 1064 and that text), `refreshes` (materialized view -> refreshes
    run, creation included), `statements` (every statement received, verbatim).
    """

    def __init__(self, backing_url: str, *, user: str = "datawiz_etl", password: str = "s3cret:pw",
                 version: str = "3.3.5", backends: int = 3, default_replication_num: int = 3,
                 host: str = "127.0.0.1", ssl: ssl_module.SSLContext | None = None,
                 files_root: Path | None = None) -> None:
        self.backing, self.database = BackingServer.from_url(backing_url)
        self.files_root = files_root  # FILES() reads wasbs://c@a.blob.core.windows.net/<path> from here (files.py)
        self.user, self.password, self.version, self.host = user, password, version, host
        self.backends, self.default_replication_num = backends, default_replication_num
        self.labels: dict[str, str] = {}
        self.grants: dict[str, list[str]] = {"user": default_grants(user, self.database)}
        self.refuse: dict[str, str] = {}
        self.refreshes: dict[str, int] = {}
        self.statements: list[str] = []
        self.filtered_rows = 0  # rows dropped by loads that succeeded without strict mode
        self.catalog = Catalog()
        self.created_databases: set[str] = set()
        self.lock = threading.RLock()
        self._writer: pymysql.connections.Connection | None = None
        self._loop = asyncio.new_event_loop()
        # TLS is offered by a front of our own (tls_front.py: mysql-mimic's start_tls hangs on pymysql's
        # ClientHello); mysql-mimic itself then listens on loopback only.
        self._server = MysqlServer(session_factory=self._new_session, identity_provider=_FeUsers(user, password))
        self._thread = threading.Thread(target=self._loop.run_forever, name="starrocks-standin", daemon=True)
        self._thread.start()
        listen = "127.0.0.1" if ssl is not None else host
        asyncio.run_coroutine_threadsafe(self._server.start_server(host=listen, port=0), self._loop).result(10)
        self.port: int = self._server.sockets()[0].getsockname()[1]
        self._tls_front = TlsFront(host, self.port, ssl) if ssl is not None else None
        if self._tls_front is not None:
            self.port = self._tls_front.port

    def _new_session(self) -> Any:
        from tests.integration.starrocks_standin.session import StandinSession

        return StandinSession(self)

    # ------------------------------------------------------------------ public API
    def url(self, **query: str) -> str:
        """starrocks://user:pw@host:port/db[?query] (the password URL-quoted)."""
        base = f"starrocks://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"
        return f"{base}/{self.database}" + (f"?{urlencode(query)}" if query else "")

    def write_rows(self, table: str, rows: list[dict[str, object]], strict: bool = True,
                   max_filter_ratio: float = 0.0, database: str | None = None) -> int:
        """Stream Load's write: the rows of one request, all or nothing; returns the rows loaded.

        `strict`/`max_filter_ratio`: the request's strict_mode and max_filter_ratio (docs/en/sql-reference/
        sql-statements/loading_unloading/STREAM_LOAD.md; DataWiz sends strict_mode true, ratio 0). Raises
        StandinRefused("too many filtered rows") when more rows are filtered than the ratio allows, and
        StandinRefused("primary key size exceed the limit.") for an over-long key (see writes.py).
        `database`: the request's `/api/{db}/...` (default: the stand-in's own database)."""
        db = database or self.database
        info = self.catalog.get(db, table)
        if info is None:
            raise StandinRefused(f"Unknown table '{db}.{table}'")
        columns = [c for c in info.columns if any(c in r for r in rows)]
        values = [[r.get(c) for c in columns] for r in rows]
        with self.lock:
            conn = self._writer_connection()
            conn.select_db(db)
            try:
                with conn.cursor() as cur:
                    result = write(cur, info, columns, values, strict, max_filter_ratio=max_filter_ratio)
            except WriteRefused as exc:
                message = PRIMARY_KEY_TOO_LONG if exc.kind == "key_too_long" else TOO_MANY_FILTERED_ROWS
                raise StandinRefused(message, exc.filtered) from None
            self.filtered_rows += result.filtered
            self.after_write(conn, db, table)
        return result.loaded

    def close(self) -> None:
        """Stop serving, drop scratch databases the clients left, close connections."""
        if self._tls_front is not None:
            self._tls_front.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        if self.created_databases:
            with contextlib.suppress(pymysql.err.Error):
                conn = self.backing.connect(None)
                with conn.cursor() as cur:
                    for name in self.created_databases:
                        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                conn.close()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()

    async def _shutdown(self) -> None:
        """Stop listening and end the client connections still open (their sessions close their backing
        connections, which drops their temporary tables)."""
        self._server.close()
        connections = self._server.control._connections  # type: ignore[attr-defined]  # LocalControl
        for connection in list(connections.values()):
            connection.stream.writer.close()  # the client's next read sees EOF: the connection ends cleanly
        for _ in range(100):
            if not connections:
                break
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ shared by sessions
    def check_refused(self, feature: str) -> None:
        """`refuse[feature]` set: answer ERROR 1064 with exactly that message."""
        from tests.integration.starrocks_standin.errors import StarRocksError

        message = self.refuse.get(feature)
        if message is not None:
            raise StarRocksError(message)

    def after_write(self, conn: pymysql.connections.Connection, db: str, table: str) -> None:
        """Refresh the ASYNC materialized views of `db` that read `table`.

        docs/en/sql-reference/sql-statements/materialized_view/CREATE_MATERIALIZED_VIEW.md: with REFRESH ASYNC
        and no START/EVERY, "the materialized view is refreshed ... when the data in the base table changes"."""
        for view in self.catalog.views_on(db, table):
            self.refresh(conn, db, view)

    def refresh(self, conn: pymysql.connections.Connection, db: str, view: MaterializedView) -> None:
        """Recompute the whole view (a partition range refresh recomputes it all too) in one transaction."""
        with self.lock:
            conn.begin()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"DELETE FROM `{db}`.`{view.name}`")
                    cur.execute(f"INSERT INTO `{db}`.`{view.name}` {view.query}")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            self.refreshes[view.name] = self.refreshes.get(view.name, 0) + 1

    def _writer_connection(self) -> pymysql.connections.Connection:
        if self._writer is None or not self._writer.open:
            self._writer = self.backing.connect(self.database)
        self._writer.ping(reconnect=True)
        return self._writer


def default_grants(user: str, database: str) -> list[str]:
    """SHOW GRANTS lines of a loading user, in the 3.x format of docs/en/sql-reference/sql-statements/
    account-management/SHOW_GRANTS.md ("GRANT SELECT ON TABLE sr_hub.sr_member TO USER 'user_g'@'%'")."""
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE, ALTER, DROP ON ALL TABLES IN DATABASE {database} TO USER '{user}'@'%'",
        f"GRANT CREATE TABLE, CREATE VIEW, CREATE MATERIALIZED VIEW ON DATABASE {database} TO USER '{user}'@'%'",
        f"GRANT SELECT, REFRESH, ALTER ON ALL MATERIALIZED VIEWS IN DATABASE {database} TO USER '{user}'@'%'",
    ]

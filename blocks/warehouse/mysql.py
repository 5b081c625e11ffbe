"""The MySQL / MariaDB warehouse: pymysql, bulk loads with LOAD DATA LOCAL INFILE.

`PyMySQLBlock` is the connection layer shared with the StarRocks connector (same wire protocol,
same driver): configuration, one connection per thread (re-opened when lost), the prefect
`DatabaseBlock` methods and the Warehouse reads. `MySQLWarehouse` adds the load path.

How one file version loads (one InnoDB transaction, so a crash or a killed connection leaves
none of it — data, quarantined rows and ledger row commit together):
1. refuse if the ledger already holds (file, version);
2. fact re-delivery: delete the rows of the path's older versions; constants: delete the rest;
3. `LOAD DATA LOCAL INFILE ... REPLACE INTO TABLE <target>` from a CSV that pyarrow writes into a
   temporary file — REPLACE is delete-by-key-then-insert, the same upsert as DuckDB's;
4. history copy, deactivation of absent keys, orphan count, quarantine and ledger rows
   (sql_builders: the same statements as every backend).

Why straight into the target and not through a staging table: a staging table writes every row
twice (LOAD into the stage, INSERT ... SELECT into the target), which halves throughput; the
steps after the load find the file's rows by their lineage columns instead (see sql_builders).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import itertools
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO, ClassVar

try:
    import fcntl
except ImportError:  # not on Windows, where the CSV goes through a temporary file anyway
    fcntl = None  # type: ignore[assignment]

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pymysql
from prefect.blocks.abstract import DatabaseBlock
from pydantic import Field, PrivateAttr, SecretStr

from blocks.faults import crash_point
from blocks.transport import require_encryption
from blocks.types import LedgerEntry
from blocks.warehouse import base, ddl
from blocks.warehouse import sql_builders as sb
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.batches import Batches, as_batches, loaded_columns, prefetched
from blocks.warehouse.etl_tables import EtlTables
from datawiz.core.contract import TableContract
from datawiz.core.errors import TransientError

# pymysql error codes that mean "the connection is gone": the thread's connection is dropped so the
# next call opens a fresh one (CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_CONNECTION_KILLED, ...).
_LOST_CONNECTION = {2006, 2013, 2055, 1927, 4031}
_DUPLICATE_KEY = 1062
_LOAD_INFO = re.compile(r"(\w+): (\d+)")


class PyMySQLBlock(DatabaseBlock, EtlTables):
    """Connection settings and SQL over pymysql (MySQL, MariaDB, StarRocks' MySQL port)."""

    host: str = Field(default="127.0.0.1", description="Server host name or address.")
    port: int = Field(default=3306, description="MySQL protocol port.")
    user: str = Field(default="root", description="Login user.")
    password: SecretStr | None = Field(default=None, description="Login password (never logged).")
    database: str = Field(description="Database (schema) holding the warehouse tables.")
    tls: bool = Field(default=False, description="Encrypt the connection (implied by any ssl_* file).")
    ssl_ca: str | None = Field(default=None, description="CA bundle file.")
    ssl_cert: str | None = Field(default=None, description="Client certificate file (mutual TLS).")
    ssl_key: str | None = Field(default=None, description="Client private key file (mutual TLS).")
    ssl_verify: bool = Field(default=True, description="Verify the server certificate and host name.")
    allow_insecure: bool = Field(
        default=False,
        description="Allow a password over an unencrypted connection to a non-loopback host (not recommended).",
    )
    connect_timeout: int = Field(default=10, description="Seconds to wait for a connection.")
    read_timeout: int = Field(default=3600, description="Seconds to wait for a server answer (long loads).")
    # Per socket write (16 KiB of a LOAD DATA upload): a healthy server takes milliseconds. A server
    # that killed the statement stops reading without closing, so this is how long a dead load hangs.
    write_timeout: int = Field(default=60, description="Seconds one send may block before the connection is lost.")

    dialect: ClassVar[str] = "mysql"
    # Connections are per thread (`_connection`), so each concurrent file load has its own session.
    capabilities: ClassVar[base.Capabilities] = base.Capabilities("mysql", parallel_loads=True)
    scheme: ClassVar[str] = "mysql"
    # False on StarRocks: no multi-statement DML transactions there, each statement commits alone.
    transactional: ClassVar[bool] = True
    _local_infile: ClassVar[bool] = False
    # InnoDB sessions run READ COMMITTED (see `_read_committed`); StarRocks has no such setting to make.
    _read_committed: ClassVar[bool] = False
    _tls: threading.local = PrivateAttr(default_factory=threading.local)
    _opened: list[pymysql.connections.Connection] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # ------------------------------------------------------------------ connection
    def describe(self) -> str:
        """Secret-free one-line description (no password, ever)."""
        tls = " (tls)" if self.encrypted else ""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.database}{tls}"

    def _ssl(self) -> dict[str, Any]:
        """pymysql TLS arguments: none unless `tls` or a certificate file is set."""
        context = self.ssl_context()
        return {"ssl": context} if context is not None else {}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the connection (None: plain TCP).

        Built here rather than by pymysql: given a dict without a CA file, pymysql switches host-name
        checking off. With `ssl_verify` (the default) the certificate chain (system CAs, or `ssl_ca`) and
        the host name are both checked; `ssl_verify=false` encrypts without checking who answers.
        """
        return self.tls_context() if self.encrypted else None

    @property
    def encrypted(self) -> bool:
        """True when the connection uses TLS: `tls`, or any ssl_* file, is set."""
        return bool(self.tls or self.ssl_ca or self.ssl_cert or self.ssl_key)

    def tls_context(self) -> ssl.SSLContext:
        """A client TLS context from the block's ssl_* settings (also used for StarRocks' HTTPS endpoints)."""
        context = ssl.create_default_context(cafile=self.ssl_ca)
        if self.ssl_cert:
            context.load_cert_chain(self.ssl_cert, self.ssl_key)
        if not self.ssl_verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context

    def check_transport(self) -> None:
        """Refuse a password in clear to a non-loopback server unless `allow_insecure` (blocks/transport.py)."""
        require_encryption(
            f"warehouse {self.describe()}", self.host, encrypted=self.encrypted,
            has_secret=bool(self.password and self.password.get_secret_value()), allow_insecure=self.allow_insecure,
            how_to_fix="Set tls=true (URL ?tls=true&ssl_ca=/path/ca.pem, or DB_TLS/DB_SSL_CA for the block)",
        )

    def _connect(self) -> pymysql.connections.Connection:
        self.check_transport()
        conn = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password.get_secret_value() if self.password else "",
            database=self.database,
            charset="utf8mb4",
            autocommit=True,  # units of work open explicit transactions (BEGIN ... COMMIT)
            local_infile=self._local_infile,
            **self._ssl(),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
        )
        if self._read_committed:
            _read_committed(conn)
        return conn

    def _connection(self) -> pymysql.connections.Connection:
        """This thread's connection: reused while it lives, re-opened after a loss."""
        conn = getattr(self._tls, "conn", None)
        if conn is not None and conn.open:
            try:
                conn.ping(reconnect=False)
                return conn
            except pymysql.err.Error:
                self._discard(conn)
        conn = self._connect()
        self._tls.conn = conn
        with self._lock:
            self._opened.append(conn)
        return conn

    def _discard(self, conn: pymysql.connections.Connection) -> None:
        with contextlib.suppress(Exception):
            conn.close()
        with self._lock:
            if conn in self._opened:
                self._opened.remove(conn)
        if getattr(self._tls, "conn", None) is conn:
            self._tls.conn = None

    @contextlib.contextmanager
    def _cursor(self, transaction: bool = False) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor on this thread's connection; with `transaction`, inside BEGIN ... COMMIT."""
        conn = self._connection()
        transaction = transaction and self.transactional
        try:
            if transaction:
                conn.begin()
            with conn.cursor(_TimedCursor) as cur:
                cur.backend = self.dialect
                yield cur
            if transaction:
                conn.commit()
        except BaseException as exc:
            if transaction:
                with contextlib.suppress(Exception):  # a killed connection cannot roll back: the server did
                    conn.rollback()
            if _is_lost(exc) or not conn.open:
                self._discard(conn)
                if not isinstance(exc, pymysql.err.Error):
                    # pymysql can mask a lost connection (e.g. AttributeError after a failed LOAD DATA
                    # upload); surface it as what it is, so the retry policy sees a transient error.
                    raise ConnectionLost(2013, "Lost connection to the server mid-statement") from exc
            raise

    def close(self) -> None:
        """Close every connection this block opened (in any thread)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
        self._tls = threading.local()

    def __enter__(self) -> PyMySQLBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ SQL (prefect DatabaseBlock)
    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a read query with `:name` parameters; returns Arrow."""
        with self._cursor() as cur:
            _exec(cur, sql, params)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        return _to_arrow(names, rows)

    # execute/execute_many/fetch_*: Prefect's DatabaseBlock declares them async; DataWiz's flows and blocks are
    # sync, so these sync overrides are deliberate (hence `ignore[override]`), same names and parameters.
    def execute(self, operation: str, parameters: dict[str, Any] | None = None, **_: Any) -> None:  # type: ignore[override]
        """Run one statement with `:name` parameters (committed on return)."""
        with self._cursor() as cur:
            _exec(cur, operation, parameters)

    def execute_many(self, operation: str, seq_of_parameters: list[dict[str, Any]], **_: Any) -> None:  # type: ignore[override]
        """Run one statement for each parameter dict, all in one transaction."""
        text, _names = base.bind_style(operation, "pyformat")
        with self._cursor(transaction=True) as cur:
            cur.executemany(text, seq_of_parameters)

    def fetch_one(self, operation: str, parameters: dict[str, Any] | None = None, **_: Any) -> tuple[Any, ...]:  # type: ignore[override]
        """First row of a query (None when it returns none)."""
        with self._cursor() as cur:
            _exec(cur, operation, parameters)
            return cur.fetchone()

    def fetch_many(  # type: ignore[override]
        self, operation: str, parameters: dict[str, Any] | None = None, size: int | None = None, **_: Any
    ) -> list[tuple[Any, ...]]:
        """Up to `size` rows of a query (the cursor's arraysize when None)."""
        with self._cursor() as cur:
            _exec(cur, operation, parameters)
            return list(cur.fetchmany(size or cur.arraysize))

    def fetch_all(self, operation: str, parameters: dict[str, Any] | None = None, **_: Any) -> list[tuple[Any, ...]]:  # type: ignore[override]
        """Every row of a query."""
        with self._cursor() as cur:
            _exec(cur, operation, parameters)
            return list(cur.fetchall())

    def run_sql_file(self, name: str, params: dict[str, Any]) -> None:
        """Run every statement of sql/<dialect>/<name>.sql or sql/<name>.sql, rendered, in one transaction.

        One run of a given file at a time per database (`_named_lock`): two runs rebuilding the same rows
        (two mornings at once, both recomputing one month's DD) otherwise collide on the target's primary
        key — under READ COMMITTED (`_read_committed`) the second one's DELETE does not wait for, nor
        delete, the rows the first one is inserting, and its INSERT then fails with 1062 (seen in the
        reliability suite's two-mornings race). Different files (DD and reports) still run side by side.
        """
        with self._named_lock(f"sql_{name}"), self._cursor(transaction=True) as cur:
            for statement in self._statements(base.sql_file(self.dialect, name)):
                _exec(cur, statement, params)

    def _statements(self, sql: str) -> list[str]:
        """The statements of one of our SQL files, as this backend runs them."""
        return base.split_statements(sql)

    # ------------------------------------------------------------------ migrations
    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded in schema_migrations; returns what was applied.

        DDL commits implicitly here, so each migration is written to be re-runnable (IF NOT EXISTS)
        and is recorded only after its last statement succeeded. Then the registry tables no migration
        declares (`Physical.since` None) are created if missing.
        """
        applied = []
        with self._named_lock("migrate"), self._cursor() as cur:  # two flows starting together: one runs the DDL
            cur.execute(self._schema_migrations_ddl())
            cur.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            for mig in base.migrations(self.dialect):
                if mig.version in done:
                    continue
                for statement in self._statements(mig.text()):
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (mig.version, mig.name, sb.now().replace(microsecond=0)),
                )
                applied.append(mig.path.name)
            cur.execute("SHOW TABLES")
            for name, create in ddl.undeclared_tables(self.dialect, [r[0] for r in cur.fetchall()]):
                for statement in self._statements(create):
                    cur.execute(statement)
                applied.append(f"contract table {name}")
        return applied

    def _schema_migrations_ddl(self) -> str:
        return (
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, "
            "name VARCHAR(255) NOT NULL, applied_at DATETIME NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    @contextlib.contextmanager
    def _named_lock(self, purpose: str) -> Iterator[None]:
        """Hold this database's DataWiz lock `purpose` (GET_LOCK: a server-wide name, held by this thread's
        session and released with it, so a killed run never leaves it held); LockTimeout after LOCK_WAIT_SECONDS."""
        name = lock_name(purpose, self.database)
        with self._cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (name, LOCK_WAIT_SECONDS))
            (got,) = cur.fetchone() or (None,)
            if got != 1:
                raise LockTimeout(f"another DataWiz run held the lock {purpose!r} of this database for "
                                  f"{LOCK_WAIT_SECONDS} s")
            try:
                yield
            finally:
                # A lost connection released it already; its error is the one to report, not this one's.
                with contextlib.suppress(pymysql.err.Error):
                    cur.execute("SELECT RELEASE_LOCK(%s)", (name,))

    # ------------------------------------------------------------------ ledger and load steps
    def _start_load(self, cur: pymysql.cursors.Cursor, contract: TableContract, entry: LedgerEntry) -> None:
        """Before the bulk upsert: refuse a known version, clear what the load mode replaces."""
        _refuse_if_known(cur, entry)
        _run(cur, [sb.clear_previous(contract, entry, sb.PYMYSQL)])

    def _finish_load(
        self, cur: pymysql.cursors.Cursor, contract: TableContract, entry: LedgerEntry, columns: list[str],
        quarantine: Batches, orphans: int | None = None,
    ) -> None:
        """After the bulk upsert: history and deactivation, orphan count (in SQL unless counted on the way),
        quarantined rows, ledger row last."""
        _run(cur, sb.after_upsert(contract, entry, columns, sb.quarantined_keys(quarantine), sb.PYMYSQL))
        entry.stats.orphans = self._count_orphans(cur, contract, entry) if orphans is None else orphans
        self._write_quarantine(cur, entry, quarantine)
        self._write_ledger(cur, entry)

    def _count_orphans(self, cur: pymysql.cursors.Cursor, contract: TableContract, entry: LedgerEntry) -> int:
        """Loaded rows with a code the referenced dimension lacks, counted by the warehouse."""
        orphans = sb.orphan_count(contract, entry, sb.PYMYSQL)
        if orphans is None:
            return 0
        cur.execute(orphans.sql, orphans.params)
        return int(cur.fetchone()[0])

    def record_rejected(self, entry: LedgerEntry, quarantine: pa.Table | None = None) -> None:
        """Write the ledger row of a rejected (or skipped) file version, with its quarantined rows."""
        with self._cursor(transaction=True) as cur:
            _refuse_if_known(cur, entry)
            if quarantine is not None:
                self._write_quarantine(cur, entry, quarantine)
            self._write_ledger(cur, entry)

    def _write_ledger(self, cur: pymysql.cursors.Cursor, entry: LedgerEntry) -> None:
        """The ledger row (and the supersession of the path's older versions); AlreadyLoaded if another run won."""
        _write_ledger(cur, entry)

    def _write_quarantine(self, cur: pymysql.cursors.Cursor, entry: LedgerEntry, quarantine: Batches) -> None:
        """The file version's etl_quarantine rows (LOAD DATA on MySQL/MariaDB, INSERTs elsewhere)."""
        _write_quarantine(cur, entry, quarantine, bulk=self._local_infile)


class MySQLWarehouse(PyMySQLBlock):
    """A MySQL 8 / MariaDB 10.11+ database used as the warehouse (bulk loads via LOAD DATA LOCAL)."""

    _block_type_name = "DataWiz MySQL Warehouse"
    _block_type_slug = "datawiz-mysql-warehouse"
    _description = "MySQL/MariaDB warehouse: LOAD DATA LOCAL INFILE bulk loads, data + ledger in one transaction."

    dialect: ClassVar[str] = "mysql"
    _local_infile: ClassVar[bool] = True
    _read_committed: ClassVar[bool] = True

    def load_file(
        self, contract: TableContract, entry: LedgerEntry, data: Batches, quarantine: Batches
    ) -> LedgerEntry:
        """Load one file version's good rows, quarantined rows and ledger row in one transaction.

        `data` may be a stream of batches: they go through one LOAD DATA statement (one named pipe),
        produced a batch ahead while the server takes the current one; `entry.stats` is read only
        after the stream ends. Orphans are counted in Arrow on the way, against the dimension keys
        read in this transaction — the same answer as the SQL count, an order of magnitude faster on
        InnoDB (which would walk the lineage index and probe every dimension per loaded row).
        """
        with self._cursor(transaction=True) as cur:
            self._start_load(cur, contract, entry)
            orphans = _OrphanCount(_dimension_keys(cur, contract))
            load_batches(cur, contract.target_table, orphans.counted(prefetched(as_batches(data))))
            crash_point("load")
            columns = data.column_names if isinstance(data, pa.Table) else loaded_columns(contract)
            self._finish_load(cur, contract, entry, columns, quarantine, orphans.total)
            crash_point("ledger")
        return entry

    def replay_rows(self, contract: TableContract, entry: LedgerEntry, data: pa.Table, fixed_rows: list[int]) -> None:
        """Upsert quarantined rows that now pass, forget them in etl_quarantine, fix the ledger (one transaction)."""
        with self._cursor(transaction=True) as cur:
            load_batches(cur, contract.target_table, [data])
            _run(cur, [sb.replay_history(contract, entry, data, sb.PYMYSQL, "REPLACE INTO"),
                       *sb.replay_statements(entry, fixed_rows, data.num_rows, sb.PYMYSQL)])


class _OrphanCount:
    """Loaded rows whose code is missing from its dimension, counted batch by batch as they pass."""

    def __init__(self, keys: dict[str, pa.Array]) -> None:
        self.keys = keys
        self.total = 0

    def counted(self, batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
        for batch in batches:
            self.total += sb.count_orphans(batch, self.keys)
            yield batch


def _dimension_keys(cur: pymysql.cursors.Cursor, contract: TableContract) -> dict[str, pa.Array]:
    """Referencing column -> the keys its dimension holds (read inside the load's transaction)."""
    keys = {}
    for col, (dim, dim_key) in contract.references.items():
        cur.execute(f"SELECT DISTINCT {dim_key} FROM {dim}")
        keys[col] = pa.array([r[0] for r in cur.fetchall()], pa.string())
    return keys


# ---------------------------------------------------------------------------------------- helpers
# How long a run waits for another one's DataWiz lock (a migration, one SQL file's rebuild) before it gives up.
LOCK_WAIT_SECONDS = 300


def lock_name(purpose: str, database: str) -> str:
    """The GET_LOCK name of a DataWiz lock on `database`: lock names are server-wide and at most 64
    characters (MySQL: "Locking Functions"), so a long one is hashed."""
    name = f"datawiz_{purpose}_{database}"
    return name if len(name) <= 64 else f"datawiz_{hashlib.sha256(name.encode()).hexdigest()[:48]}"


class LockTimeout(TransientError):
    """Another run held a DataWiz lock for LOCK_WAIT_SECONDS: retry later."""


class ConnectionLost(TransientError, pymysql.err.OperationalError):
    """The connection went away mid-statement although pymysql raised something else (it can mask it).

    Transient by class; still a pymysql OperationalError with code 2013, as callers and tests know it."""


class _TimedCursor(pymysql.cursors.Cursor):
    """The cursor of every statement of this backend (and StarRocks'): records each one's latency.

    `executemany` goes through `execute` (one batched INSERT, or one call per row), so it is timed there.
    """

    backend = "mysql"

    def execute(self, query: str, args: Any = None) -> int:
        with base.timed_statement(self.backend, query):
            return super().execute(query, args)


def _read_committed(conn: pymysql.connections.Connection) -> None:
    """Run this session's transactions READ COMMITTED (InnoDB's default is REPEATABLE READ), so that concurrent
    file loads (DATAWIZ_LOAD_CONCURRENCY) do not deadlock on gap locks.

    Under REPEATABLE READ a DELETE that matches nothing — a new file's `clear_previous`, its etl_quarantine
    clean-up — still next-key-locks the gap where its rows would go, and two loads whose paths sort next to
    each other then each wait to insert into the other's locked gap: InnoDB kills one (1213, deadlock). Under
    READ COMMITTED, InnoDB takes gap locks only for foreign-key and duplicate-key checks (MySQL manual,
    "Transaction Isolation Levels", innodb-transaction-isolation-levels.html; MariaDB's InnoDB the same).
    Nothing DataWiz does relies on a repeatable snapshot: a load reads the ledger and dimension keys once,
    and a duplicate ledger row still fails on its primary key (AlreadyLoaded). Not on a server that logs
    statement-based binlogs: READ COMMITTED needs row-based logging there ("Transaction Isolation Levels";
    MIXED switches to rows by itself), so such a server keeps its default and concurrent loads retry deadlocks.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format")
        log_bin, binlog_format = cur.fetchone()
        if not (log_bin and str(binlog_format).upper() == "STATEMENT"):
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")


def _is_lost(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] in _LOST_CONNECTION


def _exec(cur: pymysql.cursors.Cursor, sql: str, params: dict[str, Any] | None) -> None:
    text, names = base.bind_style(sql, "pyformat")
    if not names:  # pymysql formats (and un-doubles %%) only when given parameters
        cur.execute(sql)
        return
    cur.execute(text, {n: (params or {})[n] for n in names})


def _run(cur: pymysql.cursors.Cursor, statements: Sequence[sb.Stmt | None]) -> None:
    for st in statements:
        if st is not None:
            cur.execute(st.sql, st.params)


def _to_arrow(names: list[str], rows: tuple[tuple[Any, ...], ...] | list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({n: pa.array(list(col)) if col else pa.array([], pa.null()) for n, col in zip(
        names, columns, strict=True)})


def _refuse_if_known(cur: pymysql.cursors.Cursor, entry: LedgerEntry) -> None:
    known = sb.ledger_known(entry, sb.PYMYSQL)
    cur.execute(known.sql, known.params)
    if cur.fetchone()[0]:
        raise AlreadyLoaded(f"{entry.source_file} version {entry.source_version} is already in the ledger")


def _write_ledger(cur: pymysql.cursors.Cursor, entry: LedgerEntry) -> None:
    try:
        _run(cur, sb.ledger_statements(entry, sb.PYMYSQL))
    except pymysql.err.IntegrityError as exc:
        # Another run inserted the same (file, version) after our check: its transaction won.
        if exc.args and exc.args[0] == _DUPLICATE_KEY:
            raise AlreadyLoaded(f"{entry.source_file} version {entry.source_version} is already in the ledger") from exc
        raise


def _write_quarantine(cur: pymysql.cursors.Cursor, entry: LedgerEntry, quarantine: Batches, bulk: bool) -> None:
    """The file version's quarantine records, after any an earlier attempt left.

    `bulk`: through LOAD DATA like the rows (MySQL/MariaDB); else multi-row INSERTs (StarRocks, whose
    quarantined rows are few: bounded by the reject ratio).
    """
    _run(cur, [sb.quarantine_delete(entry, sb.PYMYSQL)])
    records = (sb.quarantine_rows(entry, b) for b in as_batches(quarantine) if b.num_rows)
    if bulk:
        load_batches(cur, "etl_quarantine", records)
        return
    insert = sb.insert_values_sql("etl_quarantine", sb.QUARANTINE_COLUMNS, sb.PYMYSQL)
    for rows in records:
        cur.executemany(insert, [tuple(r.values()) for r in rows.to_pylist()])


def load_batches(cur: pymysql.cursors.Cursor, table: str, batches: Iterable[pa.Table]) -> int:
    """LOAD DATA ... REPLACE a stream of tables (same columns) in one statement; returns the rows loaded.

    The first batch is produced before the statement is sent (its columns name the load); a
    stream with no rows sends nothing.
    """
    stream = (b for b in batches if b.num_rows)
    written = [0]
    try:
        first = next(stream, None)
        if first is None:
            return 0
        with csv_pipe(itertools.chain([first], stream), written) as csv_path:
            records = _load_data(cur, table, first.column_names, csv_path, None)
    finally:
        stream.close()  # the writer has finished with it: a producer thread behind it stops now
    if records is not None and records != written[0]:
        raise pymysql.err.DataError(f"LOAD DATA into {table}: read {records} rows of {written[0]} sent")
    return written[0]


@contextlib.contextmanager
def csv_pipe(data: Batches, written: list[int] | None = None) -> Iterator[str]:
    """A path LOAD DATA LOCAL can read `data` (a table or a stream of them) from as CSV: a named pipe
    a thread fills meanwhile, adding the rows it wrote to `written[0]`.

    Writing the CSV and loading it overlap (nothing lands on disk); where named pipes do not exist,
    a temporary file is written first. An error of the writer (or of the stream feeding it: a file
    rejected half way) is raised in preference to what the cut-short load reports.
    """
    count = written if written is not None else [0]
    with tempfile.TemporaryDirectory(prefix="datawiz-load-") as tmp:
        path = os.path.join(tmp, "rows.csv")
        if not hasattr(os, "mkfifo"):
            with open(path, "wb") as fh:
                _write_batches(as_batches(data), fh, threading.Event(), count)
            yield path
            return
        os.mkfifo(path, 0o600)
        errors: list[BaseException] = []
        stop = threading.Event()
        writer = threading.Thread(target=contextvars.copy_context().run,
                                  args=(_fill_pipe, as_batches(data), path, errors, stop, count),
                                  name="datawiz-csv", daemon=True)
        writer.start()
        try:
            yield path
        finally:
            stop.set()
            _drain(path, writer)
            if errors:
                raise errors[0]


def _fill_pipe(
    batches: Iterator[pa.Table], path: str, errors: list[BaseException], stop: threading.Event, count: list[int]
) -> None:
    try:
        with open(path, "wb") as pipe:
            _widen(pipe)
            _write_batches(batches, pipe, stop, count)
    except BrokenPipeError:
        pass  # the reader stopped early (the load failed): its error is the one to report
    except BaseException as exc:  # noqa: BLE001  (handed to the loading thread)
        errors.append(exc)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a generator left early: stops the producer behind it


# pymysql sends a LOAD DATA LOCAL file in 16 KB reads on the loading thread, and this writer thread
# fills the pipe between its GIL turns: with the default 64 KB pipe the sender found it empty for
# 3.4-3.8 s of a 1M-row load (busy machine), with 1 MB (Linux's default pipe-max-size) for 1.3-1.7 s.
PIPE_BYTES = 1 << 20


def _widen(pipe: BinaryIO) -> None:
    """Give the pipe PIPE_BYTES of buffer where the OS allows (Linux F_SETPIPE_SZ); else leave it."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size for an unprivileged user
        fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


def _write_batches(batches: Iterator[pa.Table], out: BinaryIO, stop: threading.Event, count: list[int]) -> None:
    for batch in batches:
        if stop.is_set():
            return
        write_load_csv(batch, out)
        count[0] += batch.num_rows


def _drain(path: str, writer: threading.Thread) -> None:
    """Unblock a writer nobody reads from (LOAD DATA failed before or while reading), then wait for it."""
    if not writer.is_alive():
        writer.join()
        return
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while writer.is_alive():
            try:
                os.read(fd, 1 << 20)
            except BlockingIOError:
                writer.join(0.01)
    finally:
        os.close(fd)
    writer.join()


def write_load_csv(data: pa.Table, path: str | BinaryIO) -> None:
    """Write Arrow rows as the CSV that `_load_data` reads back exactly.

    Every non-null value is quoted ("all_valid") and null is the bare word NULL, which MySQL reads
    as SQL NULL only when unquoted — so NULL, the empty string and the string "NULL" stay distinct.
    Booleans become 1/0 (MySQL's BOOLEAN is TINYINT and would read "true" as 0).
    """
    columns = [pc.cast(col, pa.int8()) if pa.types.is_boolean(col.type) else col for col in data.columns]
    pacsv.write_csv(
        pa.table(columns, names=data.column_names),
        path,
        write_options=pacsv.WriteOptions(
            include_header=False, quoting_style="all_valid", null_string="NULL", batch_size=65536
        ),
    )


# ESCAPED BY '' because pyarrow escapes a quote by doubling it (RFC 4180) and never escapes a
# backslash: with MySQL's default escape character a backslash in the data would be eaten.
_LOAD_SQL = (
    "LOAD DATA LOCAL INFILE %s REPLACE INTO TABLE {table} CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' ({columns})"
)


def _load_data(
    cur: pymysql.cursors.Cursor, table: str, columns: list[str], path: str, expected: int | None
) -> int | None:
    """LOAD DATA LOCAL INFILE with REPLACE (upsert by key); any warning aborts the transaction.

    With LOCAL, MySQL downgrades conversion errors to warnings and keeps going (it cannot stop
    the client's upload half way), so a silent truncation would otherwise be committed.
    """
    cols = ", ".join(sb.PYMYSQL.q(c) for c in columns)
    cur.execute(_LOAD_SQL.format(table=table, columns=cols), (path,))
    result = cur._result  # pymysql keeps the OK packet's info text ("Records: 3  Deleted: 0 ...") here
    info = {k.lower(): int(v) for k, v in _LOAD_INFO.findall(_text(result.message if result else None))}
    if result is not None and result.warning_count:
        cur.execute("SHOW WARNINGS LIMIT 5")
        shown = "; ".join(f"{r[0]} {r[1]}: {r[2]}" for r in cur.fetchall())
        raise pymysql.err.DataError(f"LOAD DATA into {table}: {result.warning_count} warning(s): {shown}")
    records = info.get("records")
    if (expected is not None and info.get("records", expected) != expected) or info.get("skipped", 0):
        raise pymysql.err.DataError(f"LOAD DATA into {table}: read {info} for {expected} rows")
    return records


def _text(message: bytes | str | None) -> str:
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return message or ""

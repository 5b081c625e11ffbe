"""The embedded DuckDB warehouse: the zero-setup default for local runs and tests.

Data arrives as Arrow and is inserted straight from it (no CSV round trip). A file's rows,
its quarantined rows and its ledger row commit in one transaction, so a crash leaves either
all of them or none.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr

from blocks.types import LedgerEntry
from blocks.warehouse import base, ddl
from blocks.warehouse import sql_builders as sb
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.batches import Batches, as_batches, loaded_columns, prefetched, rebatch
from blocks.warehouse.etl_tables import EtlTables
from datawiz.core.contract import TableContract
from datawiz.core.errors import TransientError

DEFAULT_PATH = "./data/warehouse.duckdb"
# DuckDB's own default is 80% of RAM: on a 5M-row file its buffer pool, not our batches, set the
# process's peak (5 GB). A fixed limit keeps the embedded default's memory flat; DuckDB spills beyond it.
DEFAULT_MEMORY_LIMIT = "1GB"
# Rows per INSERT of a streamed load (the producer's batches, DATAWIZ_BATCH_ROWS each, regrouped).
# Measured on the 1M-row fis file (2 cores): CPU of the ingest 4.1-4.3 s at 500,000, 4.7-5.2 s at
# 100,000 (one INSERT per batch, as before), 4.3-4.6 s at 1,000,000 (one group: nothing overlaps).
INSERT_ROWS = 500_000


class DuckDBWarehouse(Block, EtlTables):
    """An embedded DuckDB database file used as the warehouse."""

    _block_type_name = "DataWiz DuckDB Warehouse"
    _block_type_slug = "datawiz-duckdb-warehouse"
    _description = "Embedded DuckDB warehouse for local runs (single process, single user)."

    path: str = Field(default=DEFAULT_PATH, description="Database file; ':memory:' for a throwaway one.")
    memory_limit: str = Field(
        default_factory=lambda: os.environ.get("DATAWIZ_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
        description="DuckDB's memory_limit (buffer manager; spills to disk beyond it). "
        "Default $DATAWIZ_DUCKDB_MEMORY_LIMIT or 1GB.",
    )

    dialect: ClassVar[str] = "duckdb"
    capabilities: ClassVar[base.Capabilities] = base.Capabilities("duckdb")
    _con: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # ------------------------------------------------------------------ connection
    def describe(self) -> str:
        return f"duckdb:///{self.path}"

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._con = duckdb.connect(self.path, config={"memory_limit": self.memory_limit})
                except duckdb.IOException as exc:
                    raise WarehouseBusy(f"duckdb:///{self.path}: {exc}") from exc
            return self._con

    def _cursor(self) -> _TimedCursor:
        # A cursor is DuckDB's per-thread connection to the same database instance.
        return _TimedCursor(self._connection().cursor())

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ SQL
    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a read query with `:name` parameters; returns Arrow."""
        text, names = base.bind_style(sql, "qmark")
        cur = self._cursor()
        try:
            with base.timed_statement(self.dialect, text):  # a relation runs when it is fetched
                return cur.sql(text, params=[(params or {})[n] for n in names]).to_arrow_table()
        finally:
            cur.close()

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run one statement with `:name` parameters."""
        text, names = base.bind_style(sql, "qmark")
        cur = self._cursor()
        try:
            cur.execute(text, [(params or {})[n] for n in names])
        finally:
            cur.close()

    def run_sql_file(self, name: str, params: dict[str, Any]) -> None:
        """Run every statement of sql/duckdb/<name>.sql or sql/<name>.sql, rendered for DuckDB, in one transaction."""
        cur = self._cursor()
        try:
            cur.begin()
            for statement in base.split_statements(base.sql_file(self.dialect, name)):
                text, names = base.bind_style(statement, "qmark")
                cur.execute(text, [params[n] for n in names])
            cur.commit()
        except Exception:
            cur.rollback()
            raise
        finally:
            cur.close()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded in schema_migrations, then create the registry tables no
        migration declares (`Physical.since` None) that are missing; returns what was applied."""
        cur = self._cursor()
        try:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in cur.execute("SELECT version FROM schema_migrations").fetchall()}
            applied = []
            for mig in base.migrations(self.dialect):
                if mig.version in done:
                    continue
                cur.begin()
                for statement in base.split_statements(mig.text()):
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", [mig.version, mig.name, sb.now()]
                )
                cur.commit()
                applied.append(mig.path.name)
            existing = cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()
            for name, statement in ddl.undeclared_tables(self.dialect, [r[0] for r in existing]):
                cur.execute(statement)
                applied.append(f"contract table {name}")
            return applied
        finally:
            cur.close()

    @contextlib.contextmanager
    def _transaction(self, **tables: pa.Table) -> Iterator[_TimedCursor]:
        """A cursor inside BEGIN ... COMMIT (ROLLBACK on error), with Arrow tables registered by name."""
        cur = self._cursor()
        try:
            cur.begin()
            for name, table in tables.items():
                cur.register(name, table)
            yield cur
            cur.commit()
        except Exception:
            cur.rollback()
            raise
        finally:
            for name in tables:
                cur.unregister(name)
            cur.close()

    # ------------------------------------------------------------------ ledger
    def record_rejected(self, entry: LedgerEntry, quarantine: pa.Table | None = None) -> None:
        """Write the ledger row of a rejected (or skipped) file version, with its quarantined rows."""
        with self._transaction() as cur:
            path = _refuse_if_known(cur, entry)
            if quarantine is not None:
                _write_quarantine(cur, entry, quarantine)
            _run(cur, sb.ledger_statements(entry, sb.DUCKDB, supersede=path.earlier_loaded))

    # ------------------------------------------------------------------ load
    def load_file(
        self, contract: TableContract, entry: LedgerEntry, data: Batches, quarantine: Batches
    ) -> LedgerEntry:
        """Load one file version's good rows, quarantine and ledger row atomically.

        Fact re-delivery: the previous version's rows of this path are deleted first, then the
        new rows upsert by key — inside one transaction, so no reader sees both versions. `data`
        may be a stream of batches (produced one ahead while DuckDB inserts the current one);
        `entry.stats` is read only after the stream ends.
        """
        style = sb.DUCKDB
        # Orphans are counted on each incoming batch (dimension lookups only), not on the target table
        # afterwards: that count filtered the fact table by lineage, a scan of all its history.
        orphans, orphan_rows = sb.orphan_count_of(contract, "_incoming"), 0
        with self._transaction() as cur:
            path = _refuse_if_known(cur, entry)
            # A path's rows are only ever committed with its `loaded` ledger row (this transaction is
            # both), so without an earlier loaded version there is nothing to clear: the clean-up, a
            # scan of the fact table's lineage (DuckDB has no index on it, see V005), is skipped.
            if path.earlier_loaded or contract.load_mode.value != "fact_upsert":
                _run(cur, [sb.clear_previous(contract, entry, style)])
            # The producer's batches are regrouped (in its thread) into inserts of INSERT_ROWS rows: each
            # statement pays a fixed cost (planning, a scan of the target's keys for the DELETE, the orphan
            # count, merging into the primary key's ART), and 1M rows in 10 statements cost ~0.3-0.5 s more
            # CPU than in one. Not larger: the group waiting behind the current one is held in memory.
            with _unordered_inserts(cur):
                for batch in prefetched(rebatch(as_batches(data), INSERT_ROWS)):
                    cur.register("_incoming", batch)
                    try:
                        _upsert_incoming(cur, contract, batch.column_names)
                        if orphans is not None:
                            orphan_rows += int(cur.execute(orphans.sql).fetchall()[0][0])
                    finally:
                        cur.unregister("_incoming")
            columns = data.column_names if isinstance(data, pa.Table) else loaded_columns(contract)
            skip = sb.quarantined_keys(quarantine)
            _run(cur, sb.after_upsert(contract, entry, columns, skip, style))
            entry.stats.orphans = orphan_rows
            _write_quarantine(cur, entry, quarantine)
            _run(cur, sb.ledger_statements(entry, style, supersede=path.earlier_loaded))
        return entry

    def replay_rows(self, contract: TableContract, entry: LedgerEntry, data: pa.Table, fixed_rows: list[int]) -> None:
        """Upsert quarantined rows that now pass, forget them in etl_quarantine, fix the ledger counts.

        One transaction; a snapshot table's history copy of that snapshot date gets the rows too.
        """
        with self._transaction(_incoming=data) as cur:
            _upsert_incoming(cur, contract, data.column_names)
            if contract.history_table:
                hist, cols = contract.history_table, ", ".join(data.column_names)
                match = " AND ".join(f"h.{k} = i.{k}" for k in contract.key)
                cur.execute(f"DELETE FROM {hist} h WHERE snapshot_date = ? AND EXISTS "
                            f"(SELECT 1 FROM _incoming i WHERE {match})", [entry.business_date])
                cur.execute(f"INSERT INTO {hist} (snapshot_date, {cols}) SELECT ?, {cols} FROM _incoming",
                            [entry.business_date])
            _run(cur, sb.replay_statements(entry, fixed_rows, data.num_rows, sb.DUCKDB))


class WarehouseBusy(TransientError, duckdb.IOException):
    """The DuckDB file could not be opened, typically because another process holds its lock: retry later.

    Translated where the connection is opened so the retry policy needs no name guessing; still a
    duckdb.IOException, which callers caught before (and which is_transient counts transient when raw)."""


class _TimedCursor:
    """A DuckDB cursor whose `execute` records its latency (`datawiz.warehouse.statement.duration`).

    Every statement of this backend goes through `cur.execute` except `query`'s relation, timed there.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        with base.timed_statement(DuckDBWarehouse.dialect, sql):
            return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _run(cur: _TimedCursor, statements: Sequence[sb.Stmt | None]) -> None:
    for st in statements:
        if st is not None:
            cur.execute(st.sql, list(st.params))


def _refuse_if_known(cur: _TimedCursor, entry: LedgerEntry) -> sb.PathLedger:
    """What the ledger holds for the path (one lookup); AlreadyLoaded if it holds this version."""
    # Checked inside the transaction: two runs racing for the same version cannot both commit.
    lookup = sb.ledger_of_path(entry, sb.DUCKDB)
    path = sb.PathLedger.of(cur.execute(lookup.sql, list(lookup.params)).fetchall(), entry.source_version)
    if path.known:
        raise AlreadyLoaded(f"{entry.source_file} version {entry.source_version} is already in the ledger")
    return path


@contextlib.contextmanager
def _unordered_inserts(cur: _TimedCursor) -> Iterator[None]:
    """This cursor's INSERTs may store rows in any order, so DuckDB inserts an Arrow batch on all its threads.

    With `preserve_insertion_order` on (the default), DuckDB keeps an Arrow source's row order by
    inserting it on one thread unless the batch is one contiguous chunk; our batches are several
    (one per validated file batch). bench/duckdb_load.py `inserts` (the 1M-row fis file in two 500,000-row
    inserts into the migrated fact table, primary key in place, with migrate and commit): 1.76-1.78 s with
    the order kept, 1.22-1.27 s without (2 cores).
    Row order is no part of a table's contract: every read that needs one says ORDER BY
    (https://duckdb.org/docs/stable/sql/dialect/order_preservation; the option:
    https://duckdb.org/docs/stable/guides/performance/how_to_tune_workloads). SESSION scope: other
    cursors of the database keep the default.
    """
    cur.execute("SET SESSION preserve_insertion_order = false")
    try:
        yield
    finally:
        cur.execute("RESET SESSION preserve_insertion_order")


def _upsert_incoming(cur: _TimedCursor, contract: TableContract, columns: list[str]) -> None:
    """Delete-by-key then insert `_incoming` (DuckDB's bulk path: straight from Arrow).

    Table and column names come from the contract registry, never from data.
    """
    table, cols = contract.target_table, ", ".join(columns)
    match = " AND ".join(f"t.{k} = i.{k}" for k in contract.key)
    cur.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM _incoming i WHERE {match})")
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")


def _write_quarantine(cur: _TimedCursor, entry: LedgerEntry, quarantine: Batches) -> None:
    """The file version's quarantine records (one batch at a time), after any left by an earlier attempt."""
    cols = ", ".join(sb.DUCKDB.q(c) for c in sb.QUARANTINE_COLUMNS)
    deleted = False
    for batch in as_batches(quarantine):
        if not batch.num_rows:
            continue
        if not deleted:
            _run(cur, [sb.quarantine_delete(entry, sb.DUCKDB)])
            deleted = True
        cur.register("_q", sb.quarantine_rows(entry, batch))
        try:
            cur.execute(f"INSERT INTO etl_quarantine ({cols}) SELECT {cols} FROM _q")
        finally:
            cur.unregister("_q")

"""The embedded DuckDB warehouse: the zero-setup default for local runs and tests.

Data arrives as Arrow and is inserted straight from it (no CSV round trip). A file's rows,
its quarantined rows and its ledger row commit in one transaction, so a crash leaves either
all of them or none.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr

from blocks.types import LedgerEntry
from blocks.warehouse import base
from blocks.warehouse.base import AlreadyLoaded

DEFAULT_PATH = "./data/warehouse.duckdb"


class DuckDBWarehouse(Block):
    """An embedded DuckDB database file used as the warehouse."""

    _block_type_name = "DataWiz DuckDB Warehouse"
    _block_type_slug = "datawiz-duckdb-warehouse"
    _description = "Embedded DuckDB warehouse for local runs (single process, single user)."

    path: str = Field(default=DEFAULT_PATH, description="Database file; ':memory:' for a throwaway one.")

    dialect: ClassVar[str] = "duckdb"
    _con: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    # ------------------------------------------------------------------ connection
    def describe(self) -> str:
        return f"duckdb:///{self.path}"

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(self.path)
            return self._con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # A cursor is DuckDB's per-thread connection to the same database instance.
        return self._connection().cursor()

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
        """Run every statement of sql/duckdb/<name>.sql (or sql/<name>.sql) in one transaction."""
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
        """Apply the migrations not yet recorded in schema_migrations; returns what was applied."""
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
                for statement in base.split_statements(mig.path.read_text()):
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", [mig.version, mig.name, _now()]
                )
                cur.commit()
                applied.append(mig.path.name)
            return applied
        finally:
            cur.close()

    # ------------------------------------------------------------------ ledger
    def ledger_versions(self) -> set[tuple[str, str]]:
        """Every (source_file, source_version) the ledger knows, whatever its status."""
        rows = self.query("SELECT source_file, source_version FROM etl_file_ledger")
        return set(zip(rows["source_file"].to_pylist(), rows["source_version"].to_pylist(), strict=True))

    def latest_snapshot_date(self, table_name: str) -> dt.date | None:
        """The newest snapshot date applied to a dimension (older late snapshots must not win)."""
        rows = self.query(
            "SELECT max(business_date) AS d FROM etl_file_ledger "
            "WHERE table_name = :t AND status IN ('loaded', 'superseded') AND rows_loaded > 0",
            {"t": table_name},
        )
        return rows["d"][0].as_py()

    def record_rejected(self, entry: LedgerEntry, quarantine: pa.Table | None = None) -> None:
        """Write the ledger row of a rejected (or skipped) file version, with its quarantined rows."""
        cur = self._cursor()
        try:
            cur.begin()
            _refuse_if_known(cur, entry)
            if quarantine is not None and quarantine.num_rows:
                _write_quarantine(cur, entry, quarantine)
            _write_ledger(cur, entry)
            cur.commit()
        except Exception:
            cur.rollback()
            raise
        finally:
            cur.close()

    # ------------------------------------------------------------------ load
    def load_file(
        self, contract: Any, entry: LedgerEntry, data: pa.Table, quarantine: pa.Table
    ) -> LedgerEntry:
        """Load one file version's good rows, quarantine and ledger row atomically.

        Fact re-delivery: the previous version's rows of this path are deleted first, then the
        new rows upsert by key — inside one transaction, so no reader sees both versions.
        """
        cur = self._cursor()
        try:
            cur.begin()
            _refuse_if_known(cur, entry)
            cur.register("_incoming", data)
            cur.register("_quarantined_keys", quarantine.select(["quarantined_key"]))
            _apply(cur, contract, entry, data.column_names)
            entry.stats.orphans = _count_orphans(cur, contract)
            if quarantine.num_rows:
                _write_quarantine(cur, entry, quarantine)
            _write_ledger(cur, entry)
            cur.commit()
            return entry
        except Exception:
            cur.rollback()
            raise
        finally:
            cur.unregister("_incoming")
            cur.unregister("_quarantined_keys")
            cur.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _refuse_if_known(cur: duckdb.DuckDBPyConnection, entry: LedgerEntry) -> None:
    # Checked inside the transaction: two runs racing for the same version cannot both commit.
    known = cur.execute(
        "SELECT count(*) FROM etl_file_ledger WHERE source_file = ? AND source_version = ?",
        [entry.source_file, entry.source_version],
    ).fetchall()
    if known[0][0]:
        raise AlreadyLoaded(f"{entry.source_file} version {entry.source_version} is already in the ledger")


def _apply(cur: duckdb.DuckDBPyConnection, contract: Any, entry: LedgerEntry, columns: list[str]) -> None:
    """Upsert `_incoming` into the contract's table according to its load mode.

    Table and column names come from the contract registry, never from data.
    """
    table = contract.target_table
    key = contract.key
    cols = ", ".join(columns)
    mode = contract.load_mode.value
    if mode == "fact_upsert":
        cur.execute(f"DELETE FROM {table} WHERE _source_file = ?", [entry.source_file])
    elif mode == "constants":
        cur.execute(f"DELETE FROM {table}")
    match = " AND ".join(f"t.{k} = i.{k}" for k in key)
    cur.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM _incoming i WHERE {match})")
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
    if mode == "snapshot_upsert":
        _deactivate_absent(cur, table, key[0], entry)
    if contract.history_table:
        hist = contract.history_table
        cur.execute(f"DELETE FROM {hist} WHERE snapshot_date = ?", [entry.business_date])
        cur.execute(
            f"INSERT INTO {hist} (snapshot_date, {cols}) SELECT ?, {cols} FROM _incoming", [entry.business_date]
        )


def _deactivate_absent(cur: duckdb.DuckDBPyConnection, table: str, key: str, entry: LedgerEntry) -> None:
    """A record missing from the snapshot is deactivated, never deleted.

    Keys whose row was quarantined in this snapshot are not "missing": a bad row must not
    switch a live record off.
    """
    cur.execute(
        f"UPDATE {table} SET is_active = false, _source_file = ?, _source_version = ?, "
        f"_loaded_at = ?, _run_id = ? "
        f"WHERE is_active AND {key} NOT IN (SELECT {key} FROM _incoming) "
        f"AND {key} NOT IN (SELECT quarantined_key FROM _quarantined_keys WHERE quarantined_key IS NOT NULL)",
        [entry.source_file, entry.source_version, _now(), entry.run_id],
    )


def _count_orphans(cur: duckdb.DuckDBPyConnection, contract: Any) -> int:
    """Loaded fact rows with at least one code the referenced dimension lacks."""
    if not contract.references:
        return 0
    missing = " OR ".join(
        f"NOT EXISTS (SELECT 1 FROM {dim} d WHERE d.{dim_key} = i.{col})"
        for col, (dim, dim_key) in contract.references.items()
    )
    return int(cur.execute(f"SELECT count(*) FROM _incoming i WHERE {missing}").fetchall()[0][0])


def _write_quarantine(cur: duckdb.DuckDBPyConnection, entry: LedgerEntry, quarantine: pa.Table) -> None:
    cur.execute(
        "DELETE FROM etl_quarantine WHERE source_file = ? AND source_version = ?",
        [entry.source_file, entry.source_version],
    )
    cur.register("_q", quarantine)
    try:
        cur.execute(
            "INSERT INTO etl_quarantine (source_file, source_version, row_number, table_name, row_json, "
            "rules, run_id, quarantined_at) SELECT ?, ?, row_number, ?, row_json, rules, ?, ? FROM _q",
            [entry.source_file, entry.source_version, entry.table_name, entry.run_id, _now()],
        )
    finally:
        cur.unregister("_q")


def _write_ledger(cur: duckdb.DuckDBPyConnection, entry: LedgerEntry) -> None:
    if entry.status == "loaded":
        # The previous versions of this path stop counting: their rows were replaced above.
        cur.execute(
            "UPDATE etl_file_ledger SET status = 'superseded' "
            "WHERE source_file = ? AND source_version <> ? AND status = 'loaded'",
            [entry.source_file, entry.source_version],
        )
    s = entry.stats
    cur.execute(
        "INSERT INTO etl_file_ledger (source_file, source_version, table_name, status, business_date, "
        "rows_in, rows_loaded, rows_quarantined, rows_deduplicated, orphans, reason, drift_columns, "
        "load_label, run_id, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            entry.source_file, entry.source_version, entry.table_name, entry.status, entry.business_date,
            s.rows_in, s.rows_loaded, s.rows_quarantined, s.rows_deduplicated, s.orphans, entry.reason,
            json.dumps(entry.drift_columns) if entry.drift_columns else None, entry.load_label,
            entry.run_id, entry.started_at.replace(tzinfo=None), _now(),
        ],
    )

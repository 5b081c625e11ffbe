"""What every warehouse backend offers, and the helpers they share.

Backends (DuckDB here; MySQL/MariaDB and StarRocks share the interface) implement
`Warehouse`. Flows and tasks call only these methods, so the same pipeline runs on a laptop
and in production.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
from opentelemetry import metrics

from blocks.types import LedgerEntry, Watermark
from blocks.warehouse import sql_templates
from blocks.warehouse.batches import Batches
from blocks.warehouse.sql_builders import LATEST_SNAPSHOT_SQL, LEDGER_VERSIONS_SQL
from datawiz.core.contract import TableContract
from datawiz.core.errors import TerminalError

SQL_ROOT = sql_templates.SQL_ROOT
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# The first word of a statement, as the `operation` of its latency sample (anything else is "other").
_OPERATIONS = frozenset({
    "select", "with", "insert", "replace", "update", "delete", "merge", "load", "create", "drop", "alter",
    "truncate", "begin", "start", "commit", "rollback", "show", "set", "analyze", "optimize", "call",
})
_statement_seconds = metrics.get_meter("datawiz").create_histogram(
    "datawiz.warehouse.statement.duration", unit="s",
    description="Latency of one warehouse statement, by backend, operation and status",
    explicit_bucket_boundaries_advisory=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                         30, 60, 300, 900),
)


@dataclass(frozen=True)
class Migration:
    """One versioned DDL file: sql/<dialect>/migrations/V<NNN>__<name>.sql (a Jinja template)."""

    version: int
    name: str
    path: Path
    dialect: str

    def text(self) -> str:
        """The migration's SQL for its dialect (contract tables generated from the registry)."""
        return sql_templates.render(self.dialect, self.path)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do: tasks choose a path by these, never by the backend's class."""

    dialect: Literal["duckdb", "mysql", "starrocks"]  # which sql/<dialect>/ files it runs
    # Loads go over StarRocks' HTTP Stream Load (its route and the load user's grants are checked apart).
    stream_load: bool = False
    # The server reads landing files itself (StarRocks INSERT ... FROM FILES() on Azure): backfill pushdown.
    pushdown_files: bool = False
    # Several files may load at once, each on its own connection (DATAWIZ_LOAD_CONCURRENCY, tasks/run.py):
    # a server with row-level locking (InnoDB, StarRocks); not an embedded single-writer file (DuckDB).
    parallel_loads: bool = False


class Warehouse(Protocol):
    """The methods the pipeline uses on any backend."""

    @property
    def dialect(self) -> str:
        """`duckdb`, `mysql` or `starrocks`: picks sql/<dialect>/ (backends hold it as a ClassVar)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do (replaces isinstance checks on backend classes)."""
        ...

    def describe(self) -> str: ...
    # One statement, no result (transforms, maintenance). Positional: the backends name the parameters differently.
    def execute(self, sql: str, params: dict[str, Any] | None = None, /) -> None: ...
    def migrate(self) -> list[str]: ...
    def ledger_versions(self) -> set[tuple[str, str]]: ...
    def latest_snapshot_date(self, table_name: str) -> dt.date | None: ...
    def load_file(  # data/quarantine: one table or a stream of batches (blocks/warehouse/batches.py)
        self, contract: TableContract, entry: LedgerEntry, data: Batches, quarantine: Batches
    ) -> LedgerEntry: ...
    def record_rejected(self, entry: LedgerEntry, quarantine: pa.Table | None = None) -> None: ...
    def replay_rows(
        self, contract: TableContract, entry: LedgerEntry, data: pa.Table, fixed_rows: list[int]
    ) -> None: ...
    def run_sql_file(self, name: str, params: dict[str, Any]) -> None: ...
    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table: ...
    def close(self) -> None: ...
    # The bookkeeping tables (blocks/warehouse/etl_tables.py): run log, watermarks, ledger, quarantine.
    def run_log_start(self, run_id: str, flow: str, business_date: dt.date, started_at: dt.datetime) -> None: ...
    def run_log_finish(self, run_id: str, status: str, finished_at: dt.datetime, message: str | None) -> None: ...
    def run_log_running(self) -> dict[str, dt.datetime]: ...
    def run_log_end_running(
        self, run_id: str, started_at: dt.datetime, status: str, finished_at: dt.datetime, message: str
    ) -> None: ...
    def run_log_completed(self, flow: str, since: dt.date) -> dt.date | None: ...
    def run_log_runs(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]: ...
    def watermark_get(self, name: str) -> Watermark | None: ...
    def watermark_set(self, name: str, value: dt.date, updated_at: dt.datetime) -> None: ...
    def ledger_loaded_version(self, source_file: str) -> str | None: ...
    def ledger_newest_dates(
        self, since: dt.date | None = None, finished_before: dt.datetime | None = None
    ) -> dict[str, dt.date | None]: ...
    def ledger_files(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]: ...
    def ledger_loads(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]: ...
    def ledger_loaded_days(self, table_name: str, finished_since: dt.datetime) -> list[dt.date]: ...
    def quarantined_rows(self, source_file: str, source_version: str) -> pa.Table: ...
    def quarantined_rows_of_run(self, run_id: str, limit: int) -> list[dict[str, Any]]: ...
    def quarantine_purge(self, before: dt.datetime) -> int: ...


class AlreadyLoaded(TerminalError):
    """Another run committed this file version first; nothing was written by this one.

    Callers catch it as an outcome (`skipped`); should one escape, retrying the same version cannot help."""


class LedgerQueries:
    """The ledger reads every backend answers with the same SQL (mixed into the warehouse blocks)."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        raise NotImplementedError

    def ledger_versions(self) -> set[tuple[str, str]]:
        """Every (source_file, source_version) the ledger knows, whatever its status."""
        rows = self.query(LEDGER_VERSIONS_SQL)
        return set(zip(rows["source_file"].to_pylist(), rows["source_version"].to_pylist(), strict=True))

    def latest_snapshot_date(self, table_name: str) -> dt.date | None:
        """The newest snapshot date applied to a dimension (older late snapshots must not win)."""
        return self.query(LATEST_SNAPSHOT_SQL, {"t": table_name})["d"][0].as_py()


@contextmanager
def timed_statement(backend: str, sql: str | bytes) -> Iterator[None]:
    """Record one statement's latency in `datawiz.warehouse.statement.duration` (never its text)."""
    started, status = time.perf_counter(), "error"
    try:
        yield
        status = "ok"
    finally:
        labels = {"backend": backend, "operation": statement_operation(sql), "status": status}
        _statement_seconds.record(time.perf_counter() - started, labels)


def statement_operation(sql: str | bytes) -> str:
    """`select`, `insert`, `load`, ...: the statement's first word if it is a known one, else `other`."""
    # pymysql's executemany hands execute() the multi-row INSERT as a bytearray.
    text = bytes(sql[:64]).decode("utf-8", "replace") if isinstance(sql, (bytes, bytearray)) else sql
    words = text.lstrip(" \t\r\n(").split(None, 1)
    word = words[0].lower() if words else ""
    return word if word in _OPERATIONS else "other"


def migrations(dialect: str) -> list[Migration]:
    """The dialect's migration files in version order."""
    found = []
    for path in sorted((SQL_ROOT / dialect / "migrations").glob("V*__*.sql")):
        version, _, name = path.stem[1:].partition("__")
        found.append(Migration(int(version), name, path, dialect))
    return found


def sql_file(dialect: str, name: str) -> str:
    """sql/<dialect>/<name>.sql, falling back to the shared sql/<name>.sql, rendered for `dialect`."""
    for candidate in (SQL_ROOT / dialect / f"{name}.sql", SQL_ROOT / f"{name}.sql"):
        if candidate.exists():
            return sql_templates.render(dialect, candidate)
    raise FileNotFoundError(f"no SQL file {name}.sql for {dialect} under {SQL_ROOT}")


# The post-load SQL files (sql/<name>.sql templates) the transforms and maintenance run.
POST_LOAD = ("sales_hierarchy", "dim_date", "dd_month", "rpt_sales_daily", "maintenance")


def dialect_sql(dialect: str) -> dict[str, str]:
    """Every SQL file `dialect` runs, rendered, by file name: its migrations, then the post-load files."""
    rendered = {m.path.name: m.text() for m in migrations(dialect)}
    return rendered | {f"{name}.sql": sql_file(dialect, name) for name in POST_LOAD}


def split_statements(sql: str) -> list[str]:
    """Split a SQL file on ';' at line ends (our files keep one statement per ';'), dropping comments."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return [p.strip() for p in parts if p.strip()]


def bind_style(sql: str, style: str) -> tuple[str, list[str]]:
    """Rewrite `:name` placeholders to the driver's style; returns the SQL and the names in order.

    style: "qmark" (DuckDB `?`) or "pyformat" (pymysql `%(name)s`). Values are always bound by the
    driver, never formatted into the text.
    """
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return "?" if style == "qmark" else f"%({m.group(1)})s"

    if style == "pyformat":
        sql = sql.replace("%", "%%")
    return _PARAM.sub(repl, sql), names

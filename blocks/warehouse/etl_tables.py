"""The pipeline's own bookkeeping tables, behind typed methods: run log, watermarks, file ledger, quarantine.

Tasks call these instead of writing SQL: `etl_run_log` (one row per run), `etl_watermark` (named marks),
`etl_file_ledger` (one row per file version) and `etl_quarantine` (one row per rejected row). The SQL is
the same on DuckDB, MySQL/MariaDB and StarRocks, so it is written once here and mixed into every backend;
a backend whose dialect differs overrides only the method concerned. Timestamps are naive UTC, as the
warehouse stores them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from blocks.types import Watermark
from blocks.warehouse.base import LedgerQueries

# ------------------------------------------------------------------------------------------------- run log
RUN_LOG_DELETE_SQL = "DELETE FROM etl_run_log WHERE run_id = :r"
RUN_LOG_INSERT_SQL = (
    "INSERT INTO etl_run_log (run_id, flow, business_date, status, started_at) VALUES (:r, :f, :d, 'running', :t)"
)
RUN_LOG_FINISH_SQL = "UPDATE etl_run_log SET status = :s, finished_at = :t, message = :m WHERE run_id = :r"
# Only a row still as read (same started_at): a re-run that started meanwhile rewrote the row and keeps it.
RUN_LOG_END_RUNNING_SQL = (
    "UPDATE etl_run_log SET status = :s, finished_at = :t, message = :m "
    "WHERE run_id = :r AND status = 'running' AND started_at = :b"
)
RUN_LOG_RUNNING_SQL = "SELECT run_id, started_at FROM etl_run_log WHERE status = 'running'"
RUN_LOG_COMPLETED_SQL = (
    "SELECT max(business_date) AS d FROM etl_run_log WHERE flow = :f AND status = 'completed' AND business_date >= :d"
)
RUN_LOG_RUNS_SQL = (
    "SELECT flow, business_date, status, started_at, finished_at, message FROM etl_run_log "
    "WHERE started_at >= :a AND started_at < :b ORDER BY started_at"
)

# ---------------------------------------------------------------------------------------------- watermarks
WATERMARK_GET_SQL = "SELECT value, updated_at FROM etl_watermark WHERE name = :n"
WATERMARK_DELETE_SQL = "DELETE FROM etl_watermark WHERE name = :n"
WATERMARK_INSERT_SQL = "INSERT INTO etl_watermark (name, value, updated_at) VALUES (:n, :v, :t)"

# ------------------------------------------------------------------------------------------------- ledger
LEDGER_LOADED_VERSION_SQL = "SELECT source_version FROM etl_file_ledger WHERE source_file = :f AND status = 'loaded'"
LEDGER_NEWEST_SQL = "SELECT table_name, max(business_date) AS newest FROM etl_file_ledger WHERE status = 'loaded'"
LEDGER_FILES_SQL = (
    "SELECT table_name, status, finished_at, rows_in, rows_loaded, rows_quarantined, orphans "
    "FROM etl_file_ledger WHERE finished_at >= :a AND finished_at < :b"
)
LEDGER_LOADS_SQL = (
    "SELECT table_name, business_date, finished_at FROM etl_file_ledger "
    "WHERE status = 'loaded' AND finished_at >= :a AND finished_at < :b AND business_date IS NOT NULL"
)
LEDGER_LOADED_DAYS_SQL = (
    "SELECT DISTINCT business_date AS d FROM etl_file_ledger WHERE status = 'loaded' AND table_name = :t "
    "AND business_date IS NOT NULL AND finished_at >= :s"
)

# --------------------------------------------------------------------------------------------- quarantine
# Qualified (q.row_number): ROW_NUMBER is a keyword on MariaDB. quarantined_key is NULL: the columns are
# those of the Parquet quarantine copy (tasks/quarantine.py), which this result rewrites.
QUARANTINE_OF_FILE_SQL = (
    "SELECT q.row_number, NULL AS quarantined_key, q.row_json, q.rules FROM etl_quarantine q "
    "WHERE q.source_file = :f AND q.source_version = :v ORDER BY q.row_number"
)
# `SELECT *`: `row_number` is a reserved word in MySQL 8 and each backend quotes it differently.
QUARANTINE_OF_RUN_SQL = "SELECT * FROM etl_quarantine WHERE run_id = :r LIMIT {limit}"
QUARANTINE_COUNT_BEFORE_SQL = "SELECT count(*) AS n FROM etl_quarantine WHERE quarantined_at < :c"
QUARANTINE_DELETE_BEFORE_SQL = "DELETE FROM etl_quarantine WHERE quarantined_at < :c"


class EtlTables(LedgerQueries):
    """Run log, watermark, ledger and quarantine reads and writes (mixed into every warehouse block)."""

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------- run log
    def run_log_start(self, run_id: str, flow: str, business_date: dt.date, started_at: dt.datetime) -> None:
        """Write the run's `running` row, replacing the row of an earlier attempt of the same run."""
        self.execute(RUN_LOG_DELETE_SQL, {"r": run_id})
        self.execute(RUN_LOG_INSERT_SQL, {"r": run_id, "f": flow, "d": business_date, "t": started_at})

    def run_log_finish(self, run_id: str, status: str, finished_at: dt.datetime, message: str | None) -> None:
        """Record how the run ended."""
        self.execute(RUN_LOG_FINISH_SQL, {"s": status, "t": finished_at, "m": message, "r": run_id})

    def run_log_running(self) -> dict[str, dt.datetime]:
        """run_id -> started_at of every row still `running`."""
        rows = self.query(RUN_LOG_RUNNING_SQL).to_pylist()
        return {str(r["run_id"]): r["started_at"] for r in rows}

    def run_log_end_running(
        self, run_id: str, started_at: dt.datetime, status: str, finished_at: dt.datetime, message: str
    ) -> None:
        """End a row still `running` that was started at `started_at` (a newer attempt's row is left alone)."""
        self.execute(RUN_LOG_END_RUNNING_SQL,
                     {"s": status, "t": finished_at, "m": message, "r": run_id, "b": started_at})

    def run_log_completed(self, flow: str, since: dt.date) -> dt.date | None:
        """The newest business date, `since` or later, of a completed run of `flow`; None if there is none."""
        value: dt.date | None = self.query(RUN_LOG_COMPLETED_SQL, {"f": flow, "d": since})["d"][0].as_py()
        return value

    def run_log_runs(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """The runs started in [start, end), oldest first."""
        return self.query(RUN_LOG_RUNS_SQL, {"a": start, "b": end}).to_pylist()

    # ------------------------------------------------------------------------------------ watermarks
    def watermark_get(self, name: str) -> Watermark | None:
        """The named watermark, or None when it was never set."""
        rows = self.query(WATERMARK_GET_SQL, {"n": name}).to_pylist()
        return Watermark(rows[0]["value"], rows[0]["updated_at"]) if rows else None

    def watermark_set(self, name: str, value: dt.date, updated_at: dt.datetime) -> None:
        """Set (or replace) the named watermark."""
        # Delete + insert rather than an upsert: one spelling for every backend.
        self.execute(WATERMARK_DELETE_SQL, {"n": name})
        self.execute(WATERMARK_INSERT_SQL, {"n": name, "v": value, "t": updated_at})

    # ---------------------------------------------------------------------------------------- ledger
    def ledger_loaded_version(self, source_file: str) -> str | None:
        """The version of `source_file` whose rows are in the warehouse, if any."""
        rows = self.query(LEDGER_LOADED_VERSION_SQL, {"f": source_file})
        return str(rows["source_version"][0].as_py()) if rows.num_rows else None

    def ledger_newest_dates(
        self, since: dt.date | None = None, finished_before: dt.datetime | None = None
    ) -> dict[str, dt.date | None]:
        """table -> newest business date of its loaded files (None: loaded files without a date).

        since: only tables with a loaded file of this business date or later.
        finished_before: only files whose load finished before this time.
        """
        sql, params = LEDGER_NEWEST_SQL, {}
        if since is not None:
            sql, params["d"] = sql + " AND business_date >= :d", since
        if finished_before is not None:
            sql, params["b"] = sql + " AND finished_at < :b", finished_before
        rows = self.query(sql + " GROUP BY table_name", params or None).to_pylist()
        return {str(r["table_name"]): r["newest"] for r in rows}

    def ledger_files(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Table, status, finish time and row counts of every file version whose load finished in [start, end)."""
        return self.query(LEDGER_FILES_SQL, {"a": start, "b": end}).to_pylist()

    def ledger_loads(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Table, business date and finish time of the dated file versions loaded in [start, end)."""
        return self.query(LEDGER_LOADS_SQL, {"a": start, "b": end}).to_pylist()

    def ledger_loaded_days(self, table_name: str, finished_since: dt.datetime) -> list[dt.date]:
        """The business dates of `table_name`'s files loaded since `finished_since` (any order)."""
        return self.query(LEDGER_LOADED_DAYS_SQL, {"t": table_name, "s": finished_since})["d"].to_pylist()

    # ------------------------------------------------------------------------------------ quarantine
    def quarantined_rows(self, source_file: str, source_version: str) -> pa.Table:
        """A file version's etl_quarantine rows by row number: row_number, quarantined_key (NULL), row_json, rules."""
        return self.query(QUARANTINE_OF_FILE_SQL, {"f": source_file, "v": source_version})

    def quarantined_rows_of_run(self, run_id: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` etl_quarantine rows (every column) written by the run, in no particular order."""
        return self.query(QUARANTINE_OF_RUN_SQL.format(limit=int(limit)), {"r": run_id}).to_pylist()

    def quarantine_purge(self, before: dt.datetime) -> int:
        """Delete the etl_quarantine rows quarantined before `before`; returns how many."""
        params = {"c": before}
        n = int(self.query(QUARANTINE_COUNT_BEFORE_SQL, params)["n"][0].as_py())
        if n:
            self.execute(QUARANTINE_DELETE_BEFORE_SQL, params)
        return n

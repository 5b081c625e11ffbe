"""Backend-neutral SQL for loading one file version: ledger, quarantine and the load-mode steps.

Every backend (DuckDB, MySQL/MariaDB, StarRocks) runs the same statements around its own bulk
path; only the placeholder and the identifier quote differ (`Style`). Identifiers come from the
contract registry, never from data, and every value is bound by the driver.

The steps after the bulk insert find "the rows of this file version" by their lineage columns
(`_source_file`, `_source_version`) in the target table instead of in a staging table. That is
what lets MySQL load straight into the target with `LOAD DATA ... REPLACE` and StarRocks with
Stream Load, and it is equivalent to reading the incoming rows: a (file, version) reaches the
table only once (the ledger refuses it a second time), so the rows carrying it are exactly the
rows just loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from blocks.types import LedgerEntry
from blocks.warehouse.batches import as_batches
from datawiz.core.contract import TableContract


@dataclass(frozen=True)
class Style:
    """How a backend's driver writes a placeholder and quotes an identifier."""

    placeholder: str
    quote: str
    # DuckDB scans by an ART index only when the indexed column is the scan's one filter (checked on 2.0:
    # `path = ? AND version = ?` scans the table, `path = ? AND (path, version) = (?, ?)` the index). Such a
    # backend gets the version (and status) conditions as row comparisons, which stay above the scan.
    one_filter_index: bool = False

    def q(self, name: str) -> str:
        """Quote one identifier (names like `row_number` or `lines` are reserved words in MySQL 8)."""
        return f"{self.quote}{name}{self.quote}"

    def marks(self, n: int) -> str:
        """`n` comma-separated placeholders."""
        return ", ".join([self.placeholder] * n)


DUCKDB = Style("?", '"', one_filter_index=True)
PYMYSQL = Style("%s", "`")  # MySQL, MariaDB and StarRocks (all through pymysql)


@dataclass(frozen=True)
class Stmt:
    """One SQL statement and its bound values."""

    sql: str
    params: tuple[Any, ...] = ()


def now() -> dt.datetime:
    """UTC wall clock without zone: what every TIMESTAMP/DATETIME column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------- ledger
LEDGER_COLUMNS = (
    "source_file", "source_version", "table_name", "status", "business_date", "rows_in", "rows_loaded",
    "rows_quarantined", "rows_deduplicated", "orphans", "reason", "drift_columns", "load_label", "run_id",
    "started_at", "finished_at",
)

LEDGER_VERSIONS_SQL = "SELECT source_file, source_version FROM etl_file_ledger"
LATEST_SNAPSHOT_SQL = (
    "SELECT max(business_date) AS d FROM etl_file_ledger "
    "WHERE table_name = :t AND status IN ('loaded', 'superseded') AND rows_loaded > 0"
)


def file_version(s: Style, op: str, prefix: str = "") -> str:
    """`<prefix>source_file = ? AND <prefix>source_version <op> ?`, written so the backend finds the rows
    through its index on the path column (`prefix`: "_" for the lineage columns, "" for ledger and
    quarantine; `op`: "=" or "<>"). Its values, in order: `file_version_values`."""
    f, v, p = f"{prefix}source_file", f"{prefix}source_version", s.placeholder
    if s.one_filter_index:
        return f"{f} = {p} AND ({f}, {v}) {op} ({p}, {p})"
    return f"{f} = {p} AND {v} {op} {p}"


def file_version_values(s: Style, path: str, version: str) -> tuple[str, ...]:
    """The values `file_version`'s condition binds, in order."""
    return (path, path, version) if s.one_filter_index else (path, version)


def ledger_of_path(entry: LedgerEntry, s: Style) -> Stmt:
    """The path's ledger rows (source_version, status): one lookup by path (an index scan on DuckDB) that
    answers both "is this version known?" and "is an earlier version loaded?" (see `PathLedger`)."""
    return Stmt(f"SELECT source_version, status FROM etl_file_ledger WHERE source_file = {s.placeholder}",
                (entry.source_file,))


@dataclass(frozen=True)
class PathLedger:
    """What the ledger says about a file version's path before its load."""

    known: bool  # this version has a ledger row: another run got there first
    earlier_loaded: bool  # another version is `loaded`: its rows are to be replaced, its row superseded

    @classmethod
    def of(cls, rows: Iterable[tuple[str, str]], version: str) -> PathLedger:
        """From `ledger_of_path`'s rows."""
        rows = list(rows)
        return cls(any(v == version for v, _ in rows), any(v != version and st == "loaded" for v, st in rows))


def ledger_known(entry: LedgerEntry, s: Style) -> Stmt:
    """Count of ledger rows for this (file, version): non-zero means another run got there first."""
    where = file_version(s, "=")
    return Stmt(f"SELECT count(*) FROM etl_file_ledger WHERE {where}",
                file_version_values(s, entry.source_file, entry.source_version))


DRIFT_NAMES_KEPT = 100  # a file with 10,000 extra columns must not overflow the ledger's TEXT (64 KB)
DRIFT_NAME_CHARS = 64


def drift_json(columns: list[str]) -> str | None:
    """The extra columns as a JSON list for the ledger: the first 100 names (64 characters at most each),
    then `"... and N more"` — bounded whatever a file's header holds."""
    if not columns:
        return None
    kept: list[str] = [c[:DRIFT_NAME_CHARS] for c in columns[:DRIFT_NAMES_KEPT]]
    if len(columns) > DRIFT_NAMES_KEPT:
        kept.append(f"... and {len(columns) - DRIFT_NAMES_KEPT} more")
    return json.dumps(kept)  # ASCII-escaped: at most ~40 KB


def ledger_values(entry: LedgerEntry) -> tuple[Any, ...]:
    """The values of one etl_file_ledger row, in LEDGER_COLUMNS order."""
    st = entry.stats
    return (
        entry.source_file, entry.source_version, entry.table_name, entry.status, entry.business_date,
        st.rows_in, st.rows_loaded, st.rows_quarantined, st.rows_deduplicated, st.orphans, entry.reason,
        drift_json(entry.drift_columns), entry.load_label,
        entry.run_id, entry.started_at.replace(tzinfo=None), now(),
    )


def file_key(path: str, version: str) -> str:
    """sha-256 hex of `path|version`: the short primary key of a file version where long keys cannot be
    (StarRocks' 128-byte encoded-key limit). A version never contains '|', so no two pairs collide."""
    return hashlib.sha256(f"{path}|{version}".encode()).hexdigest()


def ledger_statements(entry: LedgerEntry, s: Style, supersede: bool = True) -> list[Stmt]:
    """Supersede the path's older loaded versions (their rows were replaced) and insert this row.

    `supersede` False: the caller read in this transaction that no other version is loaded (nothing to do).
    """
    out = []
    if entry.status == "loaded" and supersede:
        where = file_version(s, "<>")
        loaded = f"(source_file, status) = ({s.placeholder}, 'loaded')" if s.one_filter_index else "status = 'loaded'"
        params = file_version_values(s, entry.source_file, entry.source_version)
        params += (entry.source_file,) if s.one_filter_index else ()
        out.append(Stmt(f"UPDATE etl_file_ledger SET status = 'superseded' WHERE {where} AND {loaded}", params))
    cols = ", ".join(LEDGER_COLUMNS)
    out.append(Stmt(
        f"INSERT INTO etl_file_ledger ({cols}) VALUES ({s.marks(len(LEDGER_COLUMNS))})", ledger_values(entry)
    ))
    return out


# ------------------------------------------------------------------------------------ quarantine
QUARANTINE_COLUMNS = (
    "source_file", "source_version", "row_number", "table_name", "row_json", "rules", "run_id", "quarantined_at",
)


def quarantine_delete(entry: LedgerEntry, s: Style) -> Stmt:
    """Remove quarantined rows a failed earlier attempt of this version may have left (non-atomic backends)."""
    where = file_version(s, "=")
    return Stmt(f"DELETE FROM etl_quarantine WHERE {where}",
                file_version_values(s, entry.source_file, entry.source_version))


def quarantine_rows(entry: LedgerEntry, quarantine: pa.Table) -> pa.Table:
    """The etl_quarantine rows of a file version (QUARANTINE_COLUMNS), built from validation's output."""
    n = quarantine.num_rows

    def const(value: Any, typ: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, typ), n)

    return pa.table({
        "source_file": const(entry.source_file, pa.string()),
        "source_version": const(entry.source_version, pa.string()),
        "row_number": quarantine["row_number"],
        "table_name": const(entry.table_name, pa.string()),
        "row_json": quarantine["row_json"],
        "rules": quarantine["rules"],
        "run_id": const(entry.run_id, pa.string()),
        "quarantined_at": const(now(), pa.timestamp("us")),
    })


TRUNCATED_KEY = "__datawiz_truncated__"


def fit_row_json(row_json: pa.Array | pa.ChunkedArray, max_bytes: int, where: str) -> pa.Array:
    """`row_json` with every value longer than `max_bytes` (UTF-8) replaced by a small JSON marker:
    `{"__datawiz_truncated__": {"bytes": N, "full_row": where}}` — still valid JSON, so a replay skips it
    instead of failing, and the marker says where the whole row is (the Parquet quarantine copy)."""
    values = row_json.to_pylist()
    fitted = [v if v is None or len(v.encode()) <= max_bytes else
              json.dumps({TRUNCATED_KEY: {"bytes": len(v.encode()), "full_row": where}}) for v in values]
    return pa.array(fitted, pa.string())


def insert_values_sql(table: str, columns: tuple[str, ...] | list[str], s: Style) -> str:
    """`INSERT INTO t (cols) VALUES (?, ...)` for executemany."""
    cols = ", ".join(s.q(c) for c in columns)
    return f"INSERT INTO {table} ({cols}) VALUES ({s.marks(len(columns))})"


def quarantined_keys(quarantine: pa.Table | Iterable[pa.Table]) -> list[str]:
    """Distinct non-null keys of the quarantined rows (single-column keys: the snapshot tables)."""
    keys: set[str] = set()
    for batch in as_batches(quarantine):
        if "quarantined_key" in batch.column_names:
            keys.update(pc.unique(batch["quarantined_key"].drop_null()).to_pylist())
    return sorted(keys)


def replay_statements(entry: LedgerEntry, fixed_rows: list[int], loaded: int, s: Style) -> list[Stmt]:
    """After replaying quarantined rows: forget the fixed ones, and move them in the ledger counts.

    Fixed rows that turned out to be exact duplicates of each other count as deduplicated, so
    rows_in = loaded + quarantined + deduplicated stays true.
    """
    lineage = (entry.source_file, entry.source_version)
    out = []
    if fixed_rows:
        out.append(Stmt(
            f"DELETE FROM etl_quarantine WHERE {_of_ledger(s)} AND {s.q('row_number')} IN ({s.marks(len(fixed_rows))})",
            (*lineage, *fixed_rows),
        ))
    out.append(Stmt(
        f"UPDATE etl_file_ledger SET rows_loaded = rows_loaded + {s.placeholder}, "
        f"rows_quarantined = rows_quarantined - {s.placeholder}, "
        f"rows_deduplicated = rows_deduplicated + {s.placeholder} WHERE {_of_ledger(s)}",
        (loaded, len(fixed_rows), len(fixed_rows) - loaded, *lineage),
    ))
    return out


def replay_history(contract: TableContract, entry: LedgerEntry, data: pa.Table, s: Style, verb: str) -> Stmt | None:
    """Copy replayed snapshot rows into the history table (`verb`: an upserting INSERT of the backend)."""
    if not contract.history_table or not data.num_rows:
        return None
    key, cols = contract.key[0], ", ".join(s.q(c) for c in data.column_names)
    keys = data[key].to_pylist()
    return Stmt(
        f"{verb} {contract.history_table} (snapshot_date, {cols}) SELECT {s.placeholder}, {cols} "
        f"FROM {contract.target_table} WHERE {key} IN ({s.marks(len(keys))})",
        (entry.business_date, *keys),
    )


def _of_ledger(s: Style) -> str:
    return f"source_file = {s.placeholder} AND source_version = {s.placeholder}"


# ------------------------------------------------------------------------------------ load modes
def _of_file(s: Style, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"{prefix}_source_file = {s.placeholder} AND {prefix}_source_version = {s.placeholder}"


def clear_previous(contract: TableContract, entry: LedgerEntry, s: Style) -> Stmt | None:
    """Before loading: fact re-delivery drops the path's older versions' rows; constants drop every other row.

    `_source_version <> this version` keeps what an interrupted attempt of *this* version already
    made visible (StarRocks, where batches commit separately and a retry skips finished labels).
    """
    table, mode = contract.target_table, contract.load_mode.value
    if mode == "fact_upsert":
        where = file_version(s, "<>", prefix="_")
        return Stmt(f"DELETE FROM {table} WHERE {where}",
                    file_version_values(s, entry.source_file, entry.source_version))
    if mode == "constants":
        return Stmt(f"DELETE FROM {table} WHERE NOT ({_of_file(s)})", (entry.source_file, entry.source_version))
    return None


def after_upsert(
    contract: TableContract, entry: LedgerEntry, columns: list[str], skip_keys: list[str], s: Style
) -> list[Stmt]:
    """Statements that follow the bulk upsert: history snapshot first, then deactivation of absent keys.

    The history copy must come first: deactivation stamps this file's lineage on the rows it
    switches off, and those rows are not part of the snapshot.
    """
    out: list[Stmt] = []
    table, lineage = contract.target_table, (entry.source_file, entry.source_version)
    if contract.history_table:
        hist, cols = contract.history_table, ", ".join(s.q(c) for c in columns)
        out.append(Stmt(f"DELETE FROM {hist} WHERE snapshot_date = {s.placeholder}", (entry.business_date,)))
        out.append(Stmt(
            f"INSERT INTO {hist} (snapshot_date, {cols}) SELECT {s.placeholder}, {cols} FROM {table} "
            f"WHERE {_of_file(s)}",
            (entry.business_date, *lineage),
        ))
    if contract.load_mode.value == "snapshot_upsert":
        out.append(deactivate_absent(table, contract.key[0], entry, skip_keys, s))
    return out


def deactivate_absent(table: str, key: str, entry: LedgerEntry, skip_keys: list[str], s: Style) -> Stmt:
    """A record missing from the snapshot is deactivated, never deleted.

    Keys whose row was quarantined in this snapshot are not "missing": a bad row must not switch
    a live record off.
    """
    sql = (
        f"UPDATE {table} SET is_active = false, _source_file = {s.placeholder}, "
        f"_source_version = {s.placeholder}, _loaded_at = {s.placeholder}, _run_id = {s.placeholder} "
        f"WHERE is_active AND NOT ({_of_file(s)})"
    )
    params: tuple[Any, ...] = (entry.source_file, entry.source_version, now(), entry.run_id,
                               entry.source_file, entry.source_version)
    if skip_keys:
        sql += f" AND {key} NOT IN ({s.marks(len(skip_keys))})"
        params += tuple(skip_keys)
    return Stmt(sql, params)


def orphan_count(contract: TableContract, entry: LedgerEntry, s: Style) -> Stmt | None:
    """Loaded rows of this file version with at least one code the referenced dimension lacks."""
    missing = _missing_reference(contract)
    if missing is None:
        return None
    return Stmt(
        f"SELECT count(*) FROM {contract.target_table} i WHERE {_of_file(s, 'i')} AND ({missing})",
        (entry.source_file, entry.source_version),
    )


def orphan_count_of(contract: TableContract, rows: str) -> Stmt | None:
    """Rows of the relation `rows` (a batch being loaded) with at least one code its dimension lacks.

    The same count as `orphan_count`, read from the incoming batch instead of the target table: it
    touches the dimensions only, never the fact table's history (a file's keys are unique, so its
    batches hold exactly the rows the load leaves under its lineage).
    """
    missing = _missing_reference(contract)
    return None if missing is None else Stmt(f"SELECT count(*) FROM {rows} i WHERE {missing}")


def _missing_reference(contract: TableContract) -> str | None:
    if not contract.references:
        return None
    return " OR ".join(
        f"NOT EXISTS (SELECT 1 FROM {dim} d WHERE d.{dim_key} = i.{col})"
        for col, (dim, dim_key) in contract.references.items()
    )


def count_orphans(data: pa.Table, keys: dict[str, pa.Array]) -> int:
    """Rows of `data` whose value in any referencing column is not among that dimension's `keys`."""
    missing = None
    for col, known in keys.items():
        absent = pc.invert(pc.is_in(data[col], value_set=known))
        missing = absent if missing is None else pc.or_(missing, absent)
    return 0 if missing is None else int(pc.sum(missing.cast(pa.int64())).as_py() or 0)

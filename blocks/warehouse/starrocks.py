"""The StarRocks warehouse (production): SQL over the MySQL protocol, bulk data over Stream Load.

SQL runs through pymysql on the FE's query port with autocommit on (the connection code is the
MySQL block's). Data goes through `stream_load.StreamLoadClient` in bounded batches, each under a
deterministic label, so a retry after a crash is answered "Label Already Exists" for every batch
that committed and nothing is loaded twice.

One file version, step by step (StarRocks has no multi-statement transaction for this):
1. refuse if the ledger holds (file, version); fact re-delivery deletes the rows of the path's
   *other* versions (a retry of this version keeps its own committed batches);
2. stream-load every batch (Primary Key tables upsert by key);
3. history copy, deactivation, orphan count, quarantined rows — the same SQL as on MySQL;
4. the ledger row, last: only once every batch is visible is the version "loaded". A crash before
   it leaves the version unplanned-for-again-as-done, so the next run repeats steps 1-4, which
   converge (labels, idempotent SQL). The ledger row goes in under a label of its own: Primary Key
   tables upsert instead of raising a duplicate-key error, so the label is what lets exactly one
   of two racing runs record the version (the other gets AlreadyLoaded).

Keys: etl_file_ledger and etl_quarantine are keyed by `file_key` (sha-256 of path|version, V003):
StarRocks refuses a row whose encoded primary key passes 128 bytes, which a long path would.
Replicas: every CREATE says `replication_num` (`replicas()`): a cluster with fewer BEs than its
`default_replication_num` refuses a table that does not.
Between steps 1 and 2 of a re-delivery, readers briefly see neither version — never both.

Streaming: a file's rows arrive as a stream of validated batches (tasks/load.FileStream). They are
spooled to a local Parquet file before step 1 — StarRocks commits each request on its own, so a
file rejected at its last batch must not have sent its first — and then sent as requests of
exactly `batch_rows` rows. Not one chunked PUT for the whole file: the label is the unit of
exactly-once, so a retry after a crash would have to resend the whole file, and one request per
file would run into the load timeout on big files; a request per batch resends only what did not
commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from typing import ClassVar, Literal

import pyarrow as pa
import pymysql
from pydantic import Field

from blocks.types import LedgerEntry
from blocks.warehouse import base
from blocks.warehouse import files_load as fl
from blocks.warehouse import sql_builders as sb
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.batches import Batches, ParquetSpool, as_batches, loaded_columns, prefetched, rebatch
from blocks.warehouse.mysql import PyMySQLBlock, _run
from blocks.warehouse.stream_load import (
    Encoded,
    HttpSettings,
    StreamLoadClient,
    StreamLoadFailed,
    StreamLoadUnavailable,
    label_for,
)
from datawiz.core.contract import TableContract

# STRING is VARCHAR(65533) (docs sql-reference/data-types/string-type/STRING); with enable_insert_strict on
# (the default) a longer value fails the INSERT — after the file's batches committed, on every retry.
ROW_JSON_MAX_BYTES = 65_533
# StarRocks' own default_replication_num (FE config): the most replicas DataWiz asks for unprompted.
DEFAULT_REPLICAS = 3
_log = logging.getLogger(__name__)


def ledger_label(key: str) -> str:
    """Label of the one INSERT that may write a file version's ledger row (labels are unique per database
    for every load type: a second INSERT under it is refused "Label [..] has already been used")."""
    return f"datawiz_ledger_{key[:40]}"


class StarRocksConnector(PyMySQLBlock):
    """A StarRocks cluster: FE query port for SQL, FE (or BE/CN) HTTP port for Stream Load."""

    _block_type_name = "StarRocks Connector"
    _block_type_slug = "starrocks-connector"
    _description = "StarRocks warehouse: SQL over the MySQL protocol, exactly-once Stream Load by label."

    port: int = Field(default=9030, description="FE MySQL-protocol query port.")
    http_port: int = Field(default=8030, description="FE HTTP port (Stream Load, load state).")
    http_scheme: Literal["http", "https"] = Field(
        default="http",
        description="Scheme of the FE HTTP endpoint; https for any non-loopback FE (basic auth carries the password).",
    )
    load_urls: list[str] = Field(
        default_factory=list,
        description="Optional BE/CN URLs (e.g. https proxies of the BEs) to load into directly, skipping the FE hop.",
    )
    allow_http_load_hop: bool = Field(
        default=False,
        description="Let Stream Load follow the FE's redirect to a BE/CN HTTP port (no TLS there) with the "
        "password, on a trusted cluster network. Relaxes nothing else (not the FE, not the SQL connection).",
    )
    json_max_mb: int = Field(
        default=100, description="Largest JSON Stream Load body, MB (the BEs' streaming_load_max_batch_size_mb)."
    )
    replication_num: int | None = Field(
        default=None,
        description="Replicas of every table and view DataWiz creates; unset: min(3, alive BEs) from SHOW BACKENDS.",
    )
    batch_rows: int = Field(default=250_000, description="Rows per Stream Load request (bounds memory and body).")
    load_timeout: int = Field(default=600, description="Seconds one Stream Load request may take.")

    dialect: ClassVar[str] = "starrocks"
    capabilities: ClassVar[base.Capabilities] = base.Capabilities("starrocks", stream_load=True, pushdown_files=True,
                                                                  parallel_loads=True)
    scheme: ClassVar[str] = "starrocks"
    transactional: ClassVar[bool] = False

    def _schema_migrations_ddl(self) -> str:
        return (
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL, name VARCHAR(255) NOT NULL, "
            "applied_at DATETIME NOT NULL) PRIMARY KEY (version) DISTRIBUTED BY HASH (version) "
            f'PROPERTIES ("replication_num" = "{int(self.replicas())}")'
        )

    @contextlib.contextmanager
    def _named_lock(self, purpose: str) -> Iterator[None]:
        # StarRocks has no GET_LOCK (its SQL reference lists no locking functions), and needs none here: its
        # DDL is IF NOT EXISTS, so two concurrent migrations converge, and the post-load SQL writes primary-key
        # tables, where an INSERT of an existing key replaces the row (table_design/table_types/
        # primary_key_table), so two runs rebuilding one month converge on the same rows.
        yield

    def stream_client(self) -> StreamLoadClient:
        """A Stream Load client for this cluster (TLS settings shared with the SQL connection)."""
        context = self.tls_context() if self.http_scheme == "https" or any(
            u.startswith("https://") for u in self.load_urls) else None
        return StreamLoadClient(
            f"{self.http_scheme}://{self.host}:{self.http_port}",
            self.database,
            self.user,
            self.password.get_secret_value() if self.password else "",
            load_urls=self.load_urls,
            http=HttpSettings(timeout=float(self.load_timeout), ssl_context=context),
            allow_insecure=self.allow_insecure,
            allow_http_load_hop=self.allow_http_load_hop,
            json_max_bytes=self.json_max_mb * 1024 * 1024,
        )

    def load_route(self) -> str:
        """Where a Stream Load goes and over what, asked of the FE without sending data (`datawiz check`).

        Raises `InsecureTransport` naming the setting the hop needs (`allow_http_load_hop` or https load_urls).
        """
        return self.stream_client().probe_route("etl_file_ledger")

    # ------------------------------------------------------------------ DDL and SQL files
    def _statements(self, sql: str) -> list[str]:
        """Our StarRocks SQL with `${replication_num}` filled in (every CREATE TABLE / MV / temporary table)."""
        return base.split_statements(sql.replace("${replication_num}", str(self.replicas())))

    def replicas(self) -> int:
        """`replication_num` if set, else min(3, alive BEs) from SHOW BACKENDS (docs SHOW_BACKENDS);
        none listed (a shared-data cluster runs CNs) -> 1; SHOW BACKENDS refused -> StarRocks' default 3."""
        if self.replication_num:
            return self.replication_num
        cached = getattr(self._tls, "replicas", None)
        if cached is not None:
            return int(cached)
        try:
            backends = self.query("SHOW BACKENDS").to_pylist()
        except pymysql.err.Error as exc:
            _log.warning("SHOW BACKENDS refused (%s); asking for %d replicas — set replication_num "
                         "(STARROCKS_REPLICATION_NUM) on a cluster with fewer BEs", exc.args[-1], DEFAULT_REPLICAS)
            backends = None
        alive = None if backends is None else sum(str(b.get("Alive", "")).lower() == "true" for b in backends)
        self._tls.replicas = DEFAULT_REPLICAS if alive is None else max(1, min(DEFAULT_REPLICAS, alive))
        return int(self._tls.replicas)

    # ------------------------------------------------------------------ ledger and quarantine
    def _labelled_insert(self, cur: pymysql.cursors.Cursor, stmt: sb.Stmt, label: str) -> int | None:
        """Run an `INSERT ... WITH LABEL`; its affected rows, or None when an earlier attempt under the
        label is VISIBLE. "Label already used" is also the answer while that attempt still runs (FE
        LabelAlreadyUsedException: PREPARE/PREPARED as well as COMMITTED/VISIBLE), so wait for its state
        (get_load_state serves INSERT labels too); an ABORTED attempt frees the label: run it again."""
        for _attempt in range(2):
            try:
                return int(cur.execute(stmt.sql, stmt.params) or 0)
            except pymysql.err.Error as exc:
                if not fl.label_already_used(exc):
                    raise
            if self.stream_client().wait_visible(label):
                return None
        raise StreamLoadUnavailable(f"label {label} was aborted twice; retry later")

    def _write_ledger(self, cur: pymysql.cursors.Cursor, entry: LedgerEntry) -> None:
        """Supersede the path's older versions, then the ledger row under a label of its own.

        A Primary Key table never raises a duplicate-key error (an INSERT overwrites), so two runs racing
        for one version would both "win"; the label makes the INSERT first-writer-wins. A refused label
        whose row carries our run id is our own earlier attempt (a retried task), not another run.
        """
        *supersede, insert = sb.ledger_statements(entry, sb.PYMYSQL)
        _run(cur, supersede)
        key = sb.file_key(entry.source_file, entry.source_version)
        label = ledger_label(key)
        columns = ("file_key", *sb.LEDGER_COLUMNS)
        stmt = sb.Stmt(f"INSERT INTO etl_file_ledger WITH LABEL {label} ({', '.join(columns)}) "
                       f"VALUES ({sb.PYMYSQL.marks(len(columns))})", (key, *insert.params))
        if self._labelled_insert(cur, stmt, label) is not None:
            return
        cur.execute("SELECT run_id FROM etl_file_ledger WHERE file_key = %s", (key,))
        row = cur.fetchone()
        if row is None or row[0] != entry.run_id:
            raise AlreadyLoaded(f"{entry.source_file} version {entry.source_version} is already in the ledger")

    def _write_quarantine(self, cur: pymysql.cursors.Cursor, entry: LedgerEntry, quarantine: Batches) -> None:
        """The version's etl_quarantine rows (few: bounded by the reject ratio), keyed by file_key; a row_json
        longer than STRING's 65,533 bytes is replaced by a marker (the whole row stays in the Parquet copy)."""
        _run(cur, [sb.quarantine_delete(entry, sb.PYMYSQL)])
        key = sb.file_key(entry.source_file, entry.source_version)
        insert = sb.insert_values_sql("etl_quarantine", ("file_key", *sb.QUARANTINE_COLUMNS), sb.PYMYSQL)
        for batch in as_batches(quarantine):
            if not batch.num_rows:
                continue
            rows = sb.quarantine_rows(entry, batch)
            fitted = sb.fit_row_json(rows["row_json"], ROW_JSON_MAX_BYTES, "the Parquet copy under <data>/quarantine/")
            rows = rows.set_column(rows.schema.get_field_index("row_json"), "row_json", fitted)
            cur.executemany(insert, [(key, *r.values()) for r in rows.to_pylist()])

    # ------------------------------------------------------------------ loads
    def load_file(
        self, contract: TableContract, entry: LedgerEntry, data: Batches, quarantine: Batches
    ) -> LedgerEntry:
        """Stream-load one file version in labelled batches; the ledger row is written last.

        A stream of batches is spooled to a local Parquet file first (memory stays one batch):
        StarRocks commits every batch on its own, so the whole file must have passed validation —
        a file rejected at its last batch must not have loaded its first — before one is sent.
        """
        with ParquetSpool(prefix="datawiz-starrocks-") as spool:
            rows: Batches = data
            if not isinstance(data, pa.Table):
                for batch in data:
                    spool.write(batch)
                rows = spool
            with self._cursor() as cur:
                self._start_load(cur, contract, entry)
            entry.load_label = self._stream(contract.target_table, entry, rows)
        columns = data.column_names if isinstance(data, pa.Table) else loaded_columns(contract)
        with self._cursor() as cur:
            self._finish_load(cur, contract, entry, columns, quarantine)
        return entry

    def load_from_files(self, contract: TableContract, entry: LedgerEntry, files: fl.AzureFiles) -> LedgerEntry:
        """Pushdown: StarRocks reads the Parquet version from Azure itself (`INSERT ... WITH LABEL ... FROM FILES()`).

        Steps: refuse a version the ledger holds; delete the path's other versions' rows (re-delivery);
        the labelled INSERT (a label already used means an earlier attempt holds it: wait until it is
        VISIBLE, then count its rows and load nothing; if it aborted, run the INSERT again); the
        ledger row last. DataWiz does not see the rows, so
        nothing is validated or quarantined here: rows_in = rows_loaded, quarantined 0 (see
        blocks/warehouse/files_load.py). Errors never carry the shared key.
        """
        label = fl.files_label(contract.target_table, entry.source_file, entry.source_version)
        insert = fl.insert_from_files(contract, entry, files, label)  # validates before anything runs
        try:
            with self._cursor() as cur:
                self._start_load(cur, contract, entry)
                loaded = self._labelled_insert(cur, insert, label)
                if loaded is None:  # an earlier attempt's INSERT under this label is visible: count its rows
                    count = fl.rows_of_file(contract, entry)
                    cur.execute(count.sql, count.params)
                    loaded = int(cur.fetchone()[0])
                entry.load_label = label
                entry.stats.rows_in = entry.stats.rows_loaded = loaded
                entry.stats.rows_quarantined = entry.stats.rows_deduplicated = 0
                orphans = sb.orphan_count(contract, entry, sb.PYMYSQL)
                if orphans is not None:
                    cur.execute(orphans.sql, orphans.params)
                    entry.stats.orphans = int(cur.fetchone()[0])
                self._write_ledger(cur, entry)
        except pymysql.err.Error as exc:
            # The driver's error may quote the statement (and so the key): rebuild it, scrubbed, unchained.
            args = tuple(files.scrub(a) if isinstance(a, str) else a for a in exc.args)
            raise type(exc)(*args) from None
        return entry

    def replay_rows(self, contract: TableContract, entry: LedgerEntry, data: pa.Table, fixed_rows: list[int]) -> None:
        """Stream-load quarantined rows that now pass (labels tied to the fixed row numbers), then fix
        the history copy, etl_quarantine and the ledger counts."""
        tag = hashlib.sha256(",".join(map(str, fixed_rows)).encode()).hexdigest()[:16]
        self._stream(contract.target_table, entry, data, version=f"{entry.source_version}#replay-{tag}")
        with self._cursor() as cur:
            for st in (sb.replay_history(contract, entry, data, sb.PYMYSQL, "INSERT INTO"),
                       *sb.replay_statements(entry, fixed_rows, data.num_rows, sb.PYMYSQL)):
                if st is not None:
                    cur.execute(st.sql, st.params)

    def _stream(self, table: str, entry: LedgerEntry, data: Batches, version: str | None = None) -> str | None:
        """Send every batch (exactly `batch_rows` rows each, so a retry's labels name the same rows);
        returns the label range for the ledger. Raises unless every row is visible."""
        client = self.stream_client()

        def encoded() -> Iterator[tuple[int, str, list[tuple[str, Encoded]]]]:
            for batch_no, batch in enumerate(rebatch(as_batches(data), self.batch_rows)):
                label = label_for(table, entry.source_file, version or entry.source_version, batch_no)
                yield batch_no, label, client.encode(batch, label)

        labels, loaded, sent = [], 0, 0
        # Batch n+1 is read and encoded on a thread of its own while batch n is sent and awaited: the send
        # waits on the network and the BE, the encoding is Arrow compute (no GIL), so they overlap.
        for batch_no, label, pieces in prefetched(encoded()):
            loaded += client.load_pieces(table, pieces, label, batch_no).rows_loaded
            sent += sum(piece.rows for _, piece in pieces)
            labels.append(label)
        if loaded != sent:
            raise StreamLoadFailed(f"{table}: {loaded} rows acknowledged of {sent} ({entry.source_file})")
        if not labels:
            return None
        return labels[0] if len(labels) == 1 else f"{labels[0]} .. {labels[-1]}"

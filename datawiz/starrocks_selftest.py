"""`datawiz starrocks selftest`: prove on day one that a StarRocks cluster runs everything DataWiz uses.

Every feature is tried for real, in a scratch database `datawiz_selftest_<8 hex>` that is dropped at the
end whatever happened, and answered with one line: `PASS <feature>  <detail>`, `FAIL <feature>  <the
server's own message>` or `SKIP <feature>  <why>`. A failed feature does not stop the others, except
those it makes meaningless (they are skipped, naming what they need). Exit code 0 only if nothing failed.

The StarRocks rules relied on, and where StarRocks documents them:
- `current_version()` returns "<version> <commit>" (sql-functions/utility-functions/current_version.md);
  DataWiz needs >= 3.3.1: session temporary tables, used by the transforms, exist from v3.3.1
  (table_design/StarRocks_table_design.md: "From v3.3.1 onwards, StarRocks supports creating temporary
  tables in the Default Catalog"); CREATE TEMPORARY TABLE ... AS SELECT is that feature.
- CREATE DATABASE needs CREATE DATABASE on default_catalog, DROP DATABASE needs DROP on the database
  (administration/user_privs/privilege_item.md; sql-statements/Database/DROP_DATABASE.md). DROP DATABASE
  without FORCE keeps the database in the trash for RECOVER (catalog_trash_expire_second, one day by
  default); with FORCE it is deleted at once and cannot be recovered (DROP_DATABASE.md,
  administration/Data_recovery.md) — the selftest drops with FORCE so that nothing is left behind.
- Stream Load: a label identifies one load; once a load under it finished the label cannot be used again,
  and a retry is answered "Label Already Exists" (loading/Loading_intro.md; sql-statements/loading_unloading/
  STREAM_LOAD.md). Labels cannot be deleted: the FE forgets a FINISHED/CANCELLED load's label after
  label_keep_max_second (FE config, default 259200 s = 3 days: administration/management/FE_configuration.md).
- DELETE on a Primary Key table removes the rows matching its WHERE clause
  (sql-statements/table_bucket_part_index/DELETE.md).
- REFRESH MATERIALIZED VIEW ... WITH SYNC MODE returns once the refresh finished
  (sql-statements/materialized_view/REFRESH_MATERIALIZED_VIEW.md).
- FILES() reads Azure Blob Storage over wasbs:// with "azure.blob.storage_account" and
  "azure.blob.shared_key" (sql-functions/table-functions/files.md; integrations/authenticate_to_azure_storage.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import pyarrow as pa
import pymysql

from blocks.source import SourceConfigError, resolve_source
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import migrations
from blocks.warehouse.files_load import AzureFiles, PushdownRefused
from blocks.warehouse.starrocks import StarRocksConnector
from blocks.warehouse.stream_load import StreamLoadClient, StreamLoadFailed, StreamLoadUnavailable, encode_batch
from datawiz.core.redact import MASK, redact
from datawiz.core.registry import PREFIXES
from tasks.starrocks_grants import starrocks_grant_report, starrocks_needs, starrocks_version

MIN_VERSION = (3, 3, 1)
SCRATCH_PREFIX = "datawiz_selftest_"
FEATURES = (
    "version", "grants", "ddl", "stream_load_csv", "stream_load_json", "label_reuse", "visibility", "delete",
    "temporary_table", "hierarchy_sql", "dd_sql", "mv_refresh", "files", "cleanup",
)
Status = Literal["PASS", "FAIL", "SKIP"]
# Where the selftest's rows go: a Primary Key table of the schema with plain columns (run_id is the key).
LOAD_TABLE = "etl_run_log"
TEMP_TABLE = "datawiz_selftest_tmp"  # temporary tables belong to their session: one name is enough
# What a skipped feature needed, in words.
NEEDS = {"connection": "a connection (see version)"}
LABEL_NOTE = ("labels cannot be deleted: StarRocks forgets them after label_keep_max_second "
              "(FE config, default 259200 s = 3 days)")


@dataclass(frozen=True)
class FeatureResult:
    """The outcome of one feature: PASS/FAIL/SKIP and the detail (secret-free)."""

    feature: str
    status: Status
    detail: str

    def line(self) -> str:
        """`PASS <feature>  <detail>` (feature names padded so the details line up)."""
        return f"{self.status} {self.feature:<16}  {self.detail}"


class Skip(Exception):  # noqa: N818  (a verdict, not an error)
    """Raised by a feature that cannot be tried; the message says why."""


class Failed(Exception):  # noqa: N818
    """Raised by a feature whose outcome is wrong (not a server error); the message says what was seen."""


_SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}[0-9a-z]{{1,32}}")


def scratch_name_checked(name: str) -> str:
    """`name` if it is a scratch database name (inlined in DDL: StarRocks binds no identifiers), else ValueError."""
    if not _SCRATCH_NAME.fullmatch(name):
        raise ValueError(f"scratch database {name!r}: expected {SCRATCH_PREFIX}<hex>")
    return name


def create_database_sql(name: str) -> str:
    """CREATE DATABASE of a checked scratch name."""
    scratch_name_checked(name)
    return f"CREATE DATABASE {name}"


def drop_database_sql(name: str) -> str:
    """DROP DATABASE ... FORCE of a checked scratch name (FORCE: not kept in the trash for RECOVER)."""
    scratch_name_checked(name)
    return f"DROP DATABASE IF EXISTS {name} FORCE"


def probe_sql(name: str) -> str:
    """A query every table or view answers (names parsed from sql/starrocks/migrations or a scratch tag)."""
    return f"SELECT 1 FROM {name} LIMIT 0"


def new_scratch_name() -> str:
    """`datawiz_selftest_<8 hex>`: a database name no one else uses."""
    return f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:8]}"


def scratch_copy(connector: StarRocksConnector, database: str) -> StarRocksConnector:
    """A copy of the connector that works in `database`, with connections of its own.

    pydantic's `model_copy` copies private attributes shallowly, so the copy would share the original's
    per-thread connection (opened on the original database), its list of opened connections and its lock;
    a Prefect block's document id would make a `save()` of the copy overwrite the original block. Every
    private attribute is therefore reset to its default.
    """
    copy = connector.model_copy(update={"database": database})
    for name, attr in type(connector).__private_attributes__.items():
        setattr(copy, name, attr.get_default(call_default_factory=True))
    return copy


def server_message(exc: BaseException) -> str:
    """The server's own words: pymysql errors carry (code, message), Stream Load errors the answer's text;
    anything else (a fault on this side) is `Type: message`."""
    if isinstance(exc, pymysql.err.Error) and len(exc.args) >= 2:
        return str(exc.args[1])
    if isinstance(exc, (Skip, Failed, StreamLoadFailed, StreamLoadUnavailable)) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def version_ok(version: tuple[int, int, int] | None) -> bool:
    """At least MIN_VERSION (3.3.1)."""
    return version is not None and version >= MIN_VERSION


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class SelftestRun:
    """One selftest: the connector under test, the scratch database and what the features left for others."""

    connector: StarRocksConnector
    source: str | None = None
    scratch_name: str = field(default_factory=new_scratch_name)
    scratch: StarRocksConnector | None = None
    created: bool = False
    passed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    labels: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    seeded: bool = False
    tag: str = ""

    def __post_init__(self) -> None:
        self.tag = scratch_name_checked(self.scratch_name)  # it is inlined in DDL
        self.tag = self.scratch_name[len(SCRATCH_PREFIX):]
        if self.connector.password is not None and self.connector.password.get_secret_value():
            self.secrets.append(self.connector.password.get_secret_value())

    # ------------------------------------------------------------------ plumbing
    def scrub(self, text: object) -> str:
        """`text` without any secret: known ones replaced literally, then `redact` for the rest."""
        out = str(text)
        for secret in self.secrets:
            out = out.replace(secret, MASK)
        return redact(out)

    def run(self, feature: str, probe: Callable[[], str], needs: tuple[str, ...] = ()) -> FeatureResult:
        """Try one feature (or skip it when what it needs did not pass)."""
        missing = [NEEDS.get(n, n) for n in needs if n not in self.passed]
        if missing:
            return self._done(FeatureResult(feature, "SKIP", f"needs {', '.join(missing)}"))
        try:
            detail = probe()
        except Skip as exc:
            return self._done(FeatureResult(feature, "SKIP", self.scrub(exc)))
        except Exception as exc:  # noqa: BLE001  (every failure is the answer)
            return self._done(FeatureResult(feature, "FAIL", self.scrub(server_message(exc))))
        return self._done(FeatureResult(feature, "PASS", self.scrub(detail)))

    def _done(self, result: FeatureResult) -> FeatureResult:
        if result.status == "PASS":
            self.passed.add(result.feature)
        elif result.status == "FAIL":
            self.failed.add(result.feature)
        return result

    def db(self) -> StarRocksConnector:
        """The connector working in the scratch database."""
        if self.scratch is None:
            raise Skip("needs ddl")
        return self.scratch

    def count(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return int(self.db().fetch_one(sql, params)[0])

    def label(self, kind: str) -> str:
        """A Stream Load label of this run ([A-Za-z0-9_-], unique per run)."""
        name = f"datawiz_selftest_{self.tag}_{kind}"
        self.labels.append(name)
        return name

    def client(self) -> StreamLoadClient:
        return self.db().stream_client()

    # ------------------------------------------------------------------ features
    def version(self) -> str:
        text = str(self.connector.fetch_one("SELECT current_version()")[0])
        self.passed.add("connection")
        found = starrocks_version(text)
        if not version_ok(found):
            raise Failed(f"StarRocks {text}: DataWiz needs {'.'.join(map(str, MIN_VERSION))} or later "
                         "(session temporary tables, used by the transforms, arrived in 3.3.1)")
        return f"StarRocks {text} (>= {'.'.join(map(str, MIN_VERSION))})"

    def grants(self) -> str:
        report = starrocks_grant_report(self.connector)
        if not report.ok:
            raise Failed(report.describe(self.connector.user))
        return report.describe(self.connector.user)

    def ddl(self) -> str:
        self.connector.execute(create_database_sql(self.scratch_name))
        self.created = True
        self.scratch = scratch_copy(self.connector, self.scratch_name)
        applied = self.scratch.migrate()
        summary = migration_summary()
        for name in summary.objects:  # each table, materialized view and view answers a query
            self.scratch.fetch_all(probe_sql(name))
        return (f"database {self.scratch_name}: applied {', '.join(applied) or 'nothing'}: {summary.describe()}; "
                f"all {len(summary.objects)} answer a SELECT")

    def stream_load_csv(self) -> str:
        batch = run_log_rows([f"selftest-{self.tag}-csv-{i}" for i in range(3)], ["plain text, with \"quotes\""] * 3)
        fmt = encode_batch(batch).headers["format"]
        if fmt != "CSV":
            raise Failed(f"the client chose {fmt} for plain values (expected CSV)")
        client = self.client()
        outcome = client.load(LOAD_TABLE, batch, self.label("csv"))
        rows = self.count(f"SELECT count(*) FROM {LOAD_TABLE} WHERE run_id LIKE :p",
                          {"p": f"selftest-{self.tag}-csv-%"})
        if outcome.rows_loaded != batch.num_rows or rows != batch.num_rows:
            raise Failed(f"{outcome.status}: {outcome.rows_loaded} rows acknowledged, {rows} in {LOAD_TABLE}, "
                         f"{batch.num_rows} sent")
        return f"{rows} rows into {LOAD_TABLE} as CSV ({outcome.status}) via {route(client)}"

    def stream_load_json(self) -> str:
        values = ["\\N", "control \x01 and \x02 characters"]
        keys = [f"selftest-{self.tag}-json-{i}" for i in range(len(values))]
        batch = run_log_rows(keys, values)
        fmt = encode_batch(batch).headers["format"]
        if fmt != "JSON":
            raise Failed(f"the client chose {fmt} for values holding \\x01/\\x02 or the text \\N (expected JSON)")
        client = self.client()
        outcome = client.load(LOAD_TABLE, batch, self.label("json"))
        got = dict(self.db().fetch_all(f"SELECT run_id, message FROM {LOAD_TABLE} WHERE run_id LIKE :p",
                                       {"p": f"selftest-{self.tag}-json-%"}))
        wrong = [k for k, v in zip(keys, values, strict=True) if got.get(k) != v]
        if wrong:
            raise Failed(f"{outcome.status}: read back {[got.get(k) for k in wrong]!r} for {wrong}, "
                         f"sent {[v for k, v in zip(keys, values, strict=True) if k in wrong]!r}")
        return (f"{len(keys)} rows as JSON ({outcome.status}), the text \\N and \\x01/\\x02 read back exactly, "
                f"via {route(client)}")

    def label_reuse(self) -> str:
        label = f"datawiz_selftest_{self.tag}_csv"
        pattern = {"p": f"selftest-{self.tag}-csv-%"}
        before = self.count(f"SELECT count(*) FROM {LOAD_TABLE} WHERE run_id LIKE :p", pattern)
        # The same rows plus one new key: if the label were loaded again, the new key would appear.
        probe_key = f"selftest-{self.tag}-csv-again"
        batch = run_log_rows([f"selftest-{self.tag}-csv-{i}" for i in range(3)] + [probe_key],
                             ["plain text, with \"quotes\""] * 4)
        outcome = self.client().load(LOAD_TABLE, batch, label)
        after = self.count(f"SELECT count(*) FROM {LOAD_TABLE} WHERE run_id LIKE :p", pattern)
        if not outcome.already_loaded or after != before:
            raise Failed(f"the label was loaded again: answer {outcome.status} "
                         f"{outcome.response.get('ExistingJobStatus', '')}, rows {before} -> {after}".rstrip())
        return (f"{outcome.status} (ExistingJobStatus {outcome.response.get('ExistingJobStatus', '?')}); "
                f"rows stay {after}, nothing loaded twice")

    def visibility(self) -> str:
        label = f"datawiz_selftest_{self.tag}_csv"
        if not self.client().wait_visible(label):
            raise Failed(f"get_load_state says label {label} left nothing (ABORTED/UNKNOWN)")
        return f"label {label} is VISIBLE (get_load_state)"

    def delete(self) -> str:
        keys = [f"selftest-{self.tag}-del-{i}" for i in range(2)]
        db = self.db()
        for key in keys:
            db.execute(f"INSERT INTO {LOAD_TABLE} (run_id, flow, business_date, status, started_at) "
                       "VALUES (:r, 'selftest', :d, 'completed', :t)",
                       {"r": key, "d": dt.date(2024, 1, 10), "t": dt.datetime(2024, 1, 10, 8)})
        db.execute(f"DELETE FROM {LOAD_TABLE} WHERE run_id = :r", {"r": keys[0]})
        left = [str(r[0]) for r in db.fetch_all(f"SELECT run_id FROM {LOAD_TABLE} WHERE run_id LIKE :p",
                                                {"p": f"selftest-{self.tag}-del-%"})]
        if left != [keys[1]]:
            raise Failed(f"after DELETE of {keys[0]} the table holds {left} (expected [{keys[1]!r}])")
        return f"DELETE on Primary Key table {LOAD_TABLE} removed exactly the row (1 of 2 left)"

    def temporary_table(self) -> str:
        db = self.db()
        pattern = {"p": "selftest-%"}
        db.execute(f"CREATE TEMPORARY TABLE {TEMP_TABLE} AS "
                   f"SELECT run_id, status FROM {LOAD_TABLE} WHERE run_id LIKE :p", pattern)
        try:
            copied = self.count(f"SELECT count(*) FROM {TEMP_TABLE}")
            source = self.count(f"SELECT count(*) FROM {LOAD_TABLE} WHERE run_id LIKE :p", pattern)
        finally:
            db.execute(f"DROP TEMPORARY TABLE IF EXISTS {TEMP_TABLE}")
        if copied != source:
            raise Failed(f"the temporary table holds {copied} rows, its SELECT {source}")
        return f"CREATE TEMPORARY TABLE ... AS SELECT copied {copied} rows; dropped"

    def hierarchy_sql(self) -> str:
        self.seed()
        params = {"snapshot_date": SNAPSHOT, "day_before": SNAPSHOT - dt.timedelta(days=1),
                  "source_file": SEED_FILE, "source_version": "v1", "run_id": self.run_id, "loaded_at": NOW}
        self.db().run_sql_file("sales_hierarchy", params)
        current = self.count("SELECT count(*) FROM dim_sales_hierarchy WHERE is_current AND valid_from = :d",
                             {"d": SNAPSHOT})
        broken = self.count("SELECT count(*) FROM etl_hierarchy_broken WHERE snapshot_date = :d", {"d": SNAPSHOT})
        if current != len(SEED_TSRS) or broken:
            raise Failed(f"dim_sales_hierarchy has {current} current chains (expected {len(SEED_TSRS)}), "
                         f"etl_hierarchy_broken {broken} rows (expected 0)")
        return f"sales_hierarchy.sql: {current} current chains in dim_sales_hierarchy for {SNAPSHOT}"

    def dd_sql(self) -> str:
        self.seed()
        first = SALES_DAY.replace(day=1)
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        self.db().run_sql_file("dd_month", {"month_start": first, "month_end": last, "run_id": self.run_id,
                                            "loaded_at": NOW})
        tsr = self.count("SELECT count(*) FROM agg_dd_tsr_month WHERE month_start = :m", {"m": first})
        outlets = self.count("SELECT count(*) FROM agg_dd_outlet_month WHERE month_start = :m", {"m": first})
        bills = self.count("SELECT coalesce(sum(bills), 0) FROM agg_dd_tsr_month WHERE month_start = :m", {"m": first})
        if not tsr or not outlets or bills != len(SEED_INVOICES):
            raise Failed(f"dd_month.sql left {tsr} rows in agg_dd_tsr_month ({bills} bills, expected "
                         f"{len(SEED_INVOICES)}), {outlets} in agg_dd_outlet_month")
        return (f"dd_month.sql for {first:%Y-%m}: {tsr} rows in agg_dd_tsr_month ({bills} bills), {outlets} in "
                f"agg_dd_outlet_month")

    def mv_refresh(self) -> str:
        self.seed()
        self.db().run_sql_file("rpt_sales_daily", {"start": SALES_DAY, "end": SALES_DAY, "run_id": self.run_id,
                                                   "loaded_at": NOW})
        rows = self.count("SELECT count(*) FROM rpt_sales_daily")
        if not rows:
            raise Failed("REFRESH MATERIALIZED VIEW rpt_sales_daily WITH SYNC MODE returned, the view has no rows")
        return f"REFRESH MATERIALIZED VIEW rpt_sales_daily WITH SYNC MODE: {rows} rows"

    def files(self) -> str:
        access, path = self.files_target()
        sql = files_count_sql(access, path)
        try:
            n = int(self.connector.fetch_one(sql)[0])
        except Exception as exc:  # the statement holds the key: rebuild the error scrubbed, unchained
            raise Failed(access.scrub(server_message(exc))) from None
        return f"FILES() read {access.url(path)}: {n} rows"

    def files_target(self) -> tuple[AzureFiles, str]:
        """The Azure access and one listed .parquet file for FILES(); Skip when there is none."""
        spec = self.source or os.environ.get("DATAWIZ_SOURCE")
        if not spec:
            raise Skip("no --source (or $DATAWIZ_SOURCE): FILES() needs an Azure container with an account key")

        src = resolve_source(spec)
        files_access = getattr(src, "files_access", None)
        if files_access is None:
            raise Skip(f"{src.describe()} is not an Azure container (FILES() reads wasbs://)")
        try:
            access = files_access()
        except SourceConfigError as exc:
            raise Skip(str(exc)) from None
        self.secrets.append(access.shared_key.get_secret_value())

        for f in src.list_files(PREFIXES):
            if f.path.endswith(".parquet"):
                try:
                    access.url(f.path)
                except PushdownRefused:
                    continue
                return access, f.path
        raise Skip(f"no .parquet file under {', '.join(PREFIXES)} in {src.describe()}")

    def cleanup(self) -> FeatureResult:
        """Close the scratch connections and DROP the scratch database (FORCE); always the last line."""
        if self.scratch is not None:
            self.scratch.close()
        left: list[str] = []
        try:
            if self.created:
                self.connector.execute(drop_database_sql(self.scratch_name))
                left = [str(r[0]) for r in self.connector.fetch_all("SHOW DATABASES") if str(r[0]) == self.scratch_name]
        except Exception as exc:  # noqa: BLE001
            detail = f"{server_message(exc)}; drop it by hand: {drop_database_sql(self.scratch_name)}; {LABEL_NOTE}"
            return self._done(FeatureResult("cleanup", "FAIL", self.scrub(detail)))
        finally:
            self.connector.close()
        if left:
            return self._done(FeatureResult("cleanup", "FAIL", self.scrub(
                f"database {self.scratch_name} still listed by SHOW DATABASES after DROP; {LABEL_NOTE}")))
        what = (f"dropped database {self.scratch_name} (FORCE: not kept for RECOVER)" if self.created
                else "no scratch database was created")
        labels = f"{len(self.labels)} Stream Load label(s) used, which stay behind" if self.labels else \
            "no Stream Load label used"
        return self._done(FeatureResult("cleanup", "PASS", self.scrub(f"{what}; {labels} ({LABEL_NOTE})")))

    # ------------------------------------------------------------------ data for the transforms
    @property
    def run_id(self) -> str:
        return f"selftest-{self.tag}"

    def seed(self) -> None:
        """A few dimension, snapshot, constant and fact rows for the transforms (plain INSERTs, once)."""
        if self.seeded:
            return
        db = self.db()
        for table, rows in seed_rows(self.run_id).items():
            columns = list(rows[0])
            names, marks = ", ".join(f"`{c}`" for c in columns), ", ".join(f":{c}" for c in columns)
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            for row in rows:
                db.execute(sql, row)
        self.seeded = True


def route(client: StreamLoadClient) -> str:
    """Where the client sends a load: the FE (which redirects to a BE) or configured BE/CN URLs."""
    return f"BE/CN {', '.join(client.load_urls)}" if client.load_urls else f"FE {client.fe_url} (307 to a BE)"


def run_log_rows(run_ids: list[str], messages: list[str]) -> pa.Table:
    """Rows for etl_run_log: one per run id, each with its message."""
    n = len(run_ids)
    started = dt.datetime(2024, 1, 10, 8, 0, 0)
    return pa.table({
        "run_id": pa.array(run_ids, pa.string()),
        "flow": pa.array(["selftest"] * n, pa.string()),
        "business_date": pa.array([dt.date(2024, 1, 10)] * n, pa.date32()),
        "status": pa.array(["completed"] * n, pa.string()),
        "started_at": pa.array([started] * n, pa.timestamp("us")),
        "finished_at": pa.array([started + dt.timedelta(minutes=5)] * n, pa.timestamp("us")),
        "message": pa.array(messages, pa.string()),
    })


def files_count_sql(access: AzureFiles, path: str) -> str:
    """`SELECT count(*) FROM FILES(...)` on one Parquet file (values validated by AzureFiles; holds the key)."""
    clause = access.files_clause(path)
    return f"SELECT count(*) FROM {clause}"


@dataclass(frozen=True)
class MigrationSummary:
    """What the StarRocks migrations create, read from their text."""

    tables: tuple[str, ...]
    materialized_views: tuple[str, ...]
    views: tuple[str, ...]
    expression_partitioned: int
    bloom_filter_tables: int
    bitmap_indexes: int

    @property
    def objects(self) -> tuple[str, ...]:
        return (*self.tables, *self.materialized_views, *self.views)

    def describe(self) -> str:
        return (f"{len(self.tables)} Primary Key tables ({self.expression_partitioned} with expression "
                f"partitioning, {self.bloom_filter_tables} with bloom filter indexes, {self.bitmap_indexes} bitmap "
                f"indexes), {len(self.materialized_views)} materialized view(s), {len(self.views)} view(s)")


def migration_summary() -> MigrationSummary:
    """Tables, views and index kinds of sql/starrocks/migrations (schema_migrations included; tables a later
    statement drops again, like V003's swap tables, left out)."""

    text = "\n".join(m.text() for m in migrations("starrocks"))
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    needs = starrocks_needs()
    views = re.findall(r"(?i)CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)", body)
    statements = re.split(r";\s*\n", body)
    partitioned = sum(1 for s in statements if re.search(r"(?is)CREATE\s+TABLE.*PARTITION\s+BY\s+date_trunc", s))
    return MigrationSummary(needs.tables, needs.materialized_views, tuple(views), partitioned,
                            len(re.findall(r"(?i)bloom_filter_columns", body)),
                            len(re.findall(r"(?i)USING\s+BITMAP", body)))


# ------------------------------------------------------------------------------------ seed rows
SNAPSHOT = dt.date(2024, 1, 1)
SALES_DAY = dt.date(2024, 1, 10)
NOW = dt.datetime(2024, 1, 11, 6, 0, 0)
SEED_FILE = "selftest/seed.csv"
SEED_TSRS = ("T1", "T2")
# Invoice numbers of the contract's pattern (registry FIS: INV + 10 digits): DD counts a bill by its
# invoice_no's INV prefix (sql/dd_month.sql, pass 3), as every validated line has it.
SEED_INVOICES = ("INV9000000001", "INV9000000002")


def _money(amount: str, factor: str = "1") -> decimal.Decimal:
    return (decimal.Decimal(amount) * decimal.Decimal(factor)).quantize(decimal.Decimal("0.01"))


def _lineage(run_id: str) -> dict[str, Any]:
    return {"_source_file": SEED_FILE, "_source_version": "v1", "_loaded_at": NOW, "_run_id": run_id}


def seed_rows(run_id: str) -> dict[str, list[dict[str, Any]]]:
    """A full TSR -> NSM chain for two TSRs, two products, one distributor, the DD constants, three sales lines."""
    lin = _lineage(run_id)
    chain = [("N1", "NSM", None), ("Z1", "ZSM", "N1"), ("R1", "RSM", "Z1"), ("A1", "ASM", "R1"), ("S1", "SO", "A1"),
             ("T1", "TSR", "S1"), ("T2", "TSR", "S1")]
    staff = [{"snapshot_date": SNAPSHOT, "employee_code": code, "employee_name": f"Selftest {code}", "role": role,
              "manager_code": manager, "region": "North", "territory": "Selftest", "is_active": True,
              "updated_at": NOW, **lin} for code, role, manager in chain]
    products = [{"sku_code": sku, "sku_name": f"Selftest {sku}", "brand": brand, "category": "Selftest",
                 "pack_size": decimal.Decimal("1.000"), "uom": "EA", "mrp": decimal.Decimal("100.00"),
                 "gst_rate": decimal.Decimal("18.00"), "is_active": True, "updated_at": NOW, **lin}
                for sku, brand in (("SKU1", "BrandA"), ("SKU2", "BrandB"))]
    distributors = [{"distributor_code": "D1", "distributor_name": "Selftest D1", "city": "Delhi", "state": "Delhi",
                     "region": "North", "channel": "GT", "onboarded_on": SNAPSHOT, "is_active": True,
                     "updated_at": NOW, **lin}]
    constants = [{"constant_name": name, "value": value, "as_of": SNAPSHOT, **lin} for name, value in (
        ("focus_brands", '["BrandA"]'), ("min_productive_bill_value", "100"), ("target_lines_per_bill", "2"))]
    facts = [{"invoice_no": inv, "line_no": line, "invoice_date": day, "doc_type": "INV", "distributor_code": "D1",
              "retailer_code": retailer, "tsr_code": tsr, "sku_code": sku, "quantity": qty, "free_quantity": 0,
              "gross_amount": _money(gross), "discount_amount": _money("0"), "tax_amount": _money(gross, "0.18"),
              "net_amount": _money(gross, "1.18"), "updated_at": NOW, **lin}
             for inv, line, day, retailer, tsr, sku, qty, gross in (
                 (SEED_INVOICES[0], 1, SALES_DAY, "RT1", "T1", "SKU1", 2, "200.00"),
                 (SEED_INVOICES[0], 2, SALES_DAY, "RT1", "T1", "SKU2", 1, "100.00"),
                 (SEED_INVOICES[1], 1, SALES_DAY + dt.timedelta(days=1), "RT2", "T2", "SKU1", 1, "100.00"))]
    return {"stg_tsr_snapshot": staff, "dim_product": products, "dim_distributor": distributors,
            "business_constants": constants, "fact_secondary_sales": facts}


# ------------------------------------------------------------------------------------ entry points
def run_selftest(connector: StarRocksConnector, source: str | None = None,
                 on_result: Callable[[FeatureResult], None] | None = None,
                 scratch_name: str | None = None) -> list[FeatureResult]:
    """Every feature in order (FEATURES), then cleanup, whatever happened; `on_result` sees each as it ends."""
    run = SelftestRun(connector, source, **({"scratch_name": scratch_name} if scratch_name else {}))
    plan: list[tuple[str, Callable[[], str], tuple[str, ...]]] = [
        ("version", run.version, ()),
        ("grants", run.grants, ("connection",)),
        ("ddl", run.ddl, ("connection",)),
        ("stream_load_csv", run.stream_load_csv, ("ddl",)),
        ("stream_load_json", run.stream_load_json, ("ddl",)),
        ("label_reuse", run.label_reuse, ("stream_load_csv",)),
        ("visibility", run.visibility, ("stream_load_csv",)),
        ("delete", run.delete, ("ddl",)),
        ("temporary_table", run.temporary_table, ("ddl",)),
        # The transforms' SQL files work through session temporary tables.
        ("hierarchy_sql", run.hierarchy_sql, ("ddl", "temporary_table")),
        ("dd_sql", run.dd_sql, ("ddl", "temporary_table")),
        ("mv_refresh", run.mv_refresh, ("ddl",)),
        ("files", run.files, ("connection",)),
    ]
    results: list[FeatureResult] = []

    def emit(result: FeatureResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        for feature, probe, needs in plan:
            emit(run.run(feature, probe, needs))
    finally:
        emit(run.cleanup())
    return results


def selftest_command(warehouse: str | None, source: str | None, out: Any = None, err: Any = None) -> int:
    """`datawiz starrocks selftest`: 0 if nothing FAILed, 1 if something did, 2 if the warehouse is unusable."""

    out, err = out or sys.stdout, err or sys.stderr
    try:
        wh = resolve_warehouse(warehouse)
    except Exception as exc:  # noqa: BLE001
        print(f"datawiz starrocks selftest: {redact(f'{type(exc).__name__}: {exc}')}", file=err)
        return 2
    if wh.capabilities.dialect != "starrocks":
        print(f"datawiz starrocks selftest: {redact(wh.describe())} is not a StarRocks warehouse "
              "(give --warehouse starrocks://USER@HOST:9030/DB or a starrocks-connector/NAME block)", file=err)
        wh.close()
        return 2
    results = run_selftest(cast(StarRocksConnector, wh), source,
                           on_result=lambda r: print(r.line(), file=out, flush=True))
    return 1 if any(r.status == "FAIL" for r in results) else 0

"""Extract: list the landing area, plan against the ledger, back up new versions, read files.

Planning is a diff of (path, version) against `etl_file_ledger`: a version the ledger knows
(loaded, rejected or superseded) is never planned again, whatever its date — so late files
load and re-runs load nothing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import csv
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from prefect import Task, get_run_logger, task
from prefect.cache_policies import CachePolicy

from blocks.source import Source, SourceChanged
from blocks.types import SourceFile
from blocks.warehouse.base import Warehouse
from blocks.warehouse.batches import rebatch
from datawiz.core.environment import env_name
from datawiz.core.errors import FileRejected, transient_retries
from datawiz.core.registry import PREFIXES, REQUIRED_CONSTANTS, FileRef, Origin, owning_contract, resolve_path
from tasks.paths import data_dir
from tasks.telemetry import stage


def raw_root() -> Path:
    return data_dir() / "raw"


@dataclass(frozen=True)
class PlannedFile:
    """A new file version and what the registry says about it (ref None: its name does not parse)."""

    file: SourceFile
    ref: FileRef | None
    contract_name: str
    table_name: str  # the warehouse table the file feeds


@dataclass
class Plan:
    """What a run will do: new versions to load, and what it saw but will not load."""

    todo: list[PlannedFile] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)
    already_in_ledger: int = 0

    def for_tables(self, names: set[str], origins: set[Origin] | None = None) -> list[PlannedFile]:
        """The planned files of some contracts (and origins), in load order."""
        picked = [
            p for p in self.todo
            if p.ref is not None and p.ref.contract.name in names
            and (origins is None or p.ref.origin in origins)
        ]
        unparseable = [p for p in self.todo if p.ref is None and p.contract_name in names]
        return sorted(picked, key=_load_order) + unparseable


def _load_order(p: PlannedFile) -> tuple[str, dt.date | str, str]:
    # Snapshots are applied in date order, facts by day then part: deterministic, oldest first.
    assert p.ref is not None
    return (p.ref.contract.name, p.ref.business_date or "", p.file.path)


def plan_files(files: list[SourceFile], known: set[tuple[str, str]]) -> Plan:
    """Diff a listing against the ledger's (path, version) pairs."""
    plan = Plan()
    for f in files:
        ref = resolve_path(f.path)
        owner = ref.contract if ref else owning_contract(f.path)
        if owner is None:
            plan.unrecognised.append(f.path)
        elif (f.path, f.version) in known:
            plan.already_in_ledger += 1
        else:
            plan.todo.append(PlannedFile(f, ref, owner.name, owner.target_table))
    return plan


@task(
    name="plan-files",
    **transient_retries(),
)
def list_and_plan(
    source: Source, warehouse: Warehouse, prefixes: tuple[str, ...] = PREFIXES, report_unrecognised: bool = True
) -> Plan:
    """List the landing area (one call per prefix) and keep the versions the ledger lacks.

    With `report_unrecognised`, paths outside the prefixes are listed too (sources that offer
    `list_all(skip=...)`) and reported; a narrow listing (one backfill month) turns it off.
    """
    with stage("list", prefixes=len(prefixes)) as span:
        files = source.list_files(prefixes)
        span.set_attribute("files", len(files))
    plan = plan_files(files, warehouse.ledger_versions())
    if report_unrecognised and hasattr(source, "list_all"):
        listed = {f.path for f in files}
        plan.unrecognised.extend(f.path for f in source.list_all(skip=prefixes) if f.path not in listed)
    return plan


def raw_path(file: SourceFile, root: Path | None = None) -> Path:
    """data/raw/<dir>/<stem>@<version><ext>: two versions of one path never overwrite each other."""
    version = re.sub(r"[^A-Za-z0-9]", "", file.version)
    rel = Path(file.path)
    return (root or raw_root()) / rel.parent / f"{rel.stem}@{version}{rel.suffix}"


def raw_copy_key(file: SourceFile, root: Path, env: str | None = None) -> str:
    """The cache key of one raw copy: `raw-copy-<env>-<sha256 of path, version and raw folder>`.

    Prefect stores each cache record as a file named after its key in the result storage folder. The
    readable form (`raw-copy-facts/fis/2025/11/20/x.csv@<etag>-/srv/datawiz/data/raw`) spread records
    over nested folders and grew past the 255-byte file-name limit for long blob names; the hash is a
    fixed, safe name. The environment in front keeps dev and prod records apart when two workers share
    a result folder (the raw folder in the hash already differs when their data folders do).
    """
    digest = hashlib.sha256("\0".join((file.path, file.version, str(root.resolve()))).encode()).hexdigest()
    return env_name(f"raw-copy-{digest}", env)


class _RawCopyPolicy(CachePolicy):
    """Cache a fetch by (path, version) — but a cache hit whose local copy has gone is a miss.

    The key is computed before the task runs. For the download itself to be recorded under the key
    later runs look up, a fetch whose copy is missing runs with `refresh_cache` (see `fetch_task`):
    it overwrites any stale record instead of hitting it. Without that flag a missing copy gets no
    key at all (a plain miss, nothing recorded), so a stale record can never hand back a gone file.
    """

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: Any, **kw: Any) -> str | None:
        file: SourceFile = inputs["file"]
        root = Path(inputs.get("root") or raw_root())
        if not raw_path(file, root).exists() and not getattr(task_ctx.task, "refresh_cache", False):
            return None
        return raw_copy_key(file, root)


@task(
    name="fetch-file",
    **transient_retries(cache_policy=_RawCopyPolicy()),
    persist_result=True,
    task_run_name="fetch {file.path}",
)
def fetch_file(source: Source, file: SourceFile, root: str | None = None) -> str:
    """Copy one file version into the raw backup area (verified) and return its local path."""
    return download_copy(source, file, root)


def download_copy(source: Source, file: SourceFile, root: str | None = None) -> str:
    """The raw copy of one file version (`raw_path`): downloaded and verified unless it is already there."""
    dest = raw_path(file, Path(root) if root else None)
    if dest.exists() and dest.stat().st_size == file.size:
        return str(dest)
    owner = owning_contract(file.path)
    with stage("download", table=owner.target_table if owner else None, file=file.path, version=file.version,
               bytes=file.size):
        return str(source.fetch(file, dest))


_refetch_file = fetch_file.with_options(refresh_cache=True)


def fetch_task(file: SourceFile, root: str | None = None) -> Task[..., str]:
    """The fetch task to call for `file`: `fetch_file`, or its cache-refreshing twin when the copy is missing.

    The twin's download is recorded under the (path, version) key, so the next call is a cache hit,
    and a record left from a copy that has since gone is overwritten instead of handed back.
    """
    return fetch_file if raw_path(file, Path(root) if root else None).exists() else _refetch_file


@task(name="backup-files", **transient_retries())
def fetch_files(source: Source, files: list[SourceFile], root: str | None, workers: int) -> list[str]:
    """Download every listed version that has no raw copy yet, `workers` at a time; the copies' paths.

    One task run for the whole step instead of one per file: a fetch task run cost more than downloading
    a small file (docs/PERFORMANCE.md). What the per-file runs gave is kept: a copy that is there (this run's
    or an earlier one's) is never downloaded again, as the per-file cache did; each download is a `download`
    span; a failed download fails the task only after the others finished, and the retry of a transient one
    downloads only the copies still missing. A version that changed since listing is skipped (the load step
    lists it again).
    """
    logger = get_run_logger()

    def one(file: SourceFile) -> str | None:
        try:
            return download_copy(source, file, root)
        except SourceChanged as exc:
            logger.warning("%s; the load step lists it again", exc)
            return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="datawiz-download") as pool:
        # Each thread runs in a copy of this context: its spans are children of the task's, its logs the task's.
        futures = [pool.submit(contextvars.copy_context().run, one, f) for f in files]
    paths = []  # every download has ended here
    for future in futures:
        path = future.result()  # raises the first failure in listing order
        if path is not None:
            paths.append(path)
    return paths


DEFAULT_BATCH_ROWS = 100_000


def batch_rows() -> int:
    """Rows per streamed batch: $DATAWIZ_BATCH_ROWS (default 100,000); peak memory follows it, not the file."""
    value = int(os.environ.get("DATAWIZ_BATCH_ROWS", DEFAULT_BATCH_ROWS))
    if value < 1:
        raise ValueError(f"DATAWIZ_BATCH_ROWS must be >= 1, not {value}")
    return value


def read_raw(path: Path, ref: FileRef) -> pa.Table:
    """Read a whole data file as delivered: Parquet with its types, CSV with every column as text."""
    raw = RawFile(path, ref)
    return pa.concat_tables(list(raw.batches(size=1 << 62)))


class RawFile:
    """A data file read as delivered (Parquet with its types, CSV as text), in bounded batches.

    Every pass streams: Parquet by record batch, CSV by parser block, re-cut to `batch_rows`. A
    problem found on the way (a corrupt page, bad UTF-8 in block 40) becomes the same FileRejected
    naming the source file as one found at the start.
    """

    def __init__(self, path: Path, ref: FileRef) -> None:
        self.path, self.ref = path, ref
        if path.stat().st_size == 0:
            raise FileRejected(ref.path, "file is empty (0 bytes)")
        self.is_csv = path.suffix == ".csv"
        self._num_rows: int | None = None  # CSV: unknown until counted
        with self._translated():
            if self.is_csv:
                self.column_names: list[str] = _csv_header(path, ref)
            else:
                meta = pq.ParquetFile(path)
                self.column_names, self._num_rows = meta.schema_arrow.names, meta.metadata.num_rows

    def num_rows(self) -> int:
        """Data rows in the file (CSV: counted by one streaming pass, once)."""
        if self._num_rows is None:
            first = self.column_names[:1]
            self._num_rows = sum(b.num_rows for b in self.batches(columns=first))
        return self._num_rows

    def batches(self, columns: list[str] | None = None, size: int | None = None) -> Iterator[pa.Table]:
        """The file's rows in order, `size` (default `batch_rows()`) at a time; one empty batch for no rows."""
        size = size or batch_rows()
        with self._translated():
            emitted = False
            for table in rebatch(self._record_batches(columns, size), size):
                emitted = True
                yield table
            if not emitted:
                yield self._schema(columns).empty_table()

    def _record_batches(self, columns: list[str] | None, size: int) -> Iterator[pa.RecordBatch]:
        if not self.is_csv:
            # Column chunks are streamed through a 1 MiB buffer rather than pre-read a row group at a
            # time: a file written as one big row group would otherwise sit in memory whole.
            reader = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
            yield from reader.iter_batches(batch_size=min(size, 1 << 20), columns=columns)
            return
        with pacsv.open_csv(self.path, **_csv_options(self.column_names, columns)) as reader:
            yield from reader

    def _schema(self, columns: list[str] | None) -> pa.Schema:
        if self.is_csv:
            return pa.schema([(n, pa.string()) for n in (columns or self.column_names)])
        schema = pq.ParquetFile(self.path).schema_arrow
        return pa.schema([schema.field(n) for n in columns]) if columns else schema

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Reading errors -> FileRejected naming the source file (the local copy's path means nothing to a reader)."""
        path, ref = self.path, self.ref
        try:
            yield
        except FileRejected:
            raise
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
            if self.is_csv and "UTF8" in str(exc):
                raise FileRejected(ref.path, f"not valid UTF-8 at line {first_bad_utf8_line(path)}") from exc
            kind = "CSV" if self.is_csv else "Parquet"
            raise FileRejected(ref.path, f"unreadable {kind}: {_short(exc).replace(str(path), ref.path)}") from exc


def first_bad_utf8_line(path: Path) -> int | None:
    """1-based line number of the first line that is not valid UTF-8 (header = line 1)."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _csv_header(path: Path, ref: FileRef) -> list[str]:
    with path.open("rb") as fh:
        head = fh.readline()
    try:
        header = head.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise FileRejected(ref.path, "not valid UTF-8 in the header row") from exc
    return next(csv.reader([header]), [])


def _csv_options(names: list[str], columns: list[str] | None) -> dict[str, Any]:
    # Every column is read as text so that coercion (and its failures) happens in one place: clean.
    return {
        "read_options": pacsv.ReadOptions(encoding="utf8", block_size=1 << 24),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            include_columns=columns or [],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    }


def read_constants(path: Path, ref: FileRef) -> dict[str, Any]:
    """Parse business_constants.json; the three named constants are required."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileRejected(ref.path, f"not valid JSON: {_short(exc)}") from exc
    except RecursionError:  # [[[[... nested deeper than the parser's stack: hostile, not a crash
        raise FileRejected(ref.path, "not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("constants"), dict) or "as_of" not in doc:
        raise FileRejected(ref.path, 'expected {"as_of": "YYYY-MM-DD", "constants": {...}}')
    try:
        dt.date.fromisoformat(str(doc["as_of"]))
    except ValueError:
        raise FileRejected(ref.path, f"as_of {str(doc['as_of'])[:40]!r} is not a YYYY-MM-DD date") from None
    missing = [c for c in REQUIRED_CONSTANTS if c not in doc["constants"]]
    if missing:
        raise FileRejected(ref.path, f"missing required constant(s): {', '.join(missing)}")
    _check_constant_sizes(doc["constants"], ref)
    return doc


def _check_constant_sizes(constants: dict[str, Any], ref: FileRef) -> None:
    """Names and values (as the JSON text that is stored) fit their warehouse columns, in UTF-8 bytes."""
    name_limit = ref.contract.column("constant_name").max_length
    value_limit = ref.contract.column("value").max_length
    for name, value in constants.items():
        if len(name.encode("utf-8", "surrogatepass")) > name_limit:
            raise FileRejected(ref.path, f"constant name {name[:40]!r}... is longer than {name_limit} bytes")
        if len(json.dumps(value, sort_keys=True).encode()) > value_limit:
            raise FileRejected(ref.path, f"constant {name[:40]!r}: value longer than {value_limit} bytes as JSON")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

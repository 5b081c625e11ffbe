"""Azure Blob extraction against a real Azurite, through a recording (and fault-injecting) proxy.

The tests of this module share one container and one warehouse and run in order, like upstream
would act on the container: first load, re-run, an overwritten blob, a late blob behind two 503s.
The proxy's log is the download counter: a blob version fetched twice would show there.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from prefect import flow
from prefect_azure import AzureBlobStorageContainer, AzureBlobStorageCredentials

from blocks.source import SourceChanged, SourceConfigError, resolve_source
from blocks.types import SourceFile
from blocks.warehouse import resolve_warehouse
from datawiz.core.registry import PREFIXES
from datawiz.sample_data import Manifest, generate
from flows.evening import evening
from flows.morning import morning
from tasks.extract import PlannedFile, fetch_task, raw_root
from tasks.health import run_checks
from tasks.report import RunSummary, table_counts
from tasks.run import RunContext, download_concurrency, fetch_current
from tests.integration.azurite import AZURITE_KEY, REPO
from tests.integration.blob_proxy import BlobProxy

pytestmark = pytest.mark.integration

END = dt.date(2025, 11, 20)
CONTAINER = "landing"
LEDGER_SQL = (
    "SELECT source_file, table_name, status, rows_in, rows_loaded, rows_quarantined, rows_deduplicated "
    "FROM etl_file_ledger ORDER BY source_file, status"
)


def upload_folder(container: ContainerClient, root: Path) -> int:
    """Upload every file below `root`, keeping its relative path as the blob name."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    for path in files:
        container.upload_blob(path.relative_to(root).as_posix(), path.read_bytes(), overwrite=True)
    return len(files)


def query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    wh = resolve_warehouse(url)
    try:
        return wh.query(sql, params).to_pylist()
    finally:
        wh.close()


def scalar(url: str, sql: str, params: dict[str, Any] | None = None) -> Any:
    return next(iter(query(url, sql, params)[0].values()))


def counts(url: str) -> dict[str, int]:
    wh = resolve_warehouse(url)
    try:
        return table_counts(wh)
    finally:
        wh.close()


@dataclass
class AzureWorld:
    """Sample data generated locally, uploaded to Azurite, read by the pipeline through the proxy."""

    landing: Path
    manifest: Manifest
    service: BlobServiceClient  # straight to Azurite: what upstream does
    proxy: BlobProxy  # what the pipeline talks to
    warehouse: str

    @property
    def container(self) -> ContainerClient:
        return self.service.get_container_client(CONTAINER)

    def proxied(self, connection_string: str) -> str:
        return re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{self.proxy.port}", connection_string)

    def run(self, *flows: str, source: str = f"az://{CONTAINER}") -> list[Any]:
        known = {"evening": evening, "morning": morning}
        return [known[f](business_date=END, source=source, warehouse=self.warehouse) for f in flows]

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return scalar(self.warehouse, sql, params)


def _port(connection_string: str) -> int:
    return int(re.search(r"127\.0\.0\.1:(\d+)", connection_string).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def world(azurite: str, prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureWorld]:
    root = tmp_path_factory.mktemp("azure")
    manifest = generate(root / "landing", days=3, fis_rows_per_day=1000, end_date=END)
    service = BlobServiceClient.from_connection_string(azurite)
    service.create_container(CONTAINER)
    upload_folder(service.get_container_client(CONTAINER), root / "landing")
    with BlobProxy(_port(azurite)) as proxy:
        yield AzureWorld(root / "landing", manifest, service, proxy, f"duckdb:///{root / 'wh.duckdb'}")


@pytest.fixture
def env(world: AzureWorld, azurite: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> AzureWorld:
    """The pipeline's environment for a local run against Azure: connection string in the usual variable."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", world.proxied(azurite))
    monkeypatch.setenv("DATAWIZ_AZURE_RETRY_BACKOFF", "0.05")  # the SDK's in-request retries, fast for tests
    return world


def test_flows_from_azure_load_what_the_local_folder_loads(env: AzureWorld, workdir: Path) -> None:
    mark = env.proxy.mark()
    (ev,) = env.run("evening")
    env.proxy.download_delay = 0.3  # hold each download so that the backup's parallel ones overlap
    try:
        (mo,) = env.run("morning")
    finally:
        env.proxy.download_delay = 0.0
    # blob_backup downloads in parallel, never more at once than $DATAWIZ_DOWNLOAD_CONCURRENCY (4).
    assert env.proxy.max_in_flight == download_concurrency() == 4
    local = f"duckdb:///{workdir / 'local.duckdb'}"
    evening(business_date=END, source=str(env.landing), warehouse=local)
    morning(business_date=END, source=str(env.landing), warehouse=local)

    assert counts(env.warehouse) == counts(local)
    assert query(env.warehouse, LEDGER_SQL) == query(local, LEDGER_SQL)  # same files, same outcome, same rows
    for table, exp in env.manifest.tables.items():
        assert env.scalar(f"SELECT count(*) FROM {table}") == exp.rows, table
    # Versions are ETags; each loaded blob was downloaded exactly once (the load reused the backup's copy).
    loaded = {f.path for f in ev.files + mo.files}
    assert len(loaded) == len([f for f in env.manifest.files if f.expected_status == "loaded"])
    downloaded = Counter(r.path.split(f"/{CONTAINER}/", 1)[1] for r in env.proxy.downloads(mark))
    assert set(downloaded) == loaded and set(downloaded.values()) == {1}
    assert env.scalar("SELECT count(*) FROM etl_file_ledger WHERE source_version LIKE '0x%'") == len(loaded)
    raw = [p for p in raw_root().rglob("*") if p.is_file()]
    assert not [p for p in raw if p.name.endswith(".part")]
    assert len([p for p in raw if "@0x" in p.name]) == len(loaded)  # one copy per blob version (ETag 0x…)


def test_second_run_downloads_and_loads_nothing(env: AzureWorld) -> None:
    before = counts(env.warehouse)
    mark = env.proxy.mark()
    ev, mo = env.run("evening", "morning")
    assert ev.files == [] and mo.files == []
    assert counts(env.warehouse) == before
    assert env.proxy.downloads(mark) == []
    # One paged listing per prefix plus one top-level walk (unrecognised paths) per flow: never per blob.
    assert len(env.proxy.listings(mark)) == 2 * (len(PREFIXES) + 1)


def _a_fis_blob(env: AzureWorld) -> str:
    return sorted(p.relative_to(env.landing).as_posix() for p in env.landing.glob("facts/fis/**/*.parquet"))[0]


def test_overwritten_blob_is_downloaded_again_and_its_rows_replaced(env: AzureWorld) -> None:
    rel = _a_fis_blob(env)
    old = pq.read_table(env.landing / rel)
    rows_before = env.scalar("SELECT count(*) FROM fact_secondary_sales")
    net_before = Decimal(env.scalar("SELECT sum(net_amount) FROM fact_secondary_sales"))
    # Upstream overwrites the blob: its last 10 lines are gone and line 1's amounts changed.
    new = old.slice(0, old.num_rows - 10)
    bump = Decimal("1.00")
    for name in ("gross_amount", "net_amount"):
        col = new.column(name).to_pylist()
        col[0] += bump
        new = new.set_column(new.schema.get_field_index(name), name, pa.array(col, new.schema.field(name).type))
    sink = pa.BufferOutputStream()
    pq.write_table(new, sink)
    env.container.upload_blob(rel, sink.getvalue().to_pybytes(), overwrite=True)

    mark = env.proxy.mark()
    (mo,) = env.run("morning")
    assert [(f.path, f.status, f.stats.rows_loaded) for f in mo.files] == [(rel, "loaded", new.num_rows)]
    assert len(env.proxy.downloads(mark, f"/{rel}")) == 1
    removed = Decimal(str(pc.sum(old.slice(old.num_rows - 10).column("net_amount")).as_py()))
    assert env.scalar("SELECT count(*) FROM fact_secondary_sales") == rows_before - 10
    assert Decimal(env.scalar("SELECT sum(net_amount) FROM fact_secondary_sales")) == net_before - removed + bump
    assert env.scalar("SELECT count(*) FROM fact_secondary_sales WHERE _source_file = :f", {"f": rel}) == new.num_rows
    first = {"i": new.column("invoice_no")[0].as_py(), "l": new.column("line_no")[0].as_py()}
    assert env.scalar("SELECT net_amount FROM fact_secondary_sales WHERE invoice_no = :i AND line_no = :l",
                      first) == new.column("net_amount")[0].as_py()
    assert env.scalar("SELECT string_agg(status, ',' ORDER BY status) FROM etl_file_ledger WHERE source_file = :f",
                      {"f": rel}) == "loaded,superseded"


def test_blob_failing_twice_with_503_is_loaded_once(env: AzureWorld) -> None:
    late = pq.read_table(env.landing / _a_fis_blob(env)).slice(0, 25)
    day = END - dt.timedelta(days=1)
    late = late.set_column(late.schema.get_field_index("invoice_date"), "invoice_date",
                           pa.array([day] * 25, pa.date32()))
    numbers = [f"{doc}8{i:09d}" for i, doc in enumerate(late.column("doc_type").to_pylist())]
    late = late.set_column(late.schema.get_field_index("invoice_no"), "invoice_no", pa.array(numbers))
    rel = f"facts/fis/{day:%Y/%m/%d}/fis_{day:%Y%m%d}_008.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(late, sink)
    env.container.upload_blob(rel, sink.getvalue().to_pybytes())
    env.proxy.fail_next(f"/{rel}", times=2, status=503)

    mark = env.proxy.mark()
    (mo,) = env.run("morning")
    assert [(f.path, f.status, f.stats.rows_loaded) for f in mo.files] == [(rel, "loaded", 25)]
    tries = env.proxy.requests_for(f"/{rel}", mark)
    assert [r.status for r in tries[:2]] == [503, 503] and len(tries) == 3 and tries[2].is_download
    assert env.scalar("SELECT count(*) FROM etl_file_ledger WHERE source_file = :f", {"f": rel}) == 1
    assert env.scalar("SELECT count(*) FROM fact_secondary_sales WHERE _source_file = :f", {"f": rel}) == 25


@flow(name="test-backup-dimensions")
def backup_dimensions(source: str) -> dict[str, str]:
    """The blob_backup step alone, over every dimension blob: path -> state of its fetch task."""
    src = resolve_source(source)
    files = src.list_files(["dimensions/"])
    futures = [fetch_task(f).submit(src, f) for f in files]
    return {f.path: fut.wait() or fut.state.name for f, fut in zip(files, futures, strict=True)}


def test_unchanged_blob_is_never_downloaded_twice_and_a_lost_copy_is_fetched_again(env: AzureWorld) -> None:
    # Over every run so far (first load, re-run, overwrite, retries): no blob version came down twice.
    versions = Counter((r.path, r.etag) for r in env.proxy.downloads())
    assert versions and max(versions.values()) == 1

    # The download task itself, in a fresh data folder: downloads once, then cache hits...
    source = f"az://{CONTAINER}"
    mark = env.proxy.mark()
    first = backup_dimensions(source)
    assert set(first.values()) == {"Completed"} and len(env.proxy.downloads(mark)) == len(first)
    mark = env.proxy.mark()
    assert set(backup_dimensions(source).values()) == {"Cached"}
    assert env.proxy.downloads(mark) == []
    # ...and a cache hit whose local copy has gone is a miss: that one file comes down again, only it.
    lost = sorted(first)[0]
    lost_copy = next(raw_root().glob(f"{Path(lost).parent}/{Path(lost).stem}@*"))
    lost_copy.unlink()
    mark = env.proxy.mark()
    third = backup_dimensions(source)
    assert third[lost] == "Completed" and {s for p, s in third.items() if p != lost} == {"Cached"}
    assert [r.path.endswith(f"/{lost}") for r in env.proxy.downloads(mark)] == [True]
    assert lost_copy.exists()


@flow(name="test-fetch-current")
def fetch_current_flow(source: str, warehouse: str, path: str, stale_version: str) -> tuple[str, str] | None:
    """Load-step fetch of a planned version that has changed since: returns (local copy, version fetched)."""
    src, wh = resolve_source(source), resolve_warehouse(warehouse)
    try:
        ctx = RunContext(src, wh, RunSummary("test", END, "test-run"))
        stale = PlannedFile(SourceFile(path, stale_version, 1), None, "none", "none")
        fetched = fetch_current(ctx, stale)
        return None if fetched is None else (fetched[0], fetched[1].file.version)
    finally:
        wh.close()


def test_blob_changed_after_listing_is_refused_and_replanned(env: AzureWorld, workdir: Path) -> None:
    rel = "scratch/changing.csv"
    env.container.upload_blob(rel, b"a,b\n1,2\n", overwrite=True)
    source = resolve_source(f"az://{CONTAINER}")
    (listed,) = source.list_files([rel])
    env.container.upload_blob(rel, b"a,b\n1,2\n3,4\n", overwrite=True)  # upstream rewrites it meanwhile
    dest = workdir / "copy.csv"
    with pytest.raises(SourceChanged, match="changed or was deleted after it was listed"):
        source.fetch(listed, dest)  # If-Match the listed ETag: Azure answers 412
    assert not dest.exists() and not list(workdir.glob("*.part"))

    # The load step re-plans that path and fetches the version that is there now, verified.
    local, version = fetch_current_flow(f"az://{CONTAINER}", env.warehouse, rel, listed.version)
    assert version != listed.version and Path(local).read_bytes() == b"a,b\n1,2\n3,4\n"


def test_missing_container_and_wrong_key_fail_fast_without_secret(env: AzureWorld, azurite: str) -> None:

    wrong_key = "A" * 20 + AZURITE_KEY[20:]
    wrong = env.proxied(azurite).replace(AZURITE_KEY, wrong_key)
    AzureBlobStorageContainer(
        container_name=CONTAINER, credentials=AzureBlobStorageCredentials(connection_string=wrong)
    ).save("wrong-key", overwrite=True)
    cases = {
        "az://no-such-container": ["'no-such-container'", "does not exist", "AZURE_STORAGE_CONNECTION_STRING"],
        "azure-blob-storage-container/wrong-key": [f"'{CONTAINER}'", "refused access", "403",
                                                   "azure-blob-storage-container/wrong-key"],
    }
    for source, expected in cases.items():
        mark, started = env.proxy.mark(), time.monotonic()
        state = morning(business_date=END, source=source, warehouse=env.warehouse, return_state=True)
        elapsed = time.monotonic() - started
        exc = state.result(raise_on_failure=False)
        assert state.is_failed() and isinstance(exc, SourceConfigError), source
        assert len(env.proxy.log) - mark == 1, "a terminal error must not be retried"
        assert elapsed < 30, f"{source} took {elapsed:.1f} s to fail"
        logged = env.scalar("SELECT message FROM etl_run_log WHERE status = 'failed' ORDER BY started_at DESC "
                            "LIMIT 1")
        (check, _) = run_checks(source, env.warehouse)
        texts = [str(exc), str(state.message), logged, check.line()]
        for text in texts:
            assert all(part in text for part in expected), (source, text)
            for secret in (AZURITE_KEY, wrong_key, AZURITE_KEY[:12], wrong_key[20:32], "AccountKey="):
                assert secret not in text, (source, text)
        assert not check.ok and check.line().startswith("FAIL source")

    # A block that does not exist fails as clearly (and a deployment never falls back to a local folder).
    (check, _) = run_checks("azure-blob-storage-container/no-such-block", env.warehouse)
    assert check.line().startswith("FAIL source") and "cannot load block" in check.detail, check.line()


def test_backfill_killed_midway_then_rerun_loads_exact_rows(env: AzureWorld, workdir: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    hist = workdir / "hist"
    manifest = generate(hist, days=1, fis_rows_per_day=20, history_months=12, end_date=END)
    env.service.create_container("history")
    upload_folder(env.service.get_container_client("history"), hist)
    url = f"duckdb:///{workdir / 'backfill.duckdb'}"
    # The backfill runs on a live warehouse: dimensions and business constants (DD needs them) are there.
    evening(business_date=END, source="az://history", warehouse=url)
    child_env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "flows/backfill.py", "--source", "az://history", "--warehouse", url]

    # First run: killed (SIGKILL, no clean-up) as soon as three months are done.
    proc = subprocess.Popen(cmd, cwd=REPO, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen, output = _wait_for_line(proc, "backfill 3/12", timeout=150)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert seen, "the backfill did not report three months:\n" + "".join(output)[-4000:]
    # historical/fis/YYYY/MM/...: characters 16-22 are the month.
    months_started = scalar(url, "SELECT count(DISTINCT substr(source_file, 16, 7)) FROM etl_file_ledger "
                                 "WHERE source_file LIKE 'historical/%'")
    assert 3 <= months_started < 12

    # Second run: completes, loading only what is missing.
    rerun = subprocess.run(cmd, cwd=REPO, env=child_env, capture_output=True, text=True, timeout=200)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "backfill 12/12" not in rerun.stdout + rerun.stderr  # the finished months were not redone

    history = [f for f in manifest.files if f.path.startswith("historical/")]
    ledger = "SELECT count(*) FROM etl_file_ledger WHERE source_file LIKE 'historical/%'"
    assert scalar(url, ledger + " AND status = 'loaded'") == len(history) == 48
    assert scalar(url, ledger) == 48  # every version exactly once, nothing loaded twice
    for table, name in (("fact_secondary_sales", "fis"), ("fact_primary_sales", "fid")):
        expected = sum(f.rows_loaded for f in history if f.path.startswith(f"historical/{name}/"))
        assert scalar(url, f"SELECT count(*) FROM {table}") == expected, table
    assert scalar(url, "SELECT count(DISTINCT month_start) FROM agg_dd_tsr_month") == 12
    assert scalar(url, "SELECT sum(net_amount) FROM rpt_sales_daily") == scalar(
        url, "SELECT sum(net_amount) FROM fact_secondary_sales")


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> tuple[bool, list[str]]:
    """Read the child's output until a line contains `needle` (True) or it ends / time runs out (False)."""
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            return False, seen
        seen.append(line)
        if needle in line:
            return True, seen
    return False, seen

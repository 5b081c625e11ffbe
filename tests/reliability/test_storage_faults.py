"""Issue 10, item 3: storage faults on Azurite — outage during listing and during download, a blob changed
between listing and download (ETag mismatch), a blob deleted after listing.

The morning run reads `az://<container>` through a proxy in front of a private Azurite (tests/integration/
blob_proxy.py). The proxy holds one chosen request (the n-th listing call, or a blob's download) until the
test has injected its fault — Azurite stopped, the blob overwritten or deleted — and then lets it through,
so the fault lands exactly between the listing and the download, or in the middle of either.
"""

from __future__ import annotations

import copy
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import ContainerClient

from datawiz.sample_data import Manifest
from tests.integration.azurite import AZURITE_ACCOUNT, AZURITE_DIR, azurite_connection_string, free_port
from tests.integration.blob_proxy import BlobProxy
from tests.reliability.conftest import Tally
from tests.reliability.harness import FlowEnv, FlowProcess, Landing, Server, wait_until
from tests.reliability.invariants import assert_exact

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]

CONTAINER = "landing"
# A clean fis part (no planted defect) the blob faults aim at.
VICTIM = "facts/fis/2025/11/29/fis_20251129_001.parquet"


class Azurite:
    """A private Azurite on a fixed port and folder: stopping and starting it keeps the blobs."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        exe = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
        with (self.where / "azurite.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
                 str(self.where / "data"), "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
                stdout=out, stderr=subprocess.STDOUT)
        ok = wait_until(self._answers, timeout, poll=0.1, while_=lambda: self.proc is not None
                        and self.proc.poll() is None)
        assert ok, f"azurite did not start: {(self.where / 'azurite.log').read_text()[-2000:]}"

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop Azurite (SIGTERM, then SIGKILL): the service is gone until `start`."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.port)


class GatedProxy(BlobProxy):
    """A BlobProxy that holds one chosen request until the test calls `let_go()`.

    `hold_listing(n)`: the n-th listing call of the container; `hold_download(suffix)`: the first GET of a blob.
    (It hooks `_fault_for`, which the proxy consults for every request before forwarding it.)
    """

    def __init__(self, upstream_port: int, container: str) -> None:
        super().__init__(upstream_port)
        self.container_path = f"/{AZURITE_ACCOUNT}/{container}"
        self._target: tuple[str, object] | None = None
        self._listings = 0
        self.attempts = 0  # requests that reached the proxy, answered or not (evidence of retries)
        self.held = threading.Event()
        self._release = threading.Event()

    def hold_listing(self, n: int) -> None:
        self._target = ("listing", n)

    def hold_download(self, path_suffix: str) -> None:
        self._target = ("download", path_suffix)

    def let_go(self) -> None:
        self._release.set()

    def _fault_for(self, method: str, path: str) -> int | None:
        with self._lock:
            self.attempts += 1
        if method == "GET" and self._target is not None and not self.held.is_set():
            kind, what = self._target
            hit = False
            with self._lock:
                if kind == "listing" and path.rstrip("/") == self.container_path:
                    self._listings += 1
                    hit = self._listings == what
                elif kind == "download" and isinstance(what, str) and path.endswith(what):
                    hit = True
            if hit:
                self.held.set()
                self._release.wait(timeout=120)
        return super()._fault_for(method, path)


@pytest.fixture(scope="module")
def storage(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Our own Azurite (the session one, `azurite`, makes sure it is installed, and is never stopped)."""
    server = Azurite(tmp_path_factory.mktemp("azurite-faults"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def blob_world(storage: Azurite, landing: Landing, shared_server: Server, morning_db: str, prefect_api: str,
               tmp_path: Path) -> Iterator[tuple[FlowEnv, GatedProxy, ContainerClient]]:
    """The landing folder uploaded to a fresh container; a flow env reading it through a gated proxy."""
    name = f"{CONTAINER}-{int(time.time() * 1000) % 10**9}"
    container = ContainerClient.from_connection_string(storage.connection_string, name)
    container.create_container()
    for path in landing.paths():
        container.upload_blob(path, (landing.root / path).read_bytes(), overwrite=True)
    with GatedProxy(storage.port, name) as proxy:
        env = FlowEnv(f"az://{name}", shared_server.url(morning_db), tmp_path / "data", prefect_api,
                      extra={"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(proxy.port),
                             # In-request retries after ~0.5, 2, 8 s: an outage of a few seconds is ridden out.
                             "DATAWIZ_AZURE_RETRY_BACKOFF": "0.5"})
        yield env, proxy, container
    if storage.proc is None:
        storage.start()
    container.delete_container()


def held(proxy: GatedProxy, run: FlowProcess) -> None:
    assert wait_until(proxy.held.is_set, timeout=120, while_=run.running), (
        f"the run never made the request the test waits for; log:\n{run.tail()}")


def outage(storage: Azurite, proxy: GatedProxy, run: FlowProcess) -> None:
    """Stop Azurite while the held request waits, let it through, restart once it failed and was retried."""
    storage.stop()
    before = proxy.attempts
    proxy.let_go()
    # The held request and at least one retry hit the stopped service (each answered by a dropped connection).
    assert wait_until(lambda: proxy.attempts >= before + 2, timeout=30, while_=run.running), (
        f"no retry reached the stopped service; log:\n{run.tail()}")
    storage.start()


def finish(run: FlowProcess, tally: Tally) -> None:
    assert run.wait() == 0, f"the morning run did not recover; log:\n{run.tail()}"
    tally.run()


@pytest.mark.parametrize("listing_call", [1, 3])
def test_azurite_stopped_during_listing(listing_call: int, blob_world: tuple[FlowEnv, GatedProxy, ContainerClient],
                                        storage: Azurite, landing: Landing, shared_server: Server, morning_db: str,
                                        tally: Tally) -> None:
    env, proxy, _ = blob_world
    proxy.hold_listing(listing_call)
    run = env.start("morning")
    held(proxy, run)
    outage(storage, proxy, run)
    tally.fault("azurite:down-during-listing")
    finish(run, tally)
    assert_exact(shared_server, morning_db, landing.manifest, tally, f"Azurite down at listing call {listing_call}")


def test_azurite_stopped_during_download(blob_world: tuple[FlowEnv, GatedProxy, ContainerClient], storage: Azurite,
                                         landing: Landing, shared_server: Server, morning_db: str,
                                         tally: Tally) -> None:
    env, proxy, _ = blob_world
    proxy.hold_download(VICTIM)
    run = env.start("morning")
    held(proxy, run)
    outage(storage, proxy, run)
    tally.fault("azurite:down-during-download")
    finish(run, tally)
    assert_exact(shared_server, morning_db, landing.manifest, tally, "Azurite down during a download")


def test_blob_changed_between_listing_and_download(blob_world: tuple[FlowEnv, GatedProxy, ContainerClient],
                                                   landing: Landing, shared_server: Server, morning_db: str,
                                                   tally: Tally) -> None:
    env, proxy, container = blob_world
    listed = container.get_blob_client(VICTIM).get_blob_properties().etag.strip('"')
    proxy.hold_download(VICTIM)
    run = env.start("morning")
    held(proxy, run)
    # Re-delivered with the same rows: a new ETag, so the listed version no longer exists (If-Match fails).
    container.upload_blob(VICTIM, (landing.root / VICTIM).read_bytes(), overwrite=True)
    current = container.get_blob_client(VICTIM).get_blob_properties().etag.strip('"')
    assert current != listed
    proxy.let_go()
    tally.fault("azurite:etag-changed")
    finish(run, tally)
    assert_exact(shared_server, morning_db, landing.manifest, tally, "blob changed after listing")
    with shared_server.connect(morning_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT source_version FROM etl_file_ledger WHERE source_file = %s", (VICTIM,))
        versions = [r[0] for r in cur.fetchall()]
    assert versions == [current], f"ledger versions of {VICTIM}: {versions}, listed {listed}, current {current}"


def without_file(manifest: Manifest, landing: Landing, path: str) -> Manifest:
    """The manifest as if `path` had never been delivered (its rows and net_amount taken out)."""
    exp = manifest.file(path)
    assert exp.table is not None and exp.rows_quarantined == 0 and exp.rows_deduplicated == 0
    net = Decimal(str(pc.sum(pq.read_table(landing.root / path, columns=["net_amount"])["net_amount"]).as_py()))
    out = copy.deepcopy(manifest)
    out.files = [f for f in out.files if f.path != path]
    table = out.tables[exp.table]
    out.tables[exp.table] = replace(table, rows=table.rows - exp.rows_loaded,
                                    net_amount=str(Decimal(table.net_amount or "0") - net))
    return out


def test_blob_deleted_after_listing(blob_world: tuple[FlowEnv, GatedProxy, ContainerClient], landing: Landing,
                                    shared_server: Server, morning_db: str, tally: Tally) -> None:
    env, proxy, container = blob_world
    proxy.hold_download(VICTIM)
    run = env.start("morning")
    held(proxy, run)
    container.delete_blob(VICTIM)
    proxy.let_go()
    tally.fault("azurite:deleted-after-listing")
    finish(run, tally)
    assert "deleted after it was listed" in run.log.read_text(errors="replace"), run.tail()
    assert_exact(shared_server, morning_db, without_file(landing.manifest, landing, VICTIM), tally,
                 "blob deleted after listing")
    # Delivered again later: the next run loads it, and the totals are the full manifest's.
    container.upload_blob(VICTIM, (landing.root / VICTIM).read_bytes(), overwrite=True)
    env.run("morning")
    tally.run()
    assert_exact(shared_server, morning_db, landing.manifest, tally, "deleted blob delivered again")

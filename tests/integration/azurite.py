"""The Azurite blob service for the integration tests: installed on first use, one per session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Azurite's published development account (the same key in every Azurite install; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_DIR = REPO / ".tools" / "azurite"


def azurite_connection_string(port: int) -> str:
    """Connection string of the Azurite development account listening on 127.0.0.1:port."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _azurite_blob() -> Path:
    """The azurite-blob executable, installed into .tools/azurite on first use (npm registry)."""
    exe = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("Azurite tests need Node.js and npm (apt-get install nodejs npm)")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(AZURITE_DIR), "azurite"],
            check=True, capture_output=True, timeout=600,
        )
    return exe


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"azurite-blob exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"azurite-blob did not listen on {port} within {timeout:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service for the session; yields its connection string."""
    exe = _azurite_blob()
    where = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log = where / "azurite.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(where / "data"),
             # Without --skipApiVersionCheck Azurite refuses the current azure-storage-blob's API version.
             "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, log)
        yield azurite_connection_string(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

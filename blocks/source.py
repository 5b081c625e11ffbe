"""Landing-area sources: where files come from.

Every source offers the same three methods, so flows never know whether they read a local
folder or an Azure container:

- `list_files(prefixes)` -> every file under the prefixes with its content version;
- `fetch(file, dest)` -> a verified local copy of exactly that version;
- `describe()` -> a secret-free one-line description for logs and reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from blocks.faults import crash_point
from blocks.source_base import (
    AZURE_BLOCK_SLUG,
    Source,
    SourceChanged,
    SourceConfigError,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from blocks.types import SourceFile

# The protocol and the error family live in blocks.source_base (blocks.azure needs them too); they
# are re-exported here, where flows, tasks and users have always imported them from.
__all__ = [
    "AZURE_BLOCK_SLUG", "DEFAULT_SOURCE", "LocalFolderSource", "Source", "SourceChanged", "SourceConfigError",
    "SourceError", "SourceRefused", "SourceUnavailable", "md5_of", "resolve_source",
]

DEFAULT_SOURCE = "./data/landing"
_CHUNK = 1 << 20


def md5_of(path: Path) -> str:
    """Hex MD5 of a file, streamed (memory does not grow with the file)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalFolderSource:
    """A folder laid out like the landing container; versions are content hashes.

    A hash (not size + mtime) makes the version survive a `cp` or a regenerated identical
    file, so identical content is never loaded twice; it is memoised per (size, mtime) so a
    run hashes each file at most once.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._memo: dict[tuple[str, int, int], str] = {}

    def describe(self) -> str:
        return f"local folder {self.root}"

    def list_files(self, prefixes: Iterable[str]) -> list[SourceFile]:
        """Every regular file under the prefixes (sorted by path), with version and size."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"landing folder {self.root} does not exist")
        files: list[SourceFile] = []
        for prefix in prefixes:
            base = self.root / prefix
            paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
            files.extend(self._describe_file(path) for path in paths)
        return files

    def list_all(self, skip: Iterable[str] = ()) -> list[SourceFile]:
        """Every file in the folder except those under the `skip` prefixes (to report unrecognised paths)."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"landing folder {self.root} does not exist")
        skipped = tuple(skip)
        tops = sorted(p.name + "/" if p.is_dir() else p.name for p in self.root.iterdir())
        return [f for f in self.list_files([t for t in tops if t not in skipped]) if not f.path.startswith(skipped)]

    def _describe_file(self, path: Path) -> SourceFile:
        st = path.stat()
        rel = path.relative_to(self.root).as_posix()
        memo_key = (rel, st.st_size, st.st_mtime_ns)
        if memo_key not in self._memo:
            self._memo[memo_key] = md5_of(path)
        digest = self._memo[memo_key]
        modified = dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC)
        return SourceFile(path=rel, version=digest, size=st.st_size, modified=modified, md5=digest)

    def fetch(self, file: SourceFile, dest: Path) -> Path:
        """Copy the file to `dest` and prove it is the listed version."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        shutil.copyfile(self.root / file.path, tmp)
        crash_point("download")
        if md5_of(tmp) != file.version:
            tmp.unlink(missing_ok=True)
            raise SourceChanged(f"{file.path} changed after it was listed")
        os.replace(tmp, dest)  # atomic: a reader never sees a half-written copy
        return dest


def resolve_source(spec: str | None) -> Source:
    """Turn a `source` parameter into a Source: explicit value, else DATAWIZ_SOURCE, else ./data/landing.

    Accepted: a folder path (or `file://PATH`); `az://CONTAINER[/PREFIX]` with the connection string
    in $AZURE_STORAGE_CONNECTION_STRING; `azure-blob-storage-container/NAME`, a prefect-azure block.
    """
    spec = spec or os.environ.get("DATAWIZ_SOURCE") or DEFAULT_SOURCE
    if spec.startswith("file://"):
        spec = spec[len("file://") :]
    if spec.startswith(("az://", f"{AZURE_BLOCK_SLUG}/")):
        from blocks.azure import AzureBlobSource  # azure-storage-blob is imported only when used

        if spec.startswith("az://"):
            return AzureBlobSource.from_url(spec)
        return AzureBlobSource.from_block_name(spec.split("/", 1)[1])
    if "://" in spec:
        raise SourceConfigError(
            f"source {spec!r}: expected a folder, az://CONTAINER[/PREFIX] or {AZURE_BLOCK_SLUG}/NAME"
        )
    return LocalFolderSource(spec)

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
from typing import Protocol

from blocks.types import SourceFile

DEFAULT_SOURCE = "./data/landing"
_CHUNK = 1 << 20


class Source(Protocol):
    """What a landing-area source must offer."""

    def list_files(self, prefixes: Iterable[str]) -> list[SourceFile]: ...

    def fetch(self, file: SourceFile, dest: Path) -> Path: ...

    def describe(self) -> str: ...


class SourceChanged(RuntimeError):
    """The file's content changed between listing and fetching: re-plan instead of loading a mix."""


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
            if not base.exists():
                continue
            for path in sorted(p for p in base.rglob("*") if p.is_file()):
                files.append(self._describe_file(path))
        return files

    def list_all(self) -> list[SourceFile]:
        """Every file in the folder, whatever its prefix (to report unrecognised paths)."""
        return self.list_files([""])

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
        if md5_of(tmp) != file.version:
            tmp.unlink(missing_ok=True)
            raise SourceChanged(f"{file.path} changed after it was listed")
        os.replace(tmp, dest)  # atomic: a reader never sees a half-written copy
        return dest


def resolve_source(spec: str | None) -> Source:
    """Turn a `source` parameter into a Source: explicit value, else DATAWIZ_SOURCE, else ./data/landing."""
    spec = spec or os.environ.get("DATAWIZ_SOURCE") or DEFAULT_SOURCE
    if spec.startswith("file://"):
        spec = spec[len("file://") :]
    if "://" in spec or spec.startswith("azure-blob-storage-container/"):
        raise ValueError(f"source {spec!r}: only local folders are supported in this build")
    return LocalFolderSource(spec)

"""What every landing-area source shares: the `Source` protocol and the source error family.

A module of its own, below both `blocks.source` (the local folder and the `resolve_source` factory)
and `blocks.azure` (the Azure container): the factory imports the Azure source, and the Azure source
raises these errors, so neither may hold them without the two importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from blocks.types import SourceFile
from datawiz.core.errors import ConfigError, DataWizError, TerminalError, TransientError

AZURE_BLOCK_SLUG = "azure-blob-storage-container"  # prefect-azure's AzureBlobStorageContainer


class Source(Protocol):
    """What a landing-area source must offer."""

    def list_files(self, prefixes: Iterable[str]) -> list[SourceFile]: ...

    def fetch(self, file: SourceFile, dest: Path) -> Path: ...

    def describe(self) -> str: ...


class SourceError(DataWizError, RuntimeError):
    """A source operation failed: the family root, raised only as one of the subclasses below.

    Each subclass is transient or terminal through `datawiz.core.errors`; RuntimeError stays a base
    because callers outside DataWiz caught source errors as that. Messages name the source and the
    file, never a secret (see `datawiz.core.redact`).
    """


class SourceChanged(SourceError, TerminalError):
    """The file's content changed between listing and fetching: re-plan instead of loading a mix.

    Terminal for *this version* (retrying the same version fails the same way); the caller lists
    the path again and loads the version it finds (tasks/run.load_files).
    """


class SourceUnavailable(SourceError, TransientError):
    """Network trouble, timeouts, throttling or 5xx that outlasted the client's own retries."""


class SourceConfigError(SourceError, ConfigError):
    """The source cannot work as configured: missing container/folder, access denied, bad credentials."""


class SourceRefused(SourceError, TerminalError):
    """The source answered an operation with an error no retry can change (any other 4xx)."""

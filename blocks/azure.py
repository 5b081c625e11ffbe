"""Azure Blob Storage as a landing-area source: the production twin of `LocalFolderSource`.

Listing is one paged `list_blobs(name_starts_with=...)` per prefix (never a request per blob)
and gives every blob's name, size, ETag, last-modified and Content-MD5; the ETag is the file's
version. `fetch` downloads exactly the listed version (`If-Match`), streaming to a temporary file
in 4 MiB chunks while hashing, verifies size and MD5, then renames atomically.

Credentials come from prefect-azure's blocks (`AzureBlobStorageContainer` holding
`AzureBlobStorageCredentials`: a connection string, or an account URL with a service principal or
the default Azure credential) or, for `az://CONTAINER[/PREFIX]`, from $AZURE_STORAGE_CONNECTION_STRING.
prefect-azure's own clients are async; this module builds azure-storage-blob's sync client from the
same fields, so flows stay synchronous.

Errors leave this module as `blocks.source_base` errors with secret-free messages: transient ones
(network, timeouts, 5xx, throttling — after the SDK's own retries) as `SourceUnavailable`, a
version that changed as `SourceChanged`, and a missing container or refused credentials as
`SourceConfigError`, which names the container and where the credentials came from; any other
refusal as `SourceRefused` (terminal).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.storage.blob import BlobPrefix, BlobProperties, ContainerClient, ExponentialRetry
from pydantic import SecretStr

from blocks.faults import crash_point
from blocks.source_base import (
    AZURE_BLOCK_SLUG,
    SourceChanged,
    SourceConfigError,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from blocks.transport import InsecureTransport, require_encryption
from blocks.types import SourceFile
from datawiz.core.redact import redact

if TYPE_CHECKING:
    from prefect_azure import AzureBlobStorageContainer, AzureBlobStorageCredentials

    from blocks.warehouse.files_load import AzureFiles

ENV_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ENV_RETRIES = "DATAWIZ_AZURE_RETRIES"
ENV_RETRY_BACKOFF = "DATAWIZ_AZURE_RETRY_BACKOFF"
# "1": allow http:// Blob endpoints on non-loopback hosts (the account key / SAS / token would travel in clear).
ENV_ALLOW_INSECURE = "DATAWIZ_AZURE_ALLOW_INSECURE"
_CHUNK = 4 * 1024 * 1024
# A blob written through ADLS Gen2 (hierarchical namespace) lists its folders as empty marker blobs.
_FOLDER_MARKER = "hdi_isfolder"


class _Backoff(ExponentialRetry):
    """The SDK's storage retry policy with a shorter, proportional schedule: ~b, 4b, 16b seconds ±25 %.

    The SDK default waits 15 s + 3^n ± 3 s; the Prefect task retries on top of this (tasks/extract)
    cover the longer outages, so the in-request retries only need to ride out a blip or a 503 ServerBusy.
    """

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        # The SDK counts the retry before sleeping: the first wait sees count == 1.
        base = self.initial_backoff * 4 ** max(settings["count"] - 1, 0)
        return random.uniform(0.75 * base, 1.25 * base)


def retry_policy() -> ExponentialRetry:
    """In-request retries for 408, 5xx (Azure Storage signals throttling as 503 ServerBusy) and connection errors.

    $DATAWIZ_AZURE_RETRIES (default 3) and $DATAWIZ_AZURE_RETRY_BACKOFF (first wait in seconds, default 2).
    """
    retries = int(os.environ.get(ENV_RETRIES, "3"))
    backoff = float(os.environ.get(ENV_RETRY_BACKOFF, "2"))
    # azure-storage-blob annotates initial_backoff as int, but only multiplies it: a float (0.01 s in tests) works.
    return _Backoff(initial_backoff=backoff, retry_total=retries)  # type: ignore[arg-type]


def _client_options() -> dict[str, Any]:
    # 4 MiB for the first GET too (the SDK default is 32 MiB): memory per download stays at one chunk.
    return {
        "retry_policy": retry_policy(),
        "max_single_get_size": _CHUNK,
        "max_chunk_get_size": _CHUNK,
        "connection_timeout": 20,
        "read_timeout": 120,
    }


def container_client(credentials: AzureBlobStorageCredentials, container: str) -> ContainerClient:
    """A sync ContainerClient from prefect-azure credentials (connection string, service principal or default)."""
    if credentials.connection_string is not None:
        return ContainerClient.from_connection_string(
            credentials.connection_string.get_secret_value(), container, **_client_options()
        )
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    credential: Any
    if credentials.client_id is not None and credentials.client_secret is not None:
        credential = ClientSecretCredential(
            tenant_id=str(credentials.tenant_id),
            client_id=credentials.client_id,
            client_secret=credentials.client_secret.get_secret_value(),
        )
    else:
        credential = DefaultAzureCredential()
    return ContainerClient(str(credentials.account_url), container, credential=credential, **_client_options())


def check_transport(client: ContainerClient, where: str) -> None:
    """Refuse an http:// Blob endpoint on a non-loopback host (Azurite on 127.0.0.1 is fine) unless
    $DATAWIZ_AZURE_ALLOW_INSECURE=1: the shared-key signature, SAS token or bearer token would travel in clear."""
    url = urlsplit(client.url)
    allow = os.environ.get(ENV_ALLOW_INSECURE, "").strip().lower() in ("1", "true", "yes", "on")
    try:
        require_encryption(
            f"azure endpoint {url.scheme}://{url.netloc} ({where})", url.hostname,
            encrypted=url.scheme == "https", has_secret=client.credential is not None or "sig=" in url.query,
            allow_insecure=allow,
            how_to_fix=f"Use DefaultEndpointsProtocol=https / https:// account URL (${ENV_ALLOW_INSECURE}=1 opts in)",
        )
    except InsecureTransport as exc:
        raise SourceConfigError(str(exc)) from None


def _credential_kind(credentials: AzureBlobStorageCredentials) -> str:
    if credentials.connection_string is not None:
        return "connection string"
    if credentials.client_id is not None:
        return f"service principal {credentials.client_id}"
    return "default Azure credential"


class AzureBlobSource:
    """One Azure Blob container (optionally below a prefix) laid out like the landing area."""

    def __init__(self, client: ContainerClient, prefix: str = "", credentials_from: str = "") -> None:
        self._client = client
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.credentials_from = credentials_from  # where the secret came from: a block or an env variable

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str) -> AzureBlobSource:
        """`az://CONTAINER[/PREFIX]`, with the connection string from $AZURE_STORAGE_CONNECTION_STRING."""
        parts = urlsplit(url)
        if parts.scheme != "az" or not parts.netloc:
            raise SourceConfigError(f"source {url!r}: expected az://CONTAINER[/PREFIX]")
        secret = os.environ.get(ENV_CONNECTION_STRING)
        where = f"env {ENV_CONNECTION_STRING}"
        if not secret:
            raise SourceConfigError(f"source {url!r} needs the connection string in ${ENV_CONNECTION_STRING} (not set)")
        try:
            client = ContainerClient.from_connection_string(secret, parts.netloc, **_client_options())
        except ValueError:
            # The SDK's message may quote the string; ours names only the variable.
            msg = f"${ENV_CONNECTION_STRING} is not a valid Azure Storage connection string"
            raise SourceConfigError(msg) from None
        check_transport(client, where)
        return cls(client, parts.path, where)

    @classmethod
    def from_block(cls, block: AzureBlobStorageContainer, name: str | None = None) -> AzureBlobSource:
        """From a prefect-azure AzureBlobStorageContainer block (its base_folder becomes the prefix)."""
        creds = block.credentials
        creds_name = getattr(creds, "_block_document_name", None)
        where = f"block {AZURE_BLOCK_SLUG}/{name or block.container_name}"
        if creds_name and not creds_name.startswith("anonymous"):
            where += f", credentials block azure-blob-storage-credentials/{creds_name}"
        where += f" ({_credential_kind(creds)})"
        try:
            client = container_client(creds, block.container_name)
        except ValueError:
            raise SourceConfigError(f"{where}: the credentials are not usable (malformed connection string?)") from None
        check_transport(client, where)
        return cls(client, block.base_folder or "", where)

    @classmethod
    def from_block_name(cls, name: str) -> AzureBlobSource:
        """Load the `azure-blob-storage-container/NAME` block from the Prefect API."""
        from prefect_azure import AzureBlobStorageContainer

        try:
            # Prefect types load() as `block | coroutine` (it dispatches on the caller's context); here it is sync.
            block = cast(AzureBlobStorageContainer, AzureBlobStorageContainer.load(name))
        except (ValueError, KeyError) as exc:
            raise SourceConfigError(f"cannot load block {AZURE_BLOCK_SLUG}/{name}: {redact(exc)}") from None
        return cls.from_block(block, name)

    # ------------------------------------------------------------------ Source protocol
    @property
    def container(self) -> str:
        return self._client.container_name

    def files_access(self) -> AzureFiles:
        """Account, container, prefix and shared key for StarRocks' FILES() (pushdown loads).

        Only a connection string with an AccountKey gives a shared key; a SAS token, a service
        principal or the default Azure credential cannot be handed to StarRocks this way.
        """
        from blocks.warehouse.files_load import AzureFiles, PushdownRefused

        cred = self._client.credential
        key = getattr(cred, "account_key", None)
        if not key:
            raise SourceConfigError(
                f"{self.credentials_from or 'azure source'}: pushdown needs the storage account's shared key "
                "(a connection string with AccountKey); SAS tokens and Entra ID credentials are not supported"
            )
        host = urlsplit(self._client.url).hostname or ""
        account = self._client.account_name or ""
        marker = f"{account}.blob."
        suffix = host[len(marker):] if host.startswith(marker) else "core.windows.net"
        try:
            return AzureFiles(account, self.container, SecretStr(key), self._prefix, suffix)
        except PushdownRefused as exc:
            raise SourceConfigError(f"{self.credentials_from or 'azure source'}: {redact(exc)}") from None

    def describe(self) -> str:
        """Container, prefix, endpoint and where the credentials came from — never the key."""
        url = urlsplit(self._client.url)  # the query would hold a SAS token
        prefix = f" prefix {self._prefix!r}" if self._prefix else ""
        return redact(
            f"azure container {self.container!r}{prefix} at {url.scheme}://{url.netloc}{url.path} "
            f"(credentials: {self.credentials_from})"
        )

    def list_files(self, prefixes: Iterable[str]) -> list[SourceFile]:
        """Every blob under the prefixes, one paged listing per prefix, with its ETag as version."""
        files: list[SourceFile] = []
        for prefix in prefixes:
            with self._errors(f"listing {prefix or '/'}"):
                blobs = self._client.list_blobs(name_starts_with=self._prefix + prefix, include=["metadata"])
                files.extend(self._source_file(b) for b in blobs if not _is_folder(b))
        return files

    def list_all(self, skip: Iterable[str] = ()) -> list[SourceFile]:
        """Every blob except those under the `skip` prefixes, which the caller has listed already.

        Walks the top level (one delimited listing) and lists only the top-level folders not skipped,
        so reporting unrecognised paths does not list the whole container a second time.
        """
        skipped = tuple(skip)
        files: list[SourceFile] = []
        with self._errors("listing the top level"):
            walk = self._client.walk_blobs(name_starts_with=self._prefix or None, include=["metadata"], delimiter="/")
            for item in walk:
                top = item.name[len(self._prefix) :]
                if isinstance(item, BlobPrefix):
                    if top not in skipped:
                        files.extend(self.list_files([top]))
                elif not top.startswith(skipped) and not _is_folder(item):
                    files.append(self._source_file(item))
        return [f for f in files if not f.path.startswith(skipped)]

    def fetch(self, file: SourceFile, dest: Path) -> Path:
        """Stream exactly the listed version to `dest` (If-Match its ETag), verify size and MD5, rename."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with self._errors(f"downloading {file.path}", file.path), tmp.open("wb") as fh:
                stream = self._client.download_blob(
                    self._prefix + file.path, etag=f'"{file.version}"', match_condition=MatchConditions.IfNotModified
                )
                for chunk in stream.chunks():
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            crash_point("download")
            _verify(file, size, digest.hexdigest())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)  # atomic: a reader never sees a half-written copy
        return dest

    # ------------------------------------------------------------------ helpers
    def _source_file(self, blob: BlobProperties) -> SourceFile:
        md5 = blob.content_settings.content_md5
        return SourceFile(
            path=blob.name[len(self._prefix) :],
            version=str(blob.etag).strip('"'),
            size=int(blob.size),
            modified=blob.last_modified,
            md5=bytes(md5).hex() if md5 else None,
        )

    @contextmanager
    def _errors(self, doing: str, path: str | None = None) -> Iterator[None]:
        """Translate azure-core errors into source errors with secret-free messages."""
        try:
            yield
        except AzureError as exc:
            # `from None`: the SDK's exception text can carry a SAS URL, and a chained
            # traceback would print it next to ours.
            raise self._translate(exc, doing, path) from None

    def _translate(self, exc: AzureError, doing: str, path: str | None) -> SourceError:
        status = getattr(exc, "status_code", None)
        code_enum = getattr(exc, "error_code", None)  # a StorageErrorCode (str enum) or a plain str
        code = str(getattr(code_enum, "value", code_enum) or "")
        detail = redact(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        where = f"container {self.container!r} of account {self._client.account_name!r}"
        if path is not None and (status == 412 or code in ("ConditionNotMet", "BlobNotFound")):
            return SourceChanged(f"{path} changed or was deleted after it was listed ({code or status}); re-plan")
        if code == "ContainerNotFound":
            return SourceConfigError(f"{where} does not exist (credentials: {self.credentials_from})")
        if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
            return SourceConfigError(
                f"{where} refused access ({status or ''} {code or type(exc).__name__}): "
                f"check the credentials in {self.credentials_from}"
            )
        if isinstance(exc, ServiceRequestError | ServiceResponseError) or (
            isinstance(status, int) and (status >= 500 or status in (408, 429))
        ):
            return SourceUnavailable(f"{doing} in {where} failed after retries: {detail}")
        return SourceRefused(f"{doing} in {where} failed ({status or ''} {code}): {detail}")


def _is_folder(blob: BlobProperties) -> bool:
    return blob.name.endswith("/") or (blob.metadata or {}).get(_FOLDER_MARKER) == "true"


def _verify(file: SourceFile, size: int, md5: str) -> None:
    # The ETag was matched, so a difference here is damage in transit: worth a retry.
    if size != file.size:
        raise SourceUnavailable(f"{file.path}: downloaded {size} bytes, the listing said {file.size}")
    if file.md5 is not None and md5 != file.md5:
        raise SourceUnavailable(f"{file.path}: MD5 {md5} differs from the listed {file.md5}")

"""Azure source pieces that need no server: secret scrubbing, error classification, resolution."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)

from blocks.azure import AzureBlobSource
from blocks.source import (
    SourceChanged,
    SourceConfigError,
    SourceError,
    SourceUnavailable,
    resolve_source,
)
from datawiz.core.errors import describe_error, is_transient
from datawiz.core.redact import redact

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONN = f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:1/acct;"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (CONN, KEY),
        ("https://acct.blob.core.windows.net/c/b?sv=2024-01-01&sig=AbC%2Fd%3D&se=2030", "AbC%2Fd%3D"),
        ("SharedAccessSignature=sv=2024&sig=zzz;BlobEndpoint=x", "zzz"),
        ("Authorization: SharedKey acct:c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("The MAC signature found in the HTTP request 'bWFj' is not the same", "bWFj"),
        ("mysql://etl:s3cret@db:3306/dw", "s3cret"),
        ("client_secret=abc123 tenant", "abc123"),
    ],
)
def test_redact_removes_every_kind_of_secret(text: str, secret: str) -> None:
    scrubbed = redact(text)
    assert secret not in scrubbed and "***" in scrubbed


def test_redact_keeps_what_helps_the_reader() -> None:
    assert redact("container 'landing' of account 'acct' does not exist") == (
        "container 'landing' of account 'acct' does not exist"
    )
    assert describe_error(ValueError(CONN)).startswith("ValueError: DefaultEndpointsProtocol=http;AccountName=acct")


def _http_error(status: int, code: str | None = None, cls: type[HttpResponseError] = HttpResponseError):
    exc = cls(message=f"{status} {code} {CONN}")
    exc.status_code = status
    exc.error_code = code
    return exc


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_http_error(503, "ServerBusy"), True),  # Azure Storage throttling
        (_http_error(500, "InternalError"), True),
        (_http_error(429), True),
        (_http_error(408), True),
        (ServiceRequestError("connection refused"), True),
        (ServiceResponseTimeoutError("read timed out"), True),  # a subclass counts too
        (ConnectionResetError(), True),
        (SourceUnavailable("x"), True),
        (_http_error(403, "AuthorizationFailure"), False),
        (_http_error(404, "ContainerNotFound", ResourceNotFoundError), False),
        (_http_error(412, "ConditionNotMet", ResourceModifiedError), False),
        (SourceChanged("x"), False),
        (SourceConfigError("x"), False),
    ],
)
def test_transient_and_terminal_errors_are_told_apart(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> AzureBlobSource:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", CONN)
    src = resolve_source("az://landing/some/prefix")
    assert isinstance(src, AzureBlobSource)
    return src


def test_az_url_resolves_without_network_and_describe_names_no_secret(source: AzureBlobSource) -> None:
    text = source.describe()
    assert "'landing'" in text and "some/prefix/" in text and "AZURE_STORAGE_CONNECTION_STRING" in text
    assert KEY not in text and KEY[:10] not in text


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (_http_error(412, "ConditionNotMet", ResourceModifiedError), SourceChanged, ["f.csv", "re-plan"]),
        (_http_error(404, "BlobNotFound", ResourceNotFoundError), SourceChanged, ["f.csv"]),
        (_http_error(404, "ContainerNotFound", ResourceNotFoundError), SourceConfigError,
         ["'landing'", "does not exist", "AZURE_STORAGE_CONNECTION_STRING"]),
        (_http_error(403, "AuthenticationFailed", ClientAuthenticationError), SourceConfigError,
         ["'landing'", "refused access", "AZURE_STORAGE_CONNECTION_STRING"]),
        (_http_error(503, "ServerBusy"), SourceUnavailable, ["after retries"]),
        (ServiceRequestError(f"cannot connect {CONN}"), SourceUnavailable, ["after retries"]),
        (_http_error(400, "InvalidHeaderValue"), SourceError, ["400", "InvalidHeaderValue"]),
    ],
)
def test_azure_errors_become_source_errors_without_secrets(
    source: AzureBlobSource, exc: Exception, kind: type[SourceError], words: list[str]
) -> None:
    with pytest.raises(kind) as caught, source._errors("downloading f.csv", "f.csv"):
        raise exc
    text = str(caught.value)
    assert all(w in text for w in words), text
    assert KEY not in text and caught.value.__cause__ is None and caught.value.__suppress_context__


def test_bad_or_missing_connection_string_is_a_config_error_that_does_not_echo_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(SourceConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        resolve_source("az://landing")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=topsecret;nonsense")
    with pytest.raises(SourceConfigError) as caught:
        resolve_source("az://landing")
    assert "topsecret" not in str(caught.value)
    with pytest.raises(SourceConfigError, match="expected a folder"):
        resolve_source("s3://bucket")

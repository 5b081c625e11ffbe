"""Sending through a real SMTP server with login: STARTTLS, SSL, certificate checks, refusals without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from tasks.notify import Attachment, EmailFailed, deliver, render
from tests.integration.azurite import free_port
from tests.integration.smtp import SMTP_USER, smtp_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),  # implicit TLS is TLS too
]
PASSWORD = "Tr1cky-p@ss;word"


def settings(port: int, kind: str, password: str = PASSWORD, verify: bool = False) -> DataWizEmail:
    creds = EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=port, smtp_type=kind, username=SMTP_USER,
                                   password=SecretStr(password), verify=verify)
    return DataWizEmail(credentials=creds, sender="datawiz@example.com", recipients=["ops@example.com"],
                        timeout_seconds=5)


def sample_email() -> object:
    return render("health", "health: all checks OK again", {"results": [], "bad": [], "link": None},
                  (Attachment("rows.csv", b"a,b\r\n1,2\r\n"),))


@pytest.mark.parametrize("kind", ["STARTTLS", "SSL"])
def test_mail_is_delivered_over_tls_with_login(kind: str, tmp_path: Path) -> None:
    with smtp_server(PASSWORD, tls=kind.lower(), folder=tmp_path) as (port, mailbox):
        deliver(sample_email(), settings(port, kind))  # type: ignore[arg-type]
        msg, raw, _ = mailbox.wait_for(lambda m: "health" in m["Subject"], timeout=10)
    assert msg["From"] == "datawiz@example.com" and PASSWORD.encode() not in raw
    assert [a.get_filename() for a in msg.iter_attachments()] == ["rows.csv"]


def test_an_unverified_certificate_is_refused_when_verify_is_on(tmp_path: Path) -> None:
    with smtp_server(PASSWORD, tls="starttls", folder=tmp_path) as (port, mailbox):
        with pytest.raises(EmailFailed, match="CERTIFICATE_VERIFY_FAILED"):
            deliver(sample_email(), settings(port, "STARTTLS", verify=True))  # type: ignore[arg-type]
        assert mailbox.raw == []


def test_a_wrong_password_or_a_dead_server_fails_without_the_password(tmp_path: Path) -> None:
    with smtp_server(PASSWORD, tls="starttls", folder=tmp_path) as (port, mailbox):
        with pytest.raises(EmailFailed) as refused:
            deliver(sample_email(), settings(port, "STARTTLS", password="wrong-" + PASSWORD))  # type: ignore[arg-type]
        assert mailbox.raw == []
    assert "535" in str(refused.value) and PASSWORD not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    with pytest.raises(EmailFailed, match="Connection refused"):
        deliver(sample_email(), settings(free_port(), "STARTTLS"))  # type: ignore[arg-type]

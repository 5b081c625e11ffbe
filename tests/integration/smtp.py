"""A real SMTP server for tests: aiosmtpd in a thread, with login, and optionally STARTTLS or SSL.

It keeps every message it accepts (parsed), so a test reads the email a flow sent exactly as a mail
client would receive it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.azurite import free_port

SMTP_USER = "datawiz-mailer"


class Mailbox:
    """The messages an SMTP server accepted, raw and parsed, in arrival order."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.arrived: list[float] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        with self._lock:
            self.raw.append(bytes(envelope.original_content or envelope.content))
            self.arrived.append(time.time())  # wall clock: compared with server timestamps
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raws = list(self.raw)
        return [email.message_from_bytes(r, policy=email.policy.default) for r in raws]  # type: ignore[misc]

    def wait_for(self, predicate: Any, timeout: float) -> tuple[EmailMessage, bytes, float]:
        """The first message matching `predicate`, its raw bytes and arrival (epoch seconds); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pairs = list(zip(self.raw, self.arrived, strict=True))
            for raw, arrived in pairs:
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                if predicate(msg):
                    return msg, raw, arrived  # type: ignore[return-value]
            time.sleep(0.5)
        subjects = [m["Subject"] for m in self.messages()]
        raise AssertionError(f"no matching email within {timeout:.0f} s; received: {subjects}")


def self_signed(folder: Path, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for `host`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@contextmanager
def smtp_server(password: str, tls: str = "none", folder: Path | None = None) -> Iterator[tuple[int, Mailbox]]:
    """Run an SMTP server on a free port requiring login (tls: none | starttls | ssl); yields (port, mailbox)."""
    mailbox = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235/535 itself

    port = free_port()
    kwargs: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
    if tls == "none":
        kwargs["auth_require_tls"] = False
    elif tls == "starttls":
        assert folder is not None
        kwargs.update(tls_context=self_signed(folder), require_starttls=True)
    else:  # implicit TLS: aiosmtpd does not count it as TLS for AUTH, though the session is encrypted
        assert folder is not None
        kwargs.update(ssl_context=self_signed(folder), auth_require_tls=False)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()

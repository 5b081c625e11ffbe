"""Transport security: never send a secret in clear over the network without an explicit opt-in.

Every client DataWiz opens (MySQL/StarRocks SQL, Stream Load HTTP, Azure Blob, SMTP) asks
`require_encryption` before it connects. The rule, the same everywhere:

- an encrypted connection (TLS, HTTPS, STARTTLS, SMTP over SSL) is always allowed;
- a connection that carries no secret (no password, no key) is allowed;
- a loopback host (127.0.0.0/8, ::1, `localhost`) is allowed: the bytes never leave the machine
  (local MariaDB, Azurite, a local relay or a test server);
- anything else — a password in clear to another host — is refused with `InsecureTransport`, unless the
  block (or URL, or environment) sets `allow_insecure` explicitly.

Host names other than `localhost` are not resolved to decide: a name that resolves to 127.0.0.1 today
may not tomorrow, and DNS answers can be forged. An unverified certificate (`ssl_verify=false`,
`verify=false`) is still encryption and an explicit setting, so it is allowed and documented as weaker.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from datawiz.core.errors import TerminalError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class InsecureTransport(TerminalError, ValueError):
    """A secret would cross the network unencrypted and nobody opted in (terminal: retrying cannot help).

    Also a ValueError, as it always was: settings code catches it as such (deployments/ops.py)."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 (also bracketed or IPv4-mapped) and the loopback names; no DNS lookup."""
    if not host:
        return False
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))


def require_encryption(what: str, host: str | None, *, encrypted: bool, has_secret: bool, allow_insecure: bool,
                       how_to_fix: str) -> None:
    """Refuse to send a secret in clear to a non-loopback host unless `allow_insecure` was set.

    `what` names the connection (`warehouse mysql://etl@db:3306/dw`), `how_to_fix` the setting that turns
    encryption on. The message never contains the secret.
    """
    if encrypted or not has_secret or allow_insecure or is_loopback(host):
        return
    raise InsecureTransport(
        f"{what}: refusing to send credentials unencrypted to {host} (not a loopback address). "
        f"{how_to_fix} — or, to accept the risk on a trusted network, set allow_insecure explicitly."
    )


def url_is_encrypted(url: str) -> bool:
    """True for https:// (and the TLS variants of other schemes we meet: wss, smtps)."""
    return urlsplit(url).scheme.lower() in ("https", "wss", "smtps")

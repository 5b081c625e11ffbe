"""Emails: HTML with a plain-text part, rendered from tasks/templates, sent through the DataWiz email block.

Each kind of email (failure, validation, daily report, health, maintenance) is built by a small
function next to its data (tasks/alerts.py, tasks/daily.py, ...) that calls `render()`; `send_email`
is the only place that talks SMTP. Rendered text passes through `datawiz.core.redact` before it leaves, so
a secret-looking value that slipped into a message is masked in the email too.
"""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.urls import url_for
from prefect_email import EmailServerCredentials
from prefect_email.credentials import SMTPServer, SMTPType

from blocks.email import EMAIL_BLOCK_SLUG, DataWizEmail
from blocks.transport import InsecureTransport, require_encryption
from datawiz.core.environment import current_env
from datawiz.core.errors import ConfigError, TransientError, retry_transient
from datawiz.core.redact import redact
from tasks.runlog import IST

TEMPLATES = Path(__file__).parent / "templates"
EMAIL_ENV = "DATAWIZ_EMAIL"
# SMTP line endings; headers fold only past 120 characters (at 78, Python folds a subject starting
# with "[" before its first word, which some clients then show with a leading blank).
_POLICY = SMTP.clone(max_line_length=120)


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email."""

    filename: str
    content: bytes
    mime: str = "text/csv"


@dataclass(frozen=True)
class Email:
    """A rendered email: subject, plain-text and HTML bodies, attachments."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class EmailFailed(TransientError):
    """The SMTP server could not be reached or refused the message (retried by `send_email`)."""


def format_ist(value: dt.datetime | None) -> str:
    """`2025-11-20 08:00 IST` (naive values are UTC, as the warehouse stores them); empty for None."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")


def _environment(autoescape: bool) -> Environment:
    # StrictUndefined: a template that names a missing value fails in the tests, not in a mailbox.
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["ist"] = format_ist
    return env


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)


def render(template: str, subject: str, context: dict[str, Any], attachments: tuple[Attachment, ...] = ()) -> Email:
    """Render templates/<template>.html and .txt with the context (plus env and send time), redacted."""
    values = {"subject": subject, "env": current_env(),
              "sent_at": format_ist(dt.datetime.now(dt.UTC)), **context}
    html = _HTML.get_template(f"{template}.html").render(values)
    text = _TEXT.get_template(f"{template}.txt").render(values)
    return Email(redact(subject), redact(text), redact(html), attachments)


def run_link(flow_run_id: str | None, settings: DataWizEmail | None = None) -> str | None:
    """Link to a flow run in the Prefect UI: the block's ui_url if set, else this process's PREFECT_UI_URL."""
    if not flow_run_id or flow_run_id.startswith("local-"):
        return None
    if settings is not None and settings.ui_url:
        return f"{settings.ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"
    return url_for("flow-run", obj_id=flow_run_id)


def email_settings(spec: str | None) -> DataWizEmail | None:
    """The email block named by `spec` or $DATAWIZ_EMAIL (`datawiz-email/NAME`); None when neither is set."""
    ref = spec or os.environ.get(EMAIL_ENV)
    if not ref:
        return None
    slug, _, name = ref.partition("/")
    if slug != EMAIL_BLOCK_SLUG or not name:
        raise ConfigError(f"email {ref!r}: expected {EMAIL_BLOCK_SLUG}/NAME")
    try:
        # Prefect types load() as `block | coroutine` (it dispatches on the caller's context); here it is sync.
        return cast(DataWizEmail, DataWizEmail.load(name))
    except ValueError as exc:
        raise ConfigError(f"cannot load block {ref}: {redact(exc)}") from None


def build_message(email: Email, settings: DataWizEmail) -> EmailMessage:
    """The MIME message: multipart/alternative (text, then HTML), inside multipart/mixed with attachments."""
    msg = EmailMessage(policy=_POLICY)
    msg["Subject"] = f"{settings.subject_prefix} {email.subject}".strip()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    for item in email.attachments:
        maintype, _, subtype = item.mime.partition("/")
        msg.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=item.filename)
    return msg


def open_smtp(creds: EmailServerCredentials, timeout: float, allow_insecure: bool = False) -> smtplib.SMTP:
    """A logged-in SMTP connection over SSL, STARTTLS or plain, as the credentials block says.

    prefect-email's `get_server()` does the same but without a timeout: a silent server would hang
    the flow run for ever. A login over plain SMTP to a non-loopback server is refused (ConfigError)
    unless the email block sets `allow_insecure` (blocks/transport.py).
    """
    host = creds.smtp_server.value if isinstance(creds.smtp_server, SMTPServer) else str(creds.smtp_server)
    kind = SMTPType[creds.smtp_type] if isinstance(creds.smtp_type, str) else creds.smtp_type
    port = creds.smtp_port or kind.value
    try:
        require_encryption(
            f"smtp {host}:{port}", host, encrypted=kind is not SMTPType.INSECURE,
            has_secret=bool(creds.username and creds.password and creds.password.get_secret_value()),
            allow_insecure=allow_insecure, how_to_fix="Set smtp_type STARTTLS or SSL (SMTP_TYPE)",
        )
    except InsecureTransport as exc:
        raise ConfigError(str(exc)) from None
    context = ssl.create_default_context()
    if not creds.verify:  # a self-signed relay inside the network; still encrypted
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    server: smtplib.SMTP
    if kind is SMTPType.SSL:
        server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
        if kind is SMTPType.STARTTLS:
            server.starttls(context=context)
    if creds.username:
        server.login(creds.username, creds.password.get_secret_value())
    return server


def deliver(email: Email, settings: DataWizEmail) -> str:
    """Send one email to the block's recipients; returns its Message-ID. Errors carry no secret."""
    msg = build_message(email, settings)
    try:
        with open_smtp(settings.credentials, settings.timeout_seconds, settings.allow_insecure) as server:
            server.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        # `from None`: smtplib's exception can hold the server dialogue; ours names the server only.
        creds = settings.credentials
        raise EmailFailed(f"email to {creds.smtp_server}:{creds.smtp_port or ''} failed: {redact(exc)}") from None
    return str(msg["Message-ID"])


def send_run_email(what: str, build: Callable[[DataWizEmail], Email | None]) -> bool:
    """Send an email from inside a pipeline run, through the block of $DATAWIZ_EMAIL, without ever failing the run.

    `build` gets the block's settings and returns the email, or None when this one is not wanted. A missing
    or broken block, or an SMTP server that stays down, is logged as an error: the run's data is loaded and
    its report published, and the health flow fails loudly on the same block every hour.
    """
    logger = get_run_logger()
    try:
        settings = email_settings(None)
    except ConfigError as exc:
        logger.error("%s not sent: %s", what, exc)
        return False
    if settings is None:
        logger.info("no email configured ($DATAWIZ_EMAIL): %s not sent", what)
        return False
    message = build(settings)
    if message is None:
        return False
    try:
        send_email(message, settings)
    except (EmailFailed, ConfigError) as exc:
        logger.error("%s not sent: %s", what, exc)
        return False
    return True


# Only transient failures are retried: a refused (insecure) configuration fails at once.
@task(name="send-email", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE,
      retry_condition_fn=retry_transient)
def send_email(email: Email, settings: DataWizEmail) -> str:
    """Send an email through the DataWiz email block (retried: SMTP relays drop connections)."""
    message_id = deliver(email, settings)
    get_run_logger().info("emailed %r to %d recipient(s)", email.subject, len(settings.recipients))
    return message_id

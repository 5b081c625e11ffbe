"""Where DataWiz emails go: a block holding the SMTP credentials block and the recipients.

prefect-email's `EmailServerCredentials` knows how to reach an SMTP server but not who should read
the mail; this block adds the sender, the recipients and a subject prefix naming the environment,
so a deployment names one block (`datawiz-email/datawiz-prod-email`) and every email of that
environment goes to the same people through the same server.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from prefect_email import EmailServerCredentials
from pydantic import Field

EMAIL_BLOCK_SLUG = "datawiz-email"


class DataWizEmail(Block):
    """SMTP credentials (a nested prefect-email block), sender and recipients of DataWiz emails."""

    _block_type_name = "DataWiz Email"
    _block_type_slug = EMAIL_BLOCK_SLUG
    _description = "Recipients and SMTP server of DataWiz failure, validation, health and daily-report emails."

    credentials: EmailServerCredentials = Field(description="SMTP server, port, STARTTLS/SSL and login.")
    sender: str = Field(description="From address, e.g. datawiz@example.com.")
    recipients: list[str] = Field(description="Addresses that receive every DataWiz email.")
    subject_prefix: str = Field(default="[DataWiz]", description="Put in front of every subject, e.g. [DataWiz prod].")
    max_attachment_bytes: int = Field(
        default=2 * 1024 * 1024,
        description="Largest CSV attachment (quarantined rows) before it is cut; mail servers refuse big mail.",
    )
    ui_url: str | None = Field(
        default=None,
        description="Base URL of the Prefect UI for run links; default: the worker's PREFECT_UI_URL.",
    )
    timeout_seconds: float = Field(default=30, description="Seconds to wait for the SMTP server per operation.")
    allow_insecure: bool = Field(
        default=False,
        description="Allow login over plain SMTP (smtp_type INSECURE) to a non-loopback server (not recommended).",
    )
    email_on_success: bool = Field(
        default=False,
        description="Also email every completed evening, morning and backfill run (EMAIL_ON_SUCCESS); off by "
                    "default, since the daily summary reports every run.",
    )

"""`datawiz blocks register`: save one environment's blocks from its settings (`.env.<env>` + environment).

Idempotent (blocks are saved with overwrite, under the names of deployments/settings.py) and quiet
about secrets: it prints block names and secret-free descriptions only. All settings are checked
before anything is saved, so a half-configured environment saves nothing.

Blocks (all named `datawiz-<env>-<role>`) and the variables they are made from:

- `landing`: azure-blob-storage-credentials + azure-blob-storage-container. AZURE_CONTAINER_NAME,
  AZURE_BASE_FOLDER, and AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL (+ AZURE_TENANT_ID,
  AZURE_CLIENT_ID, AZURE_CLIENT_SECRET for a service principal; none of them: the default Azure credential).
- `warehouse`: starrocks-connector or datawiz-mysql-warehouse (DB_TYPE). DB_HOST, DB_PORT, DB_NAME, DB_USER,
  DB_PASSWORD, DB_TLS, DB_SSL_CA, DB_SSL_CERT, DB_SSL_KEY, DB_SSL_VERIFY, DB_ALLOW_INSECURE (not for prod),
  STARROCKS_HTTP_SCHEME (http|https), STARROCKS_HTTP_PORT, STARROCKS_LOAD_URLS, STARROCKS_ALLOW_HTTP_LOAD_HOP
  (the FE->BE/CN hop of Stream Load over plain HTTP: explicit, also for prod), STARROCKS_REPLICATION_NUM.
- `smtp`: email-server-credentials (prefect-email). SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD,
  SMTP_TYPE (STARTTLS, SSL; INSECURE only outside prod), SMTP_VERIFY.
- `email`: datawiz-email, holding the smtp block. EMAIL_SENDER (default: SMTP_USER when that is an email
  address, as with most relays), EMAIL_RECIPIENTS (comma-separated),
  EMAIL_MAX_ATTACHMENT_KB, DATAWIZ_UI_URL, SMTP_ALLOW_INSECURE (login over plain SMTP to a non-loopback
  host; not for prod), EMAIL_ON_SUCCESS (true: an email for every completed pipeline run; default false).

- `data-share-key`: a Secret block, only when AZURE_DATA_SHARE_KEY is set: the account key of the Azure Files
  share that Azure Container Instances mount as the data folder. The ACI job template refers to it
  (`{{ prefect.blocks.secret.datawiz-<env>-data-share-key }}`) and the worker resolves it per flow run.

A password never crosses the network in clear by default (blocks/transport.py): a non-loopback warehouse
needs DB_TLS, StarRocks' HTTP endpoints https, SMTP STARTTLS or SSL — or the explicit *_ALLOW_INSECURE opt-in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_azure import AzureBlobStorageContainer, AzureBlobStorageCredentials
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.warehouse.duckdb import DuckDBWarehouse
from blocks.warehouse.mysql import MySQLWarehouse
from blocks.warehouse.starrocks import StarRocksConnector
from datawiz.core.errors import TerminalError
from deployments.settings import EnvNames

# Every block type DataWiz uses, registered so the UI can create and edit them too.
BLOCK_TYPES: tuple[type[Block], ...] = (
    AzureBlobStorageCredentials, AzureBlobStorageContainer, MySQLWarehouse, StarRocksConnector, DuckDBWarehouse,
    EmailServerCredentials, DataWizEmail, Secret,
)
REQUIRED = {
    "landing": ("AZURE_CONTAINER_NAME",),
    "warehouse": ("DB_HOST", "DB_NAME", "DB_USER", "DB_PASSWORD"),
    "email": ("SMTP_HOST", "EMAIL_RECIPIENTS"),  # and a sender: email_sender()
}
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_TRUE = ("1", "true", "yes", "on")


class SettingsError(TerminalError, ValueError):
    """Settings missing or unusable; the message names variables, never their values.

    Terminal; also a ValueError, which `datawiz blocks register` and users catch it as."""


@dataclass(frozen=True)
class Saved:
    """One saved block: `slug/name` and a secret-free description."""

    ref: str
    detail: str

    def line(self) -> str:
        return f"saved {self.ref}: {self.detail}"


def check_settings(names: EnvNames, values: dict[str, str]) -> None:
    """Raise SettingsError listing every missing or unusable variable (all of them at once)."""
    missing = [var for group in REQUIRED.values() for var in group if not values.get(var)]
    if email_sender(values) is None:
        missing.append("EMAIL_SENDER (or an SMTP_USER that is an email address)")
    if not values.get("AZURE_STORAGE_CONNECTION_STRING") and not values.get("AZURE_STORAGE_ACCOUNT_URL"):
        missing.append("AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_URL)")
    problems = [f"missing {', '.join(missing)}"] if missing else []
    smtp_type = values.get("SMTP_TYPE", "STARTTLS").upper()
    if smtp_type not in ("SSL", "STARTTLS", "INSECURE"):
        problems.append("SMTP_TYPE must be SSL, STARTTLS or INSECURE")
    elif smtp_type == "INSECURE" and names.env == "prod":
        problems.append("SMTP_TYPE=INSECURE is refused for prod: use STARTTLS or SSL")
    for opt_in in ("DB_ALLOW_INSECURE", "SMTP_ALLOW_INSECURE"):
        if names.env == "prod" and _flag(values, opt_in, False):
            problems.append(f"{opt_in} is refused for prod: encrypt the connection instead")
    if values.get("STARROCKS_HTTP_SCHEME", "http").lower() not in ("http", "https"):
        problems.append("STARROCKS_HTTP_SCHEME must be http or https")
    if not values.get("STARROCKS_REPLICATION_NUM", "1").strip().isdigit():
        problems.append("STARROCKS_REPLICATION_NUM must be a whole number (1 for a one-BE dev cluster)")
    if problems:
        raise SettingsError(f"{names.env}: " + "; ".join(problems))


def email_sender(values: dict[str, str]) -> str | None:
    """The From address: EMAIL_SENDER, else SMTP_USER when that is an address (`datawiz@example.com`, the login of
    most relays and of Office 365), else None. A login like `AKIA…` (Amazon SES) is no address: set EMAIL_SENDER."""
    if values.get("EMAIL_SENDER"):
        return values["EMAIL_SENDER"]
    user = (values.get("SMTP_USER") or "").strip()
    return user if _ADDRESS.match(user) else None


def _flag(values: dict[str, str], name: str, default: bool) -> bool:
    return values.get(name, str(default)).strip().lower() in _TRUE


def _save(block: Block, name: str) -> str:
    block.save(name, overwrite=True)
    return f"{block.get_block_type_slug()}/{name}"


def save_landing(names: EnvNames, values: dict[str, str]) -> list[Saved]:
    """Azure credentials block, then the container block that references it."""
    name = names.block("landing")
    if values.get("AZURE_STORAGE_CONNECTION_STRING"):
        creds = AzureBlobStorageCredentials(connection_string=SecretStr(values["AZURE_STORAGE_CONNECTION_STRING"]))
        kind = "connection string"
    else:
        secret = values.get("AZURE_CLIENT_SECRET")
        creds = AzureBlobStorageCredentials(
            account_url=values["AZURE_STORAGE_ACCOUNT_URL"], tenant_id=values.get("AZURE_TENANT_ID"),
            client_id=values.get("AZURE_CLIENT_ID"), client_secret=SecretStr(secret) if secret else None,
        )
        kind = "service principal" if values.get("AZURE_CLIENT_ID") else "default Azure credential"
    creds_ref = _save(creds, name)
    container = AzureBlobStorageContainer(container_name=values["AZURE_CONTAINER_NAME"], credentials=creds,
                                          base_folder=values.get("AZURE_BASE_FOLDER") or None)
    detail = f"container {container.container_name!r}"
    if container.base_folder:
        detail += f", folder {container.base_folder!r}"
    return [Saved(creds_ref, kind), Saved(_save(container, name), detail)]


def warehouse_block(values: dict[str, str]) -> MySQLWarehouse | StarRocksConnector:
    """The StarRocks or MySQL warehouse block (DB_TYPE) the settings describe, not yet saved."""
    common: dict[str, Any] = {
        "host": values["DB_HOST"], "user": values["DB_USER"], "password": SecretStr(values["DB_PASSWORD"]),
        "database": values["DB_NAME"], "tls": _flag(values, "DB_TLS", False), "ssl_ca": values.get("DB_SSL_CA") or None,
        "ssl_cert": values.get("DB_SSL_CERT") or None, "ssl_key": values.get("DB_SSL_KEY") or None,
        "ssl_verify": _flag(values, "DB_SSL_VERIFY", True), "allow_insecure": _flag(values, "DB_ALLOW_INSECURE", False),
    }
    if values.get("DB_PORT"):
        common["port"] = int(values["DB_PORT"])
    if values.get("DB_TYPE", "starrocks").lower() != "starrocks":
        return MySQLWarehouse(**common)
    extra: dict[str, Any] = {"allow_http_load_hop": _flag(values, "STARROCKS_ALLOW_HTTP_LOAD_HOP", False)}
    if values.get("STARROCKS_HTTP_PORT"):
        extra["http_port"] = int(values["STARROCKS_HTTP_PORT"])
    if values.get("STARROCKS_HTTP_SCHEME"):
        extra["http_scheme"] = values["STARROCKS_HTTP_SCHEME"].lower()
    if values.get("STARROCKS_LOAD_URLS"):
        extra["load_urls"] = [u.strip() for u in values["STARROCKS_LOAD_URLS"].split(",") if u.strip()]
    if values.get("STARROCKS_REPLICATION_NUM"):
        extra["replication_num"] = int(values["STARROCKS_REPLICATION_NUM"])
    return StarRocksConnector(**common, **extra)


def save_warehouse(names: EnvNames, values: dict[str, str]) -> list[Saved]:
    """Save the warehouse block of the environment (its type from DB_TYPE, as `names.db_type` reads it)."""
    block = warehouse_block({**values, "DB_TYPE": names.db_type})
    return [Saved(_save(block, names.block("warehouse")), block.describe())]


def save_email(names: EnvNames, values: dict[str, str]) -> list[Saved]:
    """prefect-email's SMTP credentials block, then the DataWiz email block holding it and the recipients."""
    smtp_type = values.get("SMTP_TYPE", "STARTTLS").upper()
    creds = EmailServerCredentials(
        smtp_server=values["SMTP_HOST"], smtp_type=smtp_type,
        smtp_port=int(values["SMTP_PORT"]) if values.get("SMTP_PORT") else None,
        username=values.get("SMTP_USER") or None, password=SecretStr(values.get("SMTP_PASSWORD", "")),
        verify=_flag(values, "SMTP_VERIFY", True),
    )
    creds_ref = _save(creds, names.block("smtp"))
    recipients = [r.strip() for r in values["EMAIL_RECIPIENTS"].split(",") if r.strip()]
    email = DataWizEmail(
        credentials=creds, sender=email_sender(values), recipients=recipients,
        subject_prefix=f"[DataWiz {names.env}]", ui_url=values.get("DATAWIZ_UI_URL") or None,
        max_attachment_bytes=int(values.get("EMAIL_MAX_ATTACHMENT_KB", "2048")) * 1024,
        allow_insecure=_flag(values, "SMTP_ALLOW_INSECURE", False),
        email_on_success=_flag(values, "EMAIL_ON_SUCCESS", False),
    )
    where = f"{values['SMTP_HOST']}:{creds.smtp_port or creds.smtp_type.value} ({smtp_type})"
    detail = f"{len(recipients)} recipient(s)" + (", an email per completed run" if email.email_on_success else "")
    return [Saved(creds_ref, where), Saved(_save(email, names.block("email")), detail)]


def save_data_share_key(names: EnvNames, values: dict[str, str]) -> list[Saved]:
    """The Secret block the ACI job template reads the data share's key from (only when AZURE_DATA_SHARE_KEY is set)."""
    if not values.get("AZURE_DATA_SHARE_KEY"):
        return []
    ref = _save(Secret(value=SecretStr(values["AZURE_DATA_SHARE_KEY"])), names.block("data-share-key"))
    return [Saved(ref, "account key of the ACI data share (deployments/job_templates/azure-container-instance.json)")]


SAVERS: tuple[Callable[[EnvNames, dict[str, str]], list[Saved]], ...] = (
    save_landing, save_warehouse, save_email, save_data_share_key,
)


def register_blocks(names: EnvNames, values: dict[str, str]) -> list[Saved]:
    """Register the block types, check every setting, then save the environment's blocks."""
    check_settings(names, values)
    for block_type in BLOCK_TYPES:
        block_type.register_type_and_schema()
    return [saved for save in SAVERS for saved in save(names, values)]

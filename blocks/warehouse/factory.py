"""The resolver that turns a `warehouse` parameter (URL or saved block) into a backend.

It sits above the backends it builds (imported on first use, so a DuckDB run never imports pymysql);
the backends import only `blocks.warehouse.base` and their own helpers, never this module.
`blocks.warehouse` re-exports it, where callers have always imported it from."""

from __future__ import annotations

import os
import re
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from blocks.warehouse.base import Warehouse

DEFAULT_WAREHOUSE = "duckdb:///./data/warehouse.duckdb"
PASSWORD_ENV = "DB_PASSWORD"
_BLOCK_REF = re.compile(r"^[a-z0-9-]+/[A-Za-z0-9_-]+$")
_BOOL_OPTIONS = {"tls", "ssl_verify", "allow_insecure", "allow_http_load_hop"}
_INT_OPTIONS = {
    "connect_timeout", "read_timeout", "write_timeout", "http_port", "batch_rows", "json_max_mb", "replication_num",
}


def resolve_warehouse(spec: str | None) -> Warehouse:
    """Explicit value, else DATAWIZ_WAREHOUSE, else the embedded DuckDB file ./data/warehouse.duckdb.

    Accepted:
    - `duckdb:///relative/or/absolute/path.duckdb`, `duckdb:///:memory:`;
    - `mysql://user[:password]@host[:port]/database[?tls=true&ssl_ca=...&ssl_verify=...&connect_timeout=...]`
      (a password to a non-loopback host needs tls=true, or an explicit allow_insecure=true);
    - `starrocks://user[:password]@host[:9030]/database[?http_scheme=https&http_port=8443&allow_http_load_hop=true
      &load_urls=https://be-proxy:8443&replication_num=1]`;
    - a saved Prefect block, `<block-type-slug>/<name>` (e.g. `starrocks-connector/prod`).
    A password missing from the URL is read from $DB_PASSWORD. Error messages never repeat it.
    """
    spec = spec or os.environ.get("DATAWIZ_WAREHOUSE") or DEFAULT_WAREHOUSE
    if spec.startswith("duckdb://"):
        from blocks.warehouse.duckdb import DuckDBWarehouse

        path = spec[len("duckdb:///") :]  # duckdb:////abs/path keeps its leading slash
        return DuckDBWarehouse(path=path or ":memory:")
    if spec.startswith(("mysql://", "mariadb://")):
        from blocks.warehouse.mysql import MySQLWarehouse

        return MySQLWarehouse(**_url_settings(spec, default_port=3306))
    if spec.startswith("starrocks://"):
        from blocks.warehouse.starrocks import StarRocksConnector

        return StarRocksConnector(**_url_settings(spec, default_port=9030))
    if _BLOCK_REF.match(spec):
        return load_warehouse_block(spec)
    raise ValueError(
        f"warehouse {redact(spec)!r}: expected duckdb:///PATH, mysql://USER@HOST/DB, starrocks://USER@HOST/DB "
        "or a block reference SLUG/NAME"
    )


def load_warehouse_block(ref: str) -> Warehouse:
    """Load a saved warehouse block by `SLUG/NAME`, e.g. `datawiz-mysql-warehouse/datawiz-prod-warehouse`."""
    from prefect.blocks.core import Block

    # Prefect finds a block's class by its slug only among classes already imported; a flow run
    # process has imported none of the backends yet (they are imported lazily above).
    from blocks.warehouse import duckdb, mysql, starrocks  # noqa: F401

    # Block.load is typed `Block | coroutine` (it dispatches on the caller's context; here it is sync), and the
    # warehouse slugs name only the three backends imported above, each a Warehouse.
    return cast(Warehouse, Block.load(ref))


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^/@:]*):[^@/]*@", r"\1:***@", url)


def _url_settings(spec: str, default_port: int) -> dict[str, Any]:
    parts = urlsplit(spec)
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise ValueError(f"warehouse {redact(spec)!r}: host and database are required")
    password = unquote(parts.password) if parts.password is not None else os.environ.get(PASSWORD_ENV)
    settings: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or default_port,
        "user": unquote(parts.username or "root"),
        "password": password or None,
        "database": database,
    }
    for key, value in parse_qsl(parts.query):
        if key in _BOOL_OPTIONS:
            settings[key] = value.lower() in ("1", "true", "yes", "on")
        elif key in _INT_OPTIONS:
            settings[key] = int(value)
        elif key == "load_urls":
            settings[key] = [u for u in value.split(",") if u]
        else:
            settings[key] = value
    return settings

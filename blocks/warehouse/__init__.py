"""Warehouse backends (duckdb, mysql, starrocks) and the resolver that turns a `warehouse` parameter into one.

The resolver lives in `blocks.warehouse.factory`, above the backends; this package only re-exports it.
"""

from __future__ import annotations

from blocks.warehouse.base import Warehouse
from blocks.warehouse.factory import (
    DEFAULT_WAREHOUSE,
    PASSWORD_ENV,
    load_warehouse_block,
    redact,
    resolve_warehouse,
)

__all__ = ["DEFAULT_WAREHOUSE", "PASSWORD_ENV", "Warehouse", "load_warehouse_block", "redact", "resolve_warehouse"]

"""Warehouse backends and the resolver that turns a `warehouse` parameter into one."""

from __future__ import annotations

import os

from blocks.warehouse.base import Warehouse

DEFAULT_WAREHOUSE = "duckdb:///./data/warehouse.duckdb"


def resolve_warehouse(spec: str | None) -> Warehouse:
    """Explicit value, else DATAWIZ_WAREHOUSE, else the embedded DuckDB file ./data/warehouse.duckdb.

    Accepted: `duckdb:///relative/or/absolute/path.duckdb`, `duckdb:///:memory:`.
    """
    from blocks.warehouse.duckdb import DuckDBWarehouse

    spec = spec or os.environ.get("DATAWIZ_WAREHOUSE") or DEFAULT_WAREHOUSE
    if spec.startswith("duckdb://"):
        path = spec[len("duckdb:///") :]  # duckdb:////abs/path keeps its leading slash
        return DuckDBWarehouse(path=path or ":memory:")
    raise ValueError(f"warehouse {spec!r}: expected duckdb:///PATH in this build")

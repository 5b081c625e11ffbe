"""Business constants beyond the table: the Prefect Variable flows and people read (one per environment)."""

from __future__ import annotations

import json
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.variables import Variable

from blocks.warehouse.base import Warehouse
from datawiz.core.environment import env_name

VARIABLE_KIND = "business-constants"


def variable_name(env: str | None = None) -> str:
    """`datawiz-<env>-business-constants`: a dev run never overwrites what prod's flows and people read."""
    return env_name(VARIABLE_KIND, env)


@task(name="publish-business-constants", cache_policy=NO_CACHE)
def publish_business_constants(warehouse: Warehouse) -> dict[str, Any]:
    """Mirror `business_constants` into the Prefect Variable `datawiz-<env>-business-constants`."""
    rows = warehouse.query("SELECT constant_name, value, as_of FROM business_constants ORDER BY constant_name")
    records = rows.to_pylist()
    doc: dict[str, Any] = {
        "as_of": max((str(r["as_of"]) for r in records), default=None),
        "constants": {r["constant_name"]: json.loads(r["value"]) for r in records},
    }
    Variable.set(variable_name(), doc, overwrite=True)
    return doc

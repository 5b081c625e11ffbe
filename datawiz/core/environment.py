"""One environment's naming scheme: `datawiz-<env>-<kind>` for every block, tag, Variable and artifact key.

The bottom of the stack, like the rest of datawiz.core: tasks name their Variables and artifacts with it,
observability tags its telemetry with the environment, and `deployments.settings` (which re-exports these
names) builds the blocks and deployments of an environment from it. Standard library only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

ENV_VARIABLE = "DATAWIZ_ENV"
DEFAULT_ENV = "dev"
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
# DB_TYPE -> the slug of the warehouse block type it is saved as.
WAREHOUSE_SLUGS = {"starrocks": "starrocks-connector", "mysql": "datawiz-mysql-warehouse"}
DEFAULT_DB_TYPE = "starrocks"


def current_env(explicit: str | None = None) -> str:
    """The environment name: explicit, else $DATAWIZ_ENV, else dev; lowercase letters and digits only."""
    env = explicit or os.environ.get(ENV_VARIABLE) or DEFAULT_ENV
    if not _ENV_NAME.match(env):
        raise ValueError(f"environment {env!r}: use 1-16 lowercase letters and digits, e.g. dev or prod")
    return env


def env_name(kind: str, env: str | None = None) -> str:
    """`datawiz-<env>-<kind>`: the name of every block, automation, Variable and artifact key of an environment.

    `env` defaults to the environment of this process ($DATAWIZ_ENV, which every deployment sets through
    its job variables; else dev). Artifact keys allow lowercase letters, digits and dashes only: the
    environment name is checked to be such, and every `kind` is a constant of the code.
    """
    return f"datawiz-{current_env(env)}-{kind}"


@dataclass(frozen=True)
class EnvNames:
    """The names of one environment's blocks, tag, deployments and automations."""

    env: str
    db_type: str = DEFAULT_DB_TYPE

    def __post_init__(self) -> None:
        if self.db_type not in WAREHOUSE_SLUGS:
            raise ValueError(f"DB_TYPE {self.db_type!r}: choose one of {', '.join(WAREHOUSE_SLUGS)}")

    def block(self, role: str) -> str:
        """`datawiz-<env>-<role>`: the name of every block of this environment."""
        return env_name(role, self.env)

    @property
    def tag(self) -> str:
        """The tag of every pipeline run of this environment (what the automations match)."""
        return f"datawiz-{self.env}"

    @property
    def source_ref(self) -> str:
        return f"azure-blob-storage-container/{self.block('landing')}"

    @property
    def warehouse_ref(self) -> str:
        return f"{WAREHOUSE_SLUGS[self.db_type]}/{self.block('warehouse')}"

    @property
    def email_ref(self) -> str:
        return f"datawiz-email/{self.block('email')}"

    @property
    def alert_deployment(self) -> str:
        """`flow/deployment` of the alert flow the failure automations run."""
        return f"alert/{self.env}"

    def automation(self, kind: str) -> str:
        return env_name(kind, self.env)

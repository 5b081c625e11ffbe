"""One environment's names: which blocks, tags, deployments and automations belong to dev, prod, ...

Everything that names a block follows one scheme, `datawiz-<env>-<role>`, and is computed here only:
`datawiz blocks register` saves the blocks under these names, `prefect.yaml` passes them to the flows
(through the `deployments.settings.deployment_settings` build step), and `datawiz automations apply`
matches the runs of the environment by its tag. A dev deployment therefore names dev blocks only.

Settings come from `.env.<env>` (values there win over the process environment, so a developer's
shell cannot leak a dev host into production blocks), then from the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

ENV_VARIABLE = "DATAWIZ_ENV"
ENV_FILE_VARIABLE = "DATAWIZ_ENV_FILE"
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


def env_file(env: str, explicit: str | Path | None = None) -> Path:
    """The settings file of an environment: explicit, else $DATAWIZ_ENV_FILE, else ./.env.<env>."""
    return Path(explicit or os.environ.get(ENV_FILE_VARIABLE) or f".env.{env}")


def load_settings(env: str, path: str | Path | None = None) -> dict[str, str]:
    """The environment's variables: the process environment overlaid by its `.env.<env>` file (if any)."""
    values = dict(os.environ)
    file = env_file(env, path)
    if file.exists():
        values.update({k: v for k, v in dotenv_values(file).items() if v is not None})
    elif path is not None or os.environ.get(ENV_FILE_VARIABLE):
        raise FileNotFoundError(f"settings file {file} does not exist")
    return values


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
        return f"datawiz-{self.env}-{role}"

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
        return f"datawiz-{self.env}-{kind}"


# Flow-run heartbeats (Prefect emits `prefect.flow-run.heartbeat` from every deployment run; its own default
# is 180 s, its minimum 30 s): `prefect.yaml` passes DATAWIZ_HEARTBEAT_SECONDS to the runs as
# PREFECT_FLOWS_HEARTBEAT_FREQUENCY, and the zombie automation waits DATAWIZ_ZOMBIE_WINDOW_SECONDS (default
# ZOMBIE_HEARTBEATS heartbeats) after a run's last heartbeat before it marks the run Crashed. Both commands
# (`prefect deploy`, `datawiz automations apply`) read the same settings, so the two stay consistent.
HEARTBEAT_VARIABLE = "DATAWIZ_HEARTBEAT_SECONDS"
ZOMBIE_WINDOW_VARIABLE = "DATAWIZ_ZOMBIE_WINDOW_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 60
PREFECT_MIN_HEARTBEAT_SECONDS = 30  # prefect.flow_engine.MINIMUM_HEARTBEAT_INTERVAL
ZOMBIE_HEARTBEATS = 5
MIN_ZOMBIE_HEARTBEATS = 1.5  # a shorter window would crash healthy runs whose heartbeat is a little late


def heartbeat_seconds(values: dict[str, str]) -> int:
    """Seconds between flow-run heartbeats: DATAWIZ_HEARTBEAT_SECONDS, default 60, at least Prefect's 30."""
    raw = values.get(HEARTBEAT_VARIABLE) or str(DEFAULT_HEARTBEAT_SECONDS)
    seconds = int(raw)
    if seconds < PREFECT_MIN_HEARTBEAT_SECONDS:
        raise ValueError(f"{HEARTBEAT_VARIABLE}={raw}: Prefect's shortest heartbeat interval is "
                         f"{PREFECT_MIN_HEARTBEAT_SECONDS} s")
    return seconds


def zombie_window_seconds(values: dict[str, str]) -> int:
    """How long after a run's last heartbeat it counts as dead: DATAWIZ_ZOMBIE_WINDOW_SECONDS, default 5 heartbeats."""
    beat = heartbeat_seconds(values)
    raw = values.get(ZOMBIE_WINDOW_VARIABLE)
    window = int(raw) if raw else ZOMBIE_HEARTBEATS * beat
    if window < MIN_ZOMBIE_HEARTBEATS * beat:
        raise ValueError(f"{ZOMBIE_WINDOW_VARIABLE}={raw}: shorter than {MIN_ZOMBIE_HEARTBEATS:g} heartbeats of "
                         f"{beat} s ({HEARTBEAT_VARIABLE}) would mark healthy runs Crashed")
    return window


def names_for(env: str | None = None, settings: dict[str, str] | None = None) -> EnvNames:
    """The names of an environment, with the warehouse type from its settings (DB_TYPE)."""
    name = current_env(env)
    values = load_settings(name) if settings is None else settings
    return EnvNames(name, values.get("DB_TYPE") or DEFAULT_DB_TYPE)


def deployment_settings() -> dict[str, str]:
    """`prefect.yaml` build step: the environment's names as `{{ datawiz.env }}`, `{{ datawiz.warehouse }}`, ...

    `prefect deploy` runs it once per deployment from the repository root. `workdir` is where the
    worker finds the code: this checkout for a process pool, $DATAWIZ_WORKDIR (the image's
    /opt/datawiz) for container pools.
    """
    name = current_env()
    values = load_settings(name)
    names = names_for(name, values)
    return {
        "env": names.env,
        "heartbeat_seconds": str(heartbeat_seconds(values)),
        "workdir": os.environ.get("DATAWIZ_WORKDIR") or os.getcwd(),
        "tag": names.tag,
        "source": names.source_ref,
        "warehouse": names.warehouse_ref,
        "email": names.email_ref,
    }

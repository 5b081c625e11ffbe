"""One environment's names: its blocks, tag, deployments, automations, Variables and artifact keys.

Everything an environment names or writes on the Prefect server follows one scheme, `datawiz-<env>-<kind>`,
computed in one place (`env_name` in datawiz/core/environment.py, re-exported here): `datawiz blocks register`
saves the blocks under these names, `prefect.yaml` passes them to the flows (through the
`deployments.settings.deployment_settings` build step), `datawiz automations apply` matches the runs of the
environment by its tag, and the flows write their Variables and artifact keys under it. A dev deployment
therefore names dev blocks only and writes nothing a prod run reads or shows, even on a shared server.

Settings come from `.env.<env>` (values there win over the process environment, so a developer's
shell cannot leak a dev host into production blocks), then from the environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dotenv import dotenv_values

# The naming scheme itself lives in datawiz.core.environment (tasks and observability need it, and may not
# import deployments/); re-exported here, next to the settings and the build step that use it.
from datawiz.core.environment import (
    DEFAULT_DB_TYPE,
    DEFAULT_ENV,
    ENV_VARIABLE,
    WAREHOUSE_SLUGS,
    EnvNames,
    current_env,
    env_name,
)

__all__ = [
    "DEFAULT_DB_TYPE", "DEFAULT_ENV", "ENV_FILE_VARIABLE", "ENV_VARIABLE", "WAREHOUSE_SLUGS", "EnvNames",
    "current_env", "deployment_settings", "env_file", "env_name", "heartbeat_seconds", "load_settings",
    "names_for", "release_version", "zombie_window_seconds",
]

ENV_FILE_VARIABLE = "DATAWIZ_ENV_FILE"


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


def release_version(checkout: str | Path | None = None) -> str:
    """The git commit being deployed: `git rev-parse --short=12 HEAD` of the checkout, `-dirty` when tracked files
    differ from it; $DATAWIZ_VERSION instead when set (a build without `.git`); `unknown` outside a git checkout.

    Prefect infers a version from git only when the checkout has a remote `origin`, and otherwise versions a
    deployment with a hash of the flow's file (prefect/_internal/versioning.py, `RunnerDeployment.
    _set_defaults_from_flow`); an explicit `version` in prefect.yaml wins over both.
    """
    if os.environ.get("DATAWIZ_VERSION"):
        return os.environ["DATAWIZ_VERSION"]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=checkout or os.getcwd(), capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def deployment_settings() -> dict[str, str]:
    """`prefect.yaml` build step: the environment's names as `{{ datawiz.env }}`, `{{ datawiz.warehouse }}`, ...

    `prefect deploy` runs it once per deployment from the repository root. `workdir` is where the
    worker finds the code: this checkout for a process pool, $DATAWIZ_WORKDIR (the image's
    /opt/datawiz) for container pools. `version` is the git commit deployed (`release_version`): the
    deployment's version in the UI, and `deployment_version` of each of its runs.
    """
    name = current_env()
    values = load_settings(name)
    names = names_for(name, values)
    return {
        "env": names.env,
        "heartbeat_seconds": str(heartbeat_seconds(values)),
        "version": release_version(),
        "workdir": os.environ.get("DATAWIZ_WORKDIR") or os.getcwd(),
        "tag": names.tag,
        "source": names.source_ref,
        "warehouse": names.warehouse_ref,
        "email": names.email_ref,
    }

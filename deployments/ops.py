"""The `datawiz blocks register` and `datawiz automations apply` commands: settings in, one line per result out."""

from __future__ import annotations

import datetime as dt
import sys

from pydantic import ValidationError

from blocks.redact import redact
from deployments.automations import apply_all
from deployments.blocks import SettingsError, register_blocks
from deployments.settings import current_env, load_settings, names_for, zombie_window_seconds


def register_environment(env: str | None, env_file: str | None) -> int:
    """Save the environment's blocks; exit code 2 (and nothing saved) when settings are missing."""
    name = current_env(env)
    values = load_settings(name, env_file)
    try:
        saved = register_blocks(names_for(name, values), values)
    except (SettingsError, ValidationError, ValueError) as exc:
        # pydantic repeats the offending input: redact, in case it was a connection string.
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 2
    print("\n".join(s.line() for s in saved))
    print(f"next: DATAWIZ_ENV={name} prefect deploy --all, then datawiz automations apply --env {name}")
    return 0


def apply_automations(env: str | None) -> int:
    """Create or update the environment's automations; exit code 2 when its alert deployment is missing
    or the heartbeat settings cannot work."""
    name = current_env(env)
    values = load_settings(name)
    try:
        window = dt.timedelta(seconds=zombie_window_seconds(values))
        applied = apply_all(names_for(name, values), window)
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(a.line() for a in applied))
    return 0

"""The `datawiz blocks register`, `datawiz automations apply` and `datawiz watchdog` commands."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time

from pydantic import ValidationError

from datawiz.core.redact import redact
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


def run_watchdog(env: str | None, once: bool) -> int:
    """Watch the environment (tasks/watchdog.py): for ever, or one check (`once`: exit 1 when problems are open)."""
    from datawiz.core.errors import ConfigError
    from tasks.notify import email_settings
    from tasks.watchdog import Watchdog, WatchdogSettings, logger

    # Its own handler: Prefect's logging set-up leaves the root logger at WARNING, and the journal should
    # also get what recovered and what is open.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    name = current_env(env)
    values = load_settings(name)
    try:
        names = names_for(name, values)
        settings = WatchdogSettings.from_values(values)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    while True:  # at boot the server may come up after the watchdog: wait for it to load the email block
        try:
            email = email_settings(names.email_ref)
            break
        except ConfigError as exc:  # no such block: nothing to wait for
            print(f"error: {exc}; run `datawiz blocks register --env {name}` first", file=sys.stderr)
            return 2
        except Exception as exc:
            if once:
                print(f"error: cannot load {names.email_ref}: {redact(exc)}", file=sys.stderr)
                return 2
            logger.error("cannot load %s yet (%s); trying again", names.email_ref, redact(exc))
            time.sleep(settings.interval)
    assert email is not None
    dog = Watchdog(names, email, settings)
    if once:
        problems = dog.check()
        print("\n".join(f.subject for f in problems) or "all well")
        return 1 if problems else 0
    dog.run()
    return 0

"""Crash points for the reliability suite (tests/reliability): SIGKILL this process at a named point.

`DATAWIZ_FAULT_POINT=<name>:<n>` makes the n-th pass through `crash_point(name)` in this process send
SIGKILL to itself: no `finally`, no rollback sent by the client, no flush — a power cut or an OOM kill.
The points sit where a kill cannot be timed from outside (inside a load transaction, between a
download and its rename). Unset — always, outside that suite — a crash point is one comparison.

Points: `download` (a copy written, not yet verified and renamed), `validate` (a file read and
cleaned), `load` (rows written in the load transaction, before history/quarantine/ledger),
`ledger` (ledger row written, transaction not committed), `post_load` (before each DD month and
the report refresh).
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "DATAWIZ_FAULT_POINT"
POINTS = ("download", "validate", "load", "ledger", "post_load")


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV}={spec!r}: unknown point; choose from {', '.join(POINTS)}")
    return name, int(nth or 1)


_ARMED = _parse(os.environ.get(ENV))  # read once, at import
_hits = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Kill this process here if $DATAWIZ_FAULT_POINT names this point and this is its n-th pass."""
    if _ARMED is None or _ARMED[0] != name:
        return
    global _hits
    with _lock:  # downloads run in a thread pool: count every pass exactly once
        _hits += 1
        fire = _hits == _ARMED[1]
    if fire:
        os.kill(os.getpid(), signal.SIGKILL)

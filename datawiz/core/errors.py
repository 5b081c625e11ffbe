"""The two error families: transient (retry with backoff) and terminal (never retry).

Prefect's `retry_condition_fn` is driven from this split, so a contract violation is
reported once with its file, row and column instead of being retried three times.

Every DataWiz exception class, in blocks/ as in tasks/, derives from `TransientError` or
`TerminalError` (a few also from the standard class callers caught before, e.g. ValueError).
Backends translate their driver's errors at their boundary where they can; `is_transient`
still classifies what arrives raw (Prefect, libraries) by type, MySQL code and HTTP status.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

# Re-exported: tasks take the secret scrubber from here, next to the error families.
from datawiz.core.redact import redact as redact

if TYPE_CHECKING:  # annotations only: importing this module must not import Prefect
    from prefect import Task
    from prefect.cache_policies import CachePolicy
    from prefect.client.schemas.objects import State, TaskRun


class DataWizError(Exception):
    """Base class; messages never carry secrets or row data beyond the offending value."""


class TerminalError(DataWizError):
    """Retrying cannot help: bad configuration, a rejected file, a contract violation."""


class TransientError(DataWizError):
    """Retrying may help: network, lock wait, lost connection, 5xx."""


class ConfigError(TerminalError):
    """A source/warehouse reference or setting that cannot work."""


class FileRejected(TerminalError):
    """A whole file version is refused (unreadable, missing column, above reject ratio)."""

    def __init__(self, path: str, reason: str, rows_in: int = 0) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.rows_in = rows_in


class ReconciliationError(TerminalError):
    """rows_in != loaded + quarantined + deduplicated for a file version: something was lost."""


class FileLoadFailed(TerminalError):
    """A file's load failed for good outside a task run of its own: the error names the file.

    A file loaded in the flow's thread has no task run whose name says which file failed, and the
    failure email shows the run's state message; this makes that message start with the file's path.
    The original exception is the cause (`raise ... from`), so tracebacks keep it.
    """

    def __init__(self, path: str, cause: BaseException) -> None:
        super().__init__(f"{path}: {describe_error(cause)}")
        self.path = path


# Exceptions from libraries that mean "try again" (checked by name so this module needs no driver imports).
_TRANSIENT_NAMES = {
    "OperationalError",  # pymysql: lost connection, lock wait timeout, server gone
    "InterfaceError",
    "ServiceRequestError",  # azure-core: connection problems (and its Timeout subclasses)
    "ServiceResponseError",
    "IncompleteReadError",  # azure-core: body cut off mid-download
    "IOException",  # duckdb: lock held by another process
}


# pymysql raises OperationalError for every server error code it does not map, so the class alone
# says nothing: only these codes are worth a retry — the server or the connection went away
# (2002/2003 cannot connect, 2006 gone, 2013 lost mid-query, 2055, 1927 killed, 4031 idle timeout,
# 1053 shutting down, 1158-1161 network errors, 1040 too many connections) or a lock conflict
# (1205 lock wait timeout, 1213 deadlock). Any other code — 1290 read-only server, 1114 table full,
# 1021 disk full, 1045 access denied, 1049 unknown database, 1142 command denied — a retry cannot change.
TRANSIENT_MYSQL_CODES = frozenset({1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1927, 2002, 2003, 2006,
                                   2013, 2055, 4031})


def _mysql_code(exc: BaseException) -> int | None:
    """The server/client error code of a pymysql OperationalError, else None."""
    if type(exc).__module__.startswith("pymysql") and type(exc).__name__ == "OperationalError":
        code = exc.args[0] if exc.args else None
        return code if isinstance(code, int) else None
    return None


def is_transient(exc: BaseException) -> bool:
    """True when a retry can reasonably succeed.

    Besides the two families, a raw library exception is transient when it carries an HTTP
    `status_code` (azure-core) of 5xx, 408 or 429 (throttling), or is one of `_TRANSIENT_NAMES`.
    A MySQL/MariaDB error is transient only for the codes in `TRANSIENT_MYSQL_CODES`.
    """
    if isinstance(exc, TerminalError):
        return False
    code = _mysql_code(exc)
    if code is not None:
        return code in TRANSIENT_MYSQL_CODES
    if isinstance(exc, TransientError | TimeoutError | ConnectionError | socket.timeout):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and (status >= 500 or status in (408, 429)):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def describe_error(exc: BaseException) -> str:
    """`Type: message` with secrets scrubbed, for run logs, reports and re-raised errors."""
    return redact(f"{type(exc).__name__}: {exc}")


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Prefect `retry_condition_fn`: retry only transient failures."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def transient_retries(
    attempts: int = 3, backoff_s: float = 2, cache_policy: CachePolicy | None = None
) -> dict[str, Any]:
    """Prefect task options: retry transient failures only, exponential backoff with jitter.

    No caching unless a policy is given: most tasks take live connections that cannot be hashed.
    """
    from prefect.cache_policies import NO_CACHE
    from prefect.tasks import exponential_backoff

    return {
        "retries": attempts,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff_s),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_transient,
        "cache_policy": cache_policy or NO_CACHE,
    }

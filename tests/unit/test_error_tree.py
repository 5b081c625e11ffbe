"""One error tree: every DataWiz exception is transient or terminal, and keeps the standard base callers caught.

The retry policy (`datawiz.core.errors.is_transient`) reads the family only; before the tree, blocks/ said
so with a `transient` attribute or by deriving from ConnectionError. These tests pin both the family and
the compatibility bases, so a re-parenting cannot silently turn a retried error terminal or the reverse.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pymysql
import pytest

from blocks.source import SourceChanged, SourceConfigError, SourceError, SourceRefused, SourceUnavailable
from blocks.transport import InsecureTransport
from blocks.warehouse.base import AlreadyLoaded
from blocks.warehouse.duckdb import DuckDBWarehouse, WarehouseBusy
from blocks.warehouse.files_load import PushdownRefused
from blocks.warehouse.mysql import ConnectionLost
from blocks.warehouse.stream_load import StreamLoadFailed, StreamLoadUnavailable
from datawiz.core.errors import ConfigError, DataWizError, TerminalError, TransientError, is_transient
from deployments.blocks import SettingsError
from tasks.alerts import RunNotFound
from tasks.health import CheckFailed
from tasks.notify import EmailFailed

PACKAGES = ("datawiz", "blocks", "tasks", "flows", "deployments")

# Family roots, and the few exceptions that are verdicts or exits rather than failures to classify.
OUTSIDE_THE_TREE = {
    "datawiz.core.errors.DataWizError",  # the root of both families
    "blocks.source_base.SourceError",  # root of the source family, raised only as a subclass
    "tasks.load._Doomed",  # internal: ends a load thread, never leaves tasks.load
    "datawiz.starrocks_selftest.Skip",  # selftest verdicts, printed, never raised out of it
    "datawiz.starrocks_selftest.Failed",
    "tasks.run.LocalServerTimeout",  # a SystemExit with a message: ends the command line
}


@pytest.mark.parametrize(("exc", "transient", "legacy"), [
    (SourceChanged("x"), False, RuntimeError),
    (SourceConfigError("x"), False, RuntimeError),
    (SourceRefused("x"), False, RuntimeError),
    (SourceUnavailable("x"), True, RuntimeError),
    (InsecureTransport("x"), False, ValueError),
    (PushdownRefused("x"), False, ValueError),
    (StreamLoadFailed("x"), False, RuntimeError),
    (StreamLoadUnavailable("x"), True, ConnectionError),
    (AlreadyLoaded("x"), False, Exception),
    (CheckFailed("x"), False, RuntimeError),
    (SettingsError("x"), False, ValueError),
    (EmailFailed("x"), True, Exception),
    (RunNotFound("x"), False, Exception),
    (ConnectionLost(2013, "lost"), True, pymysql.err.OperationalError),
    (WarehouseBusy("x"), True, duckdb.IOException),
])
def test_each_error_is_in_its_family_and_keeps_its_old_base(exc: Exception, transient: bool, legacy: type) -> None:
    family = TransientError if transient else TerminalError
    assert isinstance(exc, family)
    assert is_transient(exc) is transient
    assert isinstance(exc, legacy)


def test_source_errors_are_one_family_and_config_errors_are_config_errors() -> None:
    for cls in (SourceChanged, SourceConfigError, SourceRefused, SourceUnavailable):
        assert issubclass(cls, SourceError) and issubclass(cls, DataWizError)
    assert issubclass(SourceConfigError, ConfigError)


def test_the_transient_attribute_protocol_is_gone() -> None:
    class Declares(Exception):
        transient = True

    assert not is_transient(Declares())


def _all_exception_classes() -> Iterator[type[BaseException]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            yield cls


def test_every_datawiz_exception_is_transient_or_terminal() -> None:
    outside = sorted({
        f"{cls.__module__}.{cls.__qualname__}" for cls in _all_exception_classes()
        if not issubclass(cls, TransientError | TerminalError)
    } - OUTSIDE_THE_TREE)
    assert not outside, f"derive these from TransientError or TerminalError (datawiz.core.errors): {outside}"


def test_a_duckdb_file_locked_by_another_process_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
         " time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        warehouse = DuckDBWarehouse(path=str(path))
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as busy:
            warehouse.query("SELECT 1")
        assert is_transient(busy.value) and isinstance(busy.value, duckdb.IOException)
        assert str(path) in str(busy.value) and time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait(timeout=30)

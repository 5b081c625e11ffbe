"""The fetch task's retry policy, driven by the transient/terminal split (no Azure needed)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from prefect import flow

from blocks.source import SourceChanged, SourceConfigError, SourceUnavailable
from blocks.types import SourceFile
from tasks.extract import PlannedFile, fetch_file, fetch_files
from tasks.report import RunSummary
from tasks.run import RunContext, backup_files

pytestmark = pytest.mark.integration


class FlakySource:
    """A source whose first `failures` fetches raise `error`; counts every attempt."""

    def __init__(self, root: Path, error: Exception, failures: int) -> None:
        self.root, self.error, self.failures, self.calls = root, error, failures, 0

    def describe(self) -> str:
        return "flaky test source"

    def list_files(self, prefixes: object) -> list[SourceFile]:
        return []

    def fetch(self, file: SourceFile, dest: Path) -> Path:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / file.path, dest)
        return dest


@flow(name="test-fetch-with-retries")
def fetch_once(source: FlakySource, file: SourceFile) -> str:
    # No delay between retries: the policy under test is *whether* to retry, not how long to wait.
    return fetch_file.with_options(retry_delay_seconds=0)(source, file)


@pytest.fixture
def landing(workdir: Path) -> tuple[Path, SourceFile]:
    (workdir / "landing").mkdir()
    (workdir / "landing" / "f.csv").write_text("a\n1\n")
    return workdir / "landing", SourceFile("f.csv", "v1", 4)


def test_transient_source_errors_are_retried_by_prefect(prefect_server: None, landing: tuple[Path, SourceFile]) -> None:
    root, file = landing
    source = FlakySource(root, SourceUnavailable("503 ServerBusy after retries"), failures=2)
    assert Path(fetch_once(source, file)).read_text() == "a\n1\n"
    assert source.calls == 3


def test_terminal_source_errors_fail_at_once(prefect_server: None, landing: tuple[Path, SourceFile]) -> None:
    root, file = landing
    source = FlakySource(root, SourceConfigError("container 'x' does not exist"), failures=5)
    with pytest.raises(SourceConfigError):
        fetch_once(source, file)
    assert source.calls == 1


@flow(name="test-backup-with-a-changed-file")
def backup(source: FlakySource, file: SourceFile) -> list[str]:
    ctx = RunContext(source, None, RunSummary("test", None, "test-run"))  # type: ignore[arg-type]
    return backup_files(ctx, [PlannedFile(file, None, "none", "none")])


def test_backup_skips_a_version_that_changed_and_does_not_retry_it(
    prefect_server: None, landing: tuple[Path, SourceFile]
) -> None:
    root, file = landing
    source = FlakySource(root, SourceChanged("f.csv changed or was deleted after it was listed"), failures=5)
    assert backup(source, file) == []  # the load step re-plans it; the run goes on
    assert source.calls == 1


class FlakyPaths(FlakySource):
    """A source whose fetches of the paths in `flaky` raise `error` the first `failures` times; counts per path."""

    def __init__(self, root: Path, error: Exception, failures: int, flaky: set[str]) -> None:
        super().__init__(root, error, failures)
        self.flaky, self.per_path = flaky, Counter[str]()

    def fetch(self, file: SourceFile, dest: Path) -> Path:
        self.per_path[file.path] += 1
        if file.path in self.flaky and self.per_path[file.path] <= self.failures:
            raise self.error
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / file.path, dest)
        return dest


@flow(name="test-backup-step")
def backup_step(source: FlakySource, files: list[SourceFile], root: str) -> list[str]:
    # The backup step's task, without the delay between retries (what is retried is under test, not when).
    return fetch_files.with_options(retry_delay_seconds=0)(source, files, root, 2)


@pytest.fixture
def three_files(workdir: Path) -> tuple[Path, list[SourceFile]]:
    (workdir / "landing").mkdir(exist_ok=True)
    files = []
    for name in ("a.csv", "b.csv", "c.csv"):
        (workdir / "landing" / name).write_text(f"x\n{name}\n")
        files.append(SourceFile(name, "v1", len(f"x\n{name}\n")))
    return workdir / "landing", files


def test_backup_retries_a_transient_failure_downloading_only_the_missing_copy(
    prefect_server: None, three_files: tuple[Path, list[SourceFile]], workdir: Path
) -> None:
    root, files = three_files
    source = FlakyPaths(root, SourceUnavailable("503 ServerBusy after retries"), failures=2, flaky={"b.csv"})
    paths = backup_step(source, files, str(workdir / "raw"))
    assert [Path(p).read_text() for p in paths] == ["x\na.csv\n", "x\nb.csv\n", "x\nc.csv\n"]
    assert source.per_path == {"a.csv": 1, "b.csv": 3, "c.csv": 1}  # the retries fetched only b again


def test_backup_never_downloads_a_copy_that_is_there(
    prefect_server: None, three_files: tuple[Path, list[SourceFile]], workdir: Path
) -> None:
    root, files = three_files
    source = FlakyPaths(root, SourceUnavailable("unused"), failures=0, flaky=set())
    first = backup_step(source, files, str(workdir / "raw"))
    assert backup_step(source, files, str(workdir / "raw")) == first  # a re-run: every copy is there
    Path(first[1]).unlink()  # a copy that has gone is downloaded again, only it
    assert backup_step(source, files, str(workdir / "raw")) == first
    assert source.per_path == {"a.csv": 1, "b.csv": 2, "c.csv": 1}


def test_backup_stops_on_a_terminal_failure_without_retrying(
    prefect_server: None, three_files: tuple[Path, list[SourceFile]], workdir: Path
) -> None:
    root, files = three_files
    source = FlakyPaths(root, SourceConfigError("container 'x' does not exist"), failures=5, flaky={"a.csv"})
    with pytest.raises(SourceConfigError):
        backup_step(source, files, str(workdir / "raw"))
    assert source.per_path == {"a.csv": 1, "b.csv": 1, "c.csv": 1}  # the others still came down, once

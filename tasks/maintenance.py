"""Monthly housekeeping: archive old raw backups, purge quarantine and logs past retention, analyse tables.

Raw backups are compressed one file each into `data/archive/raw/<dir>/<stem>@<version><ext>.gz`: the
name still holds the landing path and version, which is the key of `etl_file_ledger`, so every
archived copy stays linked to its ledger row (and a re-run that needs it downloads it again).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.warehouse.base import Warehouse, split_statements, sql_file
from datawiz.core.environment import env_name
from datawiz.logs import log_dir as log_dir  # the JSON log files' folder, $DATAWIZ_LOG_DIR (flows/maintenance.py)
from tasks.notify import Email, render


@dataclass
class MaintenanceReport:
    """What one maintenance run did."""

    archived_files: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    purged_quarantine_files: int = 0
    purged_quarantine_rows: int = 0
    purged_log_files: int = 0
    analysed: list[str] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str]]:
        """(what, outcome) pairs for the email and the artifact."""
        saved = f" ({self.bytes_before / 1e6:.1f} MB → {self.bytes_after / 1e6:.1f} MB)" if self.archived_files else ""
        return [
            ("raw backups archived", f"{self.archived_files:,}{saved}"),
            ("quarantine copies purged", f"{self.purged_quarantine_files:,}"),
            ("quarantine rows purged (etl_quarantine)", f"{self.purged_quarantine_rows:,}"),
            ("log files purged", f"{self.purged_log_files:,}"),
            ("warehouse statements", "; ".join(self.analysed) or "none"),
        ]


def _older_than(folder: Path, days: int, now: dt.datetime, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        return []
    cutoff = (now - dt.timedelta(days=days)).timestamp()
    return sorted(p for p in folder.rglob(pattern) if p.is_file() and p.stat().st_mtime < cutoff)


def _gzip(source: Path, target: Path) -> int:
    """Compress `source` into `target` (atomic rename, source's mtime kept); returns the compressed size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with source.open("rb") as src, gzip.open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    stat = source.stat()
    os.utime(tmp, (stat.st_atime, stat.st_mtime))
    tmp.replace(target)
    return target.stat().st_size


@task(name="archive-raw", cache_policy=NO_CACHE)
def archive_raw(raw: Path, archive: Path, older_than_days: int, now: dt.datetime) -> tuple[int, int, int]:
    """Compress raw backups older than the retention into the archive, delete the originals.

    Returns (files, bytes before, bytes after).
    """
    files = before = after = 0
    for path in _older_than(raw, older_than_days, now):
        if path.name.endswith(".part"):  # a download in progress (or abandoned): not a backup
            continue
        size = path.stat().st_size
        after += _gzip(path, archive / path.relative_to(raw).with_name(path.name + ".gz"))
        path.unlink()  # only after the compressed copy is in place
        files, before = files + 1, before + size
    return files, before, after


@task(name="purge-files", cache_policy=NO_CACHE)
def purge_files(folder: Path, older_than_days: int, now: dt.datetime) -> int:
    """Delete files under `folder` older than the retention; returns how many."""
    old = _older_than(folder, older_than_days, now)
    for path in old:
        path.unlink()
    return len(old)


@task(name="purge-quarantine-rows", cache_policy=NO_CACHE)
def purge_quarantine_rows(warehouse: Warehouse, older_than_days: int, now: dt.datetime) -> int:
    """Delete etl_quarantine rows older than the retention (the ledger keeps the counts); returns how many."""
    cutoff = (now - dt.timedelta(days=older_than_days)).astimezone(dt.UTC).replace(tzinfo=None)
    return warehouse.quarantine_purge(cutoff)


@task(name="analyse-tables", cache_policy=NO_CACHE)
def analyse_tables(warehouse: Warehouse) -> list[str]:
    """Run the backend's sql/<dialect>/maintenance.sql (statistics, compaction) one statement at a time.

    One at a time, outside a transaction: ANALYZE and CHECKPOINT refuse to run inside one.
    """
    statements = split_statements(sql_file(warehouse.dialect, "maintenance"))
    for statement in statements:
        warehouse.execute(statement)
    return [" ".join(s.split()[:3]) + (" …" if len(s.split()) > 3 else "") for s in statements]


def publish_maintenance_report(report: MaintenanceReport) -> None:
    """The report as a markdown artifact (key `datawiz-<env>-maintenance`)."""
    rows = [f"| {what} | {outcome} |" for what, outcome in report.lines()]
    markdown = "\n".join(["| what | outcome |", "|---|---|", *rows])
    create_markdown_artifact(key=env_name("maintenance"), markdown=markdown, description="DataWiz monthly maintenance")


def maintenance_email(report: MaintenanceReport, retention: dict[str, int], link: str | None) -> Email:
    """The monthly maintenance report email."""
    subject = f"monthly maintenance: {report.archived_files:,} backups archived, " \
              f"{report.purged_quarantine_rows:,} quarantine rows purged"
    return render("maintenance", subject, {"lines": report.lines(), "retention": retention, "link": link})

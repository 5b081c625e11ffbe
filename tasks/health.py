"""Health checks: can the configured source and warehouse be reached, as the flows would reach them?

Used by `datawiz check` (one line per target) and by the hourly health flow, which adds disk space,
facts and evening run on time, and SMTP. A check lists one small prefix of the source and runs
`SELECT 1` on the warehouse (which, like a flow, creates an embedded DuckDB file that does not exist yet).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.variables import Variable

from blocks.email import DataWizEmail
from blocks.source import resolve_source
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.base import Warehouse
from blocks.warehouse.mysql import PyMySQLBlock
from blocks.warehouse.starrocks import StarRocksConnector
from datawiz.core.environment import env_name
from datawiz.core.errors import TerminalError, describe_error
from datawiz.core.redact import redact
from datawiz.core.registry import CONTRACTS, FACTS
from tasks.notify import Email, email_settings, open_smtp, render
from tasks.paths import data_dir
from tasks.starrocks_grants import short_version, starrocks_grant_report

# The smallest prefix every landing area has: listing it proves the container (or folder) and credentials.
_PROBE_PREFIX = "config/"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: what was checked, whether it worked, and the description or the reason."""

    target: str
    ok: bool
    detail: str

    def line(self) -> str:
        """`OK   source    <description>` or `FAIL source    <reason>`."""
        return f"{'OK' if self.ok else 'FAIL':<4} {self.target:<9} {self.detail}"


class CheckFailed(TerminalError, RuntimeError):
    """A check's own verdict: its message is the whole FAIL detail (no exception type in front).

    Terminal: the check has looked and answered. Still a RuntimeError, as callers knew it."""


def _run_check(target: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(target, True, probe())
    except CheckFailed as exc:
        return CheckResult(target, False, redact(str(exc)))
    except Exception as exc:  # any failure is the answer, not a crash of the check
        return CheckResult(target, False, describe_error(exc))


def check_source(spec: str | None) -> CheckResult:
    """Resolve the source like the flows do and list one small prefix."""

    def probe() -> str:
        source = resolve_source(spec)
        source.list_files([_PROBE_PREFIX])
        return source.describe()

    return _run_check("source", probe)


def check_warehouse(spec: str | None) -> CheckResult:
    """Resolve the warehouse like the flows do and run `SELECT 1`."""

    def probe() -> str:
        warehouse = resolve_warehouse(spec)
        try:
            warehouse.query("SELECT 1 AS ok")
            return warehouse.describe()
        finally:
            warehouse.close()

    return _run_check("warehouse", probe)


# What loading needs on MySQL/MariaDB: rows in (INSERT), re-delivery and quarantine (DELETE), migrations (CREATE).
MYSQL_LOAD_PRIVILEGES = ("INSERT", "DELETE", "CREATE")
_GRANT_ON = re.compile(r"(?is)^GRANT\s+(.+?)\s+ON\s+(?:(?:TABLE|DATABASE)\s+)?(\S+)\s+TO\s")


def _like(pattern: str, value: str) -> bool:
    """MySQL's grant-level wildcard match (`%`, `_`, and `\\_` for a literal underscore)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), value) is not None


def mysql_missing_privileges(grants: list[str], database: str) -> list[str]:
    """Which of MYSQL_LOAD_PRIVILEGES the SHOW GRANTS lines do not give on `database` (global or database level)."""
    have: set[str] = set()
    for line in grants:
        m = _GRANT_ON.match(line.strip())
        if m is None:  # a role grant (GRANT role TO user): roles are not followed
            continue
        level = m.group(2).replace("`", "")
        db, _, table = level.rpartition(".")
        if table != "*" or not (db == "*" or _like(db, database)):
            continue
        names = {p.strip().upper() for p in re.sub(r"\([^)]*\)", "", m.group(1)).split(",")}
        if names & {"ALL", "ALL PRIVILEGES"}:
            names |= set(MYSQL_LOAD_PRIVILEGES)
        have |= names
    return [p for p in MYSQL_LOAD_PRIVILEGES if p not in have]


def starrocks_can_load(grants: list[str]) -> bool:
    """Coarse legacy answer (INSERT somewhere, a root/db_admin role grant, or a v2 LOAD_PRIV column).

    Kept for callers of the old API; `datawiz check` uses `starrocks_grant_report`, which follows roles
    and names every missing privilege.
    """
    for line in grants:
        for m in re.finditer(r"(?i)\bGRANT\s+(.+?)\s+ON\s", line):  # v3 object privileges
            if {p.strip().upper() for p in m.group(1).split(",")} & {"INSERT", "ALL", "ALL PRIVILEGES"}:
                return True
        roles = re.search(r"(?i)\bGRANT\s+((?:'[^']+'\s*,?\s*)+)TO\b", line)  # v3 role grants
        if roles and re.search(r"'(root|db_admin)'", roles.group(1)):
            return True
        if re.search(r"(?i)\b(LOAD_PRIV|ADMIN_PRIV|NODE_PRIV)\b", line):  # v2 privilege columns
            return True
    return False


def _mysql_load(wh: PyMySQLBlock) -> str:
    version = wh.fetch_one("SELECT version()")[0]
    grants = [str(r[0]) for r in wh.fetch_all("SHOW GRANTS")]
    missing = mysql_missing_privileges(grants, wh.database)
    infile = bool(int(wh.fetch_one("SELECT @@GLOBAL.local_infile")[0] or 0))
    problems = []
    if missing:
        problems.append(f"user {wh.user} lacks {', '.join(missing)} on database {wh.database}")
    if not infile:
        problems.append("local_infile is OFF on the server (LOAD DATA LOCAL INFILE is refused)")
    if problems:
        raise RuntimeError(f"{version}: cannot load: {'; '.join(problems)}")
    return f"{version}: user {wh.user} can load into {wh.database} (INSERT, DELETE, CREATE; local_infile ON)"


def _starrocks_load(wh: StarRocksConnector) -> str:
    version = short_version(wh.fetch_one("SELECT current_version()")[0])
    report = starrocks_grant_report(wh)
    if not report.ok:
        raise CheckFailed(f"StarRocks {version}: {report.describe(wh.user)}")
    return f"StarRocks {version}: {report.describe(wh.user)}"


def check_load_privileges(spec: str | None) -> list[CheckResult]:
    """MySQL/MariaDB and StarRocks: server version and whether this user can load; none for DuckDB.

    StarRocks adds a `stream load` line first: where a load goes (the FE's redirect) and, when that hop is
    plain HTTP, the one setting it needs — said before any run instead of failing the first load.
    """
    try:
        wh = resolve_warehouse(spec)
    except Exception:  # check_warehouse reports why
        return []
    try:
        if wh.capabilities.stream_load:
            starrocks = cast(StarRocksConnector, wh)
            return [_run_check("stream load", starrocks.load_route),
                    _run_check("load", lambda: _starrocks_load(starrocks))]
        if wh.capabilities.dialect == "mysql":
            return [_run_check("load", lambda: _mysql_load(cast(PyMySQLBlock, wh)))]
        return []  # DuckDB: a local file, no users or grants
    finally:
        wh.close()


def run_checks(source: str | None, warehouse: str | None, email: str | None = None) -> list[CheckResult]:
    """Every connectivity check, in a fixed order; SMTP too when an email block is named (or $DATAWIZ_EMAIL)."""
    results = [check_source(source), check_warehouse(warehouse), *check_load_privileges(warehouse)]
    try:
        settings = email_settings(email)
    except Exception as exc:  # a missing block is a failed check, not a crash
        return [*results, CheckResult("smtp", False, describe_error(exc))]
    return results if settings is None else [*results, check_smtp(settings)]


# ------------------------------------------------------------------------------------- checks of the health flow
def check_smtp(settings: DataWizEmail) -> CheckResult:
    """Connect to the SMTP server of the email block (TLS and login as configured) and say NOOP."""

    def probe() -> str:
        creds = settings.credentials
        with open_smtp(creds, settings.timeout_seconds, settings.allow_insecure) as server:
            server.noop()
        kind = getattr(creds.smtp_type, "name", creds.smtp_type)
        return f"{creds.smtp_server}:{creds.smtp_port or ''} ({kind}), {len(settings.recipients)} recipient(s)"

    return _run_check("smtp", probe)


def check_disk(folder: Path, min_free_gb: float) -> CheckResult:
    """Free space on the file system of the data folder (raw backups and quarantine copies grow there)."""

    def probe() -> str:
        existing = next(p for p in (folder, *folder.resolve().parents) if p.exists())
        free_gb = shutil.disk_usage(existing).free / 1e9
        if free_gb < min_free_gb:
            raise RuntimeError(f"{folder}: {free_gb:.1f} GB free, below the {min_free_gb:g} GB minimum")
        return f"{folder}: {free_gb:.1f} GB free"

    return _run_check("disk", probe)


def due_dates(now: dt.datetime, morning_due_hour: int = 10, evening_due_hour: int = 20) -> tuple[dt.date, dt.date]:
    """(newest fact date, newest evening date) that must be loaded by `now` (IST).

    The morning run (08:00) loads yesterday's facts and the evening run (18:00) today's dimensions;
    each is given until its due hour before its absence counts as a problem.
    """
    today = now.date()
    facts = today - dt.timedelta(days=1 if now.hour >= morning_due_hour else 2)
    evening = today if now.hour >= evening_due_hour else today - dt.timedelta(days=1)
    return facts, evening


def check_facts_loaded(warehouse: Warehouse, expected: dt.date, tables: tuple[str, ...]) -> CheckResult:
    """Every fact table has a loaded file for `expected` or later (the ledger says so)."""

    def probe() -> str:
        missing = sorted(set(tables) - set(warehouse.ledger_newest_dates(since=expected)))
        if missing:
            raise RuntimeError(f"no facts for {expected} or later in {', '.join(missing)}")
        return f"facts of {expected} loaded ({', '.join(tables)})"

    return _run_check("facts", probe)


def check_evening_done(warehouse: Warehouse, expected: dt.date) -> CheckResult:
    """A completed evening run for `expected` or later is in etl_run_log."""

    def probe() -> str:
        done = warehouse.run_log_completed("evening", expected)
        if done is None:
            raise RuntimeError(f"no completed evening run for {expected} in etl_run_log")
        return f"evening run of {done} completed"

    return _run_check("evening", probe)


def check_loads(
    warehouse: str | None, facts_due: dt.date, evening_due: dt.date, tables: tuple[str, ...]
) -> list[CheckResult]:
    """The facts and evening checks, on one warehouse connection (FAIL both when it cannot be opened)."""
    try:
        wh = resolve_warehouse(warehouse)
    except Exception as exc:
        reason = f"warehouse unavailable: {describe_error(exc)}"
        return [CheckResult("facts", False, reason), CheckResult("evening", False, reason)]
    try:
        return [check_facts_loaded(wh, facts_due, tables), check_evening_done(wh, evening_due)]
    finally:
        wh.close()


@task(name="health-checks", cache_policy=NO_CACHE)
def health_checks(
    source: str | None, warehouse: str | None, settings: DataWizEmail | None, now: dt.datetime, min_free_gb: float
) -> list[CheckResult]:
    """Every check of the health flow: reachability, disk space, facts and evening run on time, SMTP."""
    facts_due, evening_due = due_dates(now)
    fact_tables = tuple(CONTRACTS[name].target_table for name in FACTS)
    results = [check_source(source), check_warehouse(warehouse), check_disk(data_dir(), min_free_gb)]
    results += check_loads(warehouse, facts_due, evening_due, fact_tables)
    if settings is not None:
        results.append(check_smtp(settings))
    return results


def publish_health_report(results: list[CheckResult]) -> None:
    """The checks as a markdown artifact (key `datawiz-<env>-health`), one row per check."""
    rows = [f"| {r.target} | {'OK' if r.ok else '**FAIL**'} | {r.detail.replace('|', '/')} |" for r in results]
    markdown = "\n".join(["| check | result | detail |", "|---|---|---|", *rows])
    create_markdown_artifact(key=env_name("health"), markdown=markdown, description="DataWiz health checks")


# ------------------------------------------------------------------------------------------------ health alerts
def failing(results: list[CheckResult]) -> list[str]:
    """The targets of the failed checks, sorted: what an alert is about."""
    return sorted(r.target for r in results if not r.ok)


def alert_due(now_failing: list[str], previous: dict[str, object] | None, now: dt.datetime,
              repeat_hours: float) -> bool:
    """Email when the set of failing checks changed (new trouble, or all clear) or trouble outlasts `repeat_hours`.

    An hourly flow must not send the same alert every hour through a night-long outage.
    """
    # The Variable holds what this flow stored last time (`failing`: a list of check names).
    before = list(cast("list[str]", previous.get("failing", []))) if previous else []
    if now_failing != before:
        return bool(now_failing or before)
    if not now_failing or not previous:
        return False
    last = dt.datetime.fromisoformat(str(previous.get("alerted_at")))
    return now - last >= dt.timedelta(hours=repeat_hours)


def health_email(results: list[CheckResult], link: str | None) -> Email:
    """The system-health alert: every check with OK/FAIL and its detail."""
    bad = failing(results)
    subject = f"health: {len(bad)} problem(s): {', '.join(bad)}" if bad else "health: all checks OK again"
    return render("health", subject, {"results": results, "bad": bad, "link": link})


def _alert_variable() -> str:
    return env_name("health-alert")


def last_alert() -> dict[str, object] | None:
    """What the last health alert was about and when it was sent (a Prefect Variable)."""
    value = Variable.get(_alert_variable())
    return value if isinstance(value, dict) else None


def remember_alert(now_failing: list[str], now: dt.datetime) -> None:
    """Record the alert just sent, so the next hourly run does not repeat it."""
    Variable.set(_alert_variable(), {"failing": now_failing, "alerted_at": now.isoformat()}, overwrite=True)

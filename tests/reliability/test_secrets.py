"""Secrets (issue 10 §6): with a password in every block and URL, no run leaves one anywhere a person can read.

Set-up: a MariaDB user with a random password (used through a saved warehouse block *and* a warehouse URL),
an SMTP server requiring login (STARTTLS) behind a saved email block, the landing area in Azurite read
through a connection string with an AccountKey. Then every flow runs against the session's Prefect server —
evening, morning (with defects: validation alert + CSV), backfill, daily-report, health (healthy, then with
a wrong password), maintenance, alert (for a failed run) — plus failing runs (wrong password, unreachable
database). Everything that is kept is searched for every secret (and its URL-encoded and base64 forms):
run logs, flow/task run parameters and state messages read back from the Prefect API, artifacts, captured
stdout/stderr, the JSON log files, the exceptions raised, every email (decoded parts and attachments), the
exported spans and metrics, `prefect.yaml`, and the files of the repository.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email as email_lib
import email.policy
import logging
import re
import subprocess
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from azure.storage.blob import ContainerClient
from prefect.client.orchestration import get_client
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.email import DataWizEmail
from blocks.warehouse.mysql import MySQLWarehouse
from datawiz.sample_data import generate
from tests.integration.azurite import AZURITE_KEY, azurite  # noqa: F401
from tests.integration.mariadb import HOST, PORT, _connect
from tests.integration.smtp import SMTP_USER, smtp_server
from tests.integration.test_azure_source import upload_folder
from tests.reliability.conftest import Tally

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
REPO = Path(__file__).resolve().parents[2]
END = dt.date(2025, 11, 20)


@dataclass
class Secrets:
    """The secrets of this test and every form in which one could leak."""

    db: str = field(default_factory=lambda: f"Db;{uuid.uuid4().hex[:12]}@pw")
    wrong_db: str = field(default_factory=lambda: f"Wrong;{uuid.uuid4().hex[:12]}@pw")
    smtp: str = field(default_factory=lambda: f"Smtp;{uuid.uuid4().hex[:12]}@pw")
    azure_key: str = AZURITE_KEY

    def forms(self) -> dict[str, str]:
        out = {}
        for name, value in (("db", self.db), ("wrong_db", self.wrong_db), ("smtp", self.smtp),
                            ("azure_key", self.azure_key)):
            out[name] = value
            out[f"{name} (url-encoded)"] = quote(value, safe="")
            out[f"{name} (base64)"] = base64.b64encode(value.encode()).decode()
        for user, pw in (("user", self.db), ("smtp", self.smtp)):
            # AUTH PLAIN / basic auth carry user:password (or \0user\0password) in base64.
            out[f"{user} basic auth"] = base64.b64encode(f"{SMTP_USER}:{pw}".encode()).decode()
            out[f"{user} AUTH PLAIN"] = base64.b64encode(f"\0{SMTP_USER}\0{pw}".encode()).decode()
        return out


@dataclass
class Evidence:
    """Everything a run left behind that a person (or another system) can read, by where it was found."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: object) -> None:
        self.texts[where] = self.texts.get(where, "") + "\n" + str(text)

    def leaks(self, secrets: dict[str, str]) -> list[str]:
        return [f"{name} in {where}" for where, text in self.texts.items() for name, value in secrets.items()
                if value in text]


@pytest.fixture
def database(mariadb: None) -> Iterator[tuple[str, str]]:
    """A fresh database and a user with a password on it: (user, database)."""
    user, name = f"dw_s_{uuid.uuid4().hex[:8]}", f"dw_test_{uuid.uuid4().hex[:12]}"
    conn = _connect()
    yield user, name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        cur.execute("DROP USER IF EXISTS %s@'localhost'", (user,))
    conn.close()


def _create(user: str, name: str, password: str) -> None:
    conn = _connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        for host in ("%", "localhost"):
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
            cur.execute(f"GRANT ALL ON `{name}`.* TO %s@%s", (user, host))
    conn.close()


def _email_texts(raw: bytes) -> str:
    """Every part of an email as a person's mail client shows it: headers, decoded bodies, attachments."""
    msg = email_lib.message_from_bytes(raw, policy=email.policy.default)
    parts = [raw.decode("utf-8", "replace")]
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if payload:
            parts.append(payload.decode("utf-8", "replace"))
    return "\n".join(parts)


async def _api_evidence(evidence: Evidence, since: dt.datetime) -> int:
    """Run logs, flow/task run parameters and state messages, artifacts and variables from the Prefect API."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterTimestamp,
    )

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            start_time=FlowRunFilterStartTime(after_=since)), limit=200)
        for run in runs:
            evidence.add(f"flow run {run.name} parameters", run.parameters)
            evidence.add(f"flow run {run.name} state", f"{run.state_name} {run.state.message if run.state else ''}")
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [r.id for r in runs]}))
        for t in tasks:
            evidence.add(f"task run {t.name} state", t.state.message if t.state else "")
        offset, lines = 0, 0
        while True:
            logs = await client.read_logs(log_filter=LogFilter(timestamp=LogFilterTimestamp(after_=since)),
                                          limit=200, offset=offset)
            if not logs:
                break
            evidence.add("Prefect run logs (API)", "\n".join(entry.message for entry in logs))
            offset, lines = offset + len(logs), lines + len(logs)
        for artifact in await client.read_artifacts(limit=200):
            evidence.add(f"artifact {artifact.key}", f"{artifact.description} {artifact.data}")
        for variable in await client.read_variables(limit=200):
            evidence.add(f"variable {variable.name}", variable.value)
    return len(runs)


def _run(evidence: Evidence, what: str, fn: object, *args: object, **kwargs: object) -> object:
    """Run a flow; a failure is expected for some and its exception (message, repr, traceback) is evidence."""
    try:
        return fn(*args, **kwargs)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001  (failing runs are part of the test)
        evidence.add(f"exception of {what}", "".join(traceback.format_exception(exc)) + repr(exc))
        return exc


@pytest.mark.fault_injection  # ten flow runs (~1 min): `make test-reliability`
def test_no_secret_in_logs_artifacts_errors_emails_spans_or_repo(  # noqa: PLR0915 - one scenario, start to end
    prefect_server: None, database: tuple[str, str], azurite: str, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tally: Tally,
) -> None:
    from flows.alert import alert
    from flows.backfill import backfill
    from flows.daily_report import daily_report
    from flows.evening import evening
    from flows.health import health
    from flows.maintenance import maintenance
    from flows.morning import morning

    secrets, evidence = Secrets(), Evidence()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    user, name = database
    _create(user, name, secrets.db)
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    # Health remembers its last alert in a Prefect Variable named after the environment: a private one here,
    # so the failing health run of this test leaves no "trouble" behind for other tests on the same server.
    monkeypatch.setenv("DATAWIZ_ENV", f"secrets{uuid.uuid4().hex[:8]}")  # a valid name: letters and digits
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    try:
        from tests.otel_harness import telemetry  # the observability suite's in-memory exporter, when present
        capture = telemetry().capture()
    except ImportError:  # pragma: no cover - only before observability existed
        capture = None

    # Landing area in Azurite, read through a connection string holding the account key.
    landing = tmp_path / "landing"
    generate(landing, days=2, fis_rows_per_day=60, end_date=END, defects=True, history_months=1)
    container = f"secrets-{uuid.uuid4().hex[:8]}"
    client = ContainerClient.from_connection_string(azurite, container)
    client.create_container()
    upload_folder(client, landing)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    source = f"az://{container}"

    # A saved warehouse block and a URL, both with the password; a saved email block with the SMTP login.
    tag = uuid.uuid4().hex[:8]
    MySQLWarehouse(host=HOST, port=PORT, user=user, password=SecretStr(secrets.db), database=name).save(
        f"secrets-{tag}", overwrite=True)
    block = f"datawiz-mysql-warehouse/secrets-{tag}"
    url = f"mysql://{user}:{quote(secrets.db, safe='')}@{HOST}:{PORT}/{name}"
    wrong = f"mysql://{user}:{quote(secrets.wrong_db, safe='')}@{HOST}:{PORT}/{name}"
    unreachable = f"mysql://{user}:{quote(secrets.db, safe='')}@{HOST}:1/{name}?connect_timeout=2"

    with smtp_server(secrets.smtp, tls="starttls", folder=tmp_path) as (port, mailbox), \
            (capture if capture is not None else _nothing()) as captured:
        creds = EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=port, smtp_type="STARTTLS",
                                       username=SMTP_USER, password=SecretStr(secrets.smtp), verify=False)
        DataWizEmail(credentials=creds, sender="datawiz@example.com", recipients=["ops@example.com"],
                     timeout_seconds=10).save(f"secrets-{tag}", overwrite=True)
        monkeypatch.setenv("DATAWIZ_EMAIL", f"datawiz-email/secrets-{tag}")

        _run(evidence, "evening", evening, business_date=END, source=source, warehouse=url)
        _run(evidence, "morning", morning, business_date=END, source=source, warehouse=block, skip_wait=True)
        _run(evidence, "backfill", backfill, source=source, warehouse=block)
        _run(evidence, "daily-report", daily_report, business_date=END, warehouse=block)
        _run(evidence, "health ok", health, source=source, warehouse=block)
        _run(evidence, "health wrong password", health, source=source, warehouse=wrong)
        _run(evidence, "maintenance", maintenance, warehouse=block)
        failed = _run(evidence, "morning wrong password", morning, business_date=END, source=source,
                      warehouse=wrong, skip_wait=True, return_state=True)
        _run(evidence, "morning unreachable", morning, business_date=END, source=source, warehouse=unreachable,
             skip_wait=True)
        failed_id = str(getattr(failed, "state_details", None) and failed.state_details.flow_run_id)  # type: ignore[union-attr]
        _run(evidence, "alert", alert, flow_run_id=failed_id, rerun_crashed=False)
        tally.run(10)
        tally.fault("secrets:wrong-password", 2)
        tally.fault("secrets:unreachable-db")

        subjects = [m["Subject"] for m in mailbox.messages()]
        for i, raw in enumerate(mailbox.raw):
            evidence.add(f"email {i} {subjects[i]!r}", _email_texts(raw))
        if captured is not None:
            assert captured.spans(), "the in-memory exporter saw no span: the span search would be empty"
            for span in captured.spans():
                evidence.add("spans", f"{span.name} {dict(span.attributes or {})} {span.status} {span.events}")
            evidence.add("metrics", captured.metrics())

    flow_runs = asyncio.run(_api_evidence(evidence, started))
    out, err = capfd.readouterr()
    evidence.add("captured stdout", out)
    evidence.add("captured stderr", err)
    for handler in logging.getLogger().handlers + logging.getLogger("prefect").handlers:
        path = getattr(handler, "baseFilename", None)
        if path and Path(path).exists():
            evidence.add(f"log file {Path(path).name}", Path(path).read_text(errors="replace"))
    for path in (REPO / "logs").rglob("*") if (REPO / "logs").is_dir() else []:
        if path.is_file():
            evidence.add(f"log file {path.relative_to(REPO)}", path.read_text(errors="replace"))
    evidence.add("prefect.yaml", (REPO / "prefect.yaml").read_text())

    # The runs did happen and did fail where they had to: the search is not over empty text.
    assert len(mailbox.raw) >= 4, subjects
    assert any("validation" in s for s in subjects) and any("failed" in s.lower() for s in subjects), subjects
    assert flow_runs >= 10
    everything = "".join(evidence.texts.values())
    assert "Access denied" in everything  # the wrong password was tried, and reported
    assert f"mysql://{user}@{HOST}" in everything  # the URL parameters were read back: scrubbed, not missing
    leaks = evidence.leaks(secrets.forms())
    for leak in leaks:
        tally.discrepancy(f"secret leaked: {leak}")
    tally.rows(len(evidence.texts))
    assert not leaks, "secrets found:\n" + "\n".join(leaks)


class _nothing:  # noqa: N801 - a null context manager yielding None
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# A credential-looking value in a tracked file: a key, a private key block, a password assigned a literal.
_REPO_SECRET = re.compile(
    r"AccountKey=(?!KEY\b|\.\.\.|<)[A-Za-z0-9+/]{40,}={0,2}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?i:password|secret|pwd)\s*[:=]\s*['\"](?!change-me|\*\*\*|\$\{|\{\{)[^'\"\s]{8,}['\"]"
)
# Where literal credentials are expected: test passwords of the test servers. Azurite's development key is
# published by Microsoft (the same in every install), so it is no secret wherever it appears.
_REPO_ALLOWED = ("tests/", ".env.example")


def test_no_credentials_in_tracked_files(tally: Tally) -> None:
    """`git ls-files`: no account key, private key or literal password outside tests (Azurite's public key)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for rel in files:
        path = REPO / rel
        if rel.startswith(_REPO_ALLOWED) or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="replace")
        found += [f"{rel}: {m.group()[:40]}..." for m in _REPO_SECRET.finditer(text) if AZURITE_KEY not in m.group()]
    tally.rows(len(files))
    assert len(files) > 50
    assert not found, "\n".join(found)

"""Running it for real: a Prefect server, a `datawiz` process work pool and worker, MariaDB, Azurite, SMTP.

What the team does in production, in one module: `datawiz blocks register` from an env file,
`prefect deploy --all`, `datawiz automations apply`, then `prefect deployment run` — and the emails
arrive at a real SMTP server (with login), carrying what they must and no secret. The server, the
worker and the SMTP server are started once for the module (a Prefect server takes ~20 s here).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pymysql
import pytest
from azure.storage.blob import BlobServiceClient
from dotenv import dotenv_values
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Cancelled, Scheduled
from prefect.workers.process import ProcessWorker

from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import generate
from deployments.blocks import register_blocks
from deployments.settings import load_settings, names_for
from tasks.alerts import RERUN_MARKER
from tasks.runlog import IST, reconcile_run_log, today_ist
from tests.integration.azurite import AZURITE_KEY, REPO, free_port
from tests.integration.services import stop_process
from tests.integration.smtp import SMTP_USER, Mailbox, smtp_server
from tests.integration.test_azure_source import upload_folder

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),  # the SMTP server of the test
]

ENV = "e2e"
BIN = Path(sys.executable).parent
SMTP_PASSWORD = f"smtp-{secrets.token_hex(8)}"
DB_PASSWORD = f"db-{secrets.token_hex(8)}"
BROKEN_PASSWORD = f"broken-{secrets.token_hex(8)}"
SERVER_ENV = REPO / "deployments" / "prefect-server.env"  # what production's server runs with
TERMINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


@dataclass
class Stack:
    """The running services and how to talk to them."""

    api: str
    env: dict[str, str]  # environment of every CLI call, of the server and of the worker
    mailbox: Mailbox
    smtp_port: int
    home: Path  # PREFECT_HOME of the server; the services' logs
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # server, worker, watchdog

    @property
    def logs(self) -> Path:
        return self.home / "worker.log"

    def start(self, role: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A background command of the venv (prefect, datawiz), its output appended to <home>/<role>.log."""
        with (self.home / f"{role}.log").open("ab") as out:
            proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], cwd=REPO, env={**self.env, **(extra_env or {})},
                                    stdout=out, stderr=subprocess.STDOUT)
        self.procs[role] = proc
        return proc

    def stop(self, role: str) -> None:
        """Stop a background process started by `start` (by its own pid)."""
        proc = self.procs.pop(role, None)
        if proc is not None:
            stop_process(proc, timeout=20)

    def start_server(self) -> None:
        """`prefect server start` with the production server settings (deployments/prefect-server.env)."""
        host, port = urlsplit(self.api).hostname or "127.0.0.1", str(urlsplit(self.api).port)
        server = self.start("server", "prefect", "server", "start", "--host", host, "--port", port,
                            extra_env={k: v for k, v in dotenv_values(SERVER_ENV).items() if v is not None})
        _wait_healthy(self.api, server, self.home / "server.log")

    def start_worker(self) -> subprocess.Popen[bytes]:
        """`prefect worker start --pool datawiz`."""
        return self.start("worker", "prefect", "worker", "start", "--pool", "datawiz")

    def run(self, *args: str, timeout: float = 180, extra_env: dict[str, str] | None = None) -> str:
        """Run a command of the venv (prefect, datawiz) from the repository root; its stdout, or fail."""
        started = time.monotonic()
        proc = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=REPO, env={**self.env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout)
        print(f"{time.monotonic() - started:6.1f} s  {' '.join(args[:4])}")
        assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    @contextmanager
    def client(self) -> Iterator[SyncPrefectClient]:
        """A client of this module's server (whatever server the session's other tests use)."""
        with temporary_settings({PREFECT_API_URL: self.api}), get_client(sync_client=True) as client:
            yield client

    def create_run(self, name: str, job_env: dict[str, str] | None = None, state: State | None = None,
                   **params: object) -> str:
        """A flow run of deployment NAME through the API (what `prefect deployment run` does, without a CLI start),
        with extra environment for its process (`job_env`) or another initial state (a scheduled time)."""
        with self.client() as client:
            deployment = client.read_deployment_by_name(name)
            return str(client.create_flow_run_from_deployment(
                deployment.id, parameters=params, state=state,
                job_variables={"env": job_env} if job_env else None).id)

    def start_deployment(self, name: str, **params: str) -> str:
        """`prefect deployment run NAME --param k=v`: the flow run id."""
        args = ["prefect", "deployment", "run", name]
        for key, value in params.items():
            args += ["--param", f"{key}={value}"]
        out = self.run(*args)
        match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
        assert match, out
        return match.group(1)

    def wait_for(self, run_id: str, states: set[StateType], timeout: float) -> FlowRun:
        """Poll the flow run until its state type is one of `states`."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                run = client.read_flow_run(uuid.UUID(run_id))
                if run.state_type in states:
                    print(f"{time.monotonic() - deadline + timeout:6.1f} s  {run.name} {run.state_name}")
                    return run
                if time.monotonic() > deadline:
                    raise AssertionError(f"flow run {run.name} still {run.state_name} after {timeout:.0f} s; "
                                         f"worker log:\n{self.logs.read_text()[-3000:]}")
                time.sleep(1)


def _wait_healthy(api: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prefect server exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout:.0f} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Server, SMTP server, work pool, `prefect deploy --all` for env e2e, automations, worker."""
    home = tmp_path_factory.mktemp("prefect-e2e")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DATAWIZ_"))}
    env.update(
        PREFECT_HOME=str(home), PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # No scheduler: the hourly health deployment must not start runs (and send emails) mid-test.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false", PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2", DATAWIZ_ENV=ENV, DATAWIZ_DATA_DIR=str(home / "data"),
        DATAWIZ_FLOW_RETRY_DELAY="1", DATAWIZ_ALERT_RETRY_DELAY="1", DB_TYPE="mysql",
        # Seconds instead of minutes (production defaults in docs/OPERATIONS.md): heartbeats every 30 s (Prefect's
        # shortest), a run dead after 45 s without one; a worker missing 3 heartbeats of 5 s is offline, its pool
        # and queues not ready after 15 s; a run waiting for its deployment's slot looks again after 2 s.
        DATAWIZ_HEARTBEAT_SECONDS="30", DATAWIZ_ZOMBIE_WINDOW_SECONDS="45", PREFECT_WORKER_HEARTBEAT_SECONDS="5",
        PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS="5",
        PREFECT_SERVER_SERVICES_FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS="15",
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2",
    )
    with smtp_server(SMTP_PASSWORD) as (smtp_port, mailbox):
        stack = Stack(api, env, mailbox, smtp_port, home)
        try:
            stack.start_server()
            with stack.client() as client:  # `prefect work-pool create datawiz --type process`, without a CLI start
                client.create_work_pool(WorkPoolCreate(name="datawiz", type="process",
                                                       base_job_template=ProcessWorker.get_default_base_job_template()))
            # The worker starts while the deployments are made: it has nothing to do until the first run.
            stack.start_worker()
            stack.run("prefect", "--no-prompt", "deploy", "--all")
            stack.run("datawiz", "automations", "apply", "--env", ENV)
            yield stack
        finally:
            for role in ("watchdog", "worker", "server"):
                stack.stop(role)


@pytest.fixture
def warehouse_login(mysql_url: str, admin_connection: pymysql.connections.Connection) -> Iterator[dict[str, str]]:
    """A MariaDB login with a password, owning the test's fresh database (blocks always carry a password)."""
    database = urlsplit(mysql_url).path.lstrip("/")
    user = f"dw_{uuid.uuid4().hex[:10]}"
    with admin_connection.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'")
        cur.execute(f"GRANT ALL PRIVILEGES ON {database}.* TO '{user}'@'127.0.0.1'")
    yield {"DB_HOST": "127.0.0.1", "DB_PORT": "3306", "DB_NAME": database, "DB_USER": user, "DB_PASSWORD": DB_PASSWORD}
    with admin_connection.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")


@pytest.fixture
def landing(azurite: str, tmp_path: Path) -> str:
    """Two days of sample data with the documented defects in a fresh Azurite container; its name."""
    container = f"e2e-{uuid.uuid4().hex[:8]}"
    client = BlobServiceClient.from_connection_string(azurite).create_container(container)
    generate(tmp_path / "landing", days=2, fis_rows_per_day=500, defects=True)
    upload_folder(client, tmp_path / "landing")
    return container


def settings_file(stack: Stack, login: dict[str, str], azurite: str, container: str, folder: Path) -> Path:
    """The environment's `.env.e2e`, as an operator would write it."""
    values = {
        "DB_TYPE": "mysql", **login,
        "AZURE_STORAGE_CONNECTION_STRING": azurite, "AZURE_CONTAINER_NAME": container,
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(stack.smtp_port), "SMTP_USER": SMTP_USER,
        "SMTP_PASSWORD": SMTP_PASSWORD, "SMTP_TYPE": "INSECURE",
        "EMAIL_SENDER": "datawiz@example.com", "EMAIL_RECIPIENTS": "ops@example.com, bi@example.com",
    }
    path = folder / f".env.{ENV}"
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    return path


def all_text(msg: EmailMessage) -> str:
    """Every part of the message decoded (a secret could hide in base64 or quoted-printable)."""
    parts = [str(msg)]
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode("utf-8", "replace"))
    return "\n".join(parts)


def test_blocks_deploy_runs_failure_email_and_crash_rerun(
    stack: Stack, warehouse_login: dict[str, str], azurite: str, landing: str, tmp_path: Path
) -> None:
    env_file = settings_file(stack, warehouse_login, azurite, landing, tmp_path)
    registered = stack.run("datawiz", "blocks", "register", "--env", ENV, "--env-file", str(env_file))
    with stack.client():  # again, in this process (a CLI start costs seconds): the same blocks, saved over
        values = load_settings(ENV, env_file)
        again = [s.line() for s in register_blocks(names_for(ENV, values), values)]
    assert again == registered.splitlines()[: len(again)]
    for ref in ("azure-blob-storage-container/datawiz-e2e-landing", "datawiz-mysql-warehouse/datawiz-e2e-warehouse",
                "email-server-credentials/datawiz-e2e-smtp", "datawiz-email/datawiz-e2e-email"):
        assert f"saved {ref}" in registered
    for secret in (DB_PASSWORD, SMTP_PASSWORD, AZURITE_KEY):
        assert secret not in registered

    # The deployments run on the worker, from their blocks: evening, then the morning after it (started
    # with `prefect deployment run`) and, at the same time, an evening run that fails: its warehouse block
    # points at a closed port.
    evening = stack.wait_for(stack.create_run(f"evening/{ENV}"), TERMINAL, timeout=180)
    assert evening.state_type is StateType.COMPLETED, evening.state
    with stack.client():
        from blocks.warehouse.mysql import MySQLWarehouse

        MySQLWarehouse(host="127.0.0.1", port=free_port(), user="loader", password=BROKEN_PASSWORD,  # type: ignore[arg-type]
                       database="dw", connect_timeout=3).save("datawiz-e2e-broken", overwrite=True)
    morning_id = stack.start_deployment(f"morning/{ENV}")
    failing_id = stack.create_run(f"evening/{ENV}", warehouse="datawiz-mysql-warehouse/datawiz-e2e-broken")
    morning = stack.wait_for(morning_id, TERMINAL, timeout=180)
    assert morning.state_type is StateType.COMPLETED, morning.state
    crash_id, crash_day = start_and_kill_a_morning_run(stack)  # see the_crashed_run_is_rerun_once
    conn = pymysql.connect(host="127.0.0.1", user=warehouse_login["DB_USER"], password=DB_PASSWORD,
                           database=warehouse_login["DB_NAME"])
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM fact_secondary_sales")
        assert cur.fetchone()[0] > 0
    conn.close()

    # The sample defects quarantine rows: the morning run emails them, as a CSV attachment.
    validation, _, _ = stack.mailbox.wait_for(
        lambda m: "data validation" in m["Subject"] and "morning" in m["Subject"], timeout=30)
    csv_part = next(validation.iter_attachments())
    assert csv_part.get_filename().endswith(".csv")
    assert csv_part.get_content().count("\n") > 1  # header + at least one quarantined row
    assert str(morning.id) in all_text(validation)  # the link to the run

    # The failing run is emailed within a minute of its (final) failure, with what the team needs.
    failed = stack.wait_for(failing_id, TERMINAL, timeout=120)
    assert failed.state_type is StateType.FAILED and failed.run_count == 2, failed.state  # after its one retry
    alert, _, arrived = stack.mailbox.wait_for(lambda m: "evening run Failed" in m["Subject"], timeout=60)
    assert failed.state is not None and arrived - failed.state.timestamp.timestamp() < 60
    print(f"failure email {arrived - failed.state.timestamp.timestamp():.1f} s after the run failed")
    assert alert["Subject"].startswith(f"[DataWiz {ENV}] evening run Failed (business date {today_ist()})")
    assert alert["To"] == "ops@example.com, bi@example.com"
    ui_link = f"{stack.api.removesuffix('/api')}/runs/flow-run/{failing_id}"
    text = alert.get_body(preferencelist=("plain",)).get_content()
    for needle in ("Flow:          evening", f"Deployment:    evening/{ENV}", f"Run name:      {failed.name}",
                   f"Business date: {today_ist()}", "State:         Failed", "Attempts:      2",
                   "the flow failed outside a task", "OperationalError", "Connection refused", ui_link):
        assert needle in text, needle
    assert f'href="{ui_link}"' in alert.get_body(preferencelist=("html",)).get_content()

    the_crashed_run_is_rerun_once(stack, warehouse_login, crash_id, crash_day)

    # No email, no part of one, carries a password or the storage key.
    for msg in stack.mailbox.messages():
        content = all_text(msg)
        for secret in (DB_PASSWORD, BROKEN_PASSWORD, SMTP_PASSWORD, AZURITE_KEY):
            assert secret not in content, f"a secret in {msg['Subject']!r}"


def start_and_kill_a_morning_run(stack: Stack) -> tuple[str, dt.date]:
    """Start a morning run that waits (its evening run has not happened), then kill its process."""
    day = today_ist() + dt.timedelta(days=30)
    run_id = stack.create_run(f"morning/{ENV}", business_date=day.isoformat())
    running = stack.wait_for(run_id, {StateType.RUNNING}, timeout=120)
    os.kill(int(str(running.infrastructure_pid).rpartition(":")[2]), signal.SIGKILL)
    return run_id, day


def the_crashed_run_is_rerun_once(stack: Stack, login: dict[str, str], run_id: str, day: dt.date) -> None:
    """The crash-rerun automation has the alert flow re-run the killed run, once; nobody is emailed."""
    # The evening run of that day "happens", so the re-run can finish.
    conn = pymysql.connect(host="127.0.0.1", user=login["DB_USER"], password=DB_PASSWORD, database=login["DB_NAME"],
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl_run_log (run_id, flow, business_date, status, started_at, finished_at) "
                    "VALUES (%s, 'evening', %s, 'completed', NOW(), NOW())", (f"e2e-{uuid.uuid4()}", day))
    conn.close()
    done = stack.wait_for(run_id, {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED}, timeout=180)
    with stack.client() as client:
        states = client.read_flow_run_states(uuid.UUID(run_id))
    history = [s.name for s in states]
    assert done.state_type is StateType.COMPLETED and done.run_count == 2, [(s.name, s.message) for s in states]
    assert history.count("Crashed") == 1 and "AwaitingRetry" in history, history
    assert RERUN_MARKER in [s.message for s in states]  # re-scheduled by the alert flow, once
    assert not [m for m in stack.mailbox.messages() if done.name in str(m["Subject"])]


def test_automations_apply_twice_leaves_one_of_each(stack: Stack) -> None:
    from prefect.automations import Automation, DoNothing, EventTrigger

    with stack.client():  # a duplicate left by hand, and a kind the code no longer defines
        for name in (f"datawiz-{ENV}-crash-rerun", f"datawiz-{ENV}-crash-email"):
            Automation(name=name, trigger=EventTrigger(expect={"x"}), actions=[DoNothing()]).create()
    second = stack.run("datawiz", "automations", "apply", "--env", ENV)  # the stack applied them once already
    assert f"updated automation datawiz-{ENV}-crash-rerun (removed 1 duplicate(s))" in second
    assert f"deleted automation datawiz-{ENV}-crash-email" in second
    with stack.client() as client:
        found = [a for a in client.read_automations() if a.name.startswith(f"datawiz-{ENV}-")]
    assert sorted(a.name for a in found) == [f"datawiz-{ENV}-crash-rerun", f"datawiz-{ENV}-failure-email",
                                             f"datawiz-{ENV}-zombie"]
    assert {a.name: a.actions[0].type for a in found} == {
        f"datawiz-{ENV}-crash-rerun": "run-deployment", f"datawiz-{ENV}-failure-email": "run-deployment",
        f"datawiz-{ENV}-zombie": "change-flow-run-state"}


@pytest.fixture
def empty_landing(azurite: str) -> str:
    """A fresh, empty Azurite container: a morning run there has nothing to load once its evening run is done."""
    container = f"e2e-{uuid.uuid4().hex[:8]}"
    BlobServiceClient.from_connection_string(azurite).create_container(container)
    return container


def infrastructure_pid(run: FlowRun) -> int:
    """The pid of a run's process, from the worker's `hostname:pid`."""
    return int(str(run.infrastructure_pid).rpartition(":")[2])


def test_without_a_worker_dead_and_late_runs_timeouts_and_a_failing_alert_are_emailed(
    stack: Stack, warehouse_login: dict[str, str], azurite: str, empty_landing: str, tmp_path: Path
) -> None:
    """Issue 15: the worker's machine dies mid-run; runs time out; the alert flow itself fails.

    The watchdog (`datawiz watchdog`, beside the server) emails what the alert deployment cannot without a
    worker; the zombie automation marks the dead run Crashed; the server restarts with its leases on disk.
    The restart comes last: Prefect's triggers service holds the next state event of a run that was running
    across a restart for up to 15 minutes (docs/OPERATIONS.md, "What a server restart does").
    """
    values = load_settings(ENV, settings_file(stack, warehouse_login, azurite, empty_landing, tmp_path))
    with stack.client() as client:
        register_blocks(names_for(ENV, values), values)
        # What `prefect deploy` made of prefect.yaml: health cancels a new run while one runs; runs heartbeat.
        health, morning = (client.read_deployment_by_name(f"{f}/{ENV}") for f in ("health", "morning"))
        assert health.global_concurrency_limit.limit == 1  # type: ignore[union-attr]
        assert health.concurrency_options.collision_strategy == "CANCEL_NEW"  # type: ignore[union-attr]
        assert morning.concurrency_options is None or morning.concurrency_options.collision_strategy == "ENQUEUE"
        assert morning.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    stack.start("watchdog", "datawiz", "watchdog", "--env", ENV,
                extra_env={"DATAWIZ_WATCHDOG_INTERVAL_SECONDS": "3", "DATAWIZ_WATCHDOG_GRACE_SECONDS": "10"})
    day = today_ist() + dt.timedelta(days=40)  # no evening run for that day yet: a morning run waits for it

    # With a worker: a morning run whose timeout is 5 s ends TimedOut (after its one retry) and is emailed; an
    # alert run about a run that does not exist fails, and the watchdog says so. The second morning run, made
    # once the first holds the deployment's slot, waits for that slot, then for the evening run.
    timed_out_id = stack.create_run(f"morning/{ENV}", job_env={"DATAWIZ_MORNING_TIMEOUT_SECONDS": "5"},
                                    business_date=day.isoformat())
    bad_alert_id = stack.create_run(f"alert/{ENV}", flow_run_id=str(uuid.uuid4()))
    stack.wait_for(timed_out_id, {StateType.RUNNING, *TERMINAL}, timeout=120)
    # It polls the run log every 12 s (max_wait_minutes * 3) and waits 4 min at most: long enough for the test.
    # Its warehouse is new (no evening run ever loaded the business constants): no DD step.
    morning_id = stack.create_run(f"morning/{ENV}", business_date=day.isoformat(), max_wait_minutes=4,
                                  steps=["wait_for_evening", "blob_backup", "fis", "fid"])
    timed_out = stack.wait_for(timed_out_id, TERMINAL, timeout=120)
    assert timed_out.state_name == "TimedOut" and timed_out.run_count == 2, timed_out.state
    stack.mailbox.wait_for(lambda m: f"morning run TimedOut (business date {day}): {timed_out.name}" in m["Subject"],
                           timeout=60)
    bad_alert = stack.wait_for(bad_alert_id, TERMINAL, timeout=60)
    assert bad_alert.state_type is StateType.FAILED and bad_alert.run_count == 1, bad_alert.state  # no retry
    stack.mailbox.wait_for(lambda m: "watchdog" in m["Subject"] and f"alert run {bad_alert.name} Failed" in all_text(m),
                           timeout=30)

    # The worker's machine dies mid-run: worker and run killed together, no worker left. A run scheduled now
    # goes Late. The zombie automation marks the run Crashed; the watchdog emails all three.
    running = stack.wait_for(morning_id, {StateType.RUNNING}, timeout=120)
    time.sleep(3)  # its first heartbeat is on its way
    killed_at = time.time()
    os.kill(stack.procs["worker"].pid, signal.SIGKILL)
    os.kill(infrastructure_pid(running), signal.SIGKILL)
    stack.procs.pop("worker").wait()
    late_id = stack.create_run(f"health/{ENV}", state=Scheduled(scheduled_time=dt.datetime.now(dt.UTC)))
    crashed = stack.wait_for(morning_id, {StateType.CRASHED, StateType.COMPLETED}, timeout=120)
    assert crashed.state is not None and crashed.state_type is StateType.CRASHED
    assert "no heartbeat for 45 s" in str(crashed.state.message), crashed.state
    print(f"zombie automation: Crashed {crashed.state.timestamp.timestamp() - killed_at:.1f} s after the kill")
    email, _, arrived = stack.mailbox.wait_for(
        lambda m: "watchdog" in m["Subject"] and f"morning run {crashed.name} Crashed — no worker" in all_text(m),
        timeout=60)
    print(f"watchdog email naming the crashed morning run {arrived - killed_at:.1f} s after the SIGKILL")
    assert arrived - killed_at < 15 * 60
    assert f"business date {day}" in all_text(email) and str(crashed.id) in all_text(email)  # its link
    with stack.client() as client:
        late_name = client.read_flow_run(uuid.UUID(late_id)).name
    for needle in ("work pool datawiz not ready", f"health run {late_name} Late"):
        stack.mailbox.wait_for(lambda m, n=needle: "watchdog" in m["Subject"] and n in all_text(m), timeout=60)

    # The run log says crashed (from Prefect's state), not running for ever.
    url = f"mysql://{warehouse_login['DB_USER']}:{DB_PASSWORD}@127.0.0.1:3306/{warehouse_login['DB_NAME']}"
    with stack.client():
        wh = resolve_warehouse(url)
        assert (morning_id, "crashed") in reconcile_run_log(wh)
        wh.close()

    # A worker is back (the Late health run cancelled first): the crash-rerun automation's alert run, waiting
    # since the crash, re-runs the morning run once; the watchdog says the pool is ready again.
    with stack.client() as client:
        client.set_flow_run_state(uuid.UUID(late_id), Cancelled(message="not wanted in this test"), force=True)
    stack.start_worker()
    rerun = stack.wait_for(morning_id, {StateType.RUNNING}, timeout=120)  # waiting for the evening run again
    assert rerun.run_count == 2
    stack.mailbox.wait_for(lambda m: "watchdog: recovered" in m["Subject"] and "work pool datawiz" in m["Subject"],
                           timeout=60)

    # The server restarts under the running re-run: the run goes on, and its concurrency lease, on disk, is
    # still there (the run renews it every ~4 min; an in-memory lease would be refused with 410 Gone).
    lease_id = rerun.state.state_details.deployment_concurrency_lease_id  # type: ignore[union-attr]
    assert lease_id is not None and (stack.home / "concurrency_leases" / f"{lease_id}.json").exists()
    stack.stop("server")
    stack.start_server()
    with stack.client() as client:
        client.renew_concurrency_lease(lease_id, lease_duration=300)
    os.kill(infrastructure_pid(rerun), 0)  # still alive

    # The evening run of that day is done: the re-run loads (nothing new) and completes.
    conn = pymysql.connect(host="127.0.0.1", user=warehouse_login["DB_USER"], password=DB_PASSWORD,
                           database=warehouse_login["DB_NAME"], autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl_run_log (run_id, flow, business_date, status, started_at, finished_at) "
                    "VALUES (%s, 'evening', %s, 'completed', NOW(), NOW())", (f"e2e-{uuid.uuid4()}", day))
    done = stack.wait_for(morning_id, {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED}, timeout=120)
    with stack.client() as client:
        states = client.read_flow_run_states(uuid.UUID(morning_id))
    assert done.state_type is StateType.COMPLETED and done.run_count == 2, [(s.name, s.message) for s in states[-6:]]
    assert [s.name for s in states].count("Crashed") == 1 and RERUN_MARKER in [s.message for s in states]
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM etl_run_log WHERE run_id = %s", (morning_id,))
        assert cur.fetchone()[0] == "completed"
    conn.close()

    for msg in stack.mailbox.messages():
        content = all_text(msg)
        for secret in (DB_PASSWORD, SMTP_PASSWORD, AZURITE_KEY):
            assert secret not in content, f"a secret in {msg['Subject']!r}"
    print("watchdog emails:", [m["Subject"] for m in stack.mailbox.messages() if "watchdog" in m["Subject"]])


# ------------------------------------------------------------------------- issue 15: environments, dates, names
DEV = "dev"


@pytest.fixture
def dev_login(admin_connection: pymysql.connections.Connection) -> Iterator[dict[str, str]]:
    """A second database and login on the same MariaDB: the dev environment's warehouse."""
    database, user = f"dw_dev_{uuid.uuid4().hex[:10]}", f"dwd_{uuid.uuid4().hex[:10]}"
    with admin_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'")
        cur.execute(f"GRANT ALL PRIVILEGES ON {database}.* TO '{user}'@'127.0.0.1'")
    yield {"DB_HOST": "127.0.0.1", "DB_PORT": "3306", "DB_NAME": database, "DB_USER": user, "DB_PASSWORD": DB_PASSWORD}
    with admin_connection.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        cur.execute(f"DROP DATABASE IF EXISTS {database}")


def what_an_environment_wrote(stack: Stack, env: str) -> dict[str, object]:
    """Its business-constants Variable (value and last update) and its latest artifacts (key -> id, run)."""
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    with stack.client() as client:
        variable = client.read_variable_by_name(f"datawiz-{env}-business-constants")
        latest = client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
            key=ArtifactCollectionFilterKey(like_=f"datawiz-{env}-")))
    assert variable is not None
    return {"variable": (variable.value, variable.updated),
            "artifacts": {a.key: (a.latest_id, a.flow_run_id) for a in latest}}


def scheduled_run(stack: Stack, name: str, at: dt.datetime) -> str:
    """A run of deployment NAME scheduled for `at` (in the past: a worker picks it up late, now)."""
    from prefect.states import Scheduled

    with stack.client() as client:
        deployment = client.read_deployment_by_name(name)
        return str(client.create_flow_run_from_deployment(deployment.id, state=Scheduled(scheduled_time=at)).id)


def test_two_environments_on_one_server_and_a_late_run_keeps_its_scheduled_date(
    stack: Stack, warehouse_login: dict[str, str], dev_login: dict[str, str], azurite: str, landing: str,
    tmp_path: Path,
) -> None:
    from deployments.settings import release_version

    # Two environments on the one server: e2e (standing for prod, deployed by the stack) and dev, each with
    # its own blocks from its own settings file and its own database; the same worker runs both. (The
    # blocks are registered in this process, as `datawiz blocks register` does: the CLI is tested above.)
    for env, login in ((ENV, warehouse_login), (DEV, dev_login)):
        folder = tmp_path / env
        folder.mkdir()
        settings = settings_file(stack, login, azurite, landing, folder).rename(folder / f".env.{env}")
        with stack.client():
            values = load_settings(env, settings)
            register_blocks(names_for(env, values), values)

    # The prod evening run that was due yesterday at 08:00 IST starts only now (a worker was down overnight):
    # it loads yesterday's business date, and its name says so. (Dev is deployed while it runs.)
    yesterday = today_ist() - dt.timedelta(days=1)
    slot = dt.datetime.combine(yesterday, dt.time(8), IST)
    late_id = scheduled_run(stack, f"evening/{ENV}", slot)
    stack.run("prefect", "--no-prompt", "deploy", "--all", extra_env={"DATAWIZ_ENV": DEV})
    late = stack.wait_for(late_id, TERMINAL, timeout=180)
    assert late.state_type is StateType.COMPLETED, late.state
    assert late.name == f"evening {yesterday}"
    assert late.expected_start_time == slot and late.start_time is not None and late.start_time > slot
    conn = pymysql.connect(host="127.0.0.1", user=warehouse_login["DB_USER"], password=DB_PASSWORD,
                           database=warehouse_login["DB_NAME"])
    with conn.cursor() as cur:
        cur.execute("SELECT business_date FROM etl_run_log WHERE run_id = %s", (str(late.id),))
        assert cur.fetchone()[0] == yesterday
    conn.close()
    # The deployment (and so the run) carries the git commit it was deployed from.
    with stack.client() as client:
        deployment = client.read_deployment(late.deployment_id)
    assert deployment.version == late.deployment_version == release_version(REPO)
    assert "scheduled start" in deployment.parameter_openapi_schema["properties"]["business_date"]["description"]

    # A dev evening run on the same server changes nothing prod wrote: its Variable, its artifacts.
    prod = what_an_environment_wrote(stack, ENV)
    assert {f"datawiz-{ENV}-dq-evening", f"datawiz-{ENV}-dq-evening-files", f"datawiz-{ENV}-dq-evening-tables"} <= \
        set(prod["artifacts"])  # type: ignore[arg-type]
    dev_run = stack.wait_for(stack.create_run(f"evening/{DEV}"), TERMINAL, timeout=180)
    assert dev_run.state_type is StateType.COMPLETED, dev_run.state
    assert what_an_environment_wrote(stack, ENV) == prod
    dev = what_an_environment_wrote(stack, DEV)
    assert {run for _, run in dev["artifacts"].values()} == {dev_run.id}  # type: ignore[union-attr]
    assert set(dev["artifacts"]) == {f"datawiz-{DEV}-dq-evening{part}" for part in ("", "-files", "-tables")}

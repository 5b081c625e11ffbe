"""Deployment configuration without a server: prefect.yaml, environment names, block settings, automations.

What `prefect deploy --all`, `datawiz blocks register` and `datawiz automations apply` would send is
checked here as data; tests/integration/test_deployments_e2e.py sends it to a real server.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.objects import StateType

from deployments.automations import CRASH_RERUN_DELAY, automations
from deployments.blocks import SettingsError, check_settings
from deployments.settings import (
    EnvNames,
    current_env,
    deployment_settings,
    env_name,
    heartbeat_seconds,
    load_settings,
    names_for,
    zombie_window_seconds,
)
from tasks.alerts import crash_decision
from tasks.health import CheckResult, alert_due, due_dates, failing
from tasks.runlog import IST

REPO = Path(__file__).resolve().parents[2]
SCHEDULES = {  # entrypoint -> cron (IST); None: run by hand or by an automation
    "flows/evening.py:evening": "0 18 * * *",
    "flows/morning.py:morning": "0 8 * * *",
    "flows/daily_report.py:daily_report": "0 20 * * *",
    "flows/maintenance.py:maintenance": "0 3 1 * *",
    "flows/health.py:health": "30 * * * *",
    "flows/backfill.py:backfill": None,
    "flows/alert.py:alert": None,
}


def deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_prefect_yaml_has_every_deployment_with_its_schedule_pool_and_limit() -> None:
    found = {d["entrypoint"]: d for d in deployments()}
    assert set(found) == set(SCHEDULES)
    for entrypoint, cron in SCHEDULES.items():
        d = found[entrypoint]
        assert d["name"] == "{{ datawiz.env }}" and d["version"] == "{{ datawiz.version }}"
        assert d["work_pool"]["name"] == "datawiz"
        schedules = d.get("schedules") or []
        assert [s["cron"] for s in schedules] == ([cron] if cron else [])
        assert all(s["timezone"] == "Asia/Kolkata" for s in schedules)
        if entrypoint == "flows/health.py:health":  # a hung check must not queue the next hours behind it
            assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        elif entrypoint != "flows/alert.py:alert":
            assert d["concurrency_limit"] == 1  # a second morning run waits for the first
        if entrypoint != "flows/alert.py:alert":
            assert d["tags"] == ["datawiz", "{{ datawiz.tag }}"]  # what the automations match
        env = d["work_pool"]["job_variables"]["env"]
        assert env["DATAWIZ_EMAIL"] == "{{ datawiz.email }}"
        # every run, the alert's too, heartbeats at the interval the zombie automation was applied with
        assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "{{ datawiz.heartbeat_seconds }}"


def test_every_flow_has_a_timeout_and_the_morning_one_covers_its_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import alert, backfill, daily_report, evening, health, maintenance, morning
    from tasks.run import FLOW_TIMEOUTS, flow_timeout

    flows = [evening.evening, morning.morning, daily_report.daily_report, health.health, maintenance.maintenance,
             backfill.backfill, backfill.backfill_month, alert.alert]
    assert {f.name for f in flows} == set(FLOW_TIMEOUTS)
    for f in flows:
        assert f.timeout_seconds == FLOW_TIMEOUTS[f.name], f.name
    wait = morning.morning.parameters.properties["max_wait_minutes"]["default"] * 60
    assert morning.morning.timeout_seconds >= wait + morning.MIN_LOAD_SECONDS
    assert health.health.timeout_seconds < 3600  # over before the next hourly run
    monkeypatch.setenv("DATAWIZ_MORNING_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("DATAWIZ_BACKFILL_MONTH_TIMEOUT_SECONDS", "7")
    assert flow_timeout("morning") == 20 and flow_timeout("backfill-month") == 7
    monkeypatch.setenv("DATAWIZ_HEALTH_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="DATAWIZ_HEALTH_TIMEOUT_SECONDS"):
        flow_timeout("health")


def test_the_alert_deployment_cannot_trigger_itself() -> None:
    alert = next(d for d in deployments() if d["entrypoint"] == "flows/alert.py:alert")
    assert "{{ datawiz.tag }}" not in alert["tags"] and alert["work_pool"]["work_queue_name"] == "alerts"


def test_entrypoints_are_flows_and_parameters_name_blocks_of_the_environment_only() -> None:
    for d in deployments():
        path, func = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), func)
        assert isinstance(flow, Flow)
        for key, value in (d.get("parameters") or {}).items():
            assert key in flow.parameters.properties, f"{d['entrypoint']}: no parameter {key}"
            assert value in ("{{ datawiz.source }}", "{{ datawiz.warehouse }}", "{{ datawiz.email }}")


def test_the_build_step_names_the_blocks_of_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env.prod here
    monkeypatch.setenv("DATAWIZ_ENV", "prod")
    monkeypatch.delenv("DB_TYPE", raising=False)
    monkeypatch.delenv("DATAWIZ_ENV_FILE", raising=False)
    monkeypatch.delenv("DATAWIZ_HEARTBEAT_SECONDS", raising=False)
    assert deployment_settings() == {
        "env": "prod", "tag": "datawiz-prod", "workdir": str(tmp_path), "heartbeat_seconds": "60",
        "version": "unknown",  # not a git checkout
        "source": "azure-blob-storage-container/datawiz-prod-landing",
        "warehouse": "starrocks-connector/datawiz-prod-warehouse",
        "email": "datawiz-email/datawiz-prod-email",
    }
    (tmp_path / ".env.dev").write_text("DB_TYPE=mysql\n")
    monkeypatch.setenv("DATAWIZ_ENV", "dev")
    assert deployment_settings()["warehouse"] == "datawiz-mysql-warehouse/datawiz-dev-warehouse"
    monkeypatch.delenv("DATAWIZ_ENV")
    assert deployment_settings()["env"] == "dev"  # a clean checkout deploys dev


@pytest.mark.parametrize("bad", ["Prod", "prod-eu", "", "a" * 17, "../x"])
def test_environment_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        current_env(bad) if bad else EnvNames("prod", db_type="oracle")


def test_the_env_file_wins_over_the_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DB_HOST", "my-laptop-db")
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    file = tmp_path / ".env.prod"
    file.write_text("DB_HOST=starrocks-fe.prod.internal\n")
    values = load_settings("prod", file)
    assert values["DB_HOST"] == "starrocks-fe.prod.internal" and values["SMTP_HOST"] == "smtp.example.com"
    with pytest.raises(FileNotFoundError):
        load_settings("prod", tmp_path / "missing")


def complete_settings(**overrides: str) -> dict[str, str]:
    values = {"AZURE_CONTAINER_NAME": "landing", "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=abc",
              "DB_HOST": "fe", "DB_NAME": "dw", "DB_USER": "etl", "DB_PASSWORD": "pw", "SMTP_HOST": "smtp",
              "EMAIL_SENDER": "datawiz@example.com", "EMAIL_RECIPIENTS": "ops@example.com"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v}


def test_block_settings_are_checked_all_at_once_naming_variables_never_values() -> None:
    check_settings(EnvNames("prod"), complete_settings())
    with pytest.raises(SettingsError) as err:
        check_settings(EnvNames("prod"), complete_settings(DB_PASSWORD="", AZURE_STORAGE_CONNECTION_STRING="",
                                                           EMAIL_RECIPIENTS=""))
    message = str(err.value)
    assert "DB_PASSWORD" in message and "EMAIL_RECIPIENTS" in message and "AZURE_STORAGE_CONNECTION_STRING" in message
    assert "AccountKey" not in message


def test_production_mail_must_be_encrypted() -> None:
    with pytest.raises(SettingsError, match="INSECURE is refused for prod"):
        check_settings(EnvNames("prod"), complete_settings(SMTP_TYPE="insecure"))
    check_settings(EnvNames("dev"), complete_settings(SMTP_TYPE="INSECURE"))
    with pytest.raises(SettingsError, match="SMTP_TYPE must be"):
        check_settings(EnvNames("dev"), complete_settings(SMTP_TYPE="TLS1.3"))


def test_automations_email_failures_at_once_and_rerun_crashes_after_a_pause() -> None:
    names = names_for("prod", {"DB_TYPE": "mysql"})
    found = {a.name: a for a in automations(names, "8b7f4a52-1b0f-4c1e-9a55-3f0c2f1c9a10")}
    assert set(found) == {"datawiz-prod-failure-email", "datawiz-prod-crash-rerun"}  # no window: no zombie one
    failure, crash = found["datawiz-prod-failure-email"], found["datawiz-prod-crash-rerun"]
    assert failure.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut"}  # type: ignore[union-attr]
    assert crash.trigger.expect == {"prefect.flow-run.Crashed"}  # type: ignore[union-attr]
    for automation in (failure, crash):
        related = automation.trigger.match_related  # type: ignore[union-attr]
        assert related.root["prefect.resource.id"] == "prefect.tag.datawiz-prod"  # type: ignore[union-attr]
        action = automation.actions[0]
        assert str(action.deployment_id) == "8b7f4a52-1b0f-4c1e-9a55-3f0c2f1c9a10"  # type: ignore[union-attr]
        assert action.parameters["flow_run_id"]["template"] == "{{ flow_run.id }}"  # type: ignore[union-attr]
    assert failure.actions[0].schedule_after == dt.timedelta(0)  # type: ignore[union-attr]
    assert crash.actions[0].schedule_after == CRASH_RERUN_DELAY  # type: ignore[union-attr]


def test_the_zombie_automation_crashes_a_run_whose_heartbeats_stop() -> None:
    names = names_for("prod", {"DB_TYPE": "mysql"})
    alert_id = "8b7f4a52-1b0f-4c1e-9a55-3f0c2f1c9a10"
    found = {a.name: a for a in automations(names, alert_id, dt.timedelta(seconds=300))}
    zombie = found["datawiz-prod-zombie"]
    trigger = zombie.trigger
    assert trigger.after == {"prefect.flow-run.heartbeat"}  # type: ignore[union-attr]
    assert trigger.expect == {"prefect.flow-run.*"}  # type: ignore[union-attr]  # a heartbeat or any state change
    assert trigger.for_each == {"prefect.resource.id"}  # type: ignore[union-attr]  # one window per run
    assert trigger.posture == "Proactive" and trigger.threshold == 1  # type: ignore[union-attr]
    assert trigger.within == dt.timedelta(seconds=300)  # type: ignore[union-attr]
    # the environment's pipeline runs (tag) and its alert runs (deployment), nobody else's
    assert trigger.match_related.root["prefect.resource.id"] == [  # type: ignore[union-attr]
        "prefect.tag.datawiz-prod", f"prefect.deployment.{alert_id}"]
    action = zombie.actions[0]
    assert action.type == "change-flow-run-state" and action.state == StateType.CRASHED  # type: ignore[union-attr]
    assert "no heartbeat for 300 s" in action.message  # type: ignore[union-attr,operator]


def test_heartbeat_and_zombie_window_settings() -> None:
    assert heartbeat_seconds({}) == 60 and zombie_window_seconds({}) == 300  # production defaults: 5 heartbeats
    assert zombie_window_seconds({"DATAWIZ_HEARTBEAT_SECONDS": "180"}) == 900
    assert zombie_window_seconds({"DATAWIZ_HEARTBEAT_SECONDS": "30", "DATAWIZ_ZOMBIE_WINDOW_SECONDS": "45"}) == 45
    with pytest.raises(ValueError, match="shortest heartbeat interval is 30 s"):
        heartbeat_seconds({"DATAWIZ_HEARTBEAT_SECONDS": "10"})
    with pytest.raises(ValueError, match="would mark healthy runs Crashed"):
        zombie_window_seconds({"DATAWIZ_ZOMBIE_WINDOW_SECONDS": "80"})  # 1.5 heartbeats of 60 s at least


@pytest.mark.parametrize(
    ("state", "deployment", "rerun_before", "decision"),
    [
        (StateType.CRASHED, True, False, "rerun"),
        (StateType.CRASHED, True, True, "email"),  # the re-run crashed too
        (StateType.CRASHED, False, False, "email"),  # no deployment: nothing could run it again
        (StateType.RUNNING, True, False, "skip"),  # re-run by hand, or a second alert for one crash
        (StateType.SCHEDULED, True, True, "skip"),
    ],
)
def test_crash_decision(state: StateType, deployment: bool, rerun_before: bool, decision: str) -> None:
    assert crash_decision(state, deployment, rerun_before) == decision


def test_health_due_dates_give_the_morning_and_evening_runs_time() -> None:
    day = dt.date(2025, 11, 20)
    at = lambda h: dt.datetime.combine(day, dt.time(h), IST)  # noqa: E731
    assert due_dates(at(7)) == (day - dt.timedelta(days=2), day - dt.timedelta(days=1))
    assert due_dates(at(11)) == (day - dt.timedelta(days=1), day - dt.timedelta(days=1))
    assert due_dates(at(21)) == (day - dt.timedelta(days=1), day)


def test_health_alerts_on_change_and_repeats_only_after_hours() -> None:
    now = dt.datetime(2025, 11, 20, 10, 30, tzinfo=IST)
    sent = {"failing": ["warehouse"], "alerted_at": (now - dt.timedelta(hours=1)).isoformat()}
    assert failing([CheckResult("warehouse", False, "x"), CheckResult("disk", True, "y")]) == ["warehouse"]
    assert alert_due(["warehouse"], None, now, 6)  # new trouble
    assert not alert_due(["warehouse"], sent, now, 6)  # same trouble, an hour later
    assert alert_due(["warehouse"], sent, now + dt.timedelta(hours=5, minutes=1), 6)  # still there after 6 h
    assert alert_due(["facts", "warehouse"], sent, now, 6)  # something else broke
    assert alert_due([], sent, now, 6)  # all clear
    assert not alert_due([], None, now, 6) and not alert_due([], {"failing": []}, now, 6)


@pytest.mark.parametrize("name", ["kubernetes", "azure-container-instance"])
def test_job_templates_define_every_variable_they_use(name: str) -> None:
    import json
    import re

    template = json.loads((REPO / "deployments" / "job_templates" / f"{name}.json").read_text())
    used = set(re.findall(r"{{ *(\w+) *}}", json.dumps(template["job_configuration"])))
    assert used <= set(template["variables"]["properties"]), used - set(template["variables"]["properties"])
    assert template["variables"]["properties"]["env"]["default"]["DATAWIZ_DATA_DIR"] == "/data"


def test_apply_leaves_zombies_to_cloud_and_refuses_a_window_that_would_crash_healthy_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deployments import automations as module
    from deployments.ops import apply_automations

    applied: list[str] = []
    monkeypatch.setattr(module, "alert_deployment_id", lambda names: "8b7f4a52-1b0f-4c1e-9a55-3f0c2f1c9a10")
    monkeypatch.setattr(module, "apply_automation",
                        lambda a: applied.append(a.name) or module.Applied(a.name, "created"))
    monkeypatch.setattr(module, "remove_stale", lambda names, keep: [])
    monkeypatch.setattr(module, "on_prefect_cloud", lambda: True)
    lines = [a.line() for a in module.apply_all(names_for("prod", {"DB_TYPE": "mysql"}), dt.timedelta(seconds=300))]
    assert applied == ["datawiz-prod-failure-email", "datawiz-prod-crash-rerun"]
    assert "skipped automation datawiz-prod-zombie: Prefect Cloud: enable its managed 'Unresponsive run detection'" \
        in lines[-1]
    monkeypatch.setattr(module, "on_prefect_cloud", lambda: False)
    assert module.apply_all(names_for("prod", {"DB_TYPE": "mysql"}), dt.timedelta(seconds=300))[0].name \
        == "datawiz-prod-zombie"

    monkeypatch.setenv("DATAWIZ_HEARTBEAT_SECONDS", "60")
    monkeypatch.setenv("DATAWIZ_ZOMBIE_WINDOW_SECONDS", "60")
    assert apply_automations("prod") == 2  # before any API call
    assert "would mark healthy runs Crashed" in capsys.readouterr().err


def test_everything_an_environment_writes_carries_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from tasks.constants import variable_name

    monkeypatch.setenv("DATAWIZ_ENV", "prod")
    assert variable_name() == "datawiz-prod-business-constants" and variable_name("dev") != variable_name()
    for kind in ("dq-evening", "health", "daily-report", "maintenance", "backfill-progress"):
        key = env_name(kind)
        assert key == f"datawiz-prod-{kind}" and re.fullmatch(r"[a-z0-9-]+", key)  # Prefect's artifact key rule
        assert env_name(kind, "dev") != key
    monkeypatch.delenv("DATAWIZ_ENV")
    assert env_name("health") == "datawiz-dev-health"  # a local run without DATAWIZ_ENV is dev, never prod


def test_the_business_date_comes_from_the_scheduled_start_never_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.runtime import flow_run

    from tasks import runlog
    from tasks.runlog import business_day, run_name

    day = dt.date(2025, 11, 20)
    slot = dt.datetime.combine(day, dt.time(8), IST)  # the morning's 08:00 IST slot, whenever it starts
    assert business_day("morning", scheduled=slot) == day - dt.timedelta(days=1)
    assert business_day("evening", scheduled=slot) == business_day("daily-report", scheduled=slot) == day
    assert business_day("evening", scheduled=dt.datetime(2025, 11, 20, 19, 0, tzinfo=dt.UTC)) == day + dt.timedelta(1)
    given = dt.date(2025, 11, 2)
    assert business_day("morning", "2025-11-02") == business_day("morning", given) == given

    monkeypatch.setattr(runlog, "scheduled_start", lambda: slot)  # what prefect.runtime says inside a run
    monkeypatch.setattr(flow_run, "parameters", {"business_date": None}, raising=False)
    assert run_name("morning")() == "morning 2025-11-19" and run_name("evening")() == "evening 2025-11-20"
    assert run_name("health", with_time=True)() == "health 2025-11-20 08:00"
    monkeypatch.setattr(flow_run, "parameters", {"business_date": "2025-10-01"}, raising=False)  # a deployment's JSON
    assert run_name("morning")() == "morning 2025-10-01"


def test_every_parameter_is_described_for_the_ui_and_the_command_line() -> None:
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    from tasks.run import flow_cli

    for d in deployments():
        if d["entrypoint"] == "flows/alert.py:alert":
            continue  # the alert flow is documented with the automations
        # What `prefect deploy` sends (read from the source, as it does) is what the UI shows next to each field.
        schema = parameter_schema_from_entrypoint(str(REPO / d["entrypoint"]))
        undocumented = [name for name, p in schema.properties.items() if not p.get("description")]
        assert not undocumented, f"{d['entrypoint']}: no description for {undocumented}"
        path, func = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), func)
        help_text = flow_cli(flow).format_help()
        assert all(f"--{name.replace('_', '-')}" in help_text for name in schema.properties), help_text


def test_deployments_carry_the_git_commit_as_their_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from deployments.settings import release_version

    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
    assert release_version(REPO).removesuffix("-dirty") == head.stdout.strip() != ""
    monkeypatch.setenv("DATAWIZ_VERSION", "1.4.0")  # an image built without .git
    assert release_version(REPO) == "1.4.0"


def test_the_sender_defaults_to_the_smtp_login_when_that_is_an_address() -> None:
    from deployments.blocks import email_sender

    seed_team = complete_settings(EMAIL_SENDER="", SMTP_USER="etl-alerts@example.com")  # their .env has no sender
    check_settings(EnvNames("prod"), seed_team)
    assert email_sender(seed_team) == "etl-alerts@example.com"
    assert email_sender(complete_settings(SMTP_USER="etl-alerts@example.com")) == "datawiz@example.com"  # explicit wins
    with pytest.raises(SettingsError, match=r"EMAIL_SENDER \(or an SMTP_USER that is an email address\)"):
        check_settings(EnvNames("prod"), complete_settings(EMAIL_SENDER="", SMTP_USER="AKIAIOSFODNN7EXAMPLE"))


def test_the_download_cache_key_is_a_short_safe_name_per_environment(tmp_path: Path) -> None:
    import re

    from blocks.types import SourceFile
    from tasks.extract import raw_copy_key

    long_name = "facts/fis/2025/11/20/" + "x" * 300 + ".csv"
    file = SourceFile(path=long_name, version="0x8DC1F2A3B4C5D6E", size=10)
    key = raw_copy_key(file, tmp_path, "prod")
    assert re.fullmatch(r"datawiz-prod-raw-copy-[0-9a-f]{64}", key)  # one file name, never a folder path
    assert key == raw_copy_key(file, tmp_path, "prod") != raw_copy_key(file, tmp_path, "dev")
    assert key != raw_copy_key(SourceFile(path=long_name, version="0x8DC1F2A3B4C5D6F", size=10), tmp_path, "prod")
    assert key != raw_copy_key(file, tmp_path / "other", "prod")


def test_the_migration_guide_names_real_commands_steps_and_settings() -> None:
    import re

    from flows.evening import STEPS as EVENING
    from flows.morning import STEPS as MORNING

    guide = (REPO / "docs" / "MIGRATION.md").read_text()
    for old, new in [("python scheduler/daily/evening/main.py", "python flows/evening.py"),
                     ("python -m scheduler.daily.evening.dimension_sync", "--steps dimension_sync"),
                     ("python config/database.py", "datawiz check"), ("crontab.yaml", "prefect.yaml"),
                     ("ENABLE_SCHEDULER", "work pool"), ("logs/etl/*.log", "logs/etl/etl.jsonl"),
                     (".env.dev", ".env.<env>"), ("job success", "EMAIL_ON_SUCCESS=true")]:
        row = next((line for line in guide.splitlines() if old in line and line.startswith("|")), "")
        assert new in row, f"no row maps {old} to {new}"
    for steps in re.findall(r"--steps ([a-z_,]+)", guide):
        assert set(steps.split(",")) <= set(EVENING) | set(MORNING), steps
    for path in set(re.findall(r"python (flows/\w+\.py)", guide)) - {"flows/x.py"}:
        assert (REPO / path).exists(), path
    example = (REPO / ".env.example").read_text()
    for name in re.findall(r"`([A-Z][A-Z_]+)(?:=[^`]*)?`", guide):
        if name.startswith(("DB_", "SMTP_", "EMAIL_", "AZURE_", "DATAWIZ_")):
            assert name in example or name in ("DATAWIZ_SOURCE", "DATAWIZ_WAREHOUSE", "DATAWIZ_LOG_DIR"), name

"""The `datawiz` command: sample data, the local demo, and (later) operations helpers.

Each subcommand is a small function; `main()` only parses arguments and dispatches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

from datawiz import LOCAL_SERVER_STARTUP_SECONDS

DEFAULT_LANDING = Path("./data/landing")


def _add_sample_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample-data", help="write a deterministic landing folder of realistic sample files")
    p.add_argument("--out", type=Path, required=True, help="landing folder to write (created)")
    p.add_argument("--days", type=int, default=14, help="business days ending at --end-date (default 14)")
    p.add_argument("--seed", type=int, default=42, help="random seed: same seed => byte-identical files")
    p.add_argument("--fis-rows-per-day", type=int, default=5000, help="secondary-sales lines per day")
    p.add_argument("--defects", action="store_true", help="add the documented set of bad rows and files")
    p.add_argument("--end-date", type=dt.date.fromisoformat, default=None,
                   help="last business day YYYY-MM-DD (default: yesterday, IST)")
    p.add_argument("--history-months", type=int, default=0, help="months of historical/ backfill files")
    p.add_argument("--manifest", type=Path, default=None, help="expected counts JSON (default: <out>.manifest.json)")
    p.set_defaults(func=cmd_sample_data)


def cmd_sample_data(args: argparse.Namespace) -> int:
    """Generate sample data and its manifest of expected counts."""
    from datawiz.sample_data import generate, manifest_path

    manifest = generate(
        args.out, days=args.days, seed=args.seed, fis_rows_per_day=args.fis_rows_per_day,
        defects=args.defects, end_date=args.end_date, history_months=args.history_months,
    )
    target = args.manifest or manifest_path(args.out)
    target.write_text(manifest.to_json())
    print(manifest.summary() if hasattr(manifest, "summary") else f"wrote {args.out}")
    print(f"manifest: {target}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate sample data if absent, run evening then morning, print a summary")
    p.add_argument("--landing", type=Path, default=DEFAULT_LANDING)
    p.add_argument("--warehouse", default=None, help="default: $DATAWIZ_WAREHOUSE or ./data/warehouse.duckdb")
    p.add_argument("--days", type=int, default=14)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """The quick-start: one process, one temporary Prefect server, both pipelines."""
    from datawiz.demo import run_demo

    return run_demo(args.landing, args.warehouse, args.days)


def _add_quarantine(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quarantine", help="inspect and replay quarantined rows")
    qsub = p.add_subparsers(dest="action", required=True)
    replay = qsub.add_parser("replay", help="re-validate a file's quarantined rows and load those that now pass")
    replay.add_argument("--file", required=True, help="source_file as in etl_file_ledger (path in the landing area)")
    replay.add_argument("--warehouse", default=None, help="default: $DATAWIZ_WAREHOUSE or ./data/warehouse.duckdb")
    replay.set_defaults(func=cmd_quarantine_replay)


def cmd_quarantine_replay(args: argparse.Namespace) -> int:
    """Replay one file's quarantine (after a contract fix) and print what happened."""
    import uuid

    from blocks.warehouse import resolve_warehouse
    from tasks.quarantine import replay_file

    wh = resolve_warehouse(args.warehouse)
    try:
        wh.migrate()
        r = replay_file(wh, args.file, f"replay-{uuid.uuid4()}")
    finally:
        wh.close()
    print(f"{r.source_file} (version {r.source_version}): {r.replayed} quarantined rows re-validated, "
          f"{r.loaded} loaded, {r.still_quarantined} still quarantined")
    return 0


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="test that the configured source, warehouse (and SMTP server) can be reached")
    p.add_argument("--source", default=None, help="default: $DATAWIZ_SOURCE or ./data/landing")
    p.add_argument("--warehouse", default=None, help="default: $DATAWIZ_WAREHOUSE or ./data/warehouse.duckdb")
    p.add_argument("--email", default=None, help="email block datawiz-email/NAME to test SMTP with (default: "
                   "$DATAWIZ_EMAIL; unset: no SMTP check)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """Print one OK/FAIL line per target; exit 1 when any failed."""
    from tasks.health import run_checks

    results = run_checks(args.source, args.warehouse, args.email)
    print("\n".join(r.line() for r in results))
    return 0 if all(r.ok for r in results) else 1


def _add_db(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="warehouse schema operations")
    dbsub = p.add_subparsers(dest="action", required=True)
    migrate = dbsub.add_parser("migrate", help="apply the schema migrations the warehouse lacks (idempotent)")
    migrate.add_argument("--warehouse", default=None, help="default: $DATAWIZ_WAREHOUSE or ./data/warehouse.duckdb")
    migrate.set_defaults(func=cmd_db_migrate)


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (recorded in schema_migrations) and say which."""
    from blocks.warehouse import resolve_warehouse

    wh = resolve_warehouse(args.warehouse)
    try:
        applied = wh.migrate()
        print(f"{wh.describe()}: " + (f"applied {', '.join(applied)}" if applied else "schema is up to date"))
    finally:
        wh.close()
    return 0


def _add_env_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default=None, help="environment: dev, prod, ... (default: $DATAWIZ_ENV, else dev)")


def _add_blocks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("blocks", help="the Prefect blocks of an environment")
    bsub = p.add_subparsers(dest="action", required=True)
    register = bsub.add_parser("register", help="register the block types and save the environment's blocks "
                               "(datawiz-<env>-...) from .env.<env> and the environment; idempotent")
    _add_env_option(register)
    register.add_argument("--env-file", default=None, help="settings file (default: $DATAWIZ_ENV_FILE or .env.<env>)")
    register.set_defaults(func=cmd_blocks_register)


def cmd_blocks_register(args: argparse.Namespace) -> int:
    """Save the environment's blocks; print their names and secret-free descriptions."""
    from deployments.ops import register_environment

    return register_environment(args.env, args.env_file)


def _add_automations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("automations", help="the Prefect automations of an environment")
    asub = p.add_subparsers(dest="action", required=True)
    apply = asub.add_parser("apply", help="create or update the zombie (dead run -> Crashed), failure-email and "
                            "crash-rerun automations (idempotent; deploy first)")
    _add_env_option(apply)
    apply.set_defaults(func=cmd_automations_apply)


def cmd_automations_apply(args: argparse.Namespace) -> int:
    """Create or update the environment's automations; print what was done."""
    from deployments.ops import apply_automations

    return apply_automations(args.env)


def _add_starrocks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("starrocks", help="StarRocks cluster operations")
    ssub = p.add_subparsers(dest="action", required=True)
    selftest = ssub.add_parser(
        "selftest", help="try every StarRocks feature DataWiz uses in a scratch database (dropped at the end); "
        "one PASS/FAIL/SKIP line per feature, exit 1 if any failed")
    selftest.add_argument("--warehouse", default=None, help="starrocks://USER@HOST:9030/DB URL or a "
                          "starrocks-connector/NAME block (default: $DATAWIZ_WAREHOUSE)")
    selftest.add_argument("--source", default=None, help="Azure source (az://CONTAINER[/PREFIX] or "
                          "azure-blob-storage-container/NAME) for the FILES() check (default: $DATAWIZ_SOURCE; "
                          "none: that check is skipped)")
    selftest.set_defaults(func=cmd_starrocks_selftest)


def cmd_starrocks_selftest(args: argparse.Namespace) -> int:
    """Run the StarRocks selftest; exit 0 if nothing failed, 1 if something did, 2 if not a StarRocks warehouse."""
    from datawiz.starrocks_selftest import selftest_command

    return selftest_command(args.warehouse, args.source)


def _add_watchdog(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watchdog", help="email what needs no worker to notice: dead worker (pool/queue not ready), "
                       "crashed runs not re-run, Late runs, a failing alert flow, the API down; run it beside "
                       "the Prefect server (docs/OPERATIONS.md)")
    _add_env_option(p)
    p.add_argument("--once", action="store_true", help="check once and exit (1 when problems are open)")
    p.set_defaults(func=cmd_watchdog)


def cmd_watchdog(args: argparse.Namespace) -> int:
    """Watch the environment every $DATAWIZ_WATCHDOG_INTERVAL_SECONDS (60), for ever unless --once."""
    from deployments.ops import run_watchdog

    return run_watchdog(args.env, args.once)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_sample_data, _add_demo, _add_quarantine, _add_check, _add_db, _add_blocks, _add_automations,
    _add_starrocks, _add_watchdog,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `datawiz` console script."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start of the temporary server migrates its SQLite database: slow on 2 cores.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(LOCAL_SERVER_STARTUP_SECONDS))
    parser = argparse.ArgumentParser(prog="datawiz", description="DataWiz ETL: Azure Blob -> StarRocks via Prefect")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

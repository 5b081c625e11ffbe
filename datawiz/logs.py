"""JSON-lines log files per area, rotated daily and kept 30 days, each line joined to its trace.

Prefect's own handlers (console, and the API handler behind the UI's run logs) are untouched; these
three handlers are added beside them:

    logs/flows/flows.jsonl                  flow runs, workers and runners: the scheduler side
    logs/etl/etl.jsonl                      task runs and DataWiz's own modules: the work on files and tables
    logs/notifications/notifications.jsonl  e-mails and alerts (the alert and daily-report flows, send-email)

Prefect configures them from `datawiz/logging.yml` when `PREFECT_LOGGING_SETTINGS_PATH` points there (what
deployments do); a process started without it gets the same handlers from `install_json_logs()` (called by
`datawiz.observability.setup()` on import of the `tasks` package). The folder is `DATAWIZ_LOG_DIR`
(default `./logs`); `DATAWIZ_JSON_LOGS=false` turns the files off. Messages and tracebacks are redacted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import time
import traceback
from io import TextIOWrapper
from pathlib import Path

from opentelemetry import trace

from datawiz.core.redact import redact

AREAS = ("flows", "etl", "notifications")
RETENTION_DAYS = 30
DEFAULT_DIR = "./logs"
# Loggers of the scheduler side, of the work, and of notifications (prefixes of logger names).
_FLOW_LOGGERS = ("prefect.flow_runs", "prefect.workers", "prefect.runner", "prefect.flows", "prefect.deployments")
_ETL_LOGGERS = ("prefect.task_runs", "tasks", "blocks", "flows", "datawiz", "deployments", "bench")
_NOTIFICATION_LOGGERS = ("tasks.notify", "tasks.alerts", "blocks.email", "flows.alert", "flows.daily_report")
# Runs whose every line is about a notification, whichever logger wrote it.
NOTIFICATION_FLOWS = frozenset({"alert", "daily-report"})
NOTIFICATION_TASKS = frozenset({"send-email", "validation-alert", "success-email"})
# Record attributes Prefect's run loggers add (see prefect.logging.loggers), copied when present.
_RUN_FIELDS = ("flow_run_id", "flow_run_name", "flow_name", "task_run_id", "task_run_name", "task_name")


def log_dir() -> Path:
    """Where the JSON log files go: $DATAWIZ_LOG_DIR, default ./logs."""
    return Path(os.environ.get("DATAWIZ_LOG_DIR") or DEFAULT_DIR)


def json_logs_enabled() -> bool:
    """False when DATAWIZ_JSON_LOGS is 0/false/no/off."""
    return os.environ.get("DATAWIZ_JSON_LOGS", "true").strip().lower() not in {"0", "false", "no", "off"}


def area_of(record: logging.LogRecord) -> str | None:
    """The area a record belongs to, or None for loggers outside DataWiz and Prefect's run loggers."""
    name = record.name
    if (getattr(record, "flow_name", None) in NOTIFICATION_FLOWS
            or getattr(record, "task_name", None) in NOTIFICATION_TASKS or _under(name, _NOTIFICATION_LOGGERS)):
        return "notifications"
    if _under(name, _FLOW_LOGGERS):
        return "flows"
    if _under(name, _ETL_LOGGERS):
        return "etl"
    return None


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class AreaFilter(logging.Filter):
    """Lets through the records of one area."""

    def __init__(self, area: str) -> None:
        super().__init__()
        if area not in AREAS:
            raise ValueError(f"log area {area!r}: choose one of {', '.join(AREAS)}")
        self.area = area

    def filter(self, record: logging.LogRecord) -> bool:
        return area_of(record) == self.area


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, run ids, trace_id/span_id; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update({f: str(getattr(record, f)) for f in _RUN_FIELDS if getattr(record, f, None) is not None})
        line.update(trace_ids())
        if record.exc_info:
            line["exception"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(line, ensure_ascii=False, default=str)


def trace_ids() -> dict[str, str]:
    """trace_id and span_id (hex, as SigNoz shows them) of the current span; empty outside a recorded span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class DailyJsonlHandler(logging.handlers.TimedRotatingFileHandler):
    """Rotates at midnight and keeps 30 days; safe when several processes write the same file.

    A worker and its flow-run processes share one file per area. The first process to log after midnight
    renames it to `<name>.YYYY-MM-DD`; the stock handler in the next process would delete that and rename
    the fresh file over it. This one sees the dated file exists and just reopens the new one.
    """

    def doRollover(self) -> None:  # noqa: N802 (logging's name)
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)  # a first line may come after midnight
        started = self.rolloverAt - self.interval
        stamp = time.strftime(self.suffix, time.gmtime(started) if self.utc else time.localtime(started))
        if not os.path.exists(self.rotation_filename(f"{self.baseFilename}.{stamp}")):
            super().doRollover()
            return
        if self.stream:
            self.stream.close()
            self.stream = None
        if not self.delay:
            self.stream = self._open()
        now = int(time.time())
        self.rolloverAt = self.computeRollover(now)
        while self.rolloverAt <= now:
            self.rolloverAt += self.interval

    def _open(self) -> TextIOWrapper:
        # The area folder is created with the first line, not when the handler is configured.
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def area_handler(area: str, directory: str | None = None, level: int | str = logging.INFO) -> DailyJsonlHandler:
    """The rotating JSON-lines handler of one area: <log dir>/<area>/<area>.jsonl (referenced by logging.yml)."""
    folder = Path(directory) if directory else log_dir()
    handler = DailyJsonlHandler(
        folder / area / f"{area}.jsonl", when="midnight", backupCount=RETENTION_DAYS, encoding="utf-8", delay=True
    )
    handler.setLevel(level)
    handler.addFilter(AreaFilter(area))
    handler.setFormatter(JsonLinesFormatter())
    return handler


def install_json_logs(directory: str | None = None) -> list[DailyJsonlHandler]:
    """Add the area handlers to the root logger unless present (logging.yml, or an earlier call); idempotent."""
    # Prefect configures logging once, on import, and leaves the root logger alone if it already has
    # handlers: let it go first, or its console handler would be missing.
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    root = logging.getLogger()
    present = [h for h in root.handlers if isinstance(h, DailyJsonlHandler)]
    if present or not json_logs_enabled():
        return present
    handlers = [area_handler(area, directory) for area in AREAS]
    for handler in handlers:
        root.addHandler(handler)
    return handlers


def remove_json_logs() -> None:
    """Detach and close the area handlers (tests, or a process that switches its log folder)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, DailyJsonlHandler)]:
        root.removeHandler(handler)
        handler.close()

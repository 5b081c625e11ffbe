"""Run reports: the quality report (Prefect artifacts: markdown, per-file and per-table tables), terminal summary."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.email import DataWizEmail
from blocks.warehouse.base import Warehouse
from datawiz.core.environment import env_name
from datawiz.core.registry import summary_tables
from tasks.load import FileReport
from tasks.notify import Email, render, run_link, send_run_email

# The tables a run summary counts, from the registry as imported (datawiz demo's table names).
# table_counts() reads the registry again: a table registered since is counted too.
SUMMARY_TABLES = summary_tables()


@dataclass
class RunSummary:
    """What one flow run did; returned by every flow (and emailed by the notification flows)."""

    flow: str
    business_date: dt.date
    run_id: str
    files: list[FileReport] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def rows(self, attr: str) -> int:
        return sum(getattr(f.stats, attr) for f in self.files)

    def loaded_by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.table] = out.get(f.table, 0) + f.stats.rows_loaded
        return out


def table_counts(warehouse: Warehouse, tables: tuple[str, ...] | None = None) -> dict[str, int]:
    """Row count of each warehouse table (default: all of `summary_tables()`); only registry names reach the SQL."""
    known = summary_tables()
    picked = [t for t in known if tables is None or t in tables]  # identifiers from the registry, never from input
    # One query per table: the table name is an identifier; a label for it would be a value (bound, not formatted).
    return {t: int(warehouse.query(f"SELECT count(*) AS n FROM {t}")["n"][0].as_py()) for t in picked}


def quality_markdown(summary: RunSummary) -> str:
    """Markdown for the `datawiz-<env>-dq-<flow>` artifact: one line per file, then the rules that failed most."""
    lines = [
        f"# Data quality — {summary.flow} {summary.business_date}",
        "",
        f"Files: {len(summary.files)} new · loaded {summary.count('loaded')} · rejected "
        f"{summary.count('rejected')} · superseded {summary.count('superseded')} · "
        f"unrecognised {len(summary.unrecognised)}",
        "",
        "| file | table | status | in | loaded | quarantined | deduplicated | orphans | reason / top rules |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for f in summary.files:
        s = f.stats
        detail = f.reason or ", ".join(f"{rule} ×{n}" for rule, n in f.top_rules)
        if f.drift_columns:
            shown = ", ".join(f.drift_columns[:DRIFT_SHOWN])
            more = f" and {len(f.drift_columns) - DRIFT_SHOWN} more" if len(f.drift_columns) > DRIFT_SHOWN else ""
            detail += f" (schema drift, not loaded: {shown}{more})"
        lines.append(
            f"| {md_text(f.path)} | {f.table} | {f.status} | {s.rows_in} | {s.rows_loaded} | {s.rows_quarantined} "
            f"| {s.rows_deduplicated} | {s.orphans} | {md_text(detail, 2000)} |"
        )
    examples = [(f.path, e) for f in summary.files for e in f.examples]
    if examples:
        lines += ["", "Example quarantined rows (all of them: table `etl_quarantine`, files under data/quarantine/):"]
        for path, e in examples[:20]:
            rules = "; ".join(f"{r['column'] or 'row'}: {r['rule']}" for r in e["rules"])
            lines.append(f"- `{path}` row {e['row_number']}: {rules}")
    if summary.unrecognised:
        lines += ["", "Unrecognised paths (ignored):", *[f"- {md_text(p)}" for p in summary.unrecognised]]
    return "\n".join(lines)


DRIFT_SHOWN = 20  # extra column names listed per file in the report (a file may bring thousands)
_MD_ESCAPE = re.compile(r"([\\`\[\]|])")


def md_text(value: object, limit: int = 500) -> str:
    """Text from a delivered file (column names, blob names, reasons quoting them) shown literally in markdown:
    one line, HTML brackets as entities, and no character that opens a link, a code span or a table cell."""
    text = " ".join(str(value).split())
    text = text if len(text) <= limit else text[:limit] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_ESCAPE.sub(r"\\\1", text)


def file_rows(summary: RunSummary) -> list[dict[str, object]]:
    """One row per file version of the run, for the `-files` table artifact (numbers stay numbers).

    The Prefect UI renders every *string* cell of a table artifact as markdown (`ArtifactDataTable` in
    prefect/server/ui: `p-markdown-renderer` for strings), so text from a file goes through `md_text`.
    """
    rows: list[dict[str, object]] = []
    for f in summary.files:
        s = f.stats
        detail = f.reason or ", ".join(f"{rule} ×{n}" for rule, n in f.top_rules)
        if f.drift_columns:
            detail += f" (schema drift: {len(f.drift_columns)} extra column(s) not loaded)"
        rows.append({
            "file": md_text(f.path), "table": f.table, "status": f.status,
            "business date": str(f.business_date or ""), "rows in": s.rows_in, "loaded": s.rows_loaded,
            "quarantined": s.rows_quarantined, "deduplicated": s.rows_deduplicated, "orphans": s.orphans,
            "seconds": round(f.seconds, 2), "reason / top rules": md_text(detail),
        })
    return rows or [{"file": "no new file version in this run"}]


def table_rows(summary: RunSummary) -> list[dict[str, object]]:
    """One row per warehouse table: the run's files and rows into it, and its row count after the run."""
    counts: dict[str, int] = summary.notes.get("table_counts", {})
    names = list(dict.fromkeys([*counts, *sorted({f.table for f in summary.files})]))
    rows = []
    for table in names:
        files = [f for f in summary.files if f.table == table]
        rows.append({
            "table": table,
            **{f"files {status}": sum(1 for f in files if f.status == status)
               for status in ("loaded", "rejected", "superseded")},
            **{label: sum(getattr(f.stats, attr) for f in files) for label, attr in (
                ("rows in", "rows_in"), ("rows loaded", "rows_loaded"), ("quarantined", "rows_quarantined"),
                ("deduplicated", "rows_deduplicated"), ("orphans", "orphans"))},
            "rows in warehouse": counts.get(table, ""),
        })
    return rows


def publish_quality_report(summary: RunSummary) -> None:
    """Attach the quality report to the flow run: the markdown summary (key `datawiz-<env>-dq-<flow>`) and the
    per-file and per-table results as table artifacts (`datawiz-<env>-dq-<flow>-files`, `...-tables`).

    Table artifacts (`prefect.artifacts.create_table_artifact`, a list of row dicts) show in the run's
    Artifacts tab as sortable tables; the keyed ones also under Artifacts, latest first.
    """
    what = f"{summary.flow} run for {summary.business_date}"
    key = env_name(f"dq-{summary.flow}")
    create_markdown_artifact(key=key, markdown=quality_markdown(summary), description=f"Data quality of {what}")
    create_table_artifact(key=f"{key}-files", table=file_rows(summary), description=f"Files of the {what}")
    create_table_artifact(key=f"{key}-tables", table=table_rows(summary), description=f"Tables after the {what}")


def summary_text(summaries: list[RunSummary]) -> str:
    """The terminal summary: per run files and rows, then the warehouse row counts after the last run."""
    out = []
    for s in summaries:
        out.append(
            f"{s.flow:<8} {s.business_date}  files {len(s.files):>4} (loaded {s.count('loaded')}, rejected "
            f"{s.count('rejected')}, superseded {s.count('superseded')}, unrecognised {len(s.unrecognised)})  "
            f"rows loaded {s.rows('rows_loaded'):>9,}  quarantined {s.rows('rows_quarantined'):>5,}  "
            f"deduplicated {s.rows('rows_deduplicated'):>3,}  orphans {s.rows('orphans'):>4,}  {s.seconds:6.1f} s"
        )
    counts = summaries[-1].notes.get("table_counts", {}) if summaries else {}
    out += ["", f"{'table':<24}{'rows':>12}", *[f"{t:<24}{n:>12,}" for t, n in counts.items()]]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- success email
# The runs a success email is about: a pipeline run as a whole (a backfill's month subflows are part of it).
SUCCESS_EMAIL_FLOWS = frozenset({"evening", "morning", "backfill"})


def success_email(summary: RunSummary, link: str | None) -> Email:
    """The opt-in "job succeeded" email of one completed pipeline run: what it loaded, per table, and a link."""
    subject = (f"{summary.flow} {summary.business_date} completed: {summary.count('loaded')} file(s) loaded, "
               f"{summary.rows('rows_loaded'):,} rows")
    tables = [(t["table"], t["files loaded"], t["files rejected"], t["rows loaded"], t["quarantined"],
               t["rows in warehouse"]) for t in table_rows(summary) if t["files loaded"] or t["files rejected"]]
    return render("success", subject, {"s": summary, "tables": tables, "link": link,
                                       "minutes": f"{int(summary.seconds // 60)}m {int(summary.seconds % 60):02d}s"})


@task(name="success-email", cache_policy=NO_CACHE)
def send_success_email(summary: RunSummary) -> bool:
    """Email a completed pipeline run when the email block asks for it (`email_on_success`, EMAIL_ON_SUCCESS)."""
    if summary.flow not in SUCCESS_EMAIL_FLOWS:
        return False

    def build(settings: DataWizEmail) -> Email | None:
        return success_email(summary, run_link(summary.run_id, settings)) if settings.email_on_success else None

    return send_run_email("success email", build)

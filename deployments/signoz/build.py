"""Writes the SigNoz dashboard and alert rules of DataWiz from one compact description.

    python -m deployments.signoz.build      # rewrites datawiz-dashboard.json and alert-rules.json here

The JSON files are what you import (Dashboards -> New -> Import JSON; alert rules through the UI or
`POST /api/v1/rules`, one rule per request). Keeping them generated keeps 17 widgets and 9 rules
consistent: one environment filter, one naming rule for metrics, one place to change a threshold.

Metric names: SigNoz stores OTLP metric names with `.` turned into `_` (`datawiz.files.loaded` ->
`datawiz_files_loaded`). A SigNoz that keeps dotted names needs `METRIC_NAME_STYLE = "dotted"` here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datawiz.core import registry

HERE = Path(__file__).resolve().parent
METRIC_NAME_STYLE = "underscore"
ENV_VARIABLE = "deployment.environment"
_NAMESPACE = uuid.UUID("6b1f2f3e-7d4c-4b7e-9a51-3c0d7e5b9a10")  # stable ids: regenerating changes nothing


def metric(name: str) -> str:
    """The name SigNoz shows for an OTLP metric name."""
    return name.replace(".", "_") if METRIC_NAME_STYLE == "underscore" else name


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class Query:
    """One builder query: a metric, how to aggregate it over time and across series, filters, grouping."""

    name: str  # OTLP name, e.g. datawiz.files.loaded
    kind: str  # Sum | Gauge | Histogram
    time_agg: str  # increase | rate | latest | avg | max | min ... (unused for histograms)
    space_agg: str  # sum | max | min | avg; p50 | p95 ... for histograms
    group_by: tuple[str, ...] = ()
    where: tuple[tuple[str, str, str], ...] = ()  # (attribute, op, value)
    legend: str = ""
    letter: str = "A"

    def builder(self) -> dict[str, Any]:
        key = metric(self.name)
        histogram = self.kind == "Histogram"
        if histogram:  # SigNoz stores a histogram as <name>_bucket / _count / _sum; quantiles read the buckets
            key += "_bucket" if METRIC_NAME_STYLE == "underscore" else ".bucket"
        filters = [_filter(attr, op, value) for attr, op, value in self.where]
        filters.append(_filter(ENV_VARIABLE, "IN", "{{.deployment.environment}}"))
        return {
            "aggregateAttribute": {"dataType": "float64", "id": f"{key}--float64--{self.kind}--true", "isColumn": True,
                                   "isJSON": False, "key": key, "type": self.kind},
            "aggregateOperator": "count" if histogram else self.time_agg,
            "dataSource": "metrics", "disabled": False, "expression": self.letter,
            "filters": {"items": filters, "op": "AND"},
            "functions": [], "groupBy": [_attr(g) for g in self.group_by], "having": [],
            "legend": self.legend or " ".join("{{" + g + "}}" for g in self.group_by), "limit": None,
            "orderBy": [], "queryName": self.letter, "reduceTo": "last", "stepInterval": 60,
            "timeAggregation": "" if histogram else self.time_agg, "spaceAggregation": self.space_agg,
        }


def _attr(key: str) -> dict[str, Any]:
    return {"dataType": "string", "id": f"{key}--string--tag--false", "isColumn": False, "isJSON": False,
            "key": key, "type": "tag"}


def _filter(key: str, op: str, value: str) -> dict[str, Any]:
    return {"id": _id("filter", key, op, value), "key": _attr(key), "op": op, "value": value}


@dataclass(frozen=True)
class Widget:
    """A panel: graph, value or table, with one or more queries (and an optional formula)."""

    title: str
    description: str
    queries: tuple[Query, ...]
    panel: str = "graph"
    unit: str = "short"
    width: int = 4
    formula: str | None = None
    thresholds: tuple[float, ...] = ()

    def to_json(self, wid: str) -> dict[str, Any]:
        formulas = [{"disabled": False, "expression": self.formula, "legend": self.title, "queryName": "F1"}] \
            if self.formula else []
        return {
            "description": self.description, "fillSpans": False, "id": wid, "isStacked": False,
            "nullZeroValues": "zero", "opacity": "1", "panelTypes": self.panel,
            "query": {"builder": {"queryData": [q.builder() for q in self.queries], "queryFormulas": formulas},
                      "clickhouse_sql": [{"disabled": False, "legend": "", "name": "A", "query": ""}],
                      "id": _id(wid, "query"),
                      "promql": [{"disabled": False, "legend": "", "name": "A", "query": ""}],
                      "queryType": "builder"},
            "softMax": None, "softMin": None,
            "thresholds": [{"id": _id(wid, str(t)), "isEditEnabled": False, "keyIndex": i, "selectedGraph": self.panel,
                            "thresholdColor": "Red", "thresholdFormat": "Text", "thresholdLabel": "alert",
                            "thresholdOperator": ">", "thresholdTableOptions": "", "thresholdUnit": self.unit,
                            "thresholdValue": t} for i, t in enumerate(self.thresholds)],
            "timePreferance": "GLOBAL_TIME", "title": self.title, "yAxisUnit": self.unit,
        }


@dataclass(frozen=True)
class Row:
    title: str
    widgets: tuple[Widget, ...] = field(default_factory=tuple)


# The fact tables of the registry (freshness and throughput panels watch these).
FACTS = (("table", "IN", ",".join(registry.target_tables(registry.FACTS))),)

ROWS = (
    Row("Loads", (
        Widget("Files loaded per table", "File versions loaded (increase per interval)",
               (Query("datawiz.files.loaded", "Sum", "increase", "sum", ("table",)),)),
        Widget("Rows loaded per table", "Rows written to the warehouse",
               (Query("datawiz.rows.loaded", "Sum", "increase", "sum", ("table",)),)),
        Widget("Load throughput p50 (rows/s)", "Rows per second of the load stage, median per table",
               (Query("datawiz.load.throughput", "Histogram", "rate", "p50", ("table",)),), unit="short"),
    )),
    Row("Failures and quality", (
        Widget("Failed runs", "Pipeline flow runs that failed (any flow)",
               (Query("datawiz.job.runs", "Sum", "increase", "sum", where=(("status", "=", "failed"),),
                      legend="failed"),), panel="value", thresholds=(0,)),
        Widget("Runs by flow and status", "Pipeline flow runs (attempts) by flow and status",
               (Query("datawiz.job.runs", "Sum", "increase", "sum", ("flow", "status")),)),
        Widget("Files rejected per table", "File versions rejected (unreadable, missing column, bad name, too many "
               "bad rows)", (Query("datawiz.files.rejected", "Sum", "increase", "sum", ("table",)),)),
        Widget("Rows quarantined per table", "Rows kept out of the warehouse by a rule",
               (Query("datawiz.rows.quarantined", "Sum", "increase", "sum", ("table",)),)),
        Widget("Quarantine ratio", "Rows quarantined / rows extracted, all tables",
               (Query("datawiz.rows.quarantined", "Sum", "increase", "sum", legend="quarantined"),
                Query("datawiz.rows.extracted", "Sum", "increase", "sum", legend="extracted", letter="B")),
               formula="A / B", unit="percentunit"),
    )),
    Row("Freshness", (
        Widget("Freshness: age of the newest loaded business day", "Seconds since the newest loaded business day "
               "ended (IST); about 8 h after a good morning run", (Query("datawiz.freshness.age", "Gauge", "latest",
                                                                        "max", ("table",), FACTS),),
               unit="s", width=8, thresholds=(32 * 3600,)),
        Widget("Stalest fact table", "The largest freshness age", (Query("datawiz.freshness.age", "Gauge", "latest",
                                                                         "max", (), FACTS),), panel="value", unit="s"),
    )),
    Row("Stages and warehouse", (
        Widget("Stage duration p95 by stage", "read / clean / validate / load / download / list, per file",
               (Query("datawiz.stage.duration", "Histogram", "rate", "p95", ("stage",)),), unit="s"),
        Widget("Load stage p95 by table", "Time to load one file, per table",
               (Query("datawiz.stage.duration", "Histogram", "rate", "p95", ("table",),
                      (("stage", "=", "load"),)),), unit="s"),
        Widget("Warehouse statement latency p95", "By backend and operation (select, insert, load, ...)",
               (Query("datawiz.warehouse.statement.duration", "Histogram", "rate", "p95", ("backend", "operation")),),
               unit="s"),
        Widget("Run duration p95 by flow", "Wall time of pipeline runs",
               (Query("datawiz.job.duration", "Histogram", "rate", "p95", ("flow",)),), unit="s"),
    )),
    Row("Worker", (
        Widget("CPU utilization", "Share of CPU time by state (system metrics instrumentation)",
               (Query("system.cpu.utilization", "Gauge", "avg", "avg", ("state",),
                      (("state", "!=", "idle"),)),), unit="percentunit"),
        Widget("Memory used", "Worker memory in use, and the largest flow-run process",
               (Query("system.memory.usage", "Sum", "avg", "max", where=(("state", "=", "used"),), legend="used"),
                Query("process.memory.usage", "Sum", "avg", "max", legend="largest process", letter="B")),
               unit="bytes"),
        Widget("Free disk of the data folder", "DATAWIZ_DATA_DIR's disk",
               (Query("datawiz.disk.free", "Gauge", "latest", "min"),), unit="bytes"),
    )),
)


def dashboard() -> dict[str, Any]:
    """The SigNoz dashboard JSON: rows of widgets, and a deployment.environment variable."""
    layout, widgets, y = [], [], 0
    for row in ROWS:
        rid = _id("row", row.title)
        layout.append({"h": 1, "i": rid, "maxH": 1, "minH": 1, "minW": 12, "moved": False, "static": False,
                       "w": 12, "x": 0, "y": y})
        widgets.append(Widget(row.title, "", (), panel="row").to_json(rid))
        y, x = y + 1, 0
        for w in row.widgets:
            if x + w.width > 12:
                x, y = 0, y + 3
            wid = _id("widget", row.title, w.title)
            layout.append({"h": 3, "i": wid, "maxH": None, "minH": 2, "minW": 2, "moved": False, "static": False,
                           "w": w.width, "x": x, "y": y})
            widgets.append(w.to_json(wid))
            x += w.width
        y += 3
    variable_id = _id("variable", ENV_VARIABLE)
    return {
        "id": _id("dashboard"),
        "title": "DataWiz ETL",
        "description": "Loads per table, rows/s, failures, freshness, stage durations, warehouse latency and the "
                       "worker's resources, from DataWiz's OTLP metrics (see docs/OBSERVABILITY.md).",
        "name": "datawiz",
        "tags": ["datawiz", "etl", "prefect", "otlp"],
        "layout": layout,
        "variables": {variable_id: {
            "allSelected": True, "customValue": "", "description": "DATAWIZ_ENV of the runs", "id": variable_id,
            "key": variable_id, "multiSelect": True, "name": ENV_VARIABLE, "order": 0,
            "queryValue": ("SELECT JSONExtractString(labels, 'deployment.environment') AS `deployment.environment`\n"
                           "FROM signoz_metrics.distributed_time_series_v4_1day\n"
                           f"WHERE metric_name = '{metric('datawiz.job.runs')}'\n"
                           "AND unix_milli >= {{.start_timestamp}}\nAND unix_milli < {{.end_timestamp}}\n"
                           "GROUP BY `deployment.environment`\nORDER BY `deployment.environment` ASC"),
            "selectedValue": "ALL", "showALLOption": True, "sort": "ASC", "textboxValue": "", "type": "QUERY",
        }},
        "widgets": widgets,
        "version": "v4",
    }


@dataclass(frozen=True)
class Alert:
    """A threshold rule on one builder query (or a formula of two)."""

    name: str
    severity: str  # critical | warning
    summary: str
    description: str
    queries: tuple[Query, ...]
    op: str  # above | below
    target: float
    window: str = "15m0s"
    formula: str | None = None
    absent_minutes: int | None = None  # also fire when the series stops arriving for this long

    def to_json(self) -> dict[str, Any]:
        queries = {q.letter: q.builder() for q in self.queries}
        for q in queries.values():  # alerts run outside the dashboard: no environment variable
            q["filters"]["items"] = [f for f in q["filters"]["items"] if f["key"]["key"] != ENV_VARIABLE]
        selected = "A"
        if self.formula:
            queries["F1"] = {"queryName": "F1", "expression": self.formula, "disabled": False, "legend": self.name}
            selected = "F1"
            for q in self.queries:
                queries[q.letter]["disabled"] = True
        rule: dict[str, Any] = {
            "alert": self.name, "alertType": "METRIC_BASED_ALERT", "ruleType": "threshold_rule",
            "evalWindow": self.window, "frequency": "1m0s",
            "condition": {
                "compositeQuery": {"queryType": "builder", "panelType": "graph", "builderQueries": queries},
                "op": {"above": "1", "below": "2"}[self.op], "target": self.target, "matchType": "1",
                "selectedQueryName": selected,
            },
            "labels": {"severity": self.severity, "service": "datawiz"},
            "annotations": {"summary": self.summary, "description": self.description},
            "disabled": False, "preferredChannels": [],
        }
        if self.absent_minutes:
            rule["condition"].update({"alertOnAbsent": True, "absentFor": self.absent_minutes})
        return rule


ALERTS = (
    Alert("DataWiz run failed", "critical", "A DataWiz pipeline run failed",
          "{{$labels.flow}} failed. Open the run in Prefect (the Failed state names the file and the error), or the "
          "trace in SigNoz: service datawiz, status error.",
          (Query("datawiz.job.runs", "Sum", "increase", "sum", ("flow",), (("status", "=", "failed"),)),),
          "above", 0),
    Alert("DataWiz data is stale", "critical", "A fact table's newest business day is older than expected",
          "{{$labels.table}}: the newest loaded business day ended {{$value}} s ago (limit 32 h: yesterday's data "
          "should be in by 08:00 IST). Also fires when no run reported freshness for 26 h.",
          (Query("datawiz.freshness.age", "Gauge", "latest", "max", ("table",), FACTS),),
          "above", 32 * 3600, window="30m0s", absent_minutes=26 * 60),
    Alert("DataWiz files rejected", "warning", "Source files were rejected",
          "{{$labels.table}}: {{$value}} file version(s) rejected. See the run's quality report artifact "
          "(reason per file); a rejected version is not retried until upstream re-delivers it.",
          (Query("datawiz.files.rejected", "Sum", "increase", "sum", ("table",)),), "above", 0, window="1h0m0s"),
    Alert("DataWiz quarantine ratio high", "warning", "More than 1% of extracted rows were quarantined",
          "Rows quarantined / rows extracted above 1% in the last hour. `datawiz quarantine replay` after a contract "
          "fix; the quality report lists the top rules.",
          (Query("datawiz.rows.quarantined", "Sum", "increase", "sum"),
           Query("datawiz.rows.extracted", "Sum", "increase", "sum", letter="B")),
          "above", 0.01, window="1h0m0s", formula="A / B"),
    Alert("DataWiz load slow", "warning", "Loading one file takes more than 15 minutes (p95)",
          "{{$labels.table}}: p95 of the load stage above 900 s. Compare the warehouse statement latency panel; "
          "on StarRocks check the Stream Load queue.",
          (Query("datawiz.stage.duration", "Histogram", "rate", "p95", ("table",), (("stage", "=", "load"),)),),
          "above", 900, window="30m0s"),
    Alert("DataWiz load throughput low", "warning", "Fact loads below 5,000 rows/s (median)",
          "{{$labels.table}}: median load throughput {{$value}} rows/s. Normal is well above 50,000 on MariaDB and "
          "StarRocks.", (Query("datawiz.load.throughput", "Histogram", "rate", "p50", ("table",), FACTS),),
          "below", 5000, window="30m0s"),
    Alert("DataWiz warehouse statements slow", "warning", "Warehouse statements slow (p95 above 60 s)",
          "{{$labels.backend}} {{$labels.operation}}: p95 latency {{$value}} s.",
          (Query("datawiz.warehouse.statement.duration", "Histogram", "rate", "p95", ("backend", "operation")),),
          "above", 60, window="30m0s"),
    Alert("DataWiz worker disk low", "critical", "Less than 10 GiB free for the data folder",
          "Raw backups and quarantine copies need room: free {{$value}} bytes. Run the maintenance flow (archive, "
          "purge) or grow the disk.", (Query("datawiz.disk.free", "Gauge", "latest", "min"),),
          "below", 10 * 2**30, window="15m0s"),
    Alert("DataWiz worker memory high", "warning", "Worker memory above 90% used",
          "The worker host is short of memory; large files stream in batches of DATAWIZ_BATCH_ROWS rows.",
          (Query("system.memory.utilization", "Gauge", "avg", "max", where=(("state", "=", "used"),)),),
          "above", 0.9, window="15m0s"),
)


def alert_rules() -> list[dict[str, Any]]:
    """The alert rules, as SigNoz's rules API takes them (one object per rule)."""
    return [a.to_json() for a in ALERTS]


def referenced_metrics() -> set[str]:
    """Every OTLP metric name the dashboard and the rules use (tests check DataWiz emits each)."""
    queries = [q for row in ROWS for w in row.widgets for q in w.queries] + [q for a in ALERTS for q in a.queries]
    return {q.name for q in queries}


def render() -> dict[str, str]:
    """File name -> JSON text of everything this module writes."""
    return {
        "datawiz-dashboard.json": json.dumps(dashboard(), indent=2) + "\n",
        "alert-rules.json": json.dumps(alert_rules(), indent=2) + "\n",
    }


if __name__ == "__main__":
    for name, text in render().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")

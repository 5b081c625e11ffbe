"""The SigNoz dashboard and alert rules in deployments/signoz/ are the generator's output and hang together."""

from __future__ import annotations

import json

from deployments.signoz import build


def test_committed_json_is_what_build_py_writes() -> None:
    for name, text in build.render().items():
        assert (build.HERE / name).read_text() == text, f"run `python -m deployments.signoz.build` ({name})"


def test_every_widget_has_a_place_and_every_query_filters_by_environment() -> None:
    board = json.loads((build.HERE / "datawiz-dashboard.json").read_text())
    assert sorted(w["id"] for w in board["widgets"]) == sorted(item["i"] for item in board["layout"])
    assert all(item["x"] + item["w"] <= 12 for item in board["layout"])
    titles = {w["title"] for w in board["widgets"]}
    for needed in ("Files loaded per table", "Load throughput p50 (rows/s)", "Failed runs",
                   "Freshness: age of the newest loaded business day", "Stage duration p95 by stage"):
        assert needed in titles
    for widget in board["widgets"]:
        for query in widget["query"]["builder"]["queryData"]:
            keys = [f["key"]["key"] for f in query["filters"]["items"]]
            assert "deployment.environment" in keys, widget["title"]
            assert query["aggregateAttribute"]["key"].startswith(("datawiz_", "system_", "process_"))


def test_alert_rules_select_a_query_they_define() -> None:
    rules = json.loads((build.HERE / "alert-rules.json").read_text())
    assert len(rules) == len(build.ALERTS) and len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        condition = rule["condition"]
        assert condition["selectedQueryName"] in condition["compositeQuery"]["builderQueries"]
        assert rule["labels"]["severity"] in ("critical", "warning")
    stale = next(r for r in rules if r["alert"] == "DataWiz data is stale")
    assert stale["condition"]["alertOnAbsent"] and stale["condition"]["target"] == 32 * 3600

"""The generator's documented defects (docs/SAMPLE-DATA.md) end exactly as DATA-CONTRACT §3 says.

Every file version's ledger row must equal the manifest's expectation, the reconciliation
equation must hold for every loaded version, the quarantined rows must be readable in the
warehouse and as Parquet, and a replay after a contract fix must load what now passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from blocks.warehouse import resolve_warehouse
from datawiz.core import registry as contracts
from datawiz.sample_data import Manifest, generate
from flows.evening import evening
from flows.morning import morning
from tasks.quarantine import quarantine_copy_path, replay_file

pytestmark = pytest.mark.integration
END = dt.date(2025, 11, 20)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, prefect_server: None):
    root = tmp_path_factory.mktemp("dq")
    os.environ["DATAWIZ_DATA_DIR"] = str(root / "data")
    landing = root / "landing"
    manifest = generate(landing, days=7, fis_rows_per_day=600, end_date=END, defects=True)
    url = f"duckdb:///{root / 'wh.duckdb'}"
    ev = evening(business_date=END, source=str(landing), warehouse=url)
    mo = morning(business_date=END, source=str(landing), warehouse=url)
    return manifest, url, ev, mo


def query(url: str, sql: str, params: dict | None = None) -> list[dict]:
    wh = resolve_warehouse(url)
    try:
        return wh.query(sql, params).to_pylist()
    finally:
        wh.close()


def test_every_file_ends_exactly_as_documented(run) -> None:
    manifest: Manifest
    manifest, url, ev, mo = run
    ledger = {r["source_file"]: r for r in query(url, "SELECT * FROM etl_file_ledger")}
    for exp in manifest.files:
        if exp.expected_status == "unrecognised" or exp.path.startswith("historical/"):
            assert exp.path not in ledger
            continue
        row = ledger[exp.path]
        got = (row["status"], row["rows_in"], row["rows_loaded"], row["rows_quarantined"],
               row["rows_deduplicated"], row["orphans"])
        want = (exp.expected_status, exp.rows_in, exp.rows_loaded, exp.rows_quarantined,
                exp.rows_deduplicated, exp.orphans)
        assert got == want, f"{exp.path} ({exp.note}): got {got}, want {want}"
    unrecognised = {f.path for f in manifest.files if f.expected_status == "unrecognised"}
    assert set(mo.unrecognised) == unrecognised == set(ev.unrecognised)


def test_reconciliation_holds_and_rejections_name_the_problem(run) -> None:
    manifest, url, _, mo = run
    unbalanced = query(url, "SELECT source_file FROM etl_file_ledger WHERE status = 'loaded' "
                            "AND rows_in <> rows_loaded + rows_quarantined + rows_deduplicated")
    assert unbalanced == []
    reasons = {r["source_file"]: r["reason"] for r in query(
        url, "SELECT source_file, reason FROM etl_file_ledger WHERE status = 'rejected'")}
    joined = " | ".join(reasons.values())
    for fragment in ("missing required column(s): net_amount", "unreadable Parquet", "file is empty (0 bytes)",
                     "not valid UTF-8 at line", "does not match the table's naming pattern",
                     "above max_reject_ratio 0.05"):
        assert fragment in joined, fragment
    assert not any("data/raw" in r for r in reasons.values())  # the source file is named, not a local copy
    drift = [f for f in mo.files if f.drift_columns]
    assert [f.drift_columns for f in drift] == [["promo_code"]] and drift[0].status == "loaded"


def test_quarantined_rows_are_kept_with_row_and_rules(run) -> None:
    manifest, url, _, _ = run
    expected = sum(f.rows_quarantined for f in manifest.files if f.expected_status == "loaded")
    rows = query(url, "SELECT * FROM etl_quarantine ORDER BY source_file, row_number")
    assert len(rows) == expected
    rules = {r["rule"] for row in rows for r in json.loads(row["rules"])}
    for rule in ("not_nullable", "coerce_to_int", "str_matches", "isin", "greater_than_or_equal_to(0)",
                 "sign_matches_doc_type", "net_equals_gross_minus_discount_plus_tax", "duplicate_key_conflict"):
        assert any(rule in r for r in rules), (rule, rules)
    abc = [r for r in rows if '"abc"' in r["row_json"]]
    assert len(abc) == 1 and json.loads(abc[0]["row_json"])["quantity"] == "abc"
    for source_file, version in {(r["source_file"], r["source_version"]) for r in rows}:
        copy = pq.read_table(quarantine_copy_path(source_file, version))
        in_db = [r["row_number"] for r in rows if r["source_file"] == source_file]
        assert copy.column("row_number").to_pylist() == in_db


def test_replay_after_a_contract_fix_loads_what_now_passes(run, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, url, _, _ = run
    toys = next(f for f in manifest.files if f.rows_quarantined and f.path.startswith("dimensions/product/"))
    product = contracts.CONTRACTS["product"]
    fixed_columns = tuple(
        dataclasses.replace(c, allowed=(*c.allowed, "Toys")) if c.name == "category" else c for c in product.columns
    )
    monkeypatch.setitem(contracts.CONTRACTS, "product", dataclasses.replace(product, columns=fixed_columns))
    wh = resolve_warehouse(url)
    try:
        result = replay_file(wh, toys.path, "replay-test")
    finally:
        wh.close()
    assert (result.replayed, result.loaded, result.still_quarantined) == (1, 1, 0)
    ledger = query(url, "SELECT * FROM etl_file_ledger WHERE source_file = :f AND status = 'loaded'",
                   {"f": toys.path})[0]
    assert ledger["rows_quarantined"] == 0 and ledger["rows_loaded"] == toys.rows_loaded + 1
    assert ledger["rows_in"] == ledger["rows_loaded"] + ledger["rows_quarantined"] + ledger["rows_deduplicated"]
    assert query(url, "SELECT count(*) AS n FROM dim_product WHERE category = 'Toys'")[0]["n"] == 1
    assert query(url, "SELECT count(*) AS n FROM etl_quarantine WHERE source_file = :f", {"f": toys.path}) == [
        {"n": 0}]
    assert not Path(quarantine_copy_path(toys.path, ledger["source_version"])).exists()


def test_quality_report_artifact_names_files_rules_and_rows(run) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    from deployments.settings import env_name

    _, _, _, mo = run
    key = env_name("dq-morning")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key, f"{key}-files", f"{key}-tables"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[mo.run_id])),
        )
    found = {a.key: a for a in artifacts}
    assert sorted(found) == [key, f"{key}-files", f"{key}-tables"]
    assert found[f"{key}-files"].type == found[f"{key}-tables"].type == "table"
    files = json.loads(found[f"{key}-files"].data)  # the per-file results, one row per file version
    assert len(files) == len(mo.files) and {f["status"] for f in files} >= {"loaded", "rejected"}
    reasons = [f["reason / top rules"] for f in files if f["status"] == "rejected"]
    assert any("above max_reject_ratio" in r for r in reasons) and all(isinstance(f["rows in"], int) for f in files)
    tables = {t["table"]: t for t in json.loads(found[f"{key}-tables"].data)}
    fis = tables["fact_secondary_sales"]
    assert fis["rows loaded"] == sum(f.stats.rows_loaded for f in mo.files if f.table == "fact_secondary_sales") > 0
    assert fis["rows in warehouse"] >= fis["rows loaded"] and fis["files rejected"] >= 1
    report = found[key].data
    assert "| rejected |" in report and "above max_reject_ratio" in report
    assert "duplicate_key_conflict" in report and "Example quarantined rows" in report
    assert "misc/readme.txt" in report  # unrecognised paths are listed, never silently ignored

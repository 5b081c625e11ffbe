"""Streaming ingest into MariaDB (issue 9): batches go through one LOAD DATA in one transaction, so a
failure in any batch — the stream's or the server's — leaves no rows, no quarantine and no ledger row.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blocks.types import FileStats, SourceFile
from blocks.warehouse import resolve_warehouse
from datawiz.core.errors import FileRejected
from datawiz.core.registry import resolve_path
from tasks.clean import ROW_NUMBER, clean_table
from tasks.extract import PlannedFile, read_raw
from tasks.lineage import with_lineage
from tasks.load import ingest_file
from tasks.validate import QUARANTINE_SCHEMA, validate_rows
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.unit.test_streaming import FIS_DIR, HEADER, entry_for, fis_text, with_copies, write

pytestmark = pytest.mark.integration


def _count(wh, table: str) -> int:  # noqa: ANN001
    return int(wh.query(f"SELECT count(*) AS n FROM {table}")["n"][0].as_py())


def _ingest(wh, tmp_path: Path, local: Path, rel: str, monkeypatch: pytest.MonkeyPatch, size: int):  # noqa: ANN001, ANN202
    monkeypatch.setenv("DATAWIZ_BATCH_ROWS", str(size))
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    ref = resolve_path(rel)
    assert ref is not None
    planned = PlannedFile(SourceFile(rel, "v1", local.stat().st_size), ref, "fis", "fact_secondary_sales")
    return ingest_file.fn(wh, planned, str(local), "test-run")


def test_a_failure_in_batch_k_leaves_nothing_in_mariadb(mysql_url: str) -> None:  # noqa: F811
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    rel = f"{FIS_DIR}/fis_20251120_001.parquet"
    ref = resolve_path(rel)
    assert ref is not None
    entry = entry_for(rel)
    raw = pa.table({k: pa.array([r[k] for r in fis_text(3000)]) for k in HEADER})
    rows = with_lineage(clean_table(raw, ref.contract, rel).table.drop_columns([ROW_NUMBER]), entry)

    def batches():  # noqa: ANN202
        yield rows.slice(0, 1000)
        yield rows.slice(1000, 1000)  # both already sent to the server when the third fails
        raise RuntimeError("batch 3 broke")

    with pytest.raises(RuntimeError, match="batch 3 broke"):
        wh.load_file(ref.contract, entry, batches(), QUARANTINE_SCHEMA.empty_table())
    assert _count(wh, "fact_secondary_sales") == 0 and wh.ledger_versions() == set()
    assert not [t for t in threading.enumerate() if t.name in ("datawiz-csv", "datawiz-batches")]

    entry.stats = FileStats(rows_in=3000, rows_loaded=3000)
    wh.load_file(ref.contract, entry, iter([rows.slice(0, 1000), rows.slice(1000)]), QUARANTINE_SCHEMA.empty_table())
    assert _count(wh, "fact_secondary_sales") == 3000
    wh.close()


def test_a_streamed_file_loads_like_the_whole_file(
    mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    rows = with_copies(fis_text(400, {7: {"quantity": "-3"}, 70: {"sku_code": "bad"}, 333: {"quantity": "x"}}))
    local, rel = write(tmp_path, "fis_20251120_002", rows, "csv")
    ref = resolve_path(rel)
    assert ref is not None
    whole = validate_rows(clean_table(read_raw(local, ref), ref.contract, rel), ref)
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    report = _ingest(wh, tmp_path, local, rel, monkeypatch, size=37)
    assert report.status == "loaded" and report.stats.balanced()
    assert report.stats.rows_deduplicated == whole.stats.rows_deduplicated == 3
    assert (report.stats.rows_loaded, report.stats.rows_quarantined) == (whole.stats.rows_loaded,
                                                                          whole.stats.rows_quarantined)
    assert report.stats.orphans == report.stats.rows_loaded  # no dimension rows loaded in this database
    assert _count(wh, "fact_secondary_sales") == whole.good.num_rows
    stored = wh.query("SELECT q.row_number, q.row_json, q.rules FROM etl_quarantine q ORDER BY q.row_number")
    assert stored.to_pylist() == whole.quarantine.select(["row_number", "row_json", "rules"]).to_pylist()
    assert stored["row_number"].to_pylist() == [7, 10, 20, 70, 333, 403, 404]
    copy = pq.read_table(tmp_path / "data" / "quarantine" / FIS_DIR / "fis_20251120_002@v1.parquet")
    assert copy["row_number"].to_pylist() == stored["row_number"].to_pylist()
    ledger = wh.query("SELECT status, rows_in, rows_loaded FROM etl_file_ledger").to_pylist()
    assert ledger == [{"status": "loaded", "rows_in": 405, "rows_loaded": whole.good.num_rows}]
    wh.close()


def test_a_file_over_the_ratio_in_its_last_batch_loads_nothing_in_mariadb(
    mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    local, rel = write(tmp_path, "fis_20251120_003",
                       fis_text(2000, {i: {"quantity": "-1"} for i in range(1850, 2001)}), "parquet")
    ref = resolve_path(rel)
    assert ref is not None
    with pytest.raises(FileRejected) as whole:
        validate_rows(clean_table(read_raw(local, ref), ref.contract, rel), ref)
    wh = resolve_warehouse(mysql_url)
    wh.migrate()
    report = _ingest(wh, tmp_path, local, rel, monkeypatch, size=100)  # rows 1-1800 were on their way
    assert report.status == "rejected" and report.reason == whole.value.reason
    assert _count(wh, "fact_secondary_sales") == 0 and _count(wh, "etl_quarantine") == 0
    assert wh.query("SELECT status, rows_in FROM etl_file_ledger").to_pylist() == [
        {"status": "rejected", "rows_in": 2000}]
    assert not [t for t in threading.enumerate() if t.name in ("datawiz-csv", "datawiz-batches")]
    wh.close()

"""Streaming ingest (issue 9): a file flows read -> clean -> validate -> load in bounded batches with
exactly the outcome of validating it whole — duplicates and conflicts across batches, file row numbers,
the reject ratio on the whole file — and a failure in any batch leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from blocks.types import FileStats, LedgerEntry, SourceFile
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.batches import ParquetSpool, prefetched, rebatch
from datawiz.core.errors import FileRejected
from datawiz.core.registry import CONTRACTS, resolve_path
from tasks.clean import ROW_NUMBER, Failure, clean_table
from tasks.extract import PlannedFile, read_raw
from tasks.lineage import with_lineage
from tasks.load import PREPARE_AHEAD, FileStream, ingest_file
from tasks.validate import QUARANTINE_SCHEMA, row_json, rules_per_row, validate_rows

FIS_DIR = "facts/fis/2025/11/20"
HEADER = [c.name for c in CONTRACTS["fis"].columns]


def fis_text(n: int, bad: dict[int, dict[str, str]] | None = None) -> list[dict[str, str]]:
    """n valid fis lines as delivered in a CSV (1-based row i has invoice i), with overrides per row number."""
    rows = []
    for i in range(1, n + 1):
        row = {
            "invoice_no": f"INV{i:010d}", "line_no": "1", "doc_type": "INV", "invoice_date": "2025-11-20",
            "distributor_code": "D00001", "retailer_code": "R0000001", "tsr_code": "E00010",
            "sku_code": "SKU000001", "quantity": str(i % 7 + 1), "free_quantity": "0", "gross_amount": "100.00",
            "discount_amount": "10.00", "tax_amount": "18.00", "net_amount": "108.00",
            "updated_at": "2025-11-20 10:00:00",
        }
        row.update((bad or {}).get(i, {}))
        rows.append(row)
    return rows


def with_copies(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Append rows whose key repeats one far earlier: exact copies and conflicting versions."""
    out = list(rows)
    out.append(dict(rows[4]))                                  # exact copy of row 5
    out.append(dict(rows[4]))                                  # and another
    out.append({**rows[9], "quantity": "99"})                  # conflicts with row 10
    out.append({**rows[19], "quantity": "-1"})                 # conflicts with row 20, and is bad itself
    out.append(dict(rows[2]))                                  # exact copy of row 3, which is bad
    return out


def write(tmp_path: Path, name: str, rows: list[dict[str, str]], fmt: str) -> tuple[Path, str]:
    table = pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in HEADER})
    rel = f"{FIS_DIR}/{name}.{fmt}"
    local = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        pacsv.write_csv(table, local)
    else:  # typed, as an exporter would write it
        ref = resolve_path(rel)
        assert ref is not None
        # Row groups of 2,000 rows: a reader holds a row group's dictionary pages, whatever the batch size.
        pq.write_table(clean_table(table, ref.contract, rel).table.drop_columns([ROW_NUMBER]), local,
                       row_group_size=2000)
    return local, rel


def entry_for(rel: str, version: str = "v1") -> LedgerEntry:
    return LedgerEntry(rel, version, "fact_secondary_sales", "loaded", FileStats(), "test-run",
                       dt.datetime.now(dt.UTC), dt.date(2025, 11, 20))


def streamed(local: Path, rel: str, size: int) -> tuple[LedgerEntry, pa.Table, pa.Table, list[int]]:
    """(entry, good rows, quarantine records, good batch sizes) of a FileStream over the file."""
    ref = resolve_path(rel)
    assert ref is not None
    entry = entry_for(rel)
    with FileStream(ref, entry, local, size=size, prepare_ahead=PREPARE_AHEAD) as stream:
        batches = list(stream.good_batches())
        quarantine = pa.concat_tables([QUARANTINE_SCHEMA.empty_table(), *stream.quarantine])
    good = pa.concat_tables(batches).drop_columns(["_source_file", "_source_version", "_loaded_at", "_run_id"])
    return entry, good, quarantine, [b.num_rows for b in batches]


# ------------------------------------------------------------------------------------ same outcome as whole
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_streamed_outcome_equals_whole_file_validation(tmp_path: Path, fmt: str) -> None:
    bad = {3: {"quantity": "-4"}, 41: {"sku_code": ""}, 77: {"net_amount": "1.00"}}
    if fmt == "csv":
        bad[60] = {"quantity": "abc"}  # a value that cannot be read (typed files cannot carry it)
    local, rel = write(tmp_path, "fis_20251120_001", with_copies(fis_text(300, bad)), fmt)
    ref = resolve_path(rel)
    assert ref is not None
    whole = validate_rows(clean_table(read_raw(local, ref), ref.contract, rel), ref)

    entry, good, quarantine, sizes = streamed(local, rel, size=7)

    assert entry.stats == whole.stats and entry.stats.balanced()
    assert entry.stats.rows_deduplicated == 3  # rows 301, 302 (copies of 5) and 305 (copy of 3)
    assert good.sort_by("invoice_no").equals(whole.good.sort_by("invoice_no"))
    assert quarantine.equals(whole.quarantine)  # same records, same row order, same JSON text
    conflict = {r["row_number"] for r in quarantine.to_pylist() if "duplicate_key_conflict" in r["rules"]}
    assert conflict == {10, 20, 303, 304}  # file row numbers, across batches 2, 3 and 44
    assert max(sizes[:-1]) <= 7


def test_quarantine_row_numbers_are_file_rows_in_every_batch(tmp_path: Path) -> None:
    bad_rows = [2, 9, 15, 33, 34, 50]
    local, rel = write(tmp_path, "fis_20251120_002", fis_text(200, {i: {"quantity": "-1"} for i in bad_rows}), "csv")
    _, _, quarantine, _ = streamed(local, rel, size=8)
    assert quarantine["row_number"].to_pylist() == bad_rows
    delivered = [json.loads(r)["invoice_no"] for r in quarantine["row_json"].to_pylist()]
    assert delivered == [f"INV{i:010d}" for i in bad_rows]  # the record is that row of the file


# ------------------------------------------------------------------------------------ bounded memory
def _stream_peak(tmp_path: Path, n: int, size: int) -> tuple[int, int]:
    """(peak live Arrow bytes while streaming an n-row file, the whole file's Arrow bytes)."""
    local, rel = write(tmp_path, f"fis_20251120_{n % 1000:03d}", with_copies(fis_text(n)), "parquet")
    ref = resolve_path(rel)
    assert ref is not None
    whole_bytes = read_raw(local, ref).nbytes
    baseline = pa.total_allocated_bytes()
    peak, ahead, sizes = 0, 0, []
    with FileStream(ref, entry_for(rel), local, size=size, prepare_ahead=PREPARE_AHEAD) as stream:
        for handed, batch in enumerate(stream.good_batches(), start=1):
            sizes.append(batch.num_rows)
            ahead = max(ahead, stream._offset - handed * size)  # rows read beyond what was handed on
            peak = max(peak, pa.total_allocated_bytes() - baseline)
    assert max(sizes[:-1]) <= size and sizes[-1] <= 5  # the last batch: the rows whose key repeats
    assert ahead <= PREPARE_AHEAD * size  # the batches being cleaned and checked ahead, no more
    return peak, whole_bytes


def test_memory_follows_the_batch_not_the_file(tmp_path: Path) -> None:
    """Batches handed on are at most `size` rows, the reader is at most PREPARE_AHEAD batches ahead of what
    was handed on, and Arrow's live allocations stay flat when the file grows fourfold (they follow the batch and
    the Parquet row group — whose dictionary pages a reader holds — never the file)."""
    small, _ = _stream_peak(tmp_path, 10_001, 500)
    large, whole = _stream_peak(tmp_path, 40_002, 500)
    assert large <= small * 1.25, (small, large)
    assert large < whole / 5, (large, whole)


def test_prefetch_runs_one_batch_ahead_and_hands_errors_over() -> None:
    produced: list[int] = []

    def source():  # noqa: ANN202
        for i in range(5):
            produced.append(i)
            yield pa.table({"i": [i]})
        raise RuntimeError("batch 6 broke")

    seen = []
    with pytest.raises(RuntimeError, match="batch 6 broke"):
        for batch in prefetched(source(), depth=1):
            time.sleep(0.05)  # the producer would run away here if it were unbounded
            seen.append(batch["i"][0].as_py())
            assert len(produced) <= len(seen) + 2  # one in the queue, one being produced
    assert seen == [0, 1, 2, 3, 4]
    assert not [t for t in threading.enumerate() if t.name == "datawiz-batches"]


def test_rebatch_and_spool_keep_rows_and_order(tmp_path: Path) -> None:
    parts = [pa.table({"i": list(range(a, b))}) for a, b in ((0, 3), (3, 4), (4, 15), (15, 15), (15, 22))]
    cut = list(rebatch(parts, 5))
    assert [t.num_rows for t in cut] == [5, 5, 5, 5, 2]
    with ParquetSpool(str(tmp_path)) as spool:
        for t in cut:
            spool.write(t)
        assert pa.concat_tables(list(spool))["i"].to_pylist() == list(range(22))
        assert pa.concat_tables(list(spool)).num_rows == 22  # readable more than once
        assert list(tmp_path.iterdir()) == []  # anonymous: no name a killed process could leave behind


# ------------------------------------------------------------------------------------ vectorised records
def test_row_json_writes_what_json_dumps_writes() -> None:
    rows = pa.table({
        "text": ["plain", 'quote " and \\ back', "line\nbreak\ttab\r", "ctrl \x01 \x1f", "ünï €", "", None],
        "n": pa.array([1, -2, None, 2**62, 0, 7, 8], pa.int64()),
        "flag": [True, False, None, True, True, False, None],
        "amount": pa.array([Decimal("1.50"), Decimal("-0.01"), None, Decimal("123456789012.34"), Decimal("0.00"),
                            Decimal("5.00"), Decimal("6.10")], pa.decimal128(14, 2)),
        "day": pa.array([dt.date(2025, 11, 20), None, dt.date(1999, 1, 1), dt.date(2025, 1, 2), None, None, None]),
        "at": pa.array([dt.datetime(2025, 11, 20, 10), dt.datetime(2025, 11, 20, 10, 0, 0, 5), None, None, None,
                        None, dt.datetime(2025, 1, 1, 23, 59, 59, 999999)], pa.timestamp("us")),
        "ratio": [0.1, 1e20, None, 1.0, -0.0, float("nan"), 2.5],
        "nothing": pa.nulls(7),
        "listed": [[1], None, [], [2, 3], None, None, [4]],
        'odd "name"': ["x"] * 7,
    })
    expected = [json.dumps(r, default=str, ensure_ascii=False) for r in rows.to_pylist()]
    assert row_json(rows).to_pylist() == expected


def test_rules_per_row_lists_each_rows_rules_in_failure_order() -> None:
    failures = [
        Failure(np.array([1, 4]), "quantity", "coerce_to_int", "coercion"),
        Failure(np.array([0, 1, 6]), None, "sign_matches_doc_type"),
        Failure(np.array([1, 5]), "invoice_no,line_no", "duplicate_key_conflict"),
    ]
    kept = np.array([True, True, True, True, True, False, True])
    rows, rules, counts = rules_per_row(failures, kept)
    expected: dict[int, list[dict[str, object]]] = {}
    for f in failures:
        for r in f.rows:
            if kept[r]:
                expected.setdefault(int(r), []).append({"column": f.column, "rule": f.rule, "category": f.category})
    assert rows.tolist() == sorted(expected)
    assert rules.to_pylist() == [json.dumps(expected[r]) for r in sorted(expected)]
    assert counts == {"coerce_to_int": 2, "sign_matches_doc_type": 3, "duplicate_key_conflict": 1}


# ------------------------------------------------------------------------------------ whole-file decisions
def _ingest(tmp_path: Path, local: Path, rel: str, monkeypatch: pytest.MonkeyPatch, size: int):  # noqa: ANN202
    monkeypatch.setenv("DATAWIZ_BATCH_ROWS", str(size))
    monkeypatch.setenv("DATAWIZ_DATA_DIR", str(tmp_path / "data"))
    wh = resolve_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.migrate()
    ref = resolve_path(rel)
    assert ref is not None
    planned = PlannedFile(SourceFile(rel, "v1", local.stat().st_size), ref, "fis", "fact_secondary_sales")
    return wh, ingest_file.fn(wh, planned, str(local), "test-run")


# Over the ratio in its last batch; or doomed in its third batch of 10 rows while the next PREPARE_AHEAD were
# being checked ahead (the rejection must still count every row of the file once, as whole-file validation does).
@pytest.mark.parametrize("bad_rows", [range(181, 201), range(1, 41)], ids=["last-batch", "doomed-early"])
def test_a_file_over_the_ratio_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_rows: range) -> None:
    local, rel = write(tmp_path, "fis_20251120_004", fis_text(200, {i: {"quantity": "-1"} for i in bad_rows}), "csv")
    ref = resolve_path(rel)
    assert ref is not None
    with pytest.raises(FileRejected) as whole:
        validate_rows(clean_table(read_raw(local, ref), ref.contract, rel), ref)
    wh, report = _ingest(tmp_path, local, rel, monkeypatch, size=10)
    assert report.status == "rejected" and report.reason == whole.value.reason
    assert report.stats.rows_in == 200
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == 0
    assert wh.query("SELECT count(*) AS n FROM etl_quarantine")["n"][0].as_py() == 0
    assert wh.query("SELECT status FROM etl_file_ledger")["status"].to_pylist() == ["rejected"]
    wh.close()


def test_an_unreadable_shaped_file_is_rejected_with_the_whole_file_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = fis_text(90, {i: {"updated_at": "20/11/2025 10:00"} for i in range(1, 91) if i % 3})
    local, rel = write(tmp_path, "fis_20251120_005", rows, "csv")
    ref = resolve_path(rel)
    assert ref is not None
    with pytest.raises(FileRejected) as whole:
        validate_rows(clean_table(read_raw(local, ref), ref.contract, rel), ref)
    assert "coerce_to_ts x60" in whole.value.reason
    wh, report = _ingest(tmp_path, local, rel, monkeypatch, size=7)
    assert report.status == "rejected" and report.reason == whole.value.reason
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == 0
    wh.close()


def test_a_streamed_file_loads_with_file_row_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = with_copies(fis_text(150, {7: {"quantity": "-3"}, 70: {"sku_code": "bad"}}))
    local, rel = write(tmp_path, "fis_20251120_006", rows, "csv")
    wh, report = _ingest(tmp_path, local, rel, monkeypatch, size=16)
    assert report.status == "loaded" and report.stats.balanced()
    assert (report.stats.rows_in, report.stats.rows_deduplicated) == (155, 3)
    loaded = wh.query("SELECT count(*) AS n, count(DISTINCT _loaded_at) AS t FROM fact_secondary_sales").to_pylist()
    assert loaded == [{"n": report.stats.rows_loaded, "t": 1}]  # one load time for the whole file
    numbers = wh.query("SELECT row_number FROM etl_quarantine ORDER BY row_number")["row_number"].to_pylist()
    assert numbers == [7, 10, 20, 70, 153, 154]
    assert [e["row_number"] for e in report.examples] == [7, 10, 20]
    copy = pq.read_table(tmp_path / "data" / "quarantine" / FIS_DIR / "fis_20251120_006@v1.parquet")
    assert copy["row_number"].to_pylist() == numbers
    wh.close()


# ------------------------------------------------------------------------------------ all or nothing
def test_a_failure_in_batch_k_leaves_nothing_in_duckdb(tmp_path: Path) -> None:
    wh = resolve_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.migrate()
    rel = f"{FIS_DIR}/fis_20251120_007.csv"
    entry = entry_for(rel)
    ref = resolve_path(rel)
    assert ref is not None
    good = clean_table(pa.table({k: pa.array([r[k] for r in fis_text(30)]) for k in HEADER}), ref.contract, rel)
    rows = with_lineage(good.table.drop_columns([ROW_NUMBER]), entry)

    def batches():  # noqa: ANN202
        yield rows.slice(0, 10)
        yield rows.slice(10, 10)
        raise RuntimeError("batch 3 broke")

    with pytest.raises(RuntimeError, match="batch 3 broke"):
        wh.load_file(ref.contract, entry, batches(), QUARANTINE_SCHEMA.empty_table())
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == 0
    assert wh.ledger_versions() == set()
    entry.stats = FileStats(rows_in=30, rows_loaded=30)
    wh.load_file(ref.contract, entry, iter([rows.slice(0, 10), rows.slice(10)]), QUARANTINE_SCHEMA.empty_table())
    assert wh.query("SELECT count(*) AS n FROM fact_secondary_sales")["n"][0].as_py() == 30
    wh.close()


def test_duckdb_inserts_streamed_batches_in_groups_of_insert_rows(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import blocks.warehouse.duckdb as duck

    monkeypatch.setattr(duck, "INSERT_ROWS", 25)
    wh = resolve_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.migrate()
    ref = resolve_path(f"{FIS_DIR}/fis_20251120_008.csv")
    assert ref is not None
    table = clean_table(pa.table({k: pa.array([r[k] for r in fis_text(60)]) for k in HEADER}), ref.contract,
                        ref.path).table.drop_columns([ROW_NUMBER])
    first = entry_for(ref.path)
    first.stats = FileStats(rows_in=40, rows_loaded=40)
    wh.load_file(ref.contract, first, with_lineage(table.slice(0, 40), first), QUARANTINE_SCHEMA.empty_table())
    inserts: list[int] = []
    upsert = duck._upsert_incoming

    def counted(cur, contract, columns):  # noqa: ANN001, ANN202
        inserts.append(int(cur.execute("SELECT count(*) FROM _incoming").fetchall()[0][0]))
        upsert(cur, contract, columns)

    monkeypatch.setattr(duck, "_upsert_incoming", counted)
    # Another file holding rows 21-60 in batches of 8: rows 21-40 replace the first file's by key.
    other = entry_for(f"{FIS_DIR}/fis_20251120_009.csv")
    other.stats = FileStats(rows_in=40, rows_loaded=40)
    rows = with_lineage(table.slice(20), other)
    wh.load_file(ref.contract, other, (rows.slice(i, 8) for i in range(0, 40, 8)), QUARANTINE_SCHEMA.empty_table())
    assert inserts == [25, 15]  # 5 batches of 8 rows -> inserts of 25 and 15, not 5 of 8
    by_file = wh.query("SELECT _source_file AS f, count(*) AS n, min(invoice_no) AS lo FROM fact_secondary_sales "
                       "GROUP BY 1 ORDER BY 1").to_pylist()
    assert by_file == [{"f": first.source_file, "n": 20, "lo": "INV0000000001"},
                       {"f": other.source_file, "n": 40, "lo": "INV0000000021"}]
    wh.close()


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_the_load_data_pipe_holds_a_megabyte(tmp_path: Path) -> None:
    import fcntl

    from blocks.warehouse.mysql import PIPE_BYTES, csv_pipe, write_load_csv

    rows = pa.table({"a": pa.array(range(50_000)), "b": pa.array([f"x{i}" for i in range(50_000)])})
    expected = tmp_path / "expected.csv"
    write_load_csv(rows, str(expected))
    with csv_pipe(rows) as path, open(path, "rb") as pipe:
        sent = pipe.read()  # all of it: the writer widened the pipe right after opening it
        size = fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ)
    assert sent == expected.read_bytes()
    assert size >= PIPE_BYTES == 1 << 20


def test_prefetch_takes_an_already_produced_list_as_is_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self))
    tables = [pa.table({"i": [1]}), pa.table({"i": [2]})]
    assert list(prefetched(tables)) == tables
    assert list(prefetched(iter(tables))) == tables  # as `as_batches` hands a list over
    assert started == []


def test_a_file_of_one_batch_is_validated_before_the_load_and_loads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, rel = write(tmp_path, "fis_20251120_005", with_copies(fis_text(600, {3: {"quantity": "x"}})), "parquet")
    handed: list[object] = []
    wh = resolve_warehouse(f"duckdb:///{tmp_path / 'spy.duckdb'}")
    load_file = type(wh).load_file

    def spy(self: object, contract: object, entry: object, data: object, quarantine: object) -> object:
        handed.append(data)
        return load_file(self, contract, entry, data, quarantine)  # type: ignore[arg-type]

    monkeypatch.setattr(type(wh), "load_file", spy)
    wh.close()
    whole_wh, whole = _ingest(tmp_path / "whole", local, rel, monkeypatch, size=1000)  # one batch
    assert handed, whole
    assert isinstance(handed[-1], list)  # validated up front: no producer thread for one batch
    streamed_wh, streamed = _ingest(tmp_path / "streamed", local, rel, monkeypatch, size=64)
    assert not isinstance(handed[-1], list)  # batches are still produced while the load runs
    try:
        assert whole.status == streamed.status == "loaded"
        assert whole.stats == streamed.stats and whole.stats.rows_quarantined >= 1
        query = "SELECT * FROM fact_secondary_sales ORDER BY invoice_no, line_no"
        assert whole_wh.query(query).drop_columns(["_loaded_at"]).equals(
            streamed_wh.query(query).drop_columns(["_loaded_at"]))
    finally:
        whole_wh.close()
        streamed_wh.close()

"""Backfill planning without a server: month ranges, per-month listings, grouping by month."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from blocks.source import LocalFolderSource
from blocks.types import SourceFile
from datawiz.core.registry import PREFIXES
from tasks.backfill import (
    all_prefixes,
    in_scope,
    month_prefixes,
    months_between,
    parse_days,
    parse_months,
    pending_months,
)
from tasks.extract import plan_files
from tasks.run import download_concurrency


def test_month_and_day_ranges_parse_inclusively() -> None:
    window = parse_months("2024-11..2025-02")
    assert window is not None and (window.first, window.last) == (dt.date(2024, 11, 1), dt.date(2025, 2, 28))
    single = parse_months("2024-02")
    assert single is not None and single.last == dt.date(2024, 2, 29)
    assert parse_months(None) is None and parse_days("") is None
    days = parse_days("2025-01-30..2025-03-02")
    assert days is not None and months_between(days) == [dt.date(2025, 1, 1), dt.date(2025, 2, 1),
                                                          dt.date(2025, 3, 1)]
    for bad in ("2024-13", "2024/01", "2025-03..2025-01"):
        with pytest.raises(ValueError):
            parse_months(bad)


def test_each_month_lists_only_its_own_folders() -> None:
    march = dt.date(2025, 3, 1)
    assert month_prefixes(["fis", "fid"], march, None) == ("historical/fis/2025/03/", "historical/fid/2025/03/")
    facts = parse_days("2025-03-31..2025-04-02")
    assert month_prefixes(["fis"], march, facts) == ("historical/fis/2025/03/", "facts/fis/2025/03/")
    assert month_prefixes(["fis"], dt.date(2025, 5, 1), facts) == ("historical/fis/2025/05/",)
    assert all_prefixes(["fid"], facts) == ("historical/fid/", "facts/fid/2025/03/", "facts/fid/2025/04/")


def _file(path: str) -> SourceFile:
    return SourceFile(path=path, version="v1", size=1)


def test_pending_months_group_new_history_and_facts_in_range_by_month() -> None:
    files = [_file(p) for p in (
        "historical/fis/2024/01/fis_202401_001.parquet",
        "historical/fis/2024/01/fis_202401_002.csv",
        "historical/fid/2024/02/fid_202402_001.parquet",
        "historical/fis/2024/03/not_a_valid_name.parquet",  # rejected later, but its month still runs
        "facts/fis/2025/03/31/fis_20250331_001.parquet",
        "facts/fis/2025/04/05/fis_20250405_001.parquet",  # outside the facts range
    )]
    plan = plan_files(files, known={("historical/fid/2024/02/fid_202402_001.parquet", "v1")})
    facts = parse_days("2025-03-01..2025-03-31")
    assert pending_months(in_scope(plan, ["fis", "fid"], facts), None) == {
        "2024-01": 2, "2024-03": 1, "2025-03": 1,
    }
    assert pending_months(in_scope(plan, ["fis"], None), parse_months("2024-02..2024-12")) == {"2024-03": 1}


def test_local_list_all_skips_prefixes_already_listed(tmp_path: Path) -> None:
    for rel in ("facts/fis/a.csv", "stray.txt", "other/x/y.csv", "config/business_constants.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    source = LocalFolderSource(tmp_path)
    assert sorted(f.path for f in source.list_all(skip=PREFIXES)) == ["other/x/y.csv", "stray.txt"]
    assert len(source.list_all()) == 4


def test_download_concurrency_is_bounded_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAWIZ_DOWNLOAD_CONCURRENCY", raising=False)
    assert download_concurrency() == 4
    monkeypatch.setenv("DATAWIZ_DOWNLOAD_CONCURRENCY", "8")
    assert download_concurrency() == 8

"""`make demo`: sample data (unless present) -> evening -> morning on the embedded DuckDB -> summary.

Both flows run in one process so the temporary Prefect server starts once. The summary ends
with a check of every table the generator predicted against what the warehouse holds.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from blocks.warehouse import resolve_warehouse
from datawiz.sample_data import Manifest, generate, manifest_path
from tasks.report import SUMMARY_TABLES

# Warehouse tables the check may name in SQL: a manifest is a file on disk, its keys are not trusted.
KNOWN_TABLES = {t: t for t in SUMMARY_TABLES}


def ensure_sample_data(landing: Path, days: int) -> Manifest:
    """Generate the landing folder and its manifest unless a previous demo left them."""
    target = manifest_path(landing)
    if landing.is_dir() and any(landing.iterdir()) and target.exists():
        print(f"sample data already in {landing} (delete it to regenerate)")
        return Manifest.from_json(target.read_text())
    print(f"generating {days} days of sample data into {landing} ...")
    manifest = generate(landing, days=days)
    target.write_text(manifest.to_json())
    return manifest


def expectation_check(manifest: Manifest, warehouse: str | None) -> list[str]:
    """One line per predicted table: expected vs actual rows (and net_amount sums for facts)."""
    wh = resolve_warehouse(warehouse)
    lines, ok = [], True
    try:
        for table, exp in manifest.tables.items():
            target = KNOWN_TABLES.get(table)
            if target is None:
                raise ValueError(f"manifest names {table!r}, which is not a DataWiz warehouse table")
            row = wh.query(
                f"SELECT count(*) AS n{', sum(net_amount) AS s' if exp.net_amount is not None else ''} FROM {target}"
            ).to_pylist()[0]
            good = row["n"] == exp.rows
            text = f"{table:<24} expected {exp.rows:>9,}  got {row['n']:>9,}"
            if exp.net_amount is not None:
                got = Decimal(row["s"] or 0)
                good = good and got == Decimal(exp.net_amount)
                text += f"   net_amount expected {exp.net_amount}  got {got}"
            ok &= good
            lines.append(("OK   " if good else "DIFF ") + text)
    finally:
        wh.close()
    lines.append("warehouse matches what the generator wrote" if ok else "MISMATCH: see DIFF lines above")
    return lines


def run_demo(landing: Path, warehouse: str | None, days: int) -> int:
    """Run the quick start; returns a process exit code (1 when the warehouse disagrees)."""
    from flows.evening import evening
    from flows.morning import morning
    from tasks.report import summary_text
    from tasks.run import quiet_server_shutdown, start_local_server

    manifest = ensure_sample_data(landing, days)
    start_local_server()
    business_date = dt.date.fromisoformat(str(manifest.params["end_date"]))
    source = str(landing)
    ev = evening(business_date=business_date, source=source, warehouse=warehouse)
    mo = morning(business_date=business_date, source=source, warehouse=warehouse)
    print()
    print(summary_text([ev, mo]))
    print()
    check = expectation_check(manifest, warehouse)
    print("\n".join(check))
    quiet_server_shutdown()
    return 0 if check[-1].startswith("warehouse matches") else 1

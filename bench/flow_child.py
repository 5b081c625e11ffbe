"""Child process of the pipeline cases: one morning run (download + fis load), measured from inside.

    python -m bench.flow_child SOURCE WAREHOUSE [PROFILE_PATH]

Prints one JSON line: the flow run's wall seconds, the files' own ingest seconds (the load stage),
files and rows loaded. The parent samples this
process tree's RSS. The Prefect API comes from $PREFECT_API_URL (the parent's server), so the
time is the flow's own, not a server start.
"""

from __future__ import annotations

import cProfile
import json
import sys
import time

from bench.data import DAY


def main(source: str, warehouse: str, profile: str | None = None) -> None:
    from flows.morning import morning

    prof = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    summary = morning(business_date=DAY, source=source, warehouse=warehouse,
                      steps=["blob_backup", "fis"], skip_wait=True)
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "load_seconds": sum(f.seconds for f in summary.files),
                      "files": len(summary.files), "loaded": summary.count("loaded"),
                      "rows_loaded": summary.rows("rows_loaded"),
                      "rows_quarantined": summary.rows("rows_quarantined")}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

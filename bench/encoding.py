"""Stream Load encoding: Arrow -> the CSV bytes DataWiz sends to StarRocks (the part of a StarRocks load
this process owns; the server's side is StarRocks' own).

Times `blocks.warehouse.stream_load.encode_batch` over the good rows of the generated fis day, lineage
attached, in the batch size the StarRocks loader sends; MB/s counts the bytes produced.
"""

from __future__ import annotations

from bench.common import Result, timed
from bench.mariadb_load import entry_for, good_rows
from blocks.warehouse.batches import rebatch
from blocks.warehouse.starrocks import StarRocksConnector
from blocks.warehouse.stream_load import encode_batch
from tasks.lineage import with_lineage


def run(rows: int = 1_000_000, runs: int = 3) -> Result:
    """Encode `rows` rows `runs` times; the result's note carries the MB/s at the median."""
    data = good_rows(rows)
    table = with_lineage(data, entry_for(data.num_rows))
    size_rows = int(StarRocksConnector.model_fields["batch_rows"].default)  # what one Stream Load request carries
    batches = list(rebatch([table], size_rows))
    size = [0]

    def encode_all() -> None:
        size[0] = sum(len(encode_batch(b).body) for b in batches)

    result = Result("Stream Load encoding", f"encode_batch (CSV), batches of {size_rows:,} rows", table.num_rows)
    result.seconds = [timed(encode_all) for _ in range(runs)]
    result.note = f"{size[0] / 2**20 / result.median_s:,.0f} MB/s ({size[0] / 2**20:,.0f} MB)"
    return result

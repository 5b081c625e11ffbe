"""Rows in bounded batches: what a streamed load hands the warehouse, and the helpers to move them.

A file version's good rows reach `Warehouse.load_file` as one Arrow table or as an iterable of
tables produced while the file is still being read and validated. Peak memory then follows the
batch size, not the file size. The helpers here are backend-neutral:
- `as_batches`: either form as an iterator of tables;
- `prefetched`: run the producer one batch ahead in a thread, so producing batch n+1 (read, clean,
  validate) overlaps with the database taking batch n;
- `rebatch`: re-cut a stream into tables of exactly n rows (deterministic StarRocks labels);
- `ParquetSpool`: batches written to a local Parquet file and read back, any number of times.
"""

from __future__ import annotations

import contextvars
import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from datawiz.core.contract import TableContract

Batches: TypeAlias = pa.Table | Iterable[pa.Table]
LINEAGE_COLUMNS = ("_source_file", "_source_version", "_loaded_at", "_run_id")


def as_batches(data: Batches) -> Iterator[pa.Table]:
    """A table or an iterable of tables, as an iterator of tables (a pa.Table is not iterated by column)."""
    if isinstance(data, pa.Table):
        return iter([data])
    return iter(data)


def loaded_columns(contract: TableContract) -> list[str]:
    """The columns of a load: the contract's, then the lineage columns (`tasks.lineage.with_lineage`)."""
    return [*contract.column_names, *LINEAGE_COLUMNS]


def rebatch(batches: Iterable[pa.Table | pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Tables of exactly `size` rows (the last one shorter; nothing for no rows), in order."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.extend(batch.to_batches() if isinstance(batch, pa.Table) else [batch])
        held += batch.num_rows
        while held >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


_DONE = object()
_ListIterator: type = type(iter([]))  # list_iterator, which the language does not name
T = TypeVar("T")


def prefetched(batches: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate `batches` with a thread producing up to `depth` batches ahead (errors re-raised here).

    The producer thread runs in a copy of the caller's context (tracing spans, Prefect's run
    context). Leaving the loop early stops the producer after the batch it is on. A list (or an
    iterator over one, as `as_batches` makes) is already produced: it is iterated as is, without a
    thread (a small file's one batch, validated before the load: tasks/load.py).
    """
    if isinstance(batches, (list, tuple, _ListIterator)):
        yield from batches
        return
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if not _offer(handoff, batch, stop):
                    return
            _offer(handoff, _DONE, stop)
        except BaseException as exc:  # noqa: BLE001  (handed to the consuming thread)
            _offer(handoff, exc, stop)

    ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(produce,), name="datawiz-batches", daemon=True)
    thread.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _offer(handoff: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class ParquetSpool:
    """Tables appended to a temporary local Parquet file, read back in batches as often as needed.

    Memory holds one batch at a time. The file is anonymous (`tempfile.TemporaryFile`): it has no
    name to leave behind, so even a process killed mid-file (SIGKILL, OOM) leaks no disk space.
    `close` (or leaving the `with`) frees it.
    """

    def __init__(self, directory: str | None = None, prefix: str = "datawiz-spool-") -> None:
        self._file = tempfile.TemporaryFile(prefix=prefix, suffix=".parquet", dir=directory)  # noqa: SIM115 (closed by close())
        self._writer: pq.ParquetWriter | None = None
        self.num_rows = 0

    def write(self, table: pa.Table) -> None:
        """Append rows (the first table fixes the schema)."""
        if not table.num_rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._file, table.schema, compression="lz4")
        self._writer.write_table(table)
        self.num_rows += table.num_rows

    def __iter__(self) -> Iterator[pa.Table]:
        """The rows written so far, in order, a row group at a time."""
        if self._writer is None:
            return
        self._writer.close()  # readable from now on; appending after reading is not supported
        self._file.seek(0)
        reader = pq.ParquetFile(self._file)
        for i in range(reader.metadata.num_row_groups):
            yield reader.read_row_group(i)

    def close(self) -> None:
        """Free the file."""
        if self._writer is not None:
            self._writer.close()
        self._file.close()

    def __enter__(self) -> ParquetSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

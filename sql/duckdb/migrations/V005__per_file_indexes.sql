-- Per-file statements by index (issue 17): a small file's load must not cost more as history grows.
-- ART indexes (duckdb.org/docs/stable/sql/indexes) on the path column of the ledger and the quarantine:
-- the load's ledger lookup (already loaded? an earlier version to replace?), the supersession of older
-- versions and the quarantine clean-up look up one path. Their primary keys start with source_file,
-- but DuckDB scans by a single-column ART only, never by a compound key, and only when the indexed
-- column is the scan's one filter (sql_builders.Style.one_filter_index).
-- The fact tables get no `_source_file` index: at 5M rows it made the first checkpoint of every process
-- 1-2 s slower (the ART is rewritten); DuckDB reads the ledger to know whether a load must look for a
-- previous version's rows at all (blocks/warehouse/duckdb.py).
-- IF NOT EXISTS: a no-op where an index is already there.
CREATE INDEX IF NOT EXISTS ix_ledger_file ON etl_file_ledger (source_file);

CREATE INDEX IF NOT EXISTS ix_quarantine_file ON etl_quarantine (source_file)

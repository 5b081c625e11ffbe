-- Per-file statements by index (issue 17): a small file's load must not cost more as history grows.
-- ART indexes (duckdb.org/docs/stable/sql/indexes) on the columns the per-file statements filter on,
-- used for selective equality filters (fewer matches than max(2048, 0.1% of the rows)):
-- * each fact table's `_source_file` (generated from the registry: blocks/warehouse/ddl.py
--   index_statements; new warehouses already have it from V001): previous-version clean-up and
--   re-delivery find a file's rows by path;
-- * the ledger's and the quarantine's `source_file`: the already-loaded check, the supersession of
--   older versions and the quarantine clean-up look up one path. Their primary keys start with
--   source_file too, but DuckDB scans by a single-column ART only, never by a compound key.
-- IF NOT EXISTS: a no-op where an index is already there.
{{ contract_indexes(5) }};

CREATE INDEX IF NOT EXISTS ix_ledger_file ON etl_file_ledger (source_file);

CREATE INDEX IF NOT EXISTS ix_quarantine_file ON etl_quarantine (source_file)

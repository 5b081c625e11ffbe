-- DataWiz core schema (DuckDB, the embedded local default).
-- Table and column names follow DATA-CONTRACT.md §4 and are the same on every backend.
-- The contract tables are generated from datawiz/core/registry.py (blocks/warehouse/ddl.py); the other
-- tables are written once for every backend in sql/core_tables.sql.

{{ contract_tables(1) }};

{% include "core_tables.sql" %}
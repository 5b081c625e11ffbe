-- DataWiz core schema (MySQL 8 / MariaDB 10.11): the same tables, columns and keys as
-- sql/duckdb/migrations/V001__core.sql (DATA-CONTRACT.md §4). InnoDB, utf8mb4.
-- Every statement is idempotent (IF NOT EXISTS) because MySQL DDL commits implicitly: a migration
-- interrupted half way is finished by running it again. Indexes live inside CREATE TABLE for the
-- same reason (MySQL has no CREATE INDEX IF NOT EXISTS).
-- Types: codes VARCHAR(64), names VARCHAR(255), paths VARCHAR(512) (the ledger key must stay under
-- InnoDB's 3072-byte index limit in utf8mb4), timestamps DATETIME(6) (DuckDB keeps microseconds too).
-- `lines` and `row_number` are reserved words in MySQL 8 and are quoted wherever they appear.
-- The contract tables are generated from datawiz/core/registry.py (blocks/warehouse/ddl.py); the other
-- tables are written once for every backend in sql/core_tables.sql.

{{ contract_tables(1) }};

{% include "core_tables.sql" %};

-- Row-level security grants (issue 6 adds the v_secondary_sales_secure view on CURRENT_USER()).
CREATE TABLE IF NOT EXISTS sec_user_region (
    user_name VARCHAR(128) NOT NULL,         -- as CURRENT_USER() spells it: user@host
    region    VARCHAR(64) NOT NULL,
    PRIMARY KEY (user_name, region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin

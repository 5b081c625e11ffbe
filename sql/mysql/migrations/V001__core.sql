-- DataWiz core schema (MySQL 8 / MariaDB 10.11): the same tables, columns and keys as
-- sql/duckdb/migrations/V001__core.sql (DATA-CONTRACT.md §4). InnoDB, utf8mb4.
-- Every statement is idempotent (IF NOT EXISTS) because MySQL DDL commits implicitly: a migration
-- interrupted half way is finished by running it again. Indexes live inside CREATE TABLE for the
-- same reason (MySQL has no CREATE INDEX IF NOT EXISTS).
-- Types: codes VARCHAR(64), names VARCHAR(255), paths VARCHAR(512) (the ledger key must stay under
-- InnoDB's 3072-byte index limit in utf8mb4), timestamps DATETIME(6) (DuckDB keeps microseconds too).
-- `lines` and `row_number` are reserved words in MySQL 8 and are quoted wherever they appear.

{{ contract_tables(1) }};

CREATE TABLE IF NOT EXISTS dim_sales_hierarchy (
    tsr_code        VARCHAR(64) NOT NULL,
    so_code         VARCHAR(64) NOT NULL,
    asm_code        VARCHAR(64) NOT NULL,
    rsm_code        VARCHAR(64) NOT NULL,
    zsm_code        VARCHAR(64) NOT NULL,
    nsm_code        VARCHAR(64) NOT NULL,
    valid_from      DATE NOT NULL,
    valid_to        DATE NOT NULL,          -- 9999-12-31 while current
    is_current      BOOLEAN NOT NULL,
    _source_file    VARCHAR(512) NOT NULL,
    _source_version VARCHAR(128) NOT NULL,
    _loaded_at      DATETIME(6) NOT NULL,
    _run_id         VARCHAR(64) NOT NULL,
    PRIMARY KEY (tsr_code, valid_from),
    KEY ix_dim_sales_hierarchy_valid (valid_from, valid_to)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS dim_date (
    date_key       DATE NOT NULL,
    year           INT NOT NULL,
    month          INT NOT NULL,
    day            INT NOT NULL,
    day_of_week    INT NOT NULL,            -- ISO: Monday = 1
    month_start    DATE NOT NULL,
    is_weekend     BOOLEAN NOT NULL,
    fiscal_year    VARCHAR(16) NOT NULL,    -- FY2026-27 runs April 2026 .. March 2027
    fiscal_quarter INT NOT NULL,            -- April-June = 1
    fiscal_month   INT NOT NULL,            -- April = 1
    PRIMARY KEY (date_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS agg_dd_tsr_month (
    month_start         DATE NOT NULL,
    tsr_code            VARCHAR(64) NOT NULL,
    so_code             VARCHAR(64),
    asm_code            VARCHAR(64),
    rsm_code            VARCHAR(64),
    zsm_code            VARCHAR(64),
    billed_outlets      BIGINT NOT NULL,
    productive_outlets  BIGINT NOT NULL,
    bills               BIGINT NOT NULL,
    `lines`             BIGINT NOT NULL,
    lines_per_bill      DECIMAL(12,4),
    focus_brand_outlets BIGINT NOT NULL,
    net_sales           DECIMAL(18,2) NOT NULL,
    lpb_vs_target       DECIMAL(12,4),
    _loaded_at          DATETIME(6) NOT NULL,
    _run_id             VARCHAR(64) NOT NULL,
    PRIMARY KEY (month_start, tsr_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS agg_dd_outlet_month (
    month_start     DATE NOT NULL,
    retailer_code   VARCHAR(64) NOT NULL,
    tsr_code        VARCHAR(64) NOT NULL,
    so_code         VARCHAR(64),
    asm_code        VARCHAR(64),
    rsm_code        VARCHAR(64),
    zsm_code        VARCHAR(64),
    distinct_skus   BIGINT NOT NULL,
    distinct_brands BIGINT NOT NULL,
    net_sales       DECIMAL(18,2) NOT NULL,
    is_productive   BOOLEAN NOT NULL,
    _loaded_at      DATETIME(6) NOT NULL,
    _run_id         VARCHAR(64) NOT NULL,
    PRIMARY KEY (month_start, retailer_code),
    KEY ix_dd_outlet_tsr (month_start, tsr_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS rpt_sales_daily (
    invoice_date   DATE NOT NULL,
    region         VARCHAR(64) NOT NULL,    -- 'Unknown' for orphan distributors
    brand          VARCHAR(255) NOT NULL,   -- 'Unknown' for orphan SKUs
    quantity       BIGINT NOT NULL,
    net_amount     DECIMAL(18,2) NOT NULL,
    billed_outlets BIGINT NOT NULL,
    _loaded_at     DATETIME(6) NOT NULL,
    _run_id        VARCHAR(64) NOT NULL,
    PRIMARY KEY (invoice_date, region, brand)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS etl_file_ledger (
    source_file       VARCHAR(512) NOT NULL,
    source_version    VARCHAR(128) NOT NULL,
    table_name        VARCHAR(64) NOT NULL,
    status            VARCHAR(16) NOT NULL,  -- loaded | rejected | superseded
    business_date     DATE,                  -- the date in the file name (1st of month for history)
    rows_in           BIGINT NOT NULL,
    rows_loaded       BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_deduplicated BIGINT NOT NULL,
    orphans           BIGINT NOT NULL,
    reason            TEXT,
    drift_columns     TEXT,                  -- JSON list of extra columns that were not loaded
    load_label        VARCHAR(255),
    run_id            VARCHAR(64) NOT NULL,
    started_at        DATETIME(6) NOT NULL,
    finished_at       DATETIME(6) NOT NULL,
    PRIMARY KEY (source_file, source_version),
    KEY ix_ledger_table_date (table_name, business_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS etl_quarantine (
    source_file    VARCHAR(512) NOT NULL,
    source_version VARCHAR(128) NOT NULL,
    `row_number`   BIGINT NOT NULL,          -- 1-based data row in the file (header excluded)
    table_name     VARCHAR(64) NOT NULL,
    row_json       MEDIUMTEXT NOT NULL,
    rules          TEXT NOT NULL,            -- JSON list of {column, rule, category}
    run_id         VARCHAR(64) NOT NULL,
    quarantined_at DATETIME(6) NOT NULL,
    PRIMARY KEY (source_file, source_version, `row_number`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS etl_run_log (
    run_id        VARCHAR(64) NOT NULL,
    flow          VARCHAR(64) NOT NULL,
    business_date DATE NOT NULL,
    status        VARCHAR(16) NOT NULL,      -- running | completed | failed
    started_at    DATETIME(6) NOT NULL,
    finished_at   DATETIME(6),
    message       TEXT,
    PRIMARY KEY (run_id),
    KEY ix_run_log_flow_date (flow, business_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Progress markers of derived builds (e.g. the last tsr snapshot date the hierarchy has seen).
CREATE TABLE IF NOT EXISTS etl_watermark (
    name       VARCHAR(64) NOT NULL,
    value      DATE NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Active TSRs whose chain was broken (cycle, missing manager, wrong role order) in a snapshot.
CREATE TABLE IF NOT EXISTS etl_hierarchy_broken (
    snapshot_date DATE NOT NULL,
    tsr_code      VARCHAR(64) NOT NULL,
    PRIMARY KEY (snapshot_date, tsr_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Row-level security grants (issue 6 adds the v_secondary_sales_secure view on CURRENT_USER()).
CREATE TABLE IF NOT EXISTS sec_user_region (
    user_name VARCHAR(128) NOT NULL,         -- as CURRENT_USER() spells it: user@host
    region    VARCHAR(64) NOT NULL,
    PRIMARY KEY (user_name, region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin

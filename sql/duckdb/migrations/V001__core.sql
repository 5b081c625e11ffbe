-- DataWiz core schema (DuckDB, the embedded local default).
-- Table and column names follow DATA-CONTRACT.md §4 and are the same on every backend.
-- Source columns mirror tasks/contracts.py (tests/unit/test_ddl_matches_contracts.py keeps them in step).

{{ contract_tables(1) }};

CREATE TABLE IF NOT EXISTS dim_sales_hierarchy (
    tsr_code        VARCHAR NOT NULL,
    so_code         VARCHAR NOT NULL,
    asm_code        VARCHAR NOT NULL,
    rsm_code        VARCHAR NOT NULL,
    zsm_code        VARCHAR NOT NULL,
    nsm_code        VARCHAR NOT NULL,
    valid_from      DATE NOT NULL,
    valid_to        DATE NOT NULL,          -- 9999-12-31 while current
    is_current      BOOLEAN NOT NULL,
    _source_file    VARCHAR NOT NULL,
    _source_version VARCHAR NOT NULL,
    _loaded_at      TIMESTAMP NOT NULL,
    _run_id         VARCHAR NOT NULL,
    PRIMARY KEY (tsr_code, valid_from)
);

CREATE TABLE IF NOT EXISTS dim_date (
    date_key       DATE PRIMARY KEY,
    year           INTEGER NOT NULL,
    month          INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    day_of_week    INTEGER NOT NULL,        -- ISO: Monday = 1
    month_start    DATE NOT NULL,
    is_weekend     BOOLEAN NOT NULL,
    fiscal_year    VARCHAR NOT NULL,        -- FY2026-27 runs April 2026 .. March 2027
    fiscal_quarter INTEGER NOT NULL,        -- April-June = 1
    fiscal_month   INTEGER NOT NULL         -- April = 1
);

CREATE TABLE IF NOT EXISTS agg_dd_tsr_month (
    month_start         DATE NOT NULL,
    tsr_code            VARCHAR NOT NULL,
    so_code             VARCHAR,
    asm_code            VARCHAR,
    rsm_code            VARCHAR,
    zsm_code            VARCHAR,
    billed_outlets      BIGINT NOT NULL,
    productive_outlets  BIGINT NOT NULL,
    bills               BIGINT NOT NULL,
    lines               BIGINT NOT NULL,
    lines_per_bill      DECIMAL(12,4),
    focus_brand_outlets BIGINT NOT NULL,
    net_sales           DECIMAL(18,2) NOT NULL,
    lpb_vs_target       DECIMAL(12,4),
    _loaded_at          TIMESTAMP NOT NULL,
    _run_id             VARCHAR NOT NULL,
    PRIMARY KEY (month_start, tsr_code)
);

CREATE TABLE IF NOT EXISTS agg_dd_outlet_month (
    month_start     DATE NOT NULL,
    retailer_code   VARCHAR NOT NULL,
    tsr_code        VARCHAR NOT NULL,
    so_code         VARCHAR,
    asm_code        VARCHAR,
    rsm_code        VARCHAR,
    zsm_code        VARCHAR,
    distinct_skus   BIGINT NOT NULL,
    distinct_brands BIGINT NOT NULL,
    net_sales       DECIMAL(18,2) NOT NULL,
    is_productive   BOOLEAN NOT NULL,
    _loaded_at      TIMESTAMP NOT NULL,
    _run_id         VARCHAR NOT NULL,
    PRIMARY KEY (month_start, retailer_code)
);

CREATE TABLE IF NOT EXISTS rpt_sales_daily (
    invoice_date   DATE NOT NULL,
    region         VARCHAR NOT NULL,        -- 'Unknown' for orphan distributors
    brand          VARCHAR NOT NULL,        -- 'Unknown' for orphan SKUs
    quantity       BIGINT NOT NULL,
    net_amount     DECIMAL(18,2) NOT NULL,
    billed_outlets BIGINT NOT NULL,
    _loaded_at     TIMESTAMP NOT NULL,
    _run_id        VARCHAR NOT NULL,
    PRIMARY KEY (invoice_date, region, brand)
);

CREATE TABLE IF NOT EXISTS etl_file_ledger (
    source_file       VARCHAR NOT NULL,
    source_version    VARCHAR NOT NULL,
    table_name        VARCHAR NOT NULL,
    status            VARCHAR NOT NULL,     -- loaded | rejected | superseded
    business_date     DATE,                 -- the date in the file name (1st of month for history)
    rows_in           BIGINT NOT NULL,
    rows_loaded       BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_deduplicated BIGINT NOT NULL,
    orphans           BIGINT NOT NULL,
    reason            VARCHAR,
    drift_columns     VARCHAR,              -- JSON list of extra columns that were not loaded
    load_label        VARCHAR,
    run_id            VARCHAR NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (source_file, source_version)
);

CREATE TABLE IF NOT EXISTS etl_quarantine (
    source_file    VARCHAR NOT NULL,
    source_version VARCHAR NOT NULL,
    row_number     BIGINT NOT NULL,         -- 1-based data row in the file (header excluded)
    table_name     VARCHAR NOT NULL,
    row_json       VARCHAR NOT NULL,
    rules          VARCHAR NOT NULL,        -- JSON list of {column, rule, category}
    run_id         VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source_file, source_version, row_number)
);

CREATE TABLE IF NOT EXISTS etl_run_log (
    run_id        VARCHAR PRIMARY KEY,
    flow          VARCHAR NOT NULL,
    business_date DATE NOT NULL,
    status        VARCHAR NOT NULL,         -- running | completed | failed
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    message       VARCHAR
);

-- Progress markers of derived builds (e.g. the last tsr snapshot date the hierarchy has seen).
CREATE TABLE IF NOT EXISTS etl_watermark (
    name       VARCHAR PRIMARY KEY,
    value      DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Active TSRs whose chain was broken (cycle, missing manager, wrong role order) in a snapshot.
CREATE TABLE IF NOT EXISTS etl_hierarchy_broken (
    snapshot_date DATE NOT NULL,
    tsr_code      VARCHAR NOT NULL,
    PRIMARY KEY (snapshot_date, tsr_code)
);

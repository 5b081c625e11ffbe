-- DataWiz core schema on StarRocks (production). Same table and column names as every backend
-- (DATA-CONTRACT.md §4); StarRocks-specific choices, and why:
-- * Primary Key tables everywhere: a plain INSERT / Stream Load upserts by key (there is no
--   ON DUPLICATE KEY / REPLACE INTO), and DELETE/UPDATE work, which re-delivery and SCD2 need.
-- * Key columns must come first, in key order, and a partition column must be part of the key:
--   the facts are keyed (invoice_no, line_no, invoice_date). The contract ties a line's date to its
--   file's date, and re-delivery deletes the file's old rows first, so the extra key column changes
--   nothing in practice; it lets a month's partition be pruned and dropped as a unit.
-- * Facts are partitioned by month with expression partitioning (partitions appear as data arrives)
--   and hash-distributed on the invoice/dispatch number (buckets chosen automatically).
-- * Bloom-filter indexes on the high-cardinality code columns that point lookups and joins filter on;
--   bitmap indexes only on low-cardinality filter columns (doc_type, region, role).
-- * rpt_sales_daily is a materialized view refreshed by each run (REFRESH MANUAL, see the end of this file).
-- * Requires StarRocks >= 3.3.1 (expression partitioning on PK tables; temporary tables, which the
--   transforms use, exist from 3.3.1: docs table_design/temporary_table).
-- * "replication_num" = "${replication_num}": the connector fills it in (block replication_num, or
--   min(3, alive BEs)); without it CREATE fails on clusters with fewer BEs than default_replication_num (3).
-- * etl_file_ledger / etl_quarantine are re-keyed by V003 (128-byte primary-key limit).

{{ contract_tables(1) }};

CREATE TABLE IF NOT EXISTS dim_sales_hierarchy (
    tsr_code        VARCHAR(64) NOT NULL,
    valid_from      DATE NOT NULL,
    so_code         VARCHAR(64) NOT NULL,
    asm_code        VARCHAR(64) NOT NULL,
    rsm_code        VARCHAR(64) NOT NULL,
    zsm_code        VARCHAR(64) NOT NULL,
    nsm_code        VARCHAR(64) NOT NULL,
    valid_to        DATE NOT NULL,
    is_current      BOOLEAN NOT NULL,
    _source_file    VARCHAR(512) NOT NULL,
    _source_version VARCHAR(128) NOT NULL,
    _loaded_at      DATETIME NOT NULL,
    _run_id         VARCHAR(64) NOT NULL
) PRIMARY KEY (tsr_code, valid_from)
DISTRIBUTED BY HASH (tsr_code)
PROPERTIES ("replication_num" = "${replication_num}");

CREATE TABLE IF NOT EXISTS dim_date (
    date_key       DATE NOT NULL,
    `year`         INT NOT NULL,
    `month`        INT NOT NULL,
    `day`          INT NOT NULL,
    day_of_week    INT NOT NULL,
    month_start    DATE NOT NULL,
    is_weekend     BOOLEAN NOT NULL,
    fiscal_year    VARCHAR(16) NOT NULL,
    fiscal_quarter INT NOT NULL,
    fiscal_month   INT NOT NULL
) PRIMARY KEY (date_key)
DISTRIBUTED BY HASH (date_key)
PROPERTIES ("replication_num" = "${replication_num}");

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
    _loaded_at          DATETIME NOT NULL,
    _run_id             VARCHAR(64) NOT NULL
) PRIMARY KEY (month_start, tsr_code)
DISTRIBUTED BY HASH (tsr_code)
PROPERTIES ("replication_num" = "${replication_num}");

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
    _loaded_at      DATETIME NOT NULL,
    _run_id         VARCHAR(64) NOT NULL
) PRIMARY KEY (month_start, retailer_code)
DISTRIBUTED BY HASH (retailer_code)
PROPERTIES ("replication_num" = "${replication_num}", "bloom_filter_columns" = "tsr_code");

CREATE TABLE IF NOT EXISTS etl_file_ledger (
    source_file       VARCHAR(512) NOT NULL,
    source_version    VARCHAR(128) NOT NULL,
    table_name        VARCHAR(64) NOT NULL,
    status            VARCHAR(16) NOT NULL,
    business_date     DATE,
    rows_in           BIGINT NOT NULL,
    rows_loaded       BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_deduplicated BIGINT NOT NULL,
    orphans           BIGINT NOT NULL,
    reason            STRING,
    drift_columns     STRING,
    load_label        VARCHAR(255),
    run_id            VARCHAR(64) NOT NULL,
    started_at        DATETIME NOT NULL,
    finished_at       DATETIME NOT NULL
) PRIMARY KEY (source_file, source_version)
DISTRIBUTED BY HASH (source_file)
PROPERTIES ("replication_num" = "${replication_num}");

CREATE TABLE IF NOT EXISTS etl_quarantine (
    source_file    VARCHAR(512) NOT NULL,
    source_version VARCHAR(128) NOT NULL,
    `row_number`   BIGINT NOT NULL,
    table_name     VARCHAR(64) NOT NULL,
    row_json       STRING NOT NULL,
    rules          STRING NOT NULL,
    run_id         VARCHAR(64) NOT NULL,
    quarantined_at DATETIME NOT NULL
) PRIMARY KEY (source_file, source_version, `row_number`)
DISTRIBUTED BY HASH (source_file)
PROPERTIES ("replication_num" = "${replication_num}");

CREATE TABLE IF NOT EXISTS etl_run_log (
    run_id        VARCHAR(64) NOT NULL,
    flow          VARCHAR(64) NOT NULL,
    business_date DATE NOT NULL,
    status        VARCHAR(16) NOT NULL,
    started_at    DATETIME NOT NULL,
    finished_at   DATETIME,
    message       STRING
) PRIMARY KEY (run_id)
DISTRIBUTED BY HASH (run_id)
PROPERTIES ("replication_num" = "${replication_num}");

CREATE TABLE IF NOT EXISTS etl_watermark (
    name       VARCHAR(64) NOT NULL,
    `value`    DATE NOT NULL,
    updated_at DATETIME NOT NULL
) PRIMARY KEY (name)
DISTRIBUTED BY HASH (name)
PROPERTIES ("replication_num" = "${replication_num}");

CREATE TABLE IF NOT EXISTS etl_hierarchy_broken (
    snapshot_date DATE NOT NULL,
    tsr_code      VARCHAR(64) NOT NULL
) PRIMARY KEY (snapshot_date, tsr_code)
DISTRIBUTED BY HASH (tsr_code)
PROPERTIES ("replication_num" = "${replication_num}");

-- Row-level security grants (issue 6 adds the view on CURRENT_USER()).
CREATE TABLE IF NOT EXISTS sec_user_region (
    user_name VARCHAR(128) NOT NULL,
    region    VARCHAR(64) NOT NULL
) PRIMARY KEY (user_name, region)
DISTRIBUTED BY HASH (user_name)
PROPERTIES ("replication_num" = "${replication_num}");

-- The reporting view: refreshed by sql/starrocks/rpt_sales_daily.sql at the end of each run, and only
-- then (REFRESH MANUAL; an ASYNC view would also refresh after every load batch and dimension change).
CREATE MATERIALIZED VIEW IF NOT EXISTS rpt_sales_daily
PARTITION BY date_trunc('month', invoice_date)
DISTRIBUTED BY HASH (invoice_date)
REFRESH MANUAL
PROPERTIES ("replication_num" = "${replication_num}")
AS
SELECT f.invoice_date,
       coalesce(d.region, 'Unknown') AS region,
       coalesce(p.brand, 'Unknown') AS brand,
       sum(f.quantity) AS quantity,
       sum(f.net_amount) AS net_amount,
       count(DISTINCT CASE WHEN f.doc_type = 'INV' THEN f.retailer_code END) AS billed_outlets,
       max(f._loaded_at) AS _loaded_at,
       max(f._run_id) AS _run_id
FROM fact_secondary_sales f
LEFT JOIN dim_distributor d ON d.distributor_code = f.distributor_code
LEFT JOIN dim_product p ON p.sku_code = f.sku_code
GROUP BY f.invoice_date, coalesce(d.region, 'Unknown'), coalesce(p.brand, 'Unknown')

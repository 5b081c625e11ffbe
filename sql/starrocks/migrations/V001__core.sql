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
-- * The contract tables are generated from datawiz/core/registry.py (blocks/warehouse/ddl.py); the other
--   tables are written once for every backend in sql/core_tables.sql.

{{ contract_tables(1) }};

{% include "core_tables.sql" %};

-- Row-level security grants (issue 6 adds the view on CURRENT_USER()).
CREATE TABLE IF NOT EXISTS sec_user_region (
    user_name VARCHAR(128) NOT NULL,
    region    VARCHAR(64) NOT NULL
) PRIMARY KEY (user_name, region)
DISTRIBUTED BY HASH (user_name)
PROPERTIES ("replication_num" = "${replication_num}");

-- The reporting view: refreshed by sql/rpt_sales_daily.sql at the end of each run, and only
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

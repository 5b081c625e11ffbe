-- Distribution depth for one month, StarRocks version of sql/duckdb/dd_month.sql (definitions:
-- DATA-CONTRACT.md §4). Differences: focus_brands JSON text -> ARRAY<VARCHAR> via parse_json;
-- bool_or(x) -> max(CASE ... THEN 1 ELSE 0 END); session temporary tables (StarRocks >= 3.3.1);
-- each statement autocommits, and every step rebuilds its month from scratch, so a retry converges.

DROP TEMPORARY TABLE IF EXISTS _dd_lines;
CREATE TEMPORARY TABLE _dd_lines PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT f.invoice_no, f.line_no, f.doc_type, f.invoice_date, f.retailer_code, f.tsr_code, f.sku_code,
       f.net_amount, p.brand,
       coalesce(array_contains(CAST(parse_json(fb.`value`) AS ARRAY<VARCHAR>), p.brand), false) AS is_focus
FROM fact_secondary_sales f
LEFT JOIN dim_product p ON p.sku_code = f.sku_code
LEFT JOIN business_constants fb ON fb.constant_name = 'focus_brands'
WHERE f.invoice_date BETWEEN :month_start AND :month_end;

DROP TEMPORARY TABLE IF EXISTS _dd_params;
CREATE TEMPORARY TABLE _dd_params PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT (SELECT CAST(`value` AS DOUBLE) FROM business_constants WHERE constant_name = 'min_productive_bill_value') AS min_bill,
       (SELECT CAST(`value` AS DOUBLE) FROM business_constants WHERE constant_name = 'target_lines_per_bill') AS target_lpb,
       (SELECT max(invoice_date) FROM _dd_lines) AS last_sales_day;

DROP TEMPORARY TABLE IF EXISTS _dd_chain;
CREATE TEMPORARY TABLE _dd_chain PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT h.tsr_code, h.so_code, h.asm_code, h.rsm_code, h.zsm_code
FROM dim_sales_hierarchy h CROSS JOIN _dd_params p
WHERE p.last_sales_day BETWEEN h.valid_from AND h.valid_to;

DROP TEMPORARY TABLE IF EXISTS _dd_tsr_outlet;
CREATE TEMPORARY TABLE _dd_tsr_outlet PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT tsr_code, retailer_code,
       sum(net_amount) AS net_sales,
       max(CASE WHEN doc_type = 'INV' THEN 1 ELSE 0 END) AS billed,
       max(CASE WHEN doc_type = 'INV' AND is_focus THEN 1 ELSE 0 END) AS focus_billed
FROM _dd_lines GROUP BY tsr_code, retailer_code;

DELETE FROM agg_dd_tsr_month WHERE month_start = :month_start;

INSERT INTO agg_dd_tsr_month (month_start, tsr_code, so_code, asm_code, rsm_code, zsm_code, billed_outlets,
    productive_outlets, bills, `lines`, lines_per_bill, focus_brand_outlets, net_sales, lpb_vs_target,
    _loaded_at, _run_id)
SELECT :month_start, t.tsr_code, c.so_code, c.asm_code, c.rsm_code, c.zsm_code,
       o.billed_outlets, o.productive_outlets, t.bills, t.n_lines,
       CASE WHEN t.bills > 0 THEN CAST(t.n_lines AS DOUBLE) / t.bills END,
       o.focus_brand_outlets, t.net_sales,
       CASE WHEN t.bills > 0 AND p.target_lpb > 0 THEN CAST(t.n_lines AS DOUBLE) / t.bills / p.target_lpb END,
       :loaded_at, :run_id
FROM (
    SELECT tsr_code,
           count(DISTINCT CASE WHEN doc_type = 'INV' THEN invoice_no END) AS bills,
           count(CASE WHEN doc_type = 'INV' THEN 1 END) AS n_lines,
           sum(net_amount) AS net_sales
    FROM _dd_lines GROUP BY tsr_code
) t
JOIN (
    SELECT x.tsr_code,
           count(CASE WHEN x.billed = 1 THEN 1 END) AS billed_outlets,
           count(CASE WHEN x.net_sales >= p.min_bill THEN 1 END) AS productive_outlets,
           count(CASE WHEN x.focus_billed = 1 THEN 1 END) AS focus_brand_outlets
    FROM _dd_tsr_outlet x CROSS JOIN _dd_params p GROUP BY x.tsr_code
) o ON o.tsr_code = t.tsr_code
CROSS JOIN _dd_params p
LEFT JOIN _dd_chain c ON c.tsr_code = t.tsr_code;

DELETE FROM agg_dd_outlet_month WHERE month_start = :month_start;

INSERT INTO agg_dd_outlet_month (month_start, retailer_code, tsr_code, so_code, asm_code, rsm_code, zsm_code,
    distinct_skus, distinct_brands, net_sales, is_productive, _loaded_at, _run_id)
SELECT :month_start, a.retailer_code, l.tsr_code, c.so_code, c.asm_code, c.rsm_code, c.zsm_code,
       a.distinct_skus, a.distinct_brands, a.net_sales, a.net_sales >= p.min_bill, :loaded_at, :run_id
FROM (
    SELECT retailer_code,
           count(DISTINCT CASE WHEN doc_type = 'INV' THEN sku_code END) AS distinct_skus,
           count(DISTINCT CASE WHEN doc_type = 'INV' THEN brand END) AS distinct_brands,
           sum(net_amount) AS net_sales
    FROM _dd_lines GROUP BY retailer_code
) a
JOIN (
    SELECT retailer_code, tsr_code, row_number() OVER (
        PARTITION BY retailer_code ORDER BY invoice_date DESC, invoice_no DESC, line_no DESC) AS rn
    FROM _dd_lines
) l ON l.retailer_code = a.retailer_code AND l.rn = 1
CROSS JOIN _dd_params p
LEFT JOIN _dd_chain c ON c.tsr_code = l.tsr_code;

DROP TEMPORARY TABLE _dd_lines;
DROP TEMPORARY TABLE _dd_params;
DROP TEMPORARY TABLE _dd_chain;
DROP TEMPORARY TABLE _dd_tsr_outlet

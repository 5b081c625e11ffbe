-- Distribution depth for one month (:month_start .. :month_end), recomputed from scratch.
-- Definitions: DATA-CONTRACT.md §4 "DD logic". Lines are attributed to the TSR on the line.
-- One template for every backend (blocks/warehouse/sql_templates.py); where the dialects differ:
--   * focus_brands is JSON text: json_list_contains() reads it (from_json/list_contains on DuckDB,
--     JSON_CONTAINS on MySQL, parse_json -> ARRAY<VARCHAR> on StarRocks);
--   * bool_or(x) is MAX(x) on MySQL (booleans are 0/1) and max(CASE ... THEN 1 ELSE 0 END) on StarRocks;
--   * ratios and thresholds are computed in DOUBLE (as_double) on every backend, so all of them round
--     the same value into DECIMAL(12,4);
--   * temporary tables: CREATE OR REPLACE on DuckDB; dropped and re-created on MySQL (no CREATE OR
--     REPLACE TEMPORARY TABLE) and StarRocks (session temporary tables, StarRocks >= 3.3.1).
-- StarRocks autocommits each statement, and every step rebuilds its month from scratch, so a retry converges.

{{ temp_table("_dd_lines") }}
SELECT f.invoice_no, f.line_no, f.doc_type, f.invoice_date, f.retailer_code, f.tsr_code, f.sku_code,
       f.net_amount, p.brand,
       {{ json_list_contains("fb." ~ q("value"), "p.brand") }} AS is_focus
FROM fact_secondary_sales f
LEFT JOIN dim_product p ON p.sku_code = f.sku_code
LEFT JOIN business_constants fb ON fb.constant_name = 'focus_brands'
WHERE f.invoice_date BETWEEN :month_start AND :month_end;

{{ temp_table("_dd_params") }}
SELECT (SELECT {{ as_double(q("value")) }} FROM business_constants WHERE constant_name = 'min_productive_bill_value') AS min_bill,
       (SELECT {{ as_double(q("value")) }} FROM business_constants WHERE constant_name = 'target_lines_per_bill') AS target_lpb,
       (SELECT max(invoice_date) FROM _dd_lines) AS last_sales_day;

-- The hierarchy row of each TSR valid on the month's last day that has sales.
{{ temp_table("_dd_chain") }}
SELECT h.tsr_code, h.so_code, h.asm_code, h.rsm_code, h.zsm_code
FROM dim_sales_hierarchy h CROSS JOIN _dd_params p
WHERE p.last_sales_day BETWEEN h.valid_from AND h.valid_to;

{{ temp_table("_dd_tsr_outlet") }}
SELECT tsr_code, retailer_code,
       sum(net_amount) AS net_sales,
       {{ bool_or("doc_type = 'INV'") }} AS billed,
       {{ bool_or("doc_type = 'INV' AND is_focus") }} AS focus_billed
FROM _dd_lines GROUP BY tsr_code, retailer_code;

DELETE FROM agg_dd_tsr_month WHERE month_start = :month_start;

INSERT INTO agg_dd_tsr_month (month_start, tsr_code, so_code, asm_code, rsm_code, zsm_code, billed_outlets,
    productive_outlets, bills, {{ q("lines") }}, lines_per_bill, focus_brand_outlets, net_sales, lpb_vs_target,
    _loaded_at, _run_id)
SELECT :month_start, t.tsr_code, c.so_code, c.asm_code, c.rsm_code, c.zsm_code,
       o.billed_outlets, o.productive_outlets, t.bills, t.n_lines,
       CASE WHEN t.bills > 0 THEN {{ as_double("t.n_lines") }} / t.bills END,
       o.focus_brand_outlets, t.net_sales,
       CASE WHEN t.bills > 0 AND p.target_lpb > 0 THEN {{ as_double("t.n_lines") }} / t.bills / p.target_lpb END,
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
           count(CASE WHEN {{ is_true("x.billed") }} THEN 1 END) AS billed_outlets,
           count(CASE WHEN x.net_sales >= p.min_bill THEN 1 END) AS productive_outlets,
           count(CASE WHEN {{ is_true("x.focus_billed") }} THEN 1 END) AS focus_brand_outlets
    FROM _dd_tsr_outlet x CROSS JOIN _dd_params p GROUP BY x.tsr_code
) o ON o.tsr_code = t.tsr_code
CROSS JOIN _dd_params p
LEFT JOIN _dd_chain c ON c.tsr_code = t.tsr_code;

DELETE FROM agg_dd_outlet_month WHERE month_start = :month_start;

-- An outlet's TSR is the TSR on its latest line of the month (latest date, then invoice, then line).
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

{{ drop_temp("_dd_lines") }};
{{ drop_temp("_dd_params") }};
{{ drop_temp("_dd_chain") }};
{{ drop_temp("_dd_tsr_outlet") }}

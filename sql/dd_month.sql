-- Distribution depth for one month (:month_start .. :month_end), recomputed from scratch.
-- Definitions: DATA-CONTRACT.md §4 "DD logic". Lines are attributed to the TSR on the line.
-- DD is per month by definition (distinct outlets, bills and SKUs over the whole month), so a loaded file
-- makes its whole month be recomputed; the caller (tasks/transform.compute_dd) only passes touched months.
-- One template for every backend (blocks/warehouse/sql_templates.py); where the dialects differ:
--   * focus_brands is JSON text: json_list_contains() reads it (from_json/list_contains on DuckDB,
--     JSON_CONTAINS on MySQL, parse_json -> ARRAY<VARCHAR> on StarRocks), once per product, not per line;
--   * bool_or(x) is MAX(x) on MySQL (booleans are 0/1) and max(CASE ... THEN 1 ELSE 0 END) on StarRocks;
--   * ratios and thresholds are computed in DOUBLE (as_double) on every backend, so all of them round
--     the same value into DECIMAL(12,4);
--   * temporary tables: CREATE OR REPLACE on DuckDB; dropped and re-created on MySQL (no CREATE OR
--     REPLACE TEMPORARY TABLE) and StarRocks (session temporary tables, StarRocks >= 3.3.1); on MySQL the
--     ones joined on get a primary key (temp_table(..., key=...)), else MariaDB joins them by nested loops;
--   * unsorted() is ORDER BY NULL on MySQL: MariaDB would sort a large grouping's rows nobody needs in order;
--   * force_index() is FORCE INDEX on MySQL (bills read the date index alone), nothing elsewhere; the product
--     lookup joined to every line is a MEMORY table on MySQL (temp_table(..., in_memory=true)).
-- Cost: the month's lines are read by three grouped passes (per TSR x outlet, per outlet x SKU, per TSR's
-- bills: on MySQL the last from the (invoice_date, tsr_code) index, not the rows); everything else rolls up
-- from their small results. Outlet-level figures are computed once per TSR x outlet and the TSR rows roll up
-- from them, except bills: an invoice number may (by the contract, whose key is invoice_no + line_no) carry
-- lines of several outlets, so bills are counted on the lines.
-- StarRocks autocommits each statement, and every step rebuilds its month from scratch, so a retry converges.
{% if dialect == "mysql" %}
{{ big_temp_tables() }};
{% endif %}

{{ temp_table("_dd_params") }}
SELECT (SELECT {{ as_double(q("value")) }} FROM business_constants WHERE constant_name = 'min_productive_bill_value') AS min_bill,
       (SELECT {{ as_double(q("value")) }} FROM business_constants WHERE constant_name = 'target_lines_per_bill') AS target_lpb,
       (SELECT max(invoice_date) FROM fact_secondary_sales
        WHERE invoice_date BETWEEN :month_start AND :month_end) AS last_sales_day;

-- The hierarchy row of each TSR valid on the month's last day that has sales.
{{ temp_table("_dd_chain") }}
SELECT h.tsr_code, h.so_code, h.asm_code, h.rsm_code, h.zsm_code
FROM dim_sales_hierarchy h CROSS JOIN _dd_params p
WHERE p.last_sales_day BETWEEN h.valid_from AND h.valid_to;

-- Each product's brand and whether it is a focus brand: the JSON list is read once per product.
{{ temp_table("_dd_product", key="sku_code", in_memory=true) }}
SELECT p.sku_code, p.brand, {{ json_list_contains("fb." ~ q("value"), "p.brand") }} AS is_focus
FROM dim_product p
LEFT JOIN business_constants fb ON fb.constant_name = 'focus_brands';

-- Pass 1, per TSR x outlet: everything that adds up, the billed flags, and the outlet's latest line there.
{{ temp_table("_dd_tsr_outlet", key="retailer_code, tsr_code") }}
SELECT f.tsr_code, f.retailer_code,
       sum(f.net_amount) AS net_sales,
       count(CASE WHEN f.doc_type = 'INV' THEN 1 END) AS n_lines,
       {{ bool_or("f.doc_type = 'INV'") }} AS billed,
       {{ bool_or("f.doc_type = 'INV' AND coalesce(p.is_focus, false)") }} AS focus_billed,
       max({{ line_key("f.invoice_date", "f.invoice_no", "f.line_no") }}) AS last_line
FROM fact_secondary_sales f
LEFT JOIN _dd_product p ON p.sku_code = f.sku_code
WHERE f.invoice_date BETWEEN :month_start AND :month_end
GROUP BY f.tsr_code, f.retailer_code;

DELETE FROM agg_dd_tsr_month WHERE month_start = :month_start;

INSERT INTO agg_dd_tsr_month (month_start, tsr_code, so_code, asm_code, rsm_code, zsm_code, billed_outlets,
    productive_outlets, bills, {{ q("lines") }}, lines_per_bill, focus_brand_outlets, net_sales, lpb_vs_target,
    _loaded_at, _run_id)
SELECT :month_start, o.tsr_code, c.so_code, c.asm_code, c.rsm_code, c.zsm_code,
       o.billed_outlets, o.productive_outlets, coalesce(b.bills, 0), o.n_lines,
       CASE WHEN b.bills > 0 THEN {{ as_double("o.n_lines") }} / b.bills END,
       o.focus_brand_outlets, o.net_sales,
       CASE WHEN b.bills > 0 AND p.target_lpb > 0 THEN {{ as_double("o.n_lines") }} / b.bills / p.target_lpb END,
       :loaded_at, :run_id
FROM (
    SELECT x.tsr_code,
           sum(x.n_lines) AS n_lines,
           sum(x.net_sales) AS net_sales,
           count(CASE WHEN {{ is_true("x.billed") }} THEN 1 END) AS billed_outlets,
           count(CASE WHEN x.net_sales >= p.min_bill THEN 1 END) AS productive_outlets,
           count(CASE WHEN {{ is_true("x.focus_billed") }} THEN 1 END) AS focus_brand_outlets
    FROM _dd_tsr_outlet x CROSS JOIN _dd_params p GROUP BY x.tsr_code
) o
-- Pass 3: bills are distinct invoice numbers, counted on the lines (see the head of this file).
-- MySQL: an INV line is one whose invoice_no starts with INV, read from the (invoice_date, tsr_code) index
-- alone (InnoDB keeps the primary key, invoice_no, in it; force_index). The same lines as doc_type = 'INV':
-- every MySQL row passed the contract's doc_type_matches_invoice_prefix rule. StarRocks' pushdown backfill
-- loads rows without DataWiz's rules (docs/STARROCKS.md), so there, as on DuckDB, doc_type decides.
LEFT JOIN (
    SELECT tsr_code, count(DISTINCT invoice_no) AS bills
    FROM fact_secondary_sales {{ force_index("fis", "date") }}
    WHERE invoice_date BETWEEN :month_start AND :month_end
      AND {{ "invoice_no LIKE 'INV%'" if dialect == "mysql" else "doc_type = 'INV'" }}
    GROUP BY tsr_code
) b ON b.tsr_code = o.tsr_code
CROSS JOIN _dd_params p
LEFT JOIN _dd_chain c ON c.tsr_code = o.tsr_code;

DELETE FROM agg_dd_outlet_month WHERE month_start = :month_start;

-- An outlet's TSR is the TSR on its latest line of the month (latest date, then invoice, then line): the
-- TSR x outlet row holding the outlet's greatest line_key (one line, so one row).
INSERT INTO agg_dd_outlet_month (month_start, retailer_code, tsr_code, so_code, asm_code, rsm_code, zsm_code,
    distinct_skus, distinct_brands, net_sales, is_productive, _loaded_at, _run_id)
SELECT :month_start, a.retailer_code, l.tsr_code, c.so_code, c.asm_code, c.rsm_code, c.zsm_code,
       coalesce(s.distinct_skus, 0), coalesce(s.distinct_brands, 0), a.net_sales, a.net_sales >= p.min_bill,
       :loaded_at, :run_id
FROM (
    SELECT retailer_code, sum(net_sales) AS net_sales, max(last_line) AS last_line
    FROM _dd_tsr_outlet GROUP BY retailer_code
) a
JOIN _dd_tsr_outlet l ON l.retailer_code = a.retailer_code AND l.last_line = a.last_line
-- Pass 2, the outlet's billed SKUs (one row per outlet x SKU), then their brands (few products: joined
-- after the grouping, and no brand text in the grouped rows, which MariaDB holds at full width in memory).
LEFT JOIN (
    SELECT x.retailer_code, count(*) AS distinct_skus, count(DISTINCT p.brand) AS distinct_brands
    FROM (
        SELECT retailer_code, sku_code FROM fact_secondary_sales
        WHERE invoice_date BETWEEN :month_start AND :month_end AND doc_type = 'INV'
        GROUP BY retailer_code, sku_code {{ unsorted() }}
    ) x
    LEFT JOIN _dd_product p ON p.sku_code = x.sku_code
    GROUP BY x.retailer_code
) s ON s.retailer_code = a.retailer_code
CROSS JOIN _dd_params p
LEFT JOIN _dd_chain c ON c.tsr_code = l.tsr_code;

{{ drop_temp("_dd_params") }};
{{ drop_temp("_dd_chain") }};
{{ drop_temp("_dd_product") }};
{{ drop_temp("_dd_tsr_outlet") }}
{% if dialect == "mysql" %}
;
{{ default_temp_tables() }}
{% endif %}

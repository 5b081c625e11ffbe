{% if dialect == "starrocks" %}
-- rpt_sales_daily is a materialized view on StarRocks (migrations/V001__core.sql, REFRESH MANUAL; V003
-- sets it on older warehouses): a run asks for a synchronous refresh so its summary counts what the run
-- loaded. :start/:end are not needed (the view refreshes the partitions whose base data changed).
REFRESH MATERIALIZED VIEW rpt_sales_daily WITH SYNC MODE
{% else %}
-- Reporting table for the touched dates (:start .. :end), on DuckDB and MySQL/MariaDB: only the days the
-- loaded files touched are rebuilt (the caller passes their range).
{% if dialect == "mysql" %}
{{ big_temp_tables() }};
{% endif %}
DELETE FROM rpt_sales_daily WHERE invoice_date BETWEEN :start AND :end;

-- Every line looks up its distributor's region and its product's brand: from small copies (on MySQL hash-indexed
-- MEMORY tables, temp_table(in_memory=true)), not from the dimension tables' B-trees.
{{ temp_table("_rpt_distributor", key="distributor_code", in_memory=true) }}
SELECT distributor_code, region FROM dim_distributor;

{{ temp_table("_rpt_product", key="sku_code", in_memory=true) }}
SELECT sku_code, brand FROM dim_product;

INSERT INTO rpt_sales_daily (invoice_date, region, brand, quantity, net_amount, billed_outlets, _loaded_at, _run_id)
SELECT f.invoice_date, coalesce(d.region, 'Unknown'), coalesce(p.brand, 'Unknown'),
       sum(f.quantity), sum(f.net_amount),
       count(DISTINCT CASE WHEN f.doc_type = 'INV' THEN f.retailer_code END),
       :loaded_at, :run_id
FROM fact_secondary_sales f
LEFT JOIN _rpt_distributor d ON d.distributor_code = f.distributor_code
LEFT JOIN _rpt_product p ON p.sku_code = f.sku_code
WHERE f.invoice_date BETWEEN :start AND :end
GROUP BY f.invoice_date, coalesce(d.region, 'Unknown'), coalesce(p.brand, 'Unknown');

{{ drop_temp("_rpt_distributor") }};
{{ drop_temp("_rpt_product") }}
{% if dialect == "mysql" %}
;
{{ default_temp_tables() }}
{% endif %}
{% endif %}

-- Monthly maintenance (tasks/maintenance.py runs each statement on its own, outside a transaction).
{% if dialect == "duckdb" %}
-- Refresh the optimizer's statistics of every table, then fold the write-ahead log into the file.
ANALYZE;
CHECKPOINT;
{% elif dialect == "mysql" %}
-- ANALYZE refreshes InnoDB's index statistics (cheap, no rebuild). OPTIMIZE only the quarantine
-- table, which the same run may have purged: it rebuilds in place and gives the space back.
-- The fact and dimension tables come from the registry (a table added there is analysed too).
ANALYZE TABLE {{ (fact_tables + ("agg_dd_tsr_month", "agg_dd_outlet_month", "rpt_sales_daily") + dimension_tables
    + ("dim_sales_hierarchy", "etl_file_ledger", "etl_quarantine")) | join(", ") }};
OPTIMIZE TABLE etl_quarantine;
{% else %}
-- StarRocks compacts by itself; a full statistics refresh of the big tables helps the cost-based
-- optimizer after a month of loads. ASYNC: the statement returns at once, the FE collects in the background.
{% for table in fact_tables + ("agg_dd_tsr_month", "agg_dd_outlet_month") %}
ANALYZE FULL TABLE {{ table }} WITH ASYNC MODE;
{% endfor %}
{% endif %}

-- Monthly maintenance (tasks/maintenance.py runs each statement on its own).
-- StarRocks compacts by itself; a full statistics refresh of the big tables helps the cost-based
-- optimizer after a month of loads. ASYNC: the statement returns at once, the FE collects in the background.
ANALYZE FULL TABLE fact_secondary_sales WITH ASYNC MODE;
ANALYZE FULL TABLE fact_primary_sales WITH ASYNC MODE;
ANALYZE FULL TABLE agg_dd_tsr_month WITH ASYNC MODE;
ANALYZE FULL TABLE agg_dd_outlet_month WITH ASYNC MODE;

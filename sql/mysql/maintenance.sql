-- Monthly maintenance (tasks/maintenance.py runs each statement on its own).
-- ANALYZE refreshes InnoDB's index statistics (cheap, no rebuild). OPTIMIZE only the quarantine
-- table, which the same run may have purged: it rebuilds in place and gives the space back.
ANALYZE TABLE fact_secondary_sales, fact_primary_sales, agg_dd_tsr_month, agg_dd_outlet_month, rpt_sales_daily,
    dim_product, dim_distributor, dim_retailer, dim_employee, dim_sales_hierarchy, etl_file_ledger, etl_quarantine;
OPTIMIZE TABLE etl_quarantine;

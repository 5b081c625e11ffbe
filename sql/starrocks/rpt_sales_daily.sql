-- rpt_sales_daily is an async materialized view on StarRocks (migrations/V001__core.sql): a run
-- only asks for a synchronous refresh so its summary counts what the run loaded. :start/:end are
-- not needed (the view refreshes the partitions whose base data changed).
REFRESH MATERIALIZED VIEW rpt_sales_daily WITH SYNC MODE

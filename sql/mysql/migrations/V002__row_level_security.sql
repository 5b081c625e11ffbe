-- Row-level security: a warehouse user sees only the fact rows of the regions granted to it in
-- sec_user_region (user_name = the login name without host, e.g. 'alice').
-- SQL SECURITY DEFINER lets a reader query the view without any grant on the base tables; inside
-- such a view CURRENT_USER() is the *definer*, so the reader is identified by SESSION_USER().
-- Grants for a reader (see docs/OPERATIONS.md):
--   CREATE ROLE IF NOT EXISTS datawiz_reader;
--   GRANT SELECT ON <db>.v_secondary_sales_secure TO datawiz_reader;
--   GRANT datawiz_reader TO 'alice'@'%'; SET DEFAULT ROLE datawiz_reader FOR 'alice'@'%';
CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_secondary_sales_secure AS
SELECT f.*
FROM fact_secondary_sales f
JOIN dim_distributor d ON d.distributor_code = f.distributor_code
JOIN sec_user_region s ON s.region = d.region
WHERE s.user_name = SUBSTRING_INDEX(SESSION_USER(), '@', 1)

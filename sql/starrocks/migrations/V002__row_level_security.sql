-- Row-level security: a user sees only the fact rows of the regions granted in sec_user_region
-- (user_name = the login name without host). current_user() reads like 'alice'@'%'.
-- Grants for a reader (see docs/OPERATIONS.md):
--   CREATE ROLE datawiz_reader;
--   GRANT SELECT ON VIEW <db>.v_secondary_sales_secure TO ROLE datawiz_reader;
--   GRANT datawiz_reader TO USER 'alice'@'%'; SET DEFAULT ROLE datawiz_reader TO 'alice'@'%';
CREATE VIEW IF NOT EXISTS v_secondary_sales_secure AS
SELECT f.*
FROM fact_secondary_sales f
JOIN dim_distributor d ON d.distributor_code = f.distributor_code
JOIN sec_user_region s ON s.region = d.region
WHERE s.user_name = split_part(replace(current_user(), '''', ''), '@', 1)

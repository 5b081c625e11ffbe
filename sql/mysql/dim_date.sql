-- Calendar with the Indian fiscal year (April-March): FY2026-27 = 2026-04-01 .. 2027-03-31.
-- MySQL/MariaDB version of sql/duckdb/dim_date.sql. No generate_series here, and a recursive CTE
-- hits MySQL's cte_max_recursion_depth (1000) long before a calendar does, so the day offsets
-- come from a cross join of digits: 0 .. 99999 days (273 years), cut at :end.
INSERT INTO dim_date (date_key, year, month, day, day_of_week, month_start, is_weekend, fiscal_year,
                      fiscal_quarter, fiscal_month)
WITH digits AS (
    SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
    UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
),
days AS (
    SELECT DATE_ADD(CAST(:start AS DATE), INTERVAL a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n DAY) AS d
    FROM digits a, digits b, digits c, digits d, digits e
    WHERE a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n <= DATEDIFF(CAST(:end AS DATE), CAST(:start AS DATE))
),
fiscal AS (
    SELECT d,
           CASE WHEN MONTH(d) >= 4 THEN YEAR(d) ELSE YEAR(d) - 1 END AS fy,
           CASE WHEN MONTH(d) >= 4 THEN MONTH(d) - 3 ELSE MONTH(d) + 9 END AS fm
    FROM days
)
SELECT d, YEAR(d), MONTH(d), DAY(d), WEEKDAY(d) + 1,
       DATE_SUB(d, INTERVAL DAY(d) - 1 DAY),
       WEEKDAY(d) >= 5,
       CONCAT('FY', fy, '-', LPAD(MOD(fy + 1, 100), 2, '0')),
       FLOOR((fm - 1) / 3) + 1,
       fm
FROM fiscal
WHERE d NOT IN (SELECT date_key FROM dim_date)

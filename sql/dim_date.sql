-- Calendar with the Indian fiscal year (April-March): FY2026-27 = 2026-04-01 .. 2027-03-31.
-- One template for every backend (blocks/warehouse/sql_templates.py). The days :start .. :end come from
-- generate_series on DuckDB and StarRocks (>= 3.1, a table function); MySQL/MariaDB have none, and a
-- recursive CTE hits MySQL's cte_max_recursion_depth (1000) long before a calendar does, so there the
-- day offsets come from a cross join of digits: 0 .. 99999 days (273 years), cut at :end.
-- StarRocks' dim_date is a Primary Key table: re-inserting an existing date upserts the same values, so
-- it needs no NOT IN filter.
{% set iso_dow = {"duckdb": "isodow(d)", "mysql": "WEEKDAY(d) + 1", "starrocks": "dayofweek_iso(d)"}[dialect] %}
{% set text = "CHAR" if dialect == "mysql" else "VARCHAR" %}
INSERT INTO dim_date (date_key, {{ q("year") }}, {{ q("month") }}, {{ q("day") }}, day_of_week, month_start, is_weekend,
                      fiscal_year, fiscal_quarter, fiscal_month)
{% if dialect == "mysql" %}
WITH digits AS (
    SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
    UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
)
{% endif %}
SELECT d, year(d), month(d), day(d), {{ iso_dow }},
{% if dialect == "mysql" %}
       DATE_SUB(d, INTERVAL DAY(d) - 1 DAY),
{% else %}
       CAST(date_trunc('month', d) AS DATE),
{% endif %}
       {{ iso_dow }} >= 6,
       concat('FY', CAST(fy AS {{ text }}), '-', lpad(CAST((fy + 1) % 100 AS {{ text }}), 2, '0')),
{% if dialect == "mysql" %}
       FLOOR((fm - 1) / 3) + 1,
{% else %}
       CAST(floor((fm - 1) / 3) AS INT) + 1,
{% endif %}
       fm
FROM (
    SELECT d,
           CASE WHEN month(d) >= 4 THEN year(d) ELSE year(d) - 1 END AS fy,
           CASE WHEN month(d) >= 4 THEN month(d) - 3 ELSE month(d) + 9 END AS fm
    FROM (
{% if dialect == "duckdb" %}
        SELECT CAST(g AS DATE) AS d
        FROM generate_series(CAST(:start AS DATE), CAST(:end AS DATE), INTERVAL 1 DAY) AS t(g)
{% elif dialect == "mysql" %}
        SELECT DATE_ADD(CAST(:start AS DATE), INTERVAL a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n DAY) AS d
        FROM digits a, digits b, digits c, digits d, digits e
        WHERE a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n <= DATEDIFF(CAST(:end AS DATE), CAST(:start AS DATE))
{% else %}
        SELECT days_add(CAST(:start AS DATE), g.n) AS d
        FROM TABLE(generate_series(0, datediff(CAST(:end AS DATE), CAST(:start AS DATE)))) AS g(n)
{% endif %}
    ) days
) s
{% if dialect != "starrocks" %}
WHERE d NOT IN (SELECT date_key FROM dim_date)
{% endif %}

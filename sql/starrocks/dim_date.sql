-- Calendar with the Indian fiscal year (April-March), StarRocks version of sql/duckdb/dim_date.sql.
-- dim_date is a Primary Key table: re-inserting an existing date upserts the same values, so no
-- NOT IN filter is needed. Day offsets come from generate_series (StarRocks >= 3.1).
INSERT INTO dim_date (date_key, `year`, `month`, `day`, day_of_week, month_start, is_weekend, fiscal_year,
                      fiscal_quarter, fiscal_month)
SELECT d, year(d), month(d), day(d), dayofweek_iso(d),
       CAST(date_trunc('month', d) AS DATE),
       dayofweek_iso(d) >= 6,
       concat('FY', CAST(fy AS VARCHAR), '-', lpad(CAST((fy + 1) % 100 AS VARCHAR), 2, '0')),
       CAST(floor((fm - 1) / 3) AS INT) + 1,
       fm
FROM (
    SELECT d,
           CASE WHEN month(d) >= 4 THEN year(d) ELSE year(d) - 1 END AS fy,
           CASE WHEN month(d) >= 4 THEN month(d) - 3 ELSE month(d) + 9 END AS fm
    FROM (
        SELECT days_add(CAST(:start AS DATE), g.n) AS d
        FROM TABLE(generate_series(0, datediff(CAST(:end AS DATE), CAST(:start AS DATE)))) AS g(n)
    ) days
) s

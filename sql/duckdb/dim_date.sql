-- Calendar with the Indian fiscal year (April-March): FY2026-27 = 2026-04-01 .. 2027-03-31.
INSERT INTO dim_date
SELECT d AS date_key,
       year(d), month(d), day(d), isodow(d),
       date_trunc('month', d)::DATE,
       isodow(d) >= 6,
       'FY' || CAST(fy AS VARCHAR) || '-' || lpad(CAST((fy + 1) % 100 AS VARCHAR), 2, '0'),
       CAST(floor((fm - 1) / 3) AS INTEGER) + 1,
       fm
FROM (
    SELECT CAST(g AS DATE) AS d,
           CASE WHEN month(g) >= 4 THEN year(g) ELSE year(g) - 1 END AS fy,
           CASE WHEN month(g) >= 4 THEN month(g) - 3 ELSE month(g) + 9 END AS fm
    FROM generate_series(CAST(:start AS DATE), CAST(:end AS DATE), INTERVAL 1 DAY) AS t(g)
) s
WHERE d NOT IN (SELECT date_key FROM dim_date)

-- The embedded DuckDB is single-user: it keeps the grants table (same schema everywhere) but has
-- no secure view (DATA-CONTRACT.md §4, "Row-level security").
CREATE TABLE IF NOT EXISTS sec_user_region (
    user_name VARCHAR NOT NULL,
    region    VARCHAR NOT NULL,
    PRIMARY KEY (user_name, region)
)

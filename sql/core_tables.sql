{#
  The hand-written tables of V001 (aggregates, reporting, control tables), written once for every backend
  and included by sql/<dialect>/migrations/V001__core.sql. Types: varchar(n) is VARCHAR(n) bytes on
  MySQL/StarRocks (VARCHAR on DuckDB; TEXT/MEDIUMTEXT/STRING when long), ts is TIMESTAMP / DATETIME(6) /
  DATETIME. table_end() closes each table: its primary key everywhere, MySQL secondary indexes (inside
  CREATE TABLE: MySQL has no CREATE INDEX IF NOT EXISTS), StarRocks distribution and bloom filters
  (blocks/warehouse/ddl.py). StarRocks wants the key columns first, in key order.
#}
CREATE TABLE IF NOT EXISTS dim_sales_hierarchy (
    tsr_code        {{ varchar(64) }} NOT NULL,
{% if dialect == "starrocks" %}
    valid_from      DATE NOT NULL,
{% endif %}
    so_code         {{ varchar(64) }} NOT NULL,
    asm_code        {{ varchar(64) }} NOT NULL,
    rsm_code        {{ varchar(64) }} NOT NULL,
    zsm_code        {{ varchar(64) }} NOT NULL,
    nsm_code        {{ varchar(64) }} NOT NULL,
{% if dialect != "starrocks" %}
    valid_from      DATE NOT NULL,
{% endif %}
    valid_to        DATE NOT NULL,          {# 9999-12-31 while current #}
    is_current      BOOLEAN NOT NULL,
    _source_file    {{ varchar(512) }} NOT NULL,
    _source_version {{ varchar(128) }} NOT NULL,
    _loaded_at      {{ ts }} NOT NULL,
    _run_id         {{ varchar(64) }} NOT NULL
{{- table_end("tsr_code, valid_from", "tsr_code", {"ix_dim_sales_hierarchy_valid": "valid_from, valid_to"}) }};

CREATE TABLE IF NOT EXISTS dim_date (
    date_key       DATE NOT NULL,
    {{ q("year") }}           INT NOT NULL,
    {{ q("month") }}          INT NOT NULL,
    {{ q("day") }}            INT NOT NULL,
    day_of_week    INT NOT NULL,            {# ISO: Monday = 1 #}
    month_start    DATE NOT NULL,
    is_weekend     BOOLEAN NOT NULL,
    fiscal_year    {{ varchar(16) }} NOT NULL,    {# FY2026-27 runs April 2026 .. March 2027 #}
    fiscal_quarter INT NOT NULL,            {# April-June = 1 #}
    fiscal_month   INT NOT NULL             {# April = 1 #}
{{- table_end("date_key", "date_key") }};

CREATE TABLE IF NOT EXISTS agg_dd_tsr_month (
    month_start         DATE NOT NULL,
    tsr_code            {{ varchar(64) }} NOT NULL,
    so_code             {{ varchar(64) }},
    asm_code            {{ varchar(64) }},
    rsm_code            {{ varchar(64) }},
    zsm_code            {{ varchar(64) }},
    billed_outlets      BIGINT NOT NULL,
    productive_outlets  BIGINT NOT NULL,
    bills               BIGINT NOT NULL,
    {{ q("lines") }}               BIGINT NOT NULL,
    lines_per_bill      DECIMAL(12,4),
    focus_brand_outlets BIGINT NOT NULL,
    net_sales           DECIMAL(18,2) NOT NULL,
    lpb_vs_target       DECIMAL(12,4),
    _loaded_at          {{ ts }} NOT NULL,
    _run_id             {{ varchar(64) }} NOT NULL
{{- table_end("month_start, tsr_code", "tsr_code") }};

CREATE TABLE IF NOT EXISTS agg_dd_outlet_month (
    month_start     DATE NOT NULL,
    retailer_code   {{ varchar(64) }} NOT NULL,
    tsr_code        {{ varchar(64) }} NOT NULL,
    so_code         {{ varchar(64) }},
    asm_code        {{ varchar(64) }},
    rsm_code        {{ varchar(64) }},
    zsm_code        {{ varchar(64) }},
    distinct_skus   BIGINT NOT NULL,
    distinct_brands BIGINT NOT NULL,
    net_sales       DECIMAL(18,2) NOT NULL,
    is_productive   BOOLEAN NOT NULL,
    _loaded_at      {{ ts }} NOT NULL,
    _run_id         {{ varchar(64) }} NOT NULL
{{- table_end("month_start, retailer_code", "retailer_code", {"ix_dd_outlet_tsr": "month_start, tsr_code"},
              bloom="tsr_code") }};

{% if dialect != "starrocks" %}
{# On StarRocks rpt_sales_daily is a materialized view (end of its V001). #}
CREATE TABLE IF NOT EXISTS rpt_sales_daily (
    invoice_date   DATE NOT NULL,
    region         {{ varchar(64) }} NOT NULL,    {# 'Unknown' for orphan distributors #}
    brand          {{ varchar(255) }} NOT NULL,   {# 'Unknown' for orphan SKUs #}
    quantity       BIGINT NOT NULL,
    net_amount     DECIMAL(18,2) NOT NULL,
    billed_outlets BIGINT NOT NULL,
    _loaded_at     {{ ts }} NOT NULL,
    _run_id        {{ varchar(64) }} NOT NULL
{{- table_end("invoice_date, region, brand", "invoice_date") }};

{% endif %}
CREATE TABLE IF NOT EXISTS etl_file_ledger (
    source_file       {{ varchar(512) }} NOT NULL,
    source_version    {{ varchar(128) }} NOT NULL,
    table_name        {{ varchar(64) }} NOT NULL,
    status            {{ varchar(16) }} NOT NULL,  {# loaded | rejected | superseded #}
    business_date     DATE,                  {# the date in the file name (1st of month for history) #}
    rows_in           BIGINT NOT NULL,
    rows_loaded       BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_deduplicated BIGINT NOT NULL,
    orphans           BIGINT NOT NULL,
    reason            {{ varchar(LONG_TEXT) }},
    drift_columns     {{ varchar(LONG_TEXT) }},                  {# JSON list of extra columns that were not loaded #}
    load_label        {{ varchar(255) }},
    run_id            {{ varchar(64) }} NOT NULL,
    started_at        {{ ts }} NOT NULL,
    finished_at       {{ ts }} NOT NULL
{{- table_end("source_file, source_version", "source_file", {"ix_ledger_table_date": "table_name, business_date"}) }};

CREATE TABLE IF NOT EXISTS etl_quarantine (
    source_file    {{ varchar(512) }} NOT NULL,
    source_version {{ varchar(128) }} NOT NULL,
    {{ q("row_number") }}     BIGINT NOT NULL,          {# 1-based data row in the file (header excluded) #}
    table_name     {{ varchar(64) }} NOT NULL,
    row_json       {{ varchar(MEDIUM_TEXT) }} NOT NULL,
    rules          {{ varchar(LONG_TEXT) }} NOT NULL,            {# JSON list of {column, rule, category} #}
    run_id         {{ varchar(64) }} NOT NULL,
    quarantined_at {{ ts }} NOT NULL
{{- table_end("source_file, source_version, row_number", "source_file") }};

CREATE TABLE IF NOT EXISTS etl_run_log (
    run_id        {{ varchar(64) }} NOT NULL,
    flow          {{ varchar(64) }} NOT NULL,
    business_date DATE NOT NULL,
    status        {{ varchar(16) }} NOT NULL,      {# running | completed | failed #}
    started_at    {{ ts }} NOT NULL,
    finished_at   {{ ts }},
    message       {{ varchar(LONG_TEXT) }}
{{- table_end("run_id", "run_id", {"ix_run_log_flow_date": "flow, business_date"}) }};

{# Progress markers of derived builds (e.g. the last tsr snapshot date the hierarchy has seen). #}
CREATE TABLE IF NOT EXISTS etl_watermark (
    name       {{ varchar(64) }} NOT NULL,
    {{ q("value") }}      DATE NOT NULL,
    updated_at {{ ts }} NOT NULL
{{- table_end("name", "name") }};

{# Active TSRs whose chain was broken (cycle, missing manager, wrong role order) in a snapshot. #}
CREATE TABLE IF NOT EXISTS etl_hierarchy_broken (
    snapshot_date DATE NOT NULL,
    tsr_code      {{ varchar(64) }} NOT NULL
{{- table_end("snapshot_date, tsr_code", "tsr_code") }}

-- SCD type 2 over the TSR chain for ONE tsr snapshot date (:snapshot_date), from stg_tsr_snapshot.
-- Run once per applied snapshot date, oldest first; re-running a date changes nothing.
-- A TSR whose chain is broken (missing manager, wrong role order, cycle) gets no row from this
-- snapshot, so its last valid chain stays current.
-- One template for every backend (blocks/warehouse/sql_templates.py). MySQL/StarRocks drop and re-create
-- their temporary tables (no CREATE OR REPLACE TEMPORARY TABLE; neither statement commits a MySQL
-- transaction). StarRocks (session temporary tables need >= 3.3.1) autocommits statements one by one
-- (no multi-statement DML transactions); every step is idempotent, so a retry of the whole file converges.
-- Its correlated subqueries are written as NOT IN / LEFT JOIN there (same rows: the codes are never NULL).

{{ temp_table("_chain") }}
SELECT t.employee_code AS tsr_code, so.employee_code AS so_code, asm.employee_code AS asm_code,
       rsm.employee_code AS rsm_code, zsm.employee_code AS zsm_code, nsm.employee_code AS nsm_code
FROM stg_tsr_snapshot t
JOIN stg_tsr_snapshot so  ON so.snapshot_date  = t.snapshot_date AND so.employee_code  = t.manager_code   AND so.{{ q("role") }}  = 'SO'
JOIN stg_tsr_snapshot asm ON asm.snapshot_date = t.snapshot_date AND asm.employee_code = so.manager_code  AND asm.{{ q("role") }} = 'ASM'
JOIN stg_tsr_snapshot rsm ON rsm.snapshot_date = t.snapshot_date AND rsm.employee_code = asm.manager_code AND rsm.{{ q("role") }} = 'RSM'
JOIN stg_tsr_snapshot zsm ON zsm.snapshot_date = t.snapshot_date AND zsm.employee_code = rsm.manager_code AND zsm.{{ q("role") }} = 'ZSM'
JOIN stg_tsr_snapshot nsm ON nsm.snapshot_date = t.snapshot_date AND nsm.employee_code = zsm.manager_code AND nsm.{{ q("role") }} = 'NSM'
WHERE t.snapshot_date = :snapshot_date AND t.{{ q("role") }} = 'TSR' AND t.is_active;

-- TSRs present in the snapshot but no longer active TSRs: their chain ends.
{{ temp_table("_ended") }}
SELECT employee_code AS tsr_code FROM stg_tsr_snapshot
WHERE snapshot_date = :snapshot_date AND NOT ({{ q("role") }} = 'TSR' AND is_active)
UNION
SELECT h.tsr_code FROM dim_sales_hierarchy h
{% if dialect == "starrocks" %}
WHERE h.is_current AND h.tsr_code NOT IN (
    SELECT s.employee_code FROM stg_tsr_snapshot s WHERE s.snapshot_date = :snapshot_date);
{% else %}
WHERE h.is_current AND NOT EXISTS (
    SELECT 1 FROM stg_tsr_snapshot s WHERE s.snapshot_date = :snapshot_date AND s.employee_code = h.tsr_code);
{% endif %}

-- Current rows whose chain differs from this snapshot's valid chain, or whose TSR ended.
{{ temp_table("_changed") }}
SELECT h.tsr_code, h.valid_from FROM dim_sales_hierarchy h
{% if dialect == "starrocks" %}
LEFT JOIN _chain c ON c.tsr_code = h.tsr_code
WHERE h.is_current AND (
    h.tsr_code IN (SELECT tsr_code FROM _ended)
    OR (c.tsr_code IS NOT NULL AND NOT (
{% else %}
WHERE h.is_current AND (
    h.tsr_code IN (SELECT tsr_code FROM _ended)
    OR EXISTS (SELECT 1 FROM _chain c WHERE c.tsr_code = h.tsr_code AND NOT (
{% endif %}
        c.so_code = h.so_code AND c.asm_code = h.asm_code AND c.rsm_code = h.rsm_code
        AND c.zsm_code = h.zsm_code AND c.nsm_code = h.nsm_code)));

-- A row opened by this same snapshot date (a re-delivered snapshot) is replaced, not closed.
DELETE FROM dim_sales_hierarchy
WHERE valid_from = :snapshot_date AND tsr_code IN (SELECT tsr_code FROM _changed WHERE valid_from = :snapshot_date);

UPDATE dim_sales_hierarchy SET valid_to = :day_before, is_current = false, _run_id = :run_id, _loaded_at = :loaded_at
WHERE is_current AND valid_from < :snapshot_date AND tsr_code IN (SELECT tsr_code FROM _changed);

INSERT INTO dim_sales_hierarchy (tsr_code, valid_from, so_code, asm_code, rsm_code, zsm_code, nsm_code, valid_to,
                                 is_current, _source_file, _source_version, _loaded_at, _run_id)
SELECT c.tsr_code, :snapshot_date, c.so_code, c.asm_code, c.rsm_code, c.zsm_code, c.nsm_code,
       CAST('9999-12-31' AS DATE), true, :source_file, :source_version, :loaded_at, :run_id
FROM _chain c
{% if dialect == "starrocks" %}
WHERE c.tsr_code NOT IN (SELECT h.tsr_code FROM dim_sales_hierarchy h WHERE h.is_current);
{% else %}
WHERE NOT EXISTS (SELECT 1 FROM dim_sales_hierarchy h WHERE h.tsr_code = c.tsr_code AND h.is_current);
{% endif %}

-- Remember which active TSRs had no valid chain in this snapshot (reported by the flow).
DELETE FROM etl_hierarchy_broken WHERE snapshot_date = :snapshot_date;
INSERT INTO etl_hierarchy_broken (snapshot_date, tsr_code)
SELECT :snapshot_date, employee_code FROM stg_tsr_snapshot
WHERE snapshot_date = :snapshot_date AND {{ q("role") }} = 'TSR' AND is_active
  AND employee_code NOT IN (SELECT tsr_code FROM _chain);

{{ drop_temp("_chain") }};
{{ drop_temp("_ended") }};
{{ drop_temp("_changed") }}

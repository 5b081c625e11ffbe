-- SCD type 2 over the TSR chain for ONE tsr snapshot date, StarRocks version of
-- sql/duckdb/sales_hierarchy.sql (same logic; see there). Session temporary tables need
-- StarRocks >= 3.3.1. Statements autocommit one by one (StarRocks has no multi-statement DML
-- transactions); every step is idempotent, so a retry of the whole file converges.

DROP TEMPORARY TABLE IF EXISTS _chain;
CREATE TEMPORARY TABLE _chain PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT t.employee_code AS tsr_code, so.employee_code AS so_code, asm.employee_code AS asm_code,
       rsm.employee_code AS rsm_code, zsm.employee_code AS zsm_code, nsm.employee_code AS nsm_code
FROM stg_tsr_snapshot t
JOIN stg_tsr_snapshot so  ON so.snapshot_date  = t.snapshot_date AND so.employee_code  = t.manager_code   AND so.`role`  = 'SO'
JOIN stg_tsr_snapshot asm ON asm.snapshot_date = t.snapshot_date AND asm.employee_code = so.manager_code  AND asm.`role` = 'ASM'
JOIN stg_tsr_snapshot rsm ON rsm.snapshot_date = t.snapshot_date AND rsm.employee_code = asm.manager_code AND rsm.`role` = 'RSM'
JOIN stg_tsr_snapshot zsm ON zsm.snapshot_date = t.snapshot_date AND zsm.employee_code = rsm.manager_code AND zsm.`role` = 'ZSM'
JOIN stg_tsr_snapshot nsm ON nsm.snapshot_date = t.snapshot_date AND nsm.employee_code = zsm.manager_code AND nsm.`role` = 'NSM'
WHERE t.snapshot_date = :snapshot_date AND t.`role` = 'TSR' AND t.is_active;

DROP TEMPORARY TABLE IF EXISTS _ended;
CREATE TEMPORARY TABLE _ended PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT employee_code AS tsr_code FROM stg_tsr_snapshot
WHERE snapshot_date = :snapshot_date AND NOT (`role` = 'TSR' AND is_active)
UNION
SELECT h.tsr_code FROM dim_sales_hierarchy h
WHERE h.is_current AND h.tsr_code NOT IN (
    SELECT s.employee_code FROM stg_tsr_snapshot s WHERE s.snapshot_date = :snapshot_date);

DROP TEMPORARY TABLE IF EXISTS _changed;
CREATE TEMPORARY TABLE _changed PROPERTIES ("replication_num" = "${replication_num}") AS
SELECT h.tsr_code, h.valid_from FROM dim_sales_hierarchy h
LEFT JOIN _chain c ON c.tsr_code = h.tsr_code
WHERE h.is_current AND (
    h.tsr_code IN (SELECT tsr_code FROM _ended)
    OR (c.tsr_code IS NOT NULL AND NOT (
        c.so_code = h.so_code AND c.asm_code = h.asm_code AND c.rsm_code = h.rsm_code
        AND c.zsm_code = h.zsm_code AND c.nsm_code = h.nsm_code)));

DELETE FROM dim_sales_hierarchy
WHERE valid_from = :snapshot_date AND tsr_code IN (SELECT tsr_code FROM _changed WHERE valid_from = :snapshot_date);

UPDATE dim_sales_hierarchy SET valid_to = :day_before, is_current = false, _run_id = :run_id, _loaded_at = :loaded_at
WHERE is_current AND valid_from < :snapshot_date AND tsr_code IN (SELECT tsr_code FROM _changed);

INSERT INTO dim_sales_hierarchy (tsr_code, valid_from, so_code, asm_code, rsm_code, zsm_code, nsm_code, valid_to,
                                 is_current, _source_file, _source_version, _loaded_at, _run_id)
SELECT c.tsr_code, :snapshot_date, c.so_code, c.asm_code, c.rsm_code, c.zsm_code, c.nsm_code,
       CAST('9999-12-31' AS DATE), true, :source_file, :source_version, :loaded_at, :run_id
FROM _chain c
WHERE c.tsr_code NOT IN (SELECT h.tsr_code FROM dim_sales_hierarchy h WHERE h.is_current);

DELETE FROM etl_hierarchy_broken WHERE snapshot_date = :snapshot_date;
INSERT INTO etl_hierarchy_broken (snapshot_date, tsr_code)
SELECT :snapshot_date, employee_code FROM stg_tsr_snapshot
WHERE snapshot_date = :snapshot_date AND `role` = 'TSR' AND is_active
  AND employee_code NOT IN (SELECT tsr_code FROM _chain);

DROP TEMPORARY TABLE _chain;
DROP TEMPORARY TABLE _ended;
DROP TEMPORARY TABLE _changed

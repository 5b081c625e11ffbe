-- Monthly maintenance (tasks/maintenance.py runs each statement on its own, outside a transaction).
-- Refresh the optimizer's statistics of every table, then fold the write-ahead log into the file.
ANALYZE;
CHECKPOINT;

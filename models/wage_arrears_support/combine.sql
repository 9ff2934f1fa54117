-- Coordinator side: per employer and project, the flagged workers, how many of them filed a wage
-- suit, and the registered project. A lead needs at least min_workers who never went to court,
-- and they must be most of the group: where most workers sued, the courts already have it.
WITH sued AS (
    SELECT DISTINCT plaintiff_id FROM court
),
grp AS (
    SELECT
        h.project_code,
        h.employer_uscc,
        count(DISTINCT h.worker_id) AS workers,
        count(DISTINCT s.plaintiff_id) AS suing,
        any_value(h.owed_bucket) AS owed_bucket,
        any_value(h.overdue_bucket) AS overdue_bucket,
        any_value(h.deposit_paid_bucket) AS deposit_paid_bucket
    FROM hrss AS h
    LEFT JOIN sued AS s ON s.plaintiff_id = h.worker_id
    GROUP BY h.project_code, h.employer_uscc
)
SELECT
    g.project_code AS project,
    g.employer_uscc AS employer,
    p.developer_uscc AS developer,
    p.region,
    CASE
        WHEN g.workers - g.suing >= 20 THEN '20+'
        WHEN g.workers - g.suing >= 10 THEN '10-19'
        WHEN g.workers - g.suing >= 5 THEN '5-9'
        WHEN g.workers - g.suing >= 3 THEN '3-4'
        ELSE '1-2'
    END AS unsued_bucket,
    g.suing > 0 AS some_sued,
    g.owed_bucket,
    g.overdue_bucket,
    g.deposit_paid_bucket,
    p.project_status
FROM grp AS g
JOIN housing_construction AS p ON p.project_code = g.project_code
WHERE g.workers - g.suing >= $min_workers
  AND g.suing * 2 < g.workers

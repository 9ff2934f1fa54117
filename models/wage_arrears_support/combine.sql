-- Coordinator side: per employer and project, the flagged workers, how many of them sued this
-- employer for wages (追索劳动报酬纠纷) in or after the year of their first overdue complaint,
-- and the registered project. A suit against another employer, or one older than the
-- complaint, is a different dispute: that worker still never took this one to court. A lead
-- needs at least min_workers who did not sue, and they must be most of the group: where most
-- workers sued, the courts already have it. `workers` and `workers_unsued` are exact counts
-- of distinct worker tokens, which the coordinator holds anyway.
WITH worker AS (
    SELECT
        project_code,
        employer_uscc,
        worker_id,
        min(CAST(complaint_year AS INTEGER)) AS complaint_year,
        any_value(owed_bucket) AS owed_bucket,
        any_value(overdue_bucket) AS overdue_bucket,
        any_value(deposit_paid_bucket) AS deposit_paid_bucket
    FROM hrss
    GROUP BY project_code, employer_uscc, worker_id
),
sued AS (
    SELECT DISTINCT w.project_code, w.employer_uscc, w.worker_id
    FROM worker AS w
    JOIN court AS c
        ON c.plaintiff_id = w.worker_id
        AND c.defendant_uscc = w.employer_uscc
        AND CAST(c.filed_year AS INTEGER) >= w.complaint_year
),
grp AS (
    SELECT
        w.project_code,
        w.employer_uscc,
        count(*) AS workers,
        count(s.worker_id) AS suing,
        any_value(w.owed_bucket) AS owed_bucket,
        any_value(w.overdue_bucket) AS overdue_bucket,
        any_value(w.deposit_paid_bucket) AS deposit_paid_bucket
    FROM worker AS w
    LEFT JOIN sued AS s
        ON s.project_code = w.project_code
        AND s.employer_uscc = w.employer_uscc
        AND s.worker_id = w.worker_id
    GROUP BY w.project_code, w.employer_uscc
)
SELECT
    g.project_code AS project,
    g.employer_uscc AS employer,
    p.developer_uscc AS developer,
    p.region,
    g.workers,
    g.workers - g.suing AS workers_unsued,
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

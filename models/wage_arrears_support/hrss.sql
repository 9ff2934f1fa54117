-- Labour inspection: workers whose wage complaints against one employer on one project are still
-- open (处理中) past the deadline, where the project's wage deposit (工资保证金) is unpaid or short
-- (seed 003: 未通过司法途径解决且未化解的欠薪线索, 工资保证金未足额缴纳). "Past the deadline" is
-- measured against the newest complaint on file, so the rule never depends on the agent's clock.
-- The group must be large enough to be a lead; its workers leave as tokens so that the court can
-- be asked about exactly them. A project with no deposit record is left out: the register cannot
-- tell a deposit never lodged from one not required (exempted, or replaced by a bank guarantee).
-- complaint_year, the year of each worker's first overdue complaint in the group, lets the
-- coordinator ignore wage suits filed before it (a year, not a date: no exact date leaves).
-- Court and labour inspection clamp years to the same declared range: that can only make an
-- older suit count as well, never stop a later one from counting.
WITH reference AS (
    SELECT max(filed_on) AS latest FROM wage_complaints
),
overdue AS (
    SELECT
        c.worker_id,
        c.employer_uscc,
        c.project_code,
        c.amount_owed,
        c.filed_on,
        date_diff('day', c.filed_on, r.latest) AS age,
        norm_person(c.worker_id) AS worker_key,
        norm_org(c.employer_uscc) AS employer_key,
        norm_project(c.project_code) AS project_key
    FROM wage_complaints AS c, reference AS r
    WHERE c.status = '处理中'
      AND c.project_code IS NOT NULL
      AND date_diff('day', c.filed_on, r.latest) > $overdue_days
),
deposit AS (
    SELECT
        norm_project(project_code) AS project_key,
        sum(required_amount) AS required,
        sum(coalesce(paid_amount, 0)) AS paid
    FROM wage_deposits
    GROUP BY 1
),
grp AS (
    SELECT
        o.project_key,
        o.employer_key,
        count(DISTINCT o.worker_key) AS workers,
        sum(o.amount_owed) AS owed,
        max(o.age) AS oldest,
        any_value(d.paid / d.required) AS paid_share
    FROM overdue AS o
    JOIN deposit AS d ON d.project_key = o.project_key
    WHERE d.paid < d.required
    GROUP BY o.project_key, o.employer_key
    HAVING count(DISTINCT o.worker_key) >= $min_workers
),
first_complaint AS (
    SELECT project_key, employer_key, worker_key, min(filed_on) AS filed_on
    FROM overdue
    GROUP BY ALL
)
SELECT DISTINCT
    o.worker_id,
    o.employer_uscc,
    o.project_code,
    CAST(greatest(2010, least(2035, year(f.filed_on))) AS VARCHAR) AS complaint_year,
    CASE
        WHEN g.owed >= 1000000 THEN '1M+'
        WHEN g.owed >= 500000 THEN '500k-1M'
        WHEN g.owed >= 200000 THEN '200k-500k'
        WHEN g.owed >= 50000 THEN '50k-200k'
        ELSE '<50k'
    END AS owed_bucket,
    CASE
        WHEN g.oldest >= 365 THEN '365+'
        WHEN g.oldest >= 180 THEN '180-364'
        WHEN g.oldest >= 90 THEN '90-179'
        ELSE '<90'
    END AS overdue_bucket,
    CASE
        WHEN g.paid_share <= 0 THEN '0%'
        WHEN g.paid_share < 0.5 THEN '1-49%'
        ELSE '50-99%'
    END AS deposit_paid_bucket
FROM overdue AS o
JOIN grp AS g ON g.project_key = o.project_key AND g.employer_key = o.employer_key
JOIN first_complaint AS f
    ON f.project_key = o.project_key
    AND f.employer_key = o.employer_key
    AND f.worker_key = o.worker_key

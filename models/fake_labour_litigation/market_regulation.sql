-- Market regulation role: shell-like enterprises — small enough that dozens of "employees"
-- suing them within weeks is implausible (seed 001: 企业用工规模不大), and either registered
-- recently or sharing a legal representative with another small enterprise (a broker's
-- shells). Registration recency is measured against the register's newest entry, so the rule
-- does not depend on the agent's clock.
WITH small AS (
    SELECT
        uscc,
        region,
        reported_employees,
        established_on,
        count(*) OVER (PARTITION BY norm_person(legal_rep_id)) AS firms_of_rep
    FROM enterprises
    WHERE coalesce(reported_employees, 0) <= $max_employees
),
newest AS (
    SELECT max(established_on) AS latest FROM enterprises
)
SELECT
    uscc,
    region,
    CASE
        WHEN reported_employees <= 5 THEN '0-5'
        WHEN reported_employees <= 10 THEN '6-10'
        WHEN reported_employees <= 20 THEN '11-20'
        WHEN reported_employees <= 50 THEN '21-50'
        ELSE '51-100'
    END AS employees_bucket,
    firms_of_rep >= 2 AS shared_legal_rep
FROM small, newest
WHERE firms_of_rep >= 2
   OR date_diff('day', established_on, latest) <= $shell_age_days

-- Tax role: the company reported revenue of at least $min_revenue yuan in one of the latest
-- $revenue_years tax years (counted back from the register's newest year, not the clock).
-- A dormant shell files zero or token returns and drops out. Most firms earn revenue, so the
-- role answers only about the companies the court returned (candidates). One company's
-- returns may spell its code differently from year to year: they are grouped by norm_org.
WITH latest AS (
    SELECT max(year) AS newest FROM enterprise_tax
),
recent AS (
    SELECT
        norm_org(t.uscc) AS company,
        any_value(t.uscc) AS uscc,
        max(t.revenue) AS revenue
    FROM enterprise_tax AS t, latest
    WHERE t.year > latest.newest - $revenue_years
    GROUP BY 1
)
SELECT
    uscc,
    CASE
        WHEN revenue < 50000 THEN '<50k'
        WHEN revenue < 200000 THEN '50k-200k'
        WHEN revenue < 1000000 THEN '200k-1M'
        WHEN revenue < 5000000 THEN '1M-5M'
        ELSE '5M+'
    END AS revenue_bucket
FROM recent
WHERE revenue >= $min_revenue

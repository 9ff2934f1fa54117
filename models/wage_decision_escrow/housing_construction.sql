-- Housing and construction: the project's registered developer holds that project's presale
-- escrow account (商品房预售资金监管账户) with money in it (seed 002, 勉县: A 公司设置了 300 万元的
-- 监管账户). Only the project's latest snapshot counts, and only money of the same project held
-- by the same developer: an unrelated project's (or another holder's) money is not available.
-- Asked only about the projects of flagged decisions (candidates).
WITH snapshot AS (
    SELECT
        norm_project(project_code) AS project_key,
        norm_org(developer_uscc) AS developer_key,
        balance,
        as_of,
        max(as_of) OVER (PARTITION BY norm_project(project_code)) AS latest
    FROM presale_escrow
),
escrow AS (
    SELECT project_key, developer_key, sum(balance) AS balance
    FROM snapshot
    WHERE as_of = latest
    GROUP BY project_key, developer_key
)
SELECT
    p.project_code,
    p.developer_uscc,
    p.contractor_uscc,
    p.region,
    CASE
        WHEN e.balance >= 10000000 THEN '10M+'
        WHEN e.balance >= 2000000 THEN '2M-10M'
        WHEN e.balance >= 500000 THEN '500k-2M'
        WHEN e.balance >= 100000 THEN '100k-500k'
        ELSE '<100k'
    END AS escrow_bucket
FROM projects AS p
JOIN escrow AS e
  ON e.project_key = norm_project(p.project_code)
 AND e.developer_key = norm_org(p.developer_uscc)
WHERE e.balance >= $min_escrow

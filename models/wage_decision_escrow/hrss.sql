-- Labour inspection: wage decisions (劳动保障监察行政处理决定) the employer has not performed or
-- performed only in part, on a construction project (seed 002, 勉县: B 公司仅支付 16 人工资后再未
-- 履行). Decisions without a project cannot lead to a developer's escrow and stay at the agency.
WITH open_decision AS (
    SELECT
        decision_no,
        employer_uscc,
        project_code,
        workers,
        amount - coalesce(paid_amount, 0) AS unpaid
    FROM inspection_decisions
    WHERE status IN ('未履行', '部分履行', '已申请强制执行')
      AND project_code IS NOT NULL
)
SELECT
    decision_no,
    employer_uscc,
    project_code,
    CASE
        WHEN workers >= 70 THEN '70+'
        WHEN workers >= 30 THEN '30-69'
        WHEN workers >= 10 THEN '10-29'
        WHEN workers >= 5 THEN '5-9'
        ELSE '1-4'
    END AS workers_bucket,
    CASE
        WHEN unpaid >= 1000000 THEN '1M+'
        WHEN unpaid >= 500000 THEN '500k-1M'
        WHEN unpaid >= 200000 THEN '200k-500k'
        WHEN unpaid >= 50000 THEN '50k-200k'
        ELSE '<50k'
    END AS unpaid_bucket
FROM open_decision
WHERE unpaid > 0
  AND unpaid >= $min_unpaid

-- Court role (stage 2, asked only about the procuratorate's victims and aid recipients): people
-- whose court-awarded compensation, over all their judgments as plaintiff, is still mostly
-- unpaid (seed 004: 无法通过诉讼获得有效赔偿). Only the unpaid share leaves, as a bucket.
WITH per_person AS (
    SELECT
        norm_person(plaintiff_id) AS person_key,
        min(plaintiff_id) AS plaintiff_id,
        sum(award_amount) AS awarded,
        sum(least(coalesce(paid_amount, 0), award_amount)) AS paid
    FROM civil_judgments
    WHERE award_amount > 0
    GROUP BY 1
),
share AS (
    SELECT plaintiff_id, 100 * (awarded - paid) / awarded AS unpaid_pct
    FROM per_person
    WHERE person_key IS NOT NULL
)
SELECT
    plaintiff_id,
    CASE
        WHEN unpaid_pct >= 100 THEN '100%'
        WHEN unpaid_pct >= 80 THEN '80-99%'
        WHEN unpaid_pct >= 50 THEN '50-79%'
        WHEN unpaid_pct >= 20 THEN '20-49%'
        ELSE '1-19%'
    END AS unpaid_share_bucket
FROM share
WHERE unpaid_pct > 0
  AND unpaid_pct >= $min_unpaid_pct

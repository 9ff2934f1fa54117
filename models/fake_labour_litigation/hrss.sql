-- Labour arbitration role: the same pattern as the court's, in arbitration awards
-- (seed 001: 虚假仲裁 — the award, not a judgment, backs the back-payment).
WITH uncontested AS (
    SELECT
        award_no,
        applicant_id,
        respondent_uscc,
        region,
        decided_on,
        norm_org(respondent_uscc) AS respondent_key
    FROM arbitration_awards
    WHERE cause LIKE '%确认劳动关系%'
      AND outcome IN ('支持', '确认')
      AND award_text LIKE '%无异议%'
),
density AS (
    SELECT a.award_no, count(*) AS suits
    FROM uncontested AS a
    JOIN uncontested AS b
      ON b.respondent_key = a.respondent_key
     AND abs(date_diff('day', a.decided_on, b.decided_on)) <= $window_days
    GROUP BY a.award_no
)
SELECT
    u.award_no AS case_no,
    u.applicant_id AS plaintiff_id,
    u.respondent_uscc AS defendant_uscc,
    u.region,
    CASE
        WHEN d.suits >= 20 THEN '20+'
        WHEN d.suits >= 10 THEN '10-19'
        WHEN d.suits >= 5 THEN '5-9'
        ELSE '3-4'
    END AS suits_bucket
FROM uncontested AS u
JOIN density AS d ON d.award_no = u.award_no
WHERE d.suits >= $min_suits

-- Court role: uncontested suits that only ask to confirm a labour relationship, against a
-- defendant sued densely within a short window (seed 001: 被密集起诉, 原告诉求简单, 被告无异议).
WITH uncontested AS (
    SELECT
        case_no,
        plaintiff_id,
        defendant_uscc,
        court_region,
        filed_on,
        -- The code as written varies (spaces, full-width); density counts the company.
        norm_org(defendant_uscc) AS defendant_key
    FROM labour_cases
    WHERE cause = '确认劳动关系纠纷'
      AND outcome = '确认'
      AND judgment_text LIKE '%无异议%'
      AND coalesce(claim_amount, 0) = 0
),
density AS (
    SELECT a.case_no, count(*) AS suits
    FROM uncontested AS a
    JOIN uncontested AS b
      ON b.defendant_key = a.defendant_key
     AND abs(date_diff('day', a.filed_on, b.filed_on)) <= $window_days
    GROUP BY a.case_no
)
SELECT
    u.case_no,
    u.plaintiff_id,
    u.defendant_uscc,
    u.court_region AS region,
    CASE
        WHEN d.suits >= 20 THEN '20+'
        WHEN d.suits >= 10 THEN '10-19'
        WHEN d.suits >= 5 THEN '5-9'
        ELSE '3-4'
    END AS suits_bucket
FROM uncontested AS u
JOIN density AS d ON d.case_no = u.case_no
WHERE d.suits >= $min_suits

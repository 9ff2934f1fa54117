-- Coordinator side: a suit or award that is uncontested and dense, cited by a large lump
-- back-payment for the same person and employer, followed by a pension soon after, where the
-- employer is small by social-security or registration records.
WITH suits AS (
    SELECT case_no, plaintiff_id, defendant_uscc, region, suits_bucket, 'court' AS via
    FROM court
    UNION ALL
    SELECT case_no, plaintiff_id, defendant_uscc, region, suits_bucket, 'arbitration' AS via
    FROM hrss
)
SELECT DISTINCT
    s.plaintiff_id AS person,
    s.case_no AS suit,
    s.defendant_uscc AS company,
    s.region,
    s.via,
    CASE s.via WHEN 'court' THEN '诉讼' ELSE '仲裁' END AS channel_zh,
    s.suits_bucket,
    p.months_bucket,
    p.retire_gap_bucket,
    p.age_bucket,
    p.small_employer,
    m.employees_bucket,
    m.shared_legal_rep
FROM suits AS s
JOIN social_security AS p
  ON p.person_id = s.plaintiff_id
 AND p.basis_doc_no = s.case_no
 AND p.employer_uscc = s.defendant_uscc
LEFT JOIN market_regulation AS m ON m.uscc = s.defendant_uscc
WHERE p.small_employer OR m.uscc IS NOT NULL

-- Coordinator side: an unperformed wage decision whose enforcement against the same employer
-- ended without assets, on a project whose developer holds escrow money. One lead per project and
-- employer; of several decisions the one with the most unpaid wages speaks for the lead.
WITH stuck AS (
    SELECT DISTINCT h.decision_no, h.employer_uscc, h.project_code, h.workers_bucket,
        h.unpaid_bucket
    FROM hrss AS h
    JOIN court AS c
      ON c.basis_doc_no = h.decision_no
     AND c.respondent_uscc = h.employer_uscc
),
leads AS (
    SELECT
        s.project_code AS project,
        s.employer_uscc AS employer,
        p.developer_uscc AS developer,
        p.region,
        s.workers_bucket,
        s.unpaid_bucket,
        p.escrow_bucket,
        p.contractor_uscc = s.employer_uscc AS employer_is_contractor,
        row_number() OVER (
            PARTITION BY s.project_code, s.employer_uscc
            ORDER BY
                CASE s.unpaid_bucket
                    WHEN '1M+' THEN 5 WHEN '500k-1M' THEN 4 WHEN '200k-500k' THEN 3
                    WHEN '50k-200k' THEN 2 ELSE 1
                END DESC,
                s.decision_no
        ) AS pick
    FROM stuck AS s
    JOIN housing_construction AS p ON p.project_code = s.project_code
)
SELECT project, employer, developer, region, workers_bucket, unpaid_bucket, escrow_bucket,
    employer_is_contractor
FROM leads
WHERE pick = 1

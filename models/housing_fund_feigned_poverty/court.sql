-- Court role: enforcement of housing-fund arrears orders (责令限期缴存决定) against a company
-- that ended "for now" because no assets were found (终结本次执行). These are few among all
-- enforcement cases, so this stage-1 role flags a small share of its register. Months since
-- the case ended are counted to the register's newest entry, not to the agent's clock, so the
-- result does not depend on when it runs.
WITH newest AS (
    SELECT max(greatest(filed_on, coalesce(closed_on, filed_on))) AS as_of
    FROM enforcement_cases
),
ended AS (
    SELECT
        e.case_no,
        e.basis_doc_no,
        e.respondent_uscc,
        e.court_region,
        date_diff('month', e.closed_on, newest.as_of) AS months
    FROM enforcement_cases AS e, newest
    WHERE e.basis_type = '责令限期缴存决定'
      AND e.status = '终结本次执行'
      AND e.respondent_uscc IS NOT NULL
      AND e.basis_doc_no IS NOT NULL
)
SELECT
    case_no,
    basis_doc_no,
    respondent_uscc,
    court_region AS region,
    CASE
        WHEN months IS NULL THEN NULL
        WHEN months < 6 THEN '0-5'
        WHEN months < 12 THEN '6-11'
        WHEN months < 24 THEN '12-23'
        WHEN months < 36 THEN '24-35'
        ELSE '36+'
    END AS closed_months_bucket
FROM ended

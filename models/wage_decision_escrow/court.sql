-- Court: the non-litigation enforcement of a labour-inspection decision against a company ended
-- "no assets found" (终结本次执行). Asked only about the decisions and employers labour inspection
-- flagged (candidates), so what leaves is the fate of those decisions, not the court's register.
SELECT DISTINCT
    basis_doc_no,
    respondent_uscc,
    court_region AS region
FROM enforcement_cases
WHERE basis_type = '行政处理决定'
  AND status = '终结本次执行'
  AND basis_doc_no IS NOT NULL
  AND respondent_uscc IS NOT NULL

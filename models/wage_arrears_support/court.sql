-- Court: which of the flagged workers filed a wage-recovery suit (追索劳动报酬纠纷). Asked only
-- about the workers labour inspection flagged (candidates): without that look-up this would name
-- every wage plaintiff on the court's register.
SELECT DISTINCT plaintiff_id
FROM labour_cases
WHERE cause = '追索劳动报酬纠纷'
  AND plaintiff_id IS NOT NULL

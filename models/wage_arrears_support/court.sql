-- Court: the wage-recovery suits (追索劳动报酬纠纷) the flagged workers filed against the flagged
-- employers, with the defendant and the year filed. Asked only about the workers and employers
-- labour inspection flagged (candidates): without that look-up this would name every wage
-- plaintiff on the court's register, and every employer they ever sued. The coordinator counts
-- a suit only against the group's own employer, filed no earlier than the worker's complaint
-- year. Years are clamped to the declared range as labour inspection clamps them; a suit with
-- no filing date is given the latest year, so that it counts: a worker who may have sued is
-- never counted as one who did not.
SELECT DISTINCT
    plaintiff_id,
    defendant_uscc,
    CAST(greatest(2010, least(2035, coalesce(year(filed_on), 2035))) AS VARCHAR) AS filed_year
FROM labour_cases
WHERE cause = '追索劳动报酬纠纷'
  AND plaintiff_id IS NOT NULL
  AND defendant_uscc IS NOT NULL

-- Market-regulation role: the company is still registered as operating (存续/在业), not
-- revoked, deregistered or moved out. Most firms are, so the role answers only about the
-- companies the court returned (candidates).
SELECT DISTINCT
    uscc,
    status AS registered_status
FROM enterprises
WHERE status IN ('存续', '在业')

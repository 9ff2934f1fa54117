-- Coordinator side: an arrears-order enforcement that ended for want of assets (court), on an
-- order still unpaid (fund centre), against a company still registered as operating (market
-- regulation) that reports revenue (tax). The order must be the one the enforcement was
-- based on and belong to the same company; a paid or partly paid order, a judgment debt, a
-- deregistered or dormant company each break the chain.
SELECT DISTINCT
    'feigned_poverty' AS kind,
    c.respondent_uscc AS company,
    c.case_no AS enforcement,
    c.region,
    c.closed_months_bucket,
    h.employees_bucket,
    h.amount_bucket,
    m.registered_status,
    t.revenue_bucket
FROM court AS c
JOIN housing_fund AS h
  ON h.order_no = c.basis_doc_no
 AND h.employer_uscc = c.respondent_uscc
JOIN market_regulation AS m ON m.uscc = c.respondent_uscc
JOIN tax AS t ON t.uscc = c.respondent_uscc

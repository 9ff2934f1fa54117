-- Housing-fund role: arrears orders still unpaid (未缴存) or sent to the court for enforcement
-- (已申请强制执行); paid and partly paid orders drop out. Asked only about the orders and
-- companies whose enforcement the court ended for want of assets (candidates), so nothing
-- about any other employer leaves the centre.
SELECT
    order_no,
    employer_uscc,
    CASE
        WHEN employees_affected IS NULL THEN NULL
        WHEN employees_affected <= 5 THEN '1-5'
        WHEN employees_affected <= 20 THEN '6-20'
        WHEN employees_affected <= 50 THEN '21-50'
        ELSE '51+'
    END AS employees_bucket,
    CASE
        WHEN amount IS NULL THEN NULL
        WHEN amount < 20000 THEN '<20k'
        WHEN amount < 100000 THEN '20k-100k'
        WHEN amount < 500000 THEN '100k-500k'
        ELSE '500k+'
    END AS amount_bucket
FROM arrears_orders
WHERE status IN ('未缴存', '已申请强制执行')

-- Procuratorate role (stage 1): the people the other agencies are asked about, and the aid-level
-- checks only the procuratorate can make (seed 004: 救助金额以当地上一年度职工月平均工资为基准,
-- 一般不超过36个月总额, 且仅能进行一次救助).
-- Two kinds of row, one per person:
--   'victim': a victim with a substantial loss (the case with the largest loss) who never got
--             judicial aid — a possible omission if other agencies show hardship and unpaid
--             compensation;
--   'aid':    every aid recipient, with the number of grants and the largest grant's ratio to
--             the cap (regional wage of the year before the grant), for transfers and for
--             duplicate or over-cap grants.
-- People are joined on their normalised ID: one person is written in several spellings.
WITH wage AS (
    SELECT region, year, max(avg_monthly_wage) AS wage
    FROM wage_reference
    GROUP BY region, year
),
grant_row AS (
    SELECT
        a.person_id,
        a.case_no,
        a.region,
        a.granted_on,
        norm_person(a.person_id) AS person_key,
        norm_case(a.aid_no) AS aid_key,
        a.amount / ($cap_months * nullif(w.wage, 0)) AS cap_ratio
    FROM judicial_aid AS a
    LEFT JOIN wage AS w ON w.region = a.region AND w.year = year(a.granted_on) - 1
),
victim AS (
    SELECT
        person_id,
        case_no,
        region,
        crime,
        loss_amount,
        decided_on,
        norm_person(person_id) AS person_key,
        norm_case(case_no) AS case_key
    FROM victims
),
case_loss AS (
    -- The crime and loss of an aided case, also when the recipient is a relative of the victim.
    SELECT case_key, arg_max(crime, loss_amount) AS crime, max(loss_amount) AS loss_amount
    FROM victim
    GROUP BY case_key
),
recipient AS (
    SELECT
        g.person_key,
        arg_max(g.person_id, g.granted_on) AS person_id,
        arg_max(g.case_no, g.granted_on) AS case_no,
        arg_max(g.region, g.granted_on) AS region,
        greatest(1, count(DISTINCT g.aid_key)) AS grants,  -- a grant without a number is one
        max(g.cap_ratio) AS cap_ratio
    FROM grant_row AS g
    WHERE g.person_key IS NOT NULL
    GROUP BY g.person_key
),
unaided AS (
    SELECT
        v.person_key,
        arg_max(v.person_id, v.loss_amount) AS person_id,
        arg_max(v.case_no, v.loss_amount) AS case_no,
        arg_max(v.region, v.loss_amount) AS region,
        arg_max(v.crime, v.loss_amount) AS crime,
        arg_max(v.decided_on, v.loss_amount) AS decided_on,
        max(v.loss_amount) AS loss_amount
    FROM victim AS v
    LEFT JOIN recipient AS r ON r.person_key = v.person_key
    WHERE v.loss_amount >= $min_loss
      AND v.person_key IS NOT NULL
      AND r.person_key IS NULL
    GROUP BY v.person_key
),
flagged AS (
    SELECT
        person_id, case_no, region, 'victim' AS subject, crime, loss_amount,
        CAST(greatest(2010, least(2030, year(decided_on))) AS VARCHAR) AS decided_year,
        NULL AS grants, NULL AS cap_ratio
    FROM unaided
    UNION ALL
    SELECT
        r.person_id, r.case_no, r.region, 'aid' AS subject, l.crime, l.loss_amount,
        NULL AS decided_year, r.grants, r.cap_ratio
    FROM recipient AS r
    LEFT JOIN case_loss AS l ON l.case_key = norm_case(r.case_no)
)
SELECT
    person_id,
    case_no,
    region,
    subject,
    CASE
        WHEN crime IS NULL THEN NULL
        WHEN crime IN ('故意杀人罪', '故意伤害罪', '强奸罪', '抢劫罪', '交通肇事罪', '过失致人重伤罪',
                       '盗窃罪', '诈骗罪', '敲诈勒索罪', '故意毁坏财物罪', '寻衅滋事罪') THEN crime
        ELSE '其他'
    END AS crime,
    CASE
        WHEN loss_amount IS NULL THEN NULL
        WHEN loss_amount < 10000 THEN '<10k'
        WHEN loss_amount < 30000 THEN '10k-30k'
        WHEN loss_amount < 100000 THEN '30k-100k'
        WHEN loss_amount < 500000 THEN '100k-500k'
        ELSE '500k+'
    END AS loss_bucket,
    decided_year,
    CASE
        WHEN grants IS NULL THEN NULL
        WHEN grants >= 3 THEN '3+'
        ELSE CAST(grants AS VARCHAR)
    END AS aid_count,
    CASE
        WHEN subject = 'victim' THEN NULL
        WHEN cap_ratio IS NULL THEN 'unknown'
        WHEN cap_ratio < 0.5 THEN '<50%'
        WHEN cap_ratio < 0.8 THEN '50-80%'
        WHEN cap_ratio <= 1.0 THEN '80-100%'
        WHEN cap_ratio <= 1.2 THEN '100-120%'
        WHEN cap_ratio <= 1.5 THEN '120-150%'
        ELSE '150%+'
    END AS cap_ratio_bucket,
    subject = 'aid' AND grants >= 2 AS duplicate,
    subject = 'aid' AND coalesce(cap_ratio > 1.0, FALSE) AS over_cap
FROM flagged

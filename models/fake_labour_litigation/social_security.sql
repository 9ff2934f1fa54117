-- Social-security role: a lump back-payment of many months that cites a judgment or award,
-- followed by a pension soon after (seed 001: 凭判决补缴社保、办理退休). The same person is
-- written differently across tables (legacy 15-digit IDs, full-width digits), so joins inside
-- the agency use the agent's normalising macros norm_person / norm_org.
WITH pay AS (
    SELECT
        person_id,
        employer_uscc,
        basis_doc_no,
        months,
        paid_on,
        norm_person(person_id) AS person_key,
        norm_org(employer_uscc) AS employer_key
    FROM back_payments
    WHERE basis_type IN ('判决', '仲裁')
      AND basis_doc_no IS NOT NULL
      AND months >= $min_backpay_months
),
pension AS (
    SELECT norm_person(person_id) AS person_key, min(retired_on) AS retired_on
    FROM retirements
    GROUP BY 1
),
employer AS (
    SELECT norm_org(employer_uscc) AS employer_key, max(insured_count) AS insured
    FROM employers
    GROUP BY 1
),
born AS (
    SELECT norm_person(person_id) AS person_key, min(birth_date) AS birth_date
    FROM insured_persons
    GROUP BY 1
),
matched AS (
    SELECT
        pay.*,
        date_diff('day', pay.paid_on, pension.retired_on) AS gap_days,
        date_diff('year', born.birth_date, pension.retired_on) AS age,
        coalesce(employer.insured, 0) AS insured
    FROM pay
    JOIN pension ON pension.person_key = pay.person_key
    LEFT JOIN employer ON employer.employer_key = pay.employer_key
    LEFT JOIN born ON born.person_key = pay.person_key
    WHERE date_diff('day', pay.paid_on, pension.retired_on) BETWEEN 0 AND $retire_within_days
)
SELECT
    person_id,
    employer_uscc,
    basis_doc_no,
    CASE
        WHEN months >= 120 THEN '120+'
        WHEN months >= 60 THEN '60-119'
        WHEN months >= 36 THEN '36-59'
        ELSE '12-35'
    END AS months_bucket,
    CASE
        WHEN gap_days <= 90 THEN '0-90'
        WHEN gap_days <= 180 THEN '91-180'
        WHEN gap_days <= 365 THEN '181-365'
        ELSE '366+'
    END AS retire_gap_bucket,
    CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 45 THEN '<45'
        WHEN age < 50 THEN '45-49'
        WHEN age < 55 THEN '50-54'
        WHEN age < 60 THEN '55-59'
        ELSE '60+'
    END AS age_bucket,
    insured <= $max_insured AS small_employer
FROM matched

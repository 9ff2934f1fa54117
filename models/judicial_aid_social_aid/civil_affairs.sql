-- Civil-affairs role (stage 2, asked only about the procuratorate's people): who is or was on
-- the minimum living allowance (低保) or extreme-poverty support (特困供养) — the ongoing
-- social aid of seed 004. One-off temporary or medical aid (临时救助, 医疗救助) is not being
-- "on social aid", so it is not reported. `until_year` (the year the support ended) lets the
-- coordinator ask whether the support outlasted the criminal case's decision.
WITH support AS (
    SELECT
        norm_person(person_id) AS person_key,
        person_id,
        program,
        end_on,
        end_on IS NULL OR end_on >= current_date AS active
    FROM assistance
    WHERE program IN ('低保', '特困供养')
),
per_person AS (
    SELECT
        person_key,
        min(person_id) AS person_id,
        arg_max(program, coalesce(end_on, DATE '9999-12-31')) AS program,
        bool_or(active) AS active_now,
        max(end_on) AS last_end
    FROM support
    WHERE person_key IS NOT NULL
    GROUP BY person_key
)
SELECT
    person_id,
    program,
    active_now,
    CASE
        WHEN active_now THEN NULL
        ELSE CAST(greatest(2010, least(2030, year(last_end))) AS VARCHAR)
    END AS until_year
FROM per_person

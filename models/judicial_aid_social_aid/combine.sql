-- Coordinator side: three kinds of lead from one set of flags, one lead per person.
--   omission: an unaided victim with a substantial loss whose compensation is mostly unpaid and
--             who is in hardship — on 低保/特困供养 now or after the case was decided, or
--             holding a disability certificate;
--   transfer: an aid recipient still in hardship — severely disabled, or disabled with the
--             compensation mostly unpaid — who is not on 低保/特困供养 now;
--   duplicate_or_over_cap: aid granted twice or more, or a grant above the cap. It takes
--             precedence over transfer for the same person; still_in_hardship says if both hold.
WITH victim AS (
    SELECT * FROM procuratorate WHERE subject = 'victim'
),
recipient AS (
    SELECT * FROM procuratorate WHERE subject = 'aid'
),
omission AS (
    SELECT
        v.person_id AS person,
        'omission' AS kind,
        v.region,
        v.crime,
        v.loss_bucket,
        c.unpaid_share_bucket,
        CASE WHEN s.active_now OR s.until_year > v.decided_year THEN s.program END AS program,
        d.grade AS disability_grade,
        CAST(NULL AS VARCHAR) AS aid_count,
        CAST(NULL AS VARCHAR) AS cap_ratio_bucket,
        CAST(NULL AS BOOLEAN) AS over_cap,
        CAST(NULL AS BOOLEAN) AS former_support,
        CAST(NULL AS BOOLEAN) AS still_in_hardship
    FROM victim AS v
    JOIN court AS c ON c.plaintiff_id = v.person_id
    LEFT JOIN civil_affairs AS s ON s.person_id = v.person_id
    LEFT JOIN disability_federation AS d ON d.person_id = v.person_id
    WHERE s.active_now OR s.until_year > v.decided_year OR d.person_id IS NOT NULL
),
aided AS (
    SELECT
        r.*,
        c.unpaid_share_bucket,
        d.grade AS disability_grade,
        s.person_id IS NOT NULL AS former_support,
        NOT coalesce(s.active_now, FALSE)
            AND d.person_id IS NOT NULL
            AND (d.severe OR c.plaintiff_id IS NOT NULL) AS still_in_hardship
    FROM recipient AS r
    LEFT JOIN court AS c ON c.plaintiff_id = r.person_id
    LEFT JOIN civil_affairs AS s ON s.person_id = r.person_id
    LEFT JOIN disability_federation AS d ON d.person_id = r.person_id
)
SELECT * FROM omission
UNION ALL
SELECT
    person_id AS person,
    CASE WHEN duplicate OR over_cap THEN 'duplicate_or_over_cap' ELSE 'transfer' END AS kind,
    region,
    crime,
    loss_bucket,
    unpaid_share_bucket,
    CAST(NULL AS VARCHAR) AS program,
    disability_grade,
    aid_count,
    cap_ratio_bucket,
    over_cap,
    former_support,
    still_in_hardship
FROM aided
WHERE duplicate OR over_cap OR still_in_hardship

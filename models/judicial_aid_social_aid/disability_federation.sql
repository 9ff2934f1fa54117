-- Disabled persons' federation role (stage 2, asked only about the procuratorate's people):
-- certificate holders, with their most severe grade (1 = most severe) and its category
-- (seed 004: 对于因案致残或者原本就是残疾人的救助对象, 更应快速启动司法救助程序).
WITH holder AS (
    SELECT
        norm_person(person_id) AS person_key,
        min(person_id) AS person_id,
        min(grade) AS grade,
        arg_min(category, grade) AS category
    FROM certificates
    WHERE grade BETWEEN 1 AND 4
    GROUP BY 1
)
SELECT
    person_id,
    CAST(grade AS VARCHAR) AS grade,
    CASE
        WHEN category IN ('视力', '听力', '言语', '肢体', '智力', '精神', '多重') THEN category
        ELSE '其他'
    END AS category,
    grade <= $severe_grade AS severe
FROM holder
WHERE person_key IS NOT NULL

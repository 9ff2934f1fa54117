"""fedscreen.sqlcheck: forbidden constructs are refused by name; screening SQL passes."""

from __future__ import annotations

import pytest

from fedscreen import sqlcheck, tokensql
from fedscreen.errors import ForbiddenSQL
from fedscreen.sqlcheck import check_sql, named_parameters

TABLES = {"labour_cases", "enforcement_cases"}
PARAMS = {"window_days", "min_suits"}


def check(sql: str) -> None:
    check_sql(sql, TABLES, PARAMS)


REFUSED = [
    # statements other than a query
    ("PRAGMA version", "only a query"),
    ("PRAGMA database_list", "only a query"),
    ("SET threads = 8", "only a query"),
    ("SET enable_external_access = true", "only a query"),
    ("RESET threads", "only a query"),
    ("ATTACH '/tmp/x.db' AS x", "only a query"),
    ("DETACH x", "only a query"),
    ("COPY labour_cases TO '/tmp/out.csv'", "only a query"),
    ("COPY (SELECT 1) TO '/tmp/out.parquet' (FORMAT parquet)", "only a query"),
    ("INSTALL httpfs", "only a query"),
    ("LOAD httpfs", "only a query"),
    ("EXPORT DATABASE '/tmp/dump'", "cannot parse|only a query"),
    ("IMPORT DATABASE '/tmp/dump'", "cannot parse|only a query"),
    ("CREATE TABLE x AS SELECT 1", "only a query"),
    ("CREATE MACRO m(a) AS a + 1", "only a query"),
    ("INSERT INTO labour_cases VALUES (1)", "only a query"),
    ("UPDATE labour_cases SET cause = 'x'", "only a query"),
    ("DELETE FROM labour_cases", "only a query"),
    ("DROP TABLE labour_cases", "only a query"),
    ("ALTER TABLE labour_cases ADD COLUMN x INT", "only a query"),
    ("CALL dbgen(sf = 1)", "only a query"),
    ("USE memory", "only a query"),
    ("DESCRIBE labour_cases", "only a query"),
    ("SUMMARIZE labour_cases", "only a query"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT 1; DROP TABLE labour_cases", "exactly one statement"),
    ("", "exactly one statement"),
    ("SELECT * INTO x FROM labour_cases", "INTO"),
    ("PIVOT labour_cases ON cause USING count(*)", "only a query"),
    ("SELECT * FROM labour_cases PIVOT (count(*) FOR plaintiff_id IN ('1'))", "PIVOT"),
    ("SELECT * FROM (PIVOT labour_cases ON plaintiff_id)", "PIVOT"),
    ("SELEC 1 FROM", "cannot parse"),
    # tables
    ("SELECT * FROM other_table", "not a dataset this role reads"),
    ("SELECT * FROM main.labour_cases", "qualified table name"),
    ("SELECT * FROM memory.main.labour_cases", "qualified table name"),
    ("SELECT * FROM information_schema.tables", "qualified table name"),
    ("SELECT * FROM duckdb_settings", "not a dataset"),
    ("SELECT * FROM '/etc/passwd'", "string literal"),
    ("SELECT * FROM 'labour_cases'", "string literal"),
    ("SELECT * FROM 'data.csv'", "string literal"),
    ('SELECT * FROM "data.parquet"', "file path"),
    ("SELECT * FROM labour_cases l JOIN '/etc/passwd' p ON true", "string literal"),
    ("SELECT * FROM labour_cases WHERE case_no IN (SELECT * FROM secrets)", "not a dataset"),
    # network URLs as tables (DuckDB would fetch them through httpfs if it could load it)
    ("SELECT * FROM 'https://example.org/x.parquet'", "string literal"),
    ("SELECT * FROM 'http://example.org/x.csv'", "string literal"),
    ("SELECT * FROM 's3://bucket/x'", "string literal"),
    ("SELECT * FROM 's3://bucket/x.parquet' s JOIN labour_cases l ON true", "string literal"),
    ("SELECT * FROM labour_cases WHERE case_no IN (FROM 'https://example.org/x')", "literal"),
    ('SELECT * FROM "s3://bucket/x"', r"file path 's3://bucket/x' is not a dataset"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "table function read_parquet"),
    # table functions
    ("SELECT * FROM read_csv('/etc/passwd')", "table function"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "table function"),
    ("SELECT * FROM read_parquet('x.parquet')", "table function"),
    ("SELECT * FROM read_json('x.json')", "table function"),
    ("SELECT * FROM read_text('/etc/passwd')", "table function"),
    ("SELECT * FROM range(10)", "table function"),
    ("SELECT * FROM generate_series(1, 10)", "table function"),
    ("SELECT * FROM glob('/etc/*')", "table function"),
    ("SELECT * FROM query('SELECT 1')", "table function"),
    ("SELECT * FROM query_table('labour_cases')", "table function"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "table function"),
    ("SELECT * FROM duckdb_settings()", "table function"),
    ("SELECT * FROM duckdb_secrets()", "table function"),
    ("SELECT * FROM labour_cases, unnest([1, 2])", "table function"),
    ("SELECT * FROM labour_cases JOIN LATERAL read_csv('x') r ON true", "table function"),
    ("SELECT * FROM labour_cases, (FROM read_csv('x'))", "table function"),
    # dangerous scalar functions, in every spelling DuckDB accepts
    ("SELECT getenv('HOME')", r"getenv\(\) is not allowed"),
    ("SELECT 'HOME'.getenv()", r"getenv\(\) is not allowed"),
    ("SELECT current_setting('threads')", r"current_setting\(\) is not allowed"),
    ("SELECT getvariable('x')", r"getvariable\(\) is not allowed"),
    ("SELECT content FROM labour_cases, read_text('/etc/passwd')", "table function"),
    ("SELECT read_blob('/etc/passwd')", r"read_blob\(\) is not allowed"),
    ("SELECT sha256(plaintiff_id) FROM labour_cases", r"sha256\(\) is not allowed"),
    ("SELECT md5(plaintiff_id) FROM labour_cases", r"md5\(\) is not allowed"),
    ("SELECT main.upper('a')", "qualified function"),
    ("SELECT version()", r"version\(\) is not allowed"),
    ("SELECT * FROM labour_cases WHERE cause = current_setting('x')", "current_setting"),
    # parameters
    ("SELECT * FROM labour_cases WHERE claim_amount > $secret", r"unknown parameter \$secret"),
    ("SELECT * FROM labour_cases WHERE claim_amount > ?", "positional"),
    ("SELECT * FROM labour_cases WHERE claim_amount > $1", "positional"),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED)
def test_forbidden_sql_is_refused_naming_the_construct(sql: str, message: str) -> None:
    with pytest.raises(ForbiddenSQL, match=message):
        check(sql)


ALLOWED = [
    "SELECT case_no FROM labour_cases",
    "SELECT case_no FROM labour_cases;",
    'SELECT "case_no" FROM "labour_cases"',
    "FROM labour_cases SELECT case_no",
    "(SELECT case_no FROM labour_cases)",
    # CTEs, joins, set operations, subqueries
    """WITH dense AS (
         SELECT defendant_uscc, count(*) AS n FROM labour_cases
         WHERE filed_on >= DATE '2024-01-01' GROUP BY defendant_uscc HAVING count(*) >= $min_suits
       )
       SELECT l.case_no, d.n > 3 AS flagged
       FROM labour_cases l JOIN dense d USING (defendant_uscc)
       LEFT JOIN enforcement_cases e ON e.basis_doc_no = l.case_no""",
    "SELECT case_no FROM labour_cases UNION ALL SELECT case_no FROM enforcement_cases",
    "SELECT case_no FROM labour_cases EXCEPT SELECT basis_doc_no FROM enforcement_cases",
    """SELECT case_no FROM labour_cases l
       WHERE EXISTS (SELECT 1 FROM enforcement_cases e WHERE e.basis_doc_no = l.case_no)
         AND l.case_no NOT IN (SELECT case_no FROM enforcement_cases)""",
    "SELECT * FROM (SELECT case_no FROM labour_cases) s",
    "SELECT * FROM labour_cases, LATERAL (SELECT 1 AS one) x",
    "SELECT v.a FROM (VALUES (1), (2)) v(a)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
    # window functions, aggregates with FILTER, QUALIFY
    """SELECT defendant_uscc,
         count(*) OVER (PARTITION BY defendant_uscc ORDER BY filed_on
                        RANGE BETWEEN INTERVAL 60 DAY PRECEDING AND CURRENT ROW) AS n,
         row_number() OVER (PARTITION BY plaintiff_id ORDER BY filed_on DESC) AS rn,
         lag(filed_on) OVER (PARTITION BY defendant_uscc ORDER BY filed_on) AS prev,
         count(*) FILTER (WHERE outcome = '确认') OVER () AS confirmed
       FROM labour_cases QUALIFY rn = 1""",
    # CASE, date arithmetic, casts, string and list functions
    """SELECT CASE WHEN claim_amount < 10000 THEN 'small' WHEN claim_amount IS NULL THEN NULL
                   ELSE 'large' END AS size,
         date_diff('day', filed_on, decided_on) <= $window_days AS quick,
         decided_on - filed_on AS days, filed_on + INTERVAL 30 DAY AS later,
         EXTRACT(year FROM filed_on) AS y, date_trunc('month', filed_on) AS m,
         CAST(claim_amount AS DECIMAL(18, 2)) AS amt, claim_amount::DOUBLE AS d,
         coalesce(outcome, '') || '/' || upper(cause) AS label,
         cause LIKE '%劳动%' OR cause ILIKE '%x%' OR regexp_matches(cause, '确认') AS lab,
         substr(court_region, 1, 4) AS city, left(court_region, 2) AS prov,
         outcome IN ('确认', '调解') AS agreed, claim_amount BETWEEN 1 AND 2 AS tiny,
         greatest(filed_on, decided_on) AS g, abs(round(claim_amount, 0)) AS r,
         list_contains(['确认', '支持'], outcome) AS ok, [1, 2][1] AS first
       FROM labour_cases""",
    "SELECT count(DISTINCT plaintiff_id), sum(claim_amount), avg(claim_amount) FROM labour_cases",
    "SELECT string_agg(cause, ',') FROM labour_cases",
    # the engine's normalising macros, for joins on IDs inside an agency
    """SELECT l.case_no FROM labour_cases l JOIN enforcement_cases e
       ON norm_person(e.respondent_id) = norm_person(l.plaintiff_id)
       AND norm_org(e.respondent_uscc) = norm_org(l.defendant_uscc)
       AND norm_case(e.basis_doc_no) = norm_case(l.case_no)""",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_ordinary_screening_sql_is_accepted(sql: str) -> None:
    check(sql)


def test_a_cte_may_shadow_nothing_but_names_its_own_table() -> None:
    check("WITH secrets AS (SELECT 1 AS x) SELECT x FROM secrets")


def test_table_names_are_case_insensitive_like_duckdb() -> None:
    check("SELECT * FROM Labour_Cases")


def test_every_engine_macro_is_allowed() -> None:
    assert set(tokensql.MACROS.values()) <= sqlcheck.ALLOWED_FUNCTIONS


def test_named_parameters_lists_what_the_query_uses() -> None:
    sql = "SELECT * FROM labour_cases WHERE claim_amount > $min_suits AND $min_suits > 0"
    assert named_parameters(sql) == {"min_suits"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM secrets", "not a dataset"),
        ("SELECT * FROM main.labour_cases", "qualified table name"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv"),
        ("SELECT * FROM 'https://example.org/x.parquet'", "'https://example.org/x.parquet' is"),
        ("SELECT * FROM 's3://bucket/x'", "'s3://bucket/x' is not a dataset"),
        ("SELECT * FROM labour_cases, unnest([1])", "table function unnest"),
        ("SELECT 'x'.getenv()", r"getenv\(\)"),
        ("SELECT $other", r"unknown parameter \$other"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM labour_cases PIVOT (count(*) FOR cause IN ('a'))", "type PIVOT"),
        ("COPY labour_cases TO 'x.csv'", "DuckDB cannot parse"),
    ],
)
def test_duckdb_parser_layer_refuses_on_its_own(sql: str, message: str) -> None:
    # The second layer reads the SQL as DuckDB does; it must hold even if sqlglot were fooled.
    with pytest.raises(ForbiddenSQL, match=message):
        sqlcheck._check_with_duckdb(sql, TABLES, PARAMS)

"""fedscreen.engine: the sealed DuckDB session, output enforcement and tokenisation."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedscreen.engine import Engine, EngineLimits, SourceSpec, type_problem
from fedscreen.errors import ConfigError, OutputRefused, QueryFailed, QueryTimeout, SchemaMismatch
from fedscreen.manifest import Output, Role
from fedscreen.tokens import TokenKeys, reference_token

KEYS = TokenKeys.derive(b"s" * 32, "fake_labour_suits", "2024")
VALID_PERSON = "11010519491231002X"
LEGACY_PERSON = "110105491231002"  # upgrades to VALID_PERSON
BAD_PERSON = "110105194912310021"  # wrong check char
VALID_ORG = "91350100M000100Y43"
MONEY = pa.decimal128(14, 2)


def labour_cases() -> pa.Table:
    return pa.table({
        "case_no": ["（2024）豫0502民初1号", "(2024)豫0502民初2号", "(2024)豫0502民初3号"],
        "court_region": ["410502", "410502", "4105"],
        "cause": ["确认劳动关系纠纷", "确认劳动关系纠纷", "劳动合同纠纷"],
        "filed_on": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 2, 1)],
        "decided_on": [dt.date(2024, 2, 2), dt.date(2024, 2, 3), None],
        "plaintiff_id": [VALID_PERSON, LEGACY_PERSON, BAD_PERSON],
        "defendant_uscc": [VALID_ORG, " 91350100m000100y43 ", None],
        "outcome": ["确认", "调解", "驳回"],
        "claim_amount": pa.array([Decimal("1000.00"), Decimal("2.50"), None], MONEY),
        "judgment_text": ["被告无异议", "", "x"],
    })  # fmt: skip


ENFORCEMENT_CSV = """\
case_no,court_region,basis_type,basis_doc_no,respondent_uscc,respondent_id,amount,\
filed_on,status,closed_on,extra
(2024)豫0502执1号,410502,判决,(2024)豫0502民初1号,91350100M000100Y43,,100.00,2024-03-01,终结本次执行,2024-05-01,x
(2024)豫0502执2号,410502,判决,(2024)豫0502民初2号,,011010519491231003,5.00,2024-03-02,执行中,,y
"""


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, SourceSpec]:
    pq.write_table(labour_cases(), tmp_path / "labour_cases.parquet")
    (tmp_path / "enforcement.csv").write_text(ENFORCEMENT_CSV, encoding="utf-8")
    with duckdb.connect(str(tmp_path / "court.duckdb")) as con:
        con.execute(
            "CREATE TABLE judgments AS SELECT '(2023)民初9号' AS case_no, "
            f"'{VALID_PERSON}' AS plaintiff_id, NULL::VARCHAR AS defendant_id, '赔偿' AS cause, "
            "10.00::DECIMAL(14,2) AS award_amount, 0.00::DECIMAL(14,2) AS paid_amount, "
            "DATE '2023-05-05' AS decided_on"
        )
    (tmp_path / "secret.csv").write_text("a\nsecret\n", encoding="utf-8")
    return {
        "labour_cases": SourceSpec("labour_cases", "parquet", str(tmp_path / "labour_*.parquet")),
        "enforcement_cases": SourceSpec("enforcement_cases", "csv", str(tmp_path / "enf*.csv")),
        "civil_judgments": SourceSpec(
            "civil_judgments", "duckdb", str(tmp_path / "court.duckdb"), table="judgments"
        ),
    }


@pytest.fixture
def engine(sources: dict[str, SourceSpec]) -> Iterator[Engine]:
    with Engine("court", sources, EngineLimits(memory_limit="256MB", threads=1)) as eng:
        yield eng


def role(*outputs: Output, reads: tuple[str, ...] = ("labour_cases",)) -> Role:
    return Role("court", "court.sql", reads, outputs)


PERSON = Output("plaintiff", "person")
ORG = Output("defendant", "org")


# --- the session's own hardening (no sqlcheck involved) ---------------------------------------
def raw(engine: Engine) -> duckdb.DuckDBPyConnection:
    return engine._con  # the connection itself: bypasses check_sql on purpose


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT 1) TO '/tmp/fedscreen_leak.csv'",
        "ATTACH '/tmp/fedscreen_other.duckdb' AS other",
        "INSTALL httpfs",
    ],
)
def test_session_cannot_touch_other_files_even_without_sqlcheck(engine: Engine, sql: str) -> None:
    with pytest.raises(duckdb.Error, match="disabled|does not exist"):
        raw(engine).execute(sql).fetchall()


@pytest.mark.parametrize("template", ["SELECT * FROM read_csv('{}')", "SELECT * FROM '{}'"])
def test_session_cannot_read_a_file_next_to_its_sources(
    engine: Engine, tmp_path: Path, template: str
) -> None:
    with pytest.raises(duckdb.PermissionException):
        raw(engine).execute(template.format(tmp_path / "secret.csv")).fetchall()


@pytest.mark.parametrize(
    "setting",
    [
        "SET enable_external_access = true",
        "SET allowed_paths = ['/etc/passwd']",
        "SET lock_configuration = false",
        "SET autoload_known_extensions = true",
        "SET threads = 8",
    ],
)
def test_session_configuration_is_locked(engine: Engine, setting: str) -> None:
    with pytest.raises(duckdb.Error, match="locked"):
        raw(engine).execute(setting)


def test_session_does_not_scan_python_variables(engine: Engine) -> None:
    secret_frame = pa.table({"x": ["secret"]})  # noqa: F841 - what a replacement scan would find
    with pytest.raises(duckdb.CatalogException):
        raw(engine).execute("SELECT * FROM secret_frame").fetchall()


# --- setup and schema ----------------------------------------------------------------------------
def test_unknown_dataset_for_the_role_is_a_config_error(sources: dict[str, SourceSpec]) -> None:
    bad = {**sources, "arrears_orders": SourceSpec("arrears_orders", "csv", "x.csv")}
    with pytest.raises(ConfigError, match="no dataset 'arrears_orders'"):
        Engine("court", bad)


def test_missing_source_file_names_dataset_and_path(tmp_path: Path) -> None:
    spec = SourceSpec("labour_cases", "parquet", str(tmp_path / "nope*.parquet"))
    with pytest.raises(ConfigError, match=r"labour_cases: no source file at .*nope\*\.parquet"):
        Engine("court", {"labour_cases": spec})


def test_describe_gives_columns_and_exact_counts(engine: Engine) -> None:
    desc = engine.describe()
    cols, count = desc["labour_cases"]
    assert count == 3 and ("claim_amount", "DECIMAL(14,2)") in cols
    assert desc["enforcement_cases"][1] == 2 and desc["civil_judgments"][1] == 1
    # CSV columns take the dictionary's types: IDs keep their leading zero as VARCHAR
    assert ("respondent_id", "VARCHAR") in desc["enforcement_cases"][0]
    assert ("extra", "VARCHAR") in desc["enforcement_cases"][0]  # extra columns are allowed


def test_validate_accepts_matching_sources(engine: Engine) -> None:
    assert engine.validate() == []
    engine.check()


def test_validate_reports_missing_column_and_wrong_type(tmp_path: Path) -> None:
    table = labour_cases().drop_columns(["outcome"])
    idx = table.schema.get_field_index("claim_amount")
    table = table.set_column(idx, "claim_amount", table["claim_amount"].cast(pa.float64()))
    pq.write_table(table, tmp_path / "lc.parquet")
    spec = SourceSpec("labour_cases", "parquet", str(tmp_path / "lc.parquet"))
    with Engine("court", {"labour_cases": spec}) as eng:
        assert eng.validate() == [
            "court.labour_cases: column outcome is missing (expected VARCHAR)",
            "court.labour_cases: column claim_amount has type DOUBLE, expected DECIMAL(14,2)",
        ]
        with pytest.raises(SchemaMismatch, match="outcome is missing"):
            eng.check()


def test_type_widening_rules() -> None:
    assert type_problem("INTEGER", "BIGINT") is None
    assert type_problem("DECIMAL(14,2)", "DECIMAL(18,2)") is None
    assert type_problem("DECIMAL(14,2)", "DECIMAL(18,3)") is not None
    assert type_problem("DECIMAL(14,2)", "DOUBLE") is not None
    assert type_problem("DATE", "TIMESTAMP") is not None
    assert type_problem("VARCHAR", "BIGINT") is not None


# --- run: refusal, timeout, errors --------------------------------------------------------------
def test_run_refuses_a_role_reading_an_unmapped_dataset(tmp_path: Path) -> None:
    pq.write_table(labour_cases(), tmp_path / "lc.parquet")
    spec = SourceSpec("labour_cases", "parquet", str(tmp_path / "lc.parquet"))
    with Engine("court", {"labour_cases": spec}) as eng, pytest.raises(SchemaMismatch):
        eng.run(role(PERSON, reads=("enforcement_cases",)), "SELECT 1", {}, KEYS)


def test_timeout_interrupts_a_long_query(sources: dict[str, SourceSpec]) -> None:
    limits = EngineLimits(memory_limit="256MB", threads=1, timeout_seconds=0.5)
    with Engine("court", sources, limits) as eng, pytest.raises(QueryTimeout, match="0.5 s"):
        eng.run(role(Output("flag", "bool")), SLOW, {}, KEYS)


SLOW = """WITH a AS (SELECT l.case_no FROM labour_cases l, labour_cases m, labour_cases n),
               b AS (SELECT x.case_no FROM a x, a y, a z, a w, a v)
          SELECT count(*) > 0 AS flag FROM b, b c, b d"""


def test_a_cancel_before_the_query_starts_still_stops_it(sources: dict[str, SourceSpec]) -> None:
    # DuckDB drops an interrupt that arrives before a statement begins: the stop must stick.
    limits = EngineLimits(memory_limit="256MB", threads=1, timeout_seconds=60)
    with Engine("court", sources, limits) as eng:
        eng.cancel()
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            eng.run(role(Output("flag", "bool")), SLOW, {}, KEYS)
    assert time.monotonic() - started < 5


def test_a_cancel_from_another_thread_mid_run_stops_it(sources: dict[str, SourceSpec]) -> None:
    limits = EngineLimits(memory_limit="256MB", threads=1, timeout_seconds=60)
    with Engine("court", sources, limits) as eng:
        timer = threading.Timer(0.3, eng.cancel)
        started = time.monotonic()
        timer.start()
        with pytest.raises(QueryTimeout):
            eng.run(role(Output("flag", "bool")), SLOW, {}, KEYS)
        timer.join()
    assert 0.25 < time.monotonic() - started < 5


def test_data_errors_do_not_quote_values(engine: Engine) -> None:
    sql = "SELECT CAST(cause AS INTEGER) > 0 AS flag FROM labour_cases"
    with pytest.raises(QueryFailed) as err:
        engine.run(role(Output("flag", "bool")), sql, {}, KEYS)
    assert "劳动" not in err.value.message and "Conversion" in err.value.message


def test_forbidden_sql_never_reaches_duckdb(engine: Engine) -> None:
    from fedscreen.errors import ForbiddenSQL

    with pytest.raises(ForbiddenSQL):
        engine.run(role(PERSON), "SELECT * FROM read_csv('/etc/passwd')", {}, KEYS)


# --- run: output enforcement ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outputs", "sql", "message"),
    [
        ((PERSON,), "SELECT plaintiff_id AS plaintiff, cause FROM labour_cases",
         "'cause' is not a declared output"),
        ((PERSON, ORG), "SELECT plaintiff_id AS plaintiff FROM labour_cases",
         "'defendant' is missing"),
        ((PERSON,), "SELECT plaintiff_id AS Plaintiff FROM labour_cases",
         "'Plaintiff' is not a declared output"),
        ((Output("flag", "bool"),), "SELECT claim_amount AS flag FROM labour_cases",
         "'flag' .bool. must be BOOLEAN, not DECIMAL"),
        ((PERSON,), "SELECT length(plaintiff_id) AS plaintiff FROM labour_cases",
         "must be VARCHAR, not BIGINT"),
        ((Output("region", "region"),), "SELECT court_region AS region FROM labour_cases",
         "1 row.s. hold a value that is not a 6-digit region code"),
        ((Output("outcome", "enum", ("确认", "调解")),),
         "SELECT outcome FROM labour_cases", "not one of its 2 declared values"),
    ],
)  # fmt: skip
def test_undeclared_or_mistyped_outputs_are_refused_without_values(
    engine: Engine, outputs: tuple[Output, ...], sql: str, message: str
) -> None:
    with pytest.raises(OutputRefused, match=message) as err:
        engine.run(role(*outputs), sql, {}, KEYS)
    for value in ("驳回", "4105", VALID_PERSON, "确认劳动关系纠纷"):
        assert value not in err.value.message


def test_a_result_column_named_like_a_value_is_refused_without_its_name(engine: Engine) -> None:
    sql = f'SELECT plaintiff_id AS plaintiff, 1 AS "{VALID_PERSON}" FROM labour_cases'
    with pytest.raises(OutputRefused, match="name withheld") as err:
        engine.run(role(PERSON), sql, {}, KEYS)
    assert VALID_PERSON not in err.value.message


def test_declared_outputs_pass_and_nulls_are_allowed(engine: Engine) -> None:
    outputs = (Output("outcome", "enum", ("确认", "调解", "驳回")), Output("region", "region"))
    sql = "SELECT outcome, CASE WHEN length(court_region) = 6 THEN court_region END AS region "
    result = engine.run(role(*outputs), sql + "FROM labour_cases", {}, KEYS)
    assert result.table.column("region").to_pylist() == ["410502", "410502", None]


# --- run: tokenisation ----------------------------------------------------------------------------
def test_tokens_match_reference_and_invalid_ids_are_dropped_and_counted(engine: Engine) -> None:
    outputs = (Output("flag", "bool"), PERSON, ORG, Output("case_no", "case"))
    sql = """SELECT case_no, plaintiff_id AS plaintiff, defendant_uscc AS defendant,
                    claim_amount > $min_amount AS flag
             FROM labour_cases ORDER BY filed_on"""
    result = engine.run(role(*outputs), sql, {"min_amount": 100, "unused": 1}, KEYS)
    assert result.table.column_names == ["flag", "plaintiff", "defendant", "case_no"]
    assert result.invalid_ids == {"case": 0, "org": 0, "person": 1}
    assert result.rows_in == 3 and result.seconds >= 0
    person = reference_token(KEYS, "person", VALID_PERSON)
    org = reference_token(KEYS, "org", VALID_ORG)
    assert result.table.to_pylist() == [
        {"flag": True, "plaintiff": person, "defendant": org,
         "case_no": reference_token(KEYS, "case", "（2024）豫0502民初1号")},
        {"flag": False, "plaintiff": person, "defendant": org,
         "case_no": reference_token(KEYS, "case", "(2024)豫0502民初2号")},
    ]  # fmt: skip
    assert result.table.schema.field("plaintiff").type == pa.string()


def test_rows_in_counts_only_the_datasets_the_query_reads(engine: Engine) -> None:
    # labour_cases (3 rows) is declared but not queried: it must not loosen the flag cap.
    reads = ("labour_cases", "enforcement_cases", "civil_judgments")
    sql = "SELECT plaintiff_id AS plaintiff FROM civil_judgments"
    result = engine.run(role(PERSON, reads=reads), sql, {}, KEYS)
    assert result.rows_in == 1
    assert result.table.column("plaintiff").to_pylist() == [
        reference_token(KEYS, "person", VALID_PERSON)
    ]


def test_csv_sources_keep_identifier_text(engine: Engine) -> None:
    outputs = (PERSON, Output("flag", "bool"))
    sql = """SELECT respondent_id AS plaintiff, status = '执行中' AS flag
             FROM enforcement_cases WHERE respondent_id IS NOT NULL"""
    result = engine.run(role(*outputs, reads=("enforcement_cases",)), sql, {}, KEYS)
    # "011010519491231003" (leading zero kept as text) has a wrong check char: dropped
    assert result.invalid_ids == {"person": 1} and result.table.num_rows == 0


def test_engine_is_reusable_after_a_refusal(engine: Engine) -> None:
    with pytest.raises(OutputRefused):
        engine.run(role(PERSON), "SELECT cause FROM labour_cases", {}, KEYS)
    sql = "SELECT plaintiff_id AS plaintiff FROM labour_cases"
    assert engine.run(role(PERSON), sql, {}, KEYS).table.num_rows == 2


def test_one_duckdb_file_can_hold_several_datasets(tmp_path: Path) -> None:
    path = tmp_path / "court.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE a AS SELECT 1 AS case_no")
        con.execute("CREATE SCHEMA s; CREATE TABLE s.b AS SELECT 2 AS case_no")
    sources = {
        "labour_cases": SourceSpec("labour_cases", "duckdb", str(path), table="a"),
        "civil_judgments": SourceSpec("civil_judgments", "duckdb", str(path), table="s.b"),
    }
    with Engine("court", sources) as eng:
        assert {k: v[1] for k, v in eng.describe().items()} == {
            "civil_judgments": 1,
            "labour_cases": 1,
        }


def test_unreadable_source_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "lc.parquet").write_text("not parquet")
    spec = SourceSpec("labour_cases", "parquet", str(tmp_path / "lc.parquet"))
    with pytest.raises(ConfigError, match="dataset labour_cases: cannot open parquet"):
        Engine("court", {"labour_cases": spec})


def test_screening_sql_can_join_on_normalised_ids(engine: Engine) -> None:
    # civil_judgments holds VALID_PERSON; labour_cases holds it once as is, once as legacy 15.
    sql = """SELECT l.plaintiff_id AS plaintiff FROM labour_cases l
             JOIN civil_judgments j ON norm_person(j.plaintiff_id) = norm_person(l.plaintiff_id)"""
    reads = ("labour_cases", "civil_judgments")
    result = engine.run(role(PERSON, reads=reads), sql, {}, KEYS)
    assert (
        result.table.column("plaintiff").to_pylist()
        == [reference_token(KEYS, "person", VALID_PERSON)] * 2
    )


def test_malformed_csv_values_read_as_null_and_validate_counts_them(tmp_path: Path) -> None:
    bad = ENFORCEMENT_CSV.replace("2024-03-02", "2024-02-30").replace("5.00", "five")
    (tmp_path / "enf.csv").write_text(bad, encoding="utf-8")
    spec = SourceSpec("enforcement_cases", "csv", str(tmp_path / "enf.csv"))
    with Engine("court", {"enforcement_cases": spec}) as eng:
        assert eng.validate() == [
            "court.enforcement_cases: column amount has 1 value(s) that are not DECIMAL(14,2) "
            "(read as NULL)",
            "court.enforcement_cases: column filed_on has 1 value(s) that are not DATE "
            "(read as NULL)",
        ]
        eng.check()  # not a schema problem: a model can still run
        sql = "SELECT filed_on IS NULL AND amount IS NULL AS flag FROM enforcement_cases"
        result = eng.run(role(Output("flag", "bool"), reads=("enforcement_cases",)), sql, {}, KEYS)
        assert result.table.column("flag").to_pylist() == [False, True]


def test_an_error_while_reading_data_never_quotes_the_value(engine: Engine) -> None:
    sql = "SELECT CAST(plaintiff_id AS INTEGER) > 0 AS flag FROM labour_cases"
    with pytest.raises(QueryFailed, match=r"while reading data \(\w+\); details withheld") as err:
        engine.run(role(Output("flag", "bool")), sql, {}, KEYS)
    assert VALID_PERSON not in err.value.message and VALID_PERSON[:10] not in err.value.message

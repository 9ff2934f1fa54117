"""fedscreen.engine: what a run checks first (sources against the dictionary, which datasets the
query reads for the flag cap) and the row counts a refusal carries for the audit log."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fedscreen.engine import Engine, SourceSpec
from fedscreen.errors import ForbiddenSQL, OutputRefused, QueryFailed, SchemaMismatch
from fedscreen.manifest import Output
from fedscreen.sqlcheck import datasets_read
from tests.fedscreen.test_engine import KEYS, PERSON, labour_cases, role
from tests.fedscreen.test_engine import engine as engine  # noqa: F401 - fixtures
from tests.fedscreen.test_engine import sources as sources  # noqa: F401

READS = ("labour_cases", "enforcement_cases", "civil_judgments")


# --- the datasets the query reads --------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT 1 FROM civil_judgments", ["civil_judgments"]),
        ("SELECT 1 FROM civil_judgments WHERE case_no IN (SELECT case_no FROM labour_cases)",
         ["civil_judgments", "labour_cases"]),
        ("SELECT 1 FROM civil_judgments c JOIN (SELECT * FROM ENFORCEMENT_CASES) e USING (case_no)",
         ["civil_judgments", "enforcement_cases"]),
        ("SELECT (SELECT count(*) FROM labour_cases) AS n", ["labour_cases"]),
        # A CTE named like a dataset is not that dataset: it cannot inflate the cap's base.
        ("WITH labour_cases AS (SELECT * FROM civil_judgments) SELECT 1 FROM labour_cases",
         ["civil_judgments"]),
        ("SELECT 1 AS x", []),
    ],
)  # fmt: skip
def test_datasets_read_are_the_ones_the_query_references(sql: str, read: list[str]) -> None:
    assert datasets_read(sql, READS) == read


def test_rows_in_is_the_largest_dataset_the_query_joins(engine: Engine) -> None:
    sql = """SELECT c.plaintiff_id AS plaintiff FROM civil_judgments c
             WHERE c.case_no NOT IN (SELECT case_no FROM enforcement_cases)"""
    result = engine.run(role(PERSON, reads=READS), sql, {}, KEYS)
    assert result.rows_in == 2  # enforcement_cases; labour_cases (3) is declared, never read


def test_a_cte_named_after_a_bigger_dataset_does_not_raise_rows_in(engine: Engine) -> None:
    sql = """WITH labour_cases AS (SELECT plaintiff_id FROM civil_judgments)
             SELECT plaintiff_id AS plaintiff FROM labour_cases"""
    result = engine.run(role(PERSON, reads=READS), sql, {}, KEYS)
    assert result.rows_in == 1 and result.table.num_rows == 1


# --- sources checked before every run -----------------------------------------------------------
def test_a_source_replaced_under_the_engine_is_a_schema_mismatch_not_a_binder_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lc.parquet"
    pq.write_table(labour_cases(), path)
    spec = SourceSpec("labour_cases", "parquet", str(path))
    sql = "SELECT plaintiff_id AS plaintiff FROM labour_cases WHERE cause <> ''"
    with Engine("court", {"labour_cases": spec}) as eng:
        assert eng.run(role(PERSON), sql, {}, KEYS).rows_in == 3
        pq.write_table(labour_cases().drop_columns(["cause"]), path)  # replaced while open
        with pytest.raises(SchemaMismatch) as err:
            eng.run(role(PERSON), sql, {}, KEYS)
    assert err.value.message == "court.labour_cases: column cause is missing (expected VARCHAR)"
    assert err.value.grpc_status == "FAILED_PRECONDITION"
    assert not isinstance(err.value, QueryFailed)


def test_a_dataset_mapped_to_the_wrong_file_names_dataset_and_column(tmp_path: Path) -> None:
    wrong = tmp_path / "enforcement.parquet"  # the wrong export behind labour_cases
    pq.write_table(labour_cases().select(["case_no", "court_region", "filed_on"]), wrong)
    spec = SourceSpec("labour_cases", "parquet", str(wrong))
    with Engine("court", {"labour_cases": spec}) as eng, pytest.raises(SchemaMismatch) as err:
        eng.run(role(PERSON), "SELECT plaintiff_id AS plaintiff FROM labour_cases", {}, KEYS)
    assert err.value.message == (
        "court.labour_cases: column cause is missing (expected VARCHAR); "
        "court.labour_cases: column decided_on is missing (expected DATE); "
        "court.labour_cases: column plaintiff_id is missing (expected VARCHAR) (and 4 more)"
    )


def test_check_of_some_datasets_ignores_the_others(tmp_path: Path) -> None:
    pq.write_table(labour_cases().drop_columns(["outcome"]), tmp_path / "lc.parquet")
    pq.write_table(labour_cases(), tmp_path / "ok.parquet")
    specs = {
        "labour_cases": SourceSpec("labour_cases", "parquet", str(tmp_path / "lc.parquet")),
        "civil_judgments": SourceSpec("civil_judgments", "parquet", str(tmp_path / "ok.parquet")),
    }
    with Engine("court", specs) as eng:
        with pytest.raises(SchemaMismatch, match="^court.civil_judgments: column defendant_id"):
            eng.check(["civil_judgments"])
        with pytest.raises(SchemaMismatch, match="^court.labour_cases: column outcome is missing"):
            eng.check(["labour_cases"])


# --- row counts on refusals ---------------------------------------------------------------------
def test_a_refused_output_carries_the_rows_read_and_produced(engine: Engine) -> None:
    sql = "SELECT plaintiff_id AS plaintiff, 1 AS extra FROM labour_cases WHERE filed_on < $d"
    with pytest.raises(OutputRefused) as err:
        engine.run(role(PERSON), sql.replace("$d", "DATE '2024-01-10'"), {}, KEYS)
    assert (err.value.rows_in, err.value.rows_out) == (3, 2)
    assert err.value.counts() == {"rows_in": 3, "rows_out": 2}


def test_a_failed_query_carries_rows_in_only(engine: Engine) -> None:
    sql = "SELECT CAST(cause AS INTEGER) > 0 AS flag FROM labour_cases"
    with pytest.raises(QueryFailed) as err:
        engine.run(role(Output("flag", "bool")), sql, {}, KEYS)
    assert err.value.counts() == {"rows_in": 3}


def test_a_refusal_before_the_count_carries_no_counts(engine: Engine) -> None:
    with pytest.raises(ForbiddenSQL) as err:
        engine.run(role(PERSON), "SELECT * FROM read_csv('/etc/passwd')", {}, KEYS)
    assert err.value.counts() == {}

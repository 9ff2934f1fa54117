"""The wages contributor (seeds 002 and 003): schema, identifiers, planted cases, look-alikes,
determinism, and both models' shipped SQL run over the generated data (100,000 people, seed 7)
as agents would: stage by stage, disclosure shares measured, leads scored against the truth.

The population is built exactly as `generate` builds it (seed-001 world, then render), but
only this contributor runs, so these tests do not depend on the other contributors.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import duckdb
import polars as pl
import pytest

from coordinator.synth import AS_OF, Frames, merged, seed_world, wages
from coordinator.synth.extend import Contribution, Population, planted_count
from coordinator.synth.render import conform
from fedscreen.dictionary import datasets
from fedscreen.identifiers import normalise
from fedscreen.tokensql import macro_statements
from tests.coordinator.synth_replay import quality, replay, write

PEOPLE = 100_000
SEED = 7
CAP = 0.2  # the demo agents' disclosure cap: share of a role's largest input dataset
LABOUR_CASES = ("court", "labour_cases")


def _population(people: int, seed: int) -> tuple[Population, Frames]:
    """The canonical population and the seed-001 agencies' frames."""
    rendered, pop = seed_world(people, seed)
    return pop, rendered.frames


@pytest.fixture(scope="module")
def world() -> tuple[Population, Frames]:
    return _population(PEOPLE, SEED)


@pytest.fixture(scope="module")
def part(world: tuple[Population, Frames]) -> Contribution:
    return wages.contribute(world[0])


@pytest.fixture(scope="module")
def con(
    world: tuple[Population, Frames], part: Contribution
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Every dataset conformed as generate() writes it, with the agents' normalising macros;
    the court's labour cases include the seed-001 world's."""
    db = duckdb.connect(":memory:")
    for statement in macro_statements():
        db.execute(statement)
    frames = merged({LABOUR_CASES: world[1][LABOUR_CASES]}, part.frames)
    for (_role, name), frame in frames.items():
        db.register(name, frame.to_arrow())
    yield db
    db.close()


# --- schema, identifiers, truth ---------------------------------------------------------------
def test_frames_have_the_dictionary_columns_and_conform(part: Contribution) -> None:
    assert set(part.frames) == set(wages.IDS)
    for (role, name), frame in part.frames.items():
        columns = [c.name for c in datasets(role)[name].columns]
        assert sorted(frame.columns) == sorted(columns), (role, name)
        assert conform(frame, role, name).columns == columns
        assert frame.height > 0


def test_identifiers_are_valid_and_a_few_are_spelled_dirty(part: Contribution) -> None:
    # Clean case numbers keep their full-width brackets, which normalising turns half-width;
    # their dirty spellings are ASCII brackets, spaces or full-width digits.
    case_dirt = re.compile(r"[ (０-９]")
    for key, columns in wages.IDS.items():
        frame = part.frames[key]
        for column, kind in columns.items():
            values = frame[column].drop_nulls().to_list()
            canonical = [normalise(kind, v) for v in values]
            assert None not in canonical, (key, column)
            if kind == "case":
                dirty = sum(bool(case_dirt.search(v)) for v in values) / len(values)
            else:
                dirty = sum(c != v for c, v in zip(canonical, values, strict=True)) / len(values)
            assert 0.005 < dirty < 0.08, (key, column, dirty)


def test_document_numbers_and_projects_are_unique(
    part: Contribution, world: tuple[Population, Frames]
) -> None:
    def canonical(key: tuple[str, str], column: str, kind: str) -> pl.Series:
        return part.frames[key][column].map_elements(lambda v: normalise(kind, v), pl.Utf8)

    for key, column, kind in (
        (("hrss", "inspection_decisions"), "decision_no", "case"),
        (("hrss", "wage_complaints"), "complaint_id", "case"),
        (("housing_construction", "projects"), "project_code", "project"),
        (("court", "enforcement_cases"), "case_no", "case"),
    ):
        assert canonical(key, column, kind).is_unique().all(), (key, column)
    suits = canonical(LABOUR_CASES, "case_no", "case")
    seed001 = world[1][LABOUR_CASES]["case_no"].map_elements(partial(normalise, "case"), pl.Utf8)
    assert suits.is_unique().all() and not suits.is_in(seed001.implode()).any()


def test_every_date_is_before_the_reference_date(part: Contribution) -> None:
    for key, frame in part.frames.items():
        for column in frame.select(pl.selectors.date()).columns:
            assert frame.filter(pl.col(column) >= AS_OF).is_empty(), (key, column)


def test_court_additions_are_modest_wage_suits(
    part: Contribution, world: tuple[Population, Frames]
) -> None:
    suits = part.frames[LABOUR_CASES]
    assert set(suits["cause"]) == {"追索劳动报酬纠纷"}  # never 确认劳动关系纠纷 (seed 001's model)
    assert suits.height < 0.1 * world[1][LABOUR_CASES].height
    enforced = part.frames[("court", "enforcement_cases")]
    assert set(enforced["basis_type"]) == {"行政处理决定"}


def test_truth_holds_canonical_planted_pairs(part: Contribution) -> None:
    n = planted_count(PEOPLE)
    for model in (wages.ESCROW_MODEL, wages.SUPPORT_MODEL):
        truth = part.truth[model]
        assert truth.columns == ["kind", "project:project", "employer:org"]
        assert truth.height == n == truth.select("project:project", "employer:org").n_unique()
        assert set(truth["kind"]) == {model}
        assert all(normalise("project", p) == p for p in truth["project:project"])
        assert all(normalise("org", o) == o for o in truth["employer:org"])


def test_deterministic_and_seeded() -> None:
    small, _cases = _population(5_000, 3)
    first, again = wages.contribute(small), wages.contribute(small)
    assert all(first.frames[k].equals(again.frames[k]) for k in first.frames)
    other = wages.contribute(_population(5_000, 4)[0])
    assert not first.truth[wages.ESCROW_MODEL].equals(other.truth[wages.ESCROW_MODEL])


def test_fast(world: tuple[Population, Frames]) -> None:
    began = time.perf_counter()
    wages.contribute(world[0])
    assert time.perf_counter() - began < 3.0


# --- both models' shipped SQL over the generated world ---------------------------------------
@pytest.fixture(scope="module")
def out(
    tmp_path_factory: pytest.TempPathFactory,
    world: tuple[Population, Frames],
    part: Contribution,
) -> Path:
    """The agencies' files as generate() writes them, with only this contributor's rows added
    to the seed-001 world's (the court's labour cases hold both)."""
    return write(tmp_path_factory.mktemp("wages_synth"), world[1], part.frames)


@pytest.mark.parametrize("model", [wages.ESCROW_MODEL, wages.SUPPORT_MODEL])
def test_model_on_synthetic_world(out: Path, part: Contribution, model: str) -> None:
    result = replay(model, out)
    shares = result.shares
    assert set(shares) == {"hrss", "court", "housing_construction"}
    # Labour inspection runs first with no candidates: its share must stay under the cap.
    assert 0 < shares["hrss"] < CAP, shares
    scored = quality(model, result, part.truth[model])
    assert list(scored) == [model]
    for q in scored.values():
        assert q.precision >= 0.9 and q.recall >= 0.9, q
    for lead in result.leads:
        assert "{" not in lead.explanation_zh + lead.explanation_en
        assert lead.region and len(lead.region) == 6


# --- the look-alikes the models must pass over ---------------------------------------------
# Each model's rule restated over the data, to find the look-alike groups: these queries
# describe what the generator wrote; the models themselves are measured above.
DECISIONS = """
WITH decision AS (
    SELECT norm_case(decision_no) AS doc, norm_org(employer_uscc) AS employer,
        norm_project(project_code) AS project, status,
        amount - coalesce(paid_amount, 0) AS unpaid
    FROM inspection_decisions
),
enforced AS (
    SELECT norm_case(basis_doc_no) AS doc, norm_org(respondent_uscc) AS employer,
        list(DISTINCT status) AS states
    FROM enforcement_cases WHERE basis_type = '行政处理决定' GROUP BY ALL
),
snapshot AS (
    SELECT norm_project(project_code) AS project, norm_org(developer_uscc) AS developer, balance,
        as_of = max(as_of) OVER (PARTITION BY norm_project(project_code)) AS latest
    FROM presale_escrow
),
escrow AS (
    SELECT project, developer, sum(balance) AS balance FROM snapshot WHERE latest GROUP BY ALL
),
project AS (
    SELECT norm_project(project_code) AS project, norm_org(developer_uscc) AS developer,
        norm_org(contractor_uscc) AS contractor
    FROM projects
),
elsewhere AS (  -- contractors with escrow money on some project
    SELECT DISTINCT p.contractor FROM project AS p JOIN escrow AS e USING (project, developer)
    WHERE e.balance > 0
)
SELECT d.*, e.states, s.balance, d.employer IN (SELECT contractor FROM elsewhere) AS elsewhere
FROM decision AS d
LEFT JOIN enforced AS e USING (doc, employer)
LEFT JOIN project AS p USING (project)
LEFT JOIN escrow AS s ON s.project = d.project AND s.developer = p.developer
"""


@pytest.fixture(scope="module")
def decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return con.sql(DECISIONS).pl()


def test_escrow_lookalikes_of_every_kind_exist(decisions: pl.DataFrame) -> None:
    n = planted_count(PEOPLE)
    states = pl.col("states").fill_null([])
    stuck = states.list.contains("终结本次执行")
    unpaid = pl.col("status") != "已履行"
    no_escrow = pl.col("balance").is_null()
    kinds = {
        "escrow emptied": unpaid & stuck & (pl.col("balance") == 0),
        "decision paid": ~unpaid & stuck & (pl.col("balance") > 0),
        "enforcement running or done": unpaid
        & (states.list.contains("执行中") | states.list.contains("执行完毕"))
        & (pl.col("balance") > 0),
        "no project": unpaid & stuck & pl.col("project").is_null(),
        "escrow of an unrelated project": unpaid
        & stuck
        & pl.col("project").is_not_null()
        & no_escrow
        & pl.col("elsewhere"),
    }
    for kind, rule in kinds.items():
        assert decisions.filter(rule).height >= n, kind


GROUPS = """
WITH latest AS (SELECT max(filed_on) AS day FROM wage_complaints),
complaint AS (
    SELECT norm_person(worker_id) AS worker, norm_org(employer_uscc) AS employer,
        norm_project(project_code) AS project, status,
        date_diff('day', filed_on, latest.day) AS age,
        date_diff('day', filed_on, closed_on) AS took
    FROM wage_complaints, latest
    WHERE project_code IS NOT NULL
),
sued AS (
    SELECT DISTINCT norm_person(plaintiff_id) AS worker FROM labour_cases
    WHERE cause = '追索劳动报酬纠纷'
),
deposit AS (
    SELECT norm_project(project_code) AS project,
        sum(coalesce(paid_amount, 0)) < sum(required_amount) AS short
    FROM wage_deposits GROUP BY ALL
)
SELECT c.project, c.employer,
    count(DISTINCT c.worker) FILTER (c.status = '处理中' AND c.age > 90) AS overdue,
    count(DISTINCT c.worker) FILTER (c.status = '处理中' AND c.age > 90 AND s.worker IS NOT NULL)
        AS overdue_sued,
    count(DISTINCT c.worker) FILTER (c.status = '处理中' AND c.age <= 90) AS recent,
    count(DISTINCT c.worker) FILTER (c.status IN ('已解决', '已撤回') AND c.took <= 90) AS settled,
    any_value(d.short) AS short,
    count(*) AS complaints
FROM complaint AS c
LEFT JOIN sued AS s USING (worker)
LEFT JOIN deposit AS d USING (project)
WHERE c.project IN (SELECT norm_project(project_code) FROM projects)
GROUP BY c.project, c.employer
"""


@pytest.fixture(scope="module")
def groups(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return con.sql(GROUPS).pl()


def test_support_lookalikes_of_every_kind_exist(groups: pl.DataFrame) -> None:
    n = planted_count(PEOPLE)
    short = pl.col("short").fill_null(False)
    kinds = {
        "resolved before the deadline": short & (pl.col("settled") >= 3) & (pl.col("overdue") == 0),
        "most workers sued": short
        & (pl.col("overdue_sued") * 2 >= pl.col("overdue"))
        & (pl.col("overdue") >= 3),
        "deposit paid in full": ~short & (pl.col("overdue") >= 3),
        "within the deadline": short & (pl.col("recent") >= 3) & (pl.col("overdue") == 0),
    }
    for kind, rule in kinds.items():
        assert groups.filter(rule).height >= n, kind

"""The wages contributor (seeds 002 and 003): schema, identifiers, planted cases, look-alikes,
determinism, and — replaying both models' rules in DuckDB on 100,000 people — precision and
recall against the ground truth it returns.

The population is built exactly as `generate` builds it (seed-001 world, then render), but
only this contributor runs, so these tests do not depend on the other contributors.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import duckdb
import numpy as np
import polars as pl
import pytest

from coordinator.synth import AS_OF, lookalikes, population, ring_count, rings, wages
from coordinator.synth.extend import Contribution, Population
from coordinator.synth.render import conform, render
from coordinator.synth.world import World
from fedscreen.dictionary import datasets
from fedscreen.identifiers import normalise
from fedscreen.tokensql import macro_statements

PEOPLE = 100_000
SEED = 7
Key = tuple[str, str]


def _population(people: int, seed: int) -> tuple[Population, pl.DataFrame]:
    """The canonical population and the seed-001 court's labour cases."""
    world = World(np.random.default_rng(seed))
    rings.plant(world, ring_count(people))
    lookalikes.plant(world, ring_count(people))
    population.populate(world, people)
    rendered = render(world)
    pop = Population(rendered.people, rendered.firms, people, AS_OF, seed)
    return pop, rendered.frames[("court", "labour_cases")]


@pytest.fixture(scope="module")
def world() -> tuple[Population, pl.DataFrame]:
    return _population(PEOPLE, SEED)


@pytest.fixture(scope="module")
def part(world: tuple[Population, pl.DataFrame]) -> Contribution:
    return wages.contribute(world[0])


@pytest.fixture(scope="module")
def con(
    world: tuple[Population, pl.DataFrame], part: Contribution
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Every dataset conformed as generate() writes it, with the agents' normalising macros;
    the court's labour cases include the seed-001 world's."""
    db = duckdb.connect(":memory:")
    for statement in macro_statements():
        db.execute(statement)
    frames = {key: conform(frame, *key) for key, frame in part.frames.items()}
    key = ("court", "labour_cases")
    frames[key] = pl.concat([world[1], frames[key]])
    for (_role, name), frame in frames.items():
        db.register(name, frame.to_arrow())
    yield db
    db.close()


def _pairs(frame: pl.DataFrame) -> set[Key]:
    return set(zip(frame["project:project"], frame["employer:org"], strict=True))


def _scores(found: set[Key], truth: set[Key]) -> tuple[float, float]:
    hits = len(found & truth)
    return hits / max(len(found), 1), hits / max(len(truth), 1)


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
    part: Contribution, world: tuple[Population, pl.DataFrame]
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
    suits = canonical(("court", "labour_cases"), "case_no", "case")
    seed001 = world[1]["case_no"].map_elements(lambda v: normalise("case", v), pl.Utf8)
    assert suits.is_unique().all() and not suits.is_in(seed001.implode()).any()


def test_every_date_is_before_the_reference_date(part: Contribution) -> None:
    for key, frame in part.frames.items():
        for column in frame.select(pl.selectors.date()).columns:
            assert frame.filter(pl.col(column) >= AS_OF).is_empty(), (key, column)


def test_court_additions_are_modest_wage_suits(
    part: Contribution, world: tuple[Population, pl.DataFrame]
) -> None:
    suits = part.frames[("court", "labour_cases")]
    assert set(suits["cause"]) == {"追索劳动报酬纠纷"}  # never 确认劳动关系纠纷 (seed 001's model)
    assert suits.height < 0.1 * world[1].height
    enforced = part.frames[("court", "enforcement_cases")]
    assert set(enforced["basis_type"]) == {"行政处理决定"}


def test_truth_holds_canonical_planted_pairs(part: Contribution) -> None:
    n = wages.case_count(PEOPLE)
    for model in (wages.ESCROW_MODEL, wages.SUPPORT_MODEL):
        truth = part.truth[model]
        assert truth.columns == ["kind", "project:project", "employer:org"]
        assert truth.height == n == len(_pairs(truth))
        assert set(truth["kind"]) == {model}
        assert all(normalise("project", p) == p for p in truth["project:project"])
        assert all(normalise("org", o) == o for o in truth["employer:org"])


def test_deterministic_and_seeded(world: tuple[Population, pl.DataFrame]) -> None:
    small, _cases = _population(5_000, 3)
    first, again = wages.contribute(small), wages.contribute(small)
    assert all(first.frames[k].equals(again.frames[k]) for k in first.frames)
    other = wages.contribute(_population(5_000, 4)[0])
    assert not first.truth[wages.ESCROW_MODEL].equals(other.truth[wages.ESCROW_MODEL])


def test_fast(world: tuple[Population, pl.DataFrame]) -> None:
    began = time.perf_counter()
    wages.contribute(world[0])
    assert time.perf_counter() - began < 3.0


# --- model 1: unpaid-wage decision, stuck enforcement, escrow money -------------------------
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


def test_escrow_rule_replayed_finds_the_planted_chains(
    decisions: pl.DataFrame, part: Contribution
) -> None:
    stuck = pl.col("states").list.contains("终结本次执行").fill_null(False)
    unpaid = (pl.col("status") != "已履行") & (pl.col("unpaid") >= 5_000)
    found = decisions.filter(unpaid & stuck & (pl.col("balance") >= 10_000))
    precision, recall = _scores(
        set(zip(found["project"], found["employer"], strict=True)),
        _pairs(part.truth[wages.ESCROW_MODEL]),
    )
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_escrow_lookalikes_of_every_kind_exist(decisions: pl.DataFrame) -> None:
    n = wages.case_count(PEOPLE)
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


def test_escrow_stage_one_flags_few_decisions(decisions: pl.DataFrame) -> None:
    """Labour inspection runs first with no candidates: its share must stay under the cap."""
    status = pl.col("status").is_in(["未履行", "部分履行", "已申请强制执行"])
    flagged = decisions.filter(status & pl.col("project").is_not_null() & (pl.col("unpaid") > 0))
    assert flagged.height < 0.2 * decisions.height


# --- model 2: overdue complaints, no suit, short deposit --------------------------------------
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


def test_support_rule_replayed_finds_the_planted_groups(
    groups: pl.DataFrame, part: Contribution
) -> None:
    unsued = pl.col("overdue") - pl.col("overdue_sued")
    rule = pl.col("short") & (unsued >= 3) & (pl.col("overdue_sued") * 2 < pl.col("overdue"))
    found = groups.filter(rule.fill_null(False))
    precision, recall = _scores(
        set(zip(found["project"], found["employer"], strict=True)),
        _pairs(part.truth[wages.SUPPORT_MODEL]),
    )
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_support_lookalikes_of_every_kind_exist(groups: pl.DataFrame) -> None:
    n = wages.case_count(PEOPLE)
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


def test_support_stage_one_flags_few_complaints(con: duckdb.DuckDBPyConnection) -> None:
    """Open overdue complaints on short-deposit projects: well under the cap of the register."""
    share = con.sql(
        """
        WITH latest AS (SELECT max(filed_on) AS day FROM wage_complaints),
        short AS (
            SELECT norm_project(project_code) AS project FROM wage_deposits GROUP BY ALL
            HAVING sum(coalesce(paid_amount, 0)) < sum(required_amount)
        )
        SELECT count(*) FILTER (
            status = '处理中' AND date_diff('day', filed_on, latest.day) > 90
            AND norm_project(project_code) IN (SELECT project FROM short)
        ) / count(*)
        FROM wage_complaints, latest
        """
    ).fetchall()
    assert share[0][0] < 0.2

"""The housing-fund contributor: schema, identifiers, planted cases, look-alikes, determinism,
and the model's own SQL run over the generated data (100,000 people, seed 7) as agents would:
stage by stage, candidates filtered, disclosure share measured, leads scored against the truth.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import polars as pl
import pytest

from coordinator.synth import AS_OF, Frames, seed_world
from coordinator.synth import housing_fund as hf
from coordinator.synth.extend import Population
from coordinator.synth.render import conform
from fedscreen.dictionary import datasets
from fedscreen.identifiers import normalise
from tests.coordinator.synth_replay import canonical, quality, replay, write

PEOPLE, SEED = 100_000, 7
CAP = 0.2  # the demo agents' disclosure cap: share of a role's largest input dataset


def _world(people: int, seed: int) -> tuple[Population, Frames]:
    """The canonical population exactly as coordinator.synth.generate hands it to contributors,
    and the seed-001 agencies' frames (market regulation's register among them)."""
    rendered, pop = seed_world(people, seed)
    return pop, rendered.frames


@pytest.fixture(scope="module")
def world() -> tuple[Population, Frames]:
    return _world(PEOPLE, SEED)


@pytest.fixture(scope="module")
def pop(world: tuple[Population, Frames]) -> Population:
    return world[0]


@pytest.fixture(scope="module")
def built(pop: Population) -> hf.Built:
    return hf.build(pop)


@pytest.fixture(scope="module")
def canon(built: hf.Built) -> dict[str, pl.DataFrame]:
    return canonical(built.frames)


def test_frames_conform_to_the_dictionary(built: hf.Built) -> None:
    assert set(built.frames) == {
        ("housing_fund", "arrears_orders"),
        ("court", "enforcement_cases"),
        ("tax", "enterprise_tax"),
    }
    for (role, name), frame in built.frames.items():
        columns = [c.name for c in datasets(role)[name].columns]
        assert frame.columns == columns
        assert conform(frame, role, name).height == frame.height > 0


def test_identifiers_valid_and_a_few_dirty(built: hf.Built) -> None:
    for (role, name), frame in built.frames.items():
        for col in (c for c in datasets(role)[name].columns if c.id_kind):
            values = frame[col.name].drop_nulls().to_list()
            clean = [normalise(str(col.id_kind), v) for v in values]
            assert None not in clean, f"{name}.{col.name} holds an invalid identifier"
            # Clean court numbers are written with full-width brackets, normalised half-width.
            written = [str(c).replace("(", "（").replace(")", "）") for c in clean]
            dirty = sum(v != c for v, c in zip(values, written, strict=True)) / len(values)
            assert 0.01 < dirty < 0.06, f"{name}.{col.name}: {dirty:.1%} spelled dirty"


def test_dates_and_statuses(built: hf.Built) -> None:
    orders = built.frames["housing_fund", "arrears_orders"]
    cases = built.frames["court", "enforcement_cases"]
    for frame, col in ((orders, "issued_on"), (orders, "deadline"), (cases, "filed_on")):
        assert (frame[col] < AS_OF).all() and frame[col].null_count() == 0
    assert (cases["closed_on"].drop_nulls() < AS_OF).all()
    assert set(orders["status"]) == {hf.PAID, hf.PART, hf.UNPAID, hf.APPLIED}
    assert set(cases["status"]) == {hf.RUNNING, hf.ENDED, hf.DONE, hf.TERMINATED}
    assert set(cases["basis_type"]) == {hf.ARREARS, "判决", "仲裁裁决"}
    running = cases.filter(pl.col("status") == hf.RUNNING)
    assert running["closed_on"].null_count() == running.height
    # Each case has exactly one respondent: a company or a person.
    both = cases["respondent_uscc"].is_null() == cases["respondent_id"].is_null()
    assert not both.any()
    # Background volumes scale like a district: thousands of cases per million people.
    assert orders.height >= PEOPLE // 200 and cases.height >= PEOPLE // 200


def test_tax_returns_for_every_firm(pop: Population, canon: dict[str, pl.DataFrame]) -> None:
    tax = canon["enterprise_tax"]
    assert set(tax["year"]) == set(hf.TAX_YEARS.tolist())
    latest = tax.filter(pl.col("year") == 2024)
    firms = pop.firms.join(latest, on="uscc", how="left")
    older = firms.filter(pl.col("established_on") < datetime.date(2024, 1, 1))
    active = older.filter(pl.col("status").is_in(hf.ACTIVE))
    # Operating firms file (a dormant one files zero); revoked or deregistered ones do not.
    gone = older.filter(~pl.col("status").is_in(hf.ACTIVE))
    assert active["revenue"].null_count() == 0
    assert 0.05 < (active["revenue"] < 50_000).sum() / active.height < 0.35  # dormant or tiny
    assert gone["revenue"].null_count() == gone.height


def test_planted_companies(pop: Population, built: hf.Built, canon: dict) -> None:
    truth = built.truth
    assert truth.height == hf.planted_count(PEOPLE)
    assert truth.columns == ["kind", "company:org", "enforcement:case"]
    assert set(truth["kind"]) == {hf.KIND}
    firms = pop.firms.filter(pl.col("uscc").is_in(truth["company:org"].implode()))
    assert set(firms["status"]) <= set(hf.ACTIVE) and firms.height == truth.height
    enforcement = truth["enforcement:case"].implode()
    cases = canon["enforcement_cases"].filter(pl.col("case_no").is_in(enforcement))
    assert set(cases["status"]) == {hf.ENDED} and set(cases["basis_type"]) == {hf.ARREARS}
    basis = cases["basis_doc_no"].implode()
    orders = canon["arrears_orders"].filter(pl.col("order_no").is_in(basis))
    assert set(orders["status"]) <= {hf.UNPAID, hf.APPLIED} and orders.height == truth.height


def _arrears_case(canon: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per arrears order: its status, its enforcement status (null if never sent), revenue."""
    cases = canon["enforcement_cases"].filter(pl.col("basis_type") == hf.ARREARS)
    revenue = canon["enterprise_tax"].filter(pl.col("year") == 2024).select("uscc", "revenue")
    return (
        canon["arrears_orders"]
        .join(
            cases.select(pl.col("basis_doc_no").alias("order_no"), enf="status"),
            on="order_no",
            how="left",
        )
        .join(revenue, left_on="employer_uscc", right_on="uscc", how="left")
    )


def test_each_lookalike_kind_is_what_it_claims(
    pop: Population, built: hf.Built, canon: dict[str, pl.DataFrame]
) -> None:
    like = built.lookalikes
    n = hf.planted_count(PEOPLE)
    assert like.group_by("kind").len().sort("kind").to_dicts() == [
        {"kind": k, "len": n} for k in sorted(hf.LOOKALIKES)
    ]
    chains = _arrears_case(canon).join(
        like, left_on="employer_uscc", right_on="company", how="inner"
    )
    status = dict(zip(pop.firms["uscc"], pop.firms["status"], strict=True))
    by = {k: chains.filter(pl.col("kind") == k) for k in hf.LOOKALIKES}
    assert (by["dormant"]["revenue"] < 50_000).all() and (by["dormant"]["enf"] == hf.ENDED).all()
    assert {status[c] for c in by["deregistered"]["employer_uscc"]} <= {"吊销", "注销"}
    assert by["deregistered"]["revenue"].null_count() == n
    assert set(by["paid_later"]["status"]) == {hf.PAID} and set(by["paid_later"]["enf"]) == {
        hf.ENDED
    }
    assert set(by["partly_paid"]["status"]) == {hf.PART}
    assert set(by["enforcement_not_ended"]["enf"]) == {hf.RUNNING, hf.DONE, hf.TERMINATED}
    assert by["never_enforced"]["enf"].null_count() == n
    assert by["judgment_basis"]["enf"].null_count() == n  # the order was never sent
    debtors = like.filter(pl.col("kind") == "judgment_basis")["company"].implode()
    judged = canon["enforcement_cases"].filter(pl.col("respondent_uscc").is_in(debtors))
    assert hf.ARREARS not in set(judged["basis_type"])
    assert (judged["status"] == hf.ENDED).sum() == n  # one judgment debt "no assets" each
    for kind in hf.LOOKALIKES[2:]:  # all of these still earn
        assert (by[kind]["revenue"] >= 600_000 * 0.3).all(), kind


def test_deterministic(pop: Population, built: hf.Built) -> None:
    again = hf.build(pop)
    for key, frame in built.frames.items():
        assert frame.equals(again.frames[key]), key
    assert built.truth.equals(again.truth)


# --- the model itself over the generated world ----------------------------------------------
@pytest.fixture(scope="module")
def out(
    tmp_path_factory: pytest.TempPathFactory, world: tuple[Population, Frames], built: hf.Built
) -> Path:
    """The agencies' files as generate() writes them, with only this contributor's rows (so a
    half-finished contributor of another model cannot break this model's measurement)."""
    return write(tmp_path_factory.mktemp("hf_synth"), world[1], built.frames)


def test_model_on_synthetic_world(out: Path, built: hf.Built) -> None:
    result = replay(hf.MODEL, out)
    shares = result.shares
    assert all(share < CAP / 2 for share in shares.values()), shares
    assert shares["court"] > 0  # stage 1 really screens
    scored = quality(hf.MODEL, result, built.truth)
    assert list(scored) == [hf.KIND]
    for q in scored.values():
        assert q.precision >= 0.9 and q.recall >= 0.9, q
    for lead in result.leads:
        assert "{" not in lead.explanation_zh and "—" not in lead.explanation_en
        assert lead.region and len(lead.region) == 6


def test_contribute_hands_over_frames_and_truth(pop: Population, built: hf.Built) -> None:
    part = hf.contribute(pop)
    assert set(part.frames) == set(built.frames)
    assert set(part.truth) == {hf.MODEL} and part.truth[hf.MODEL].equals(built.truth)


@pytest.mark.parametrize("people", [200, 3_000])
def test_small_worlds_still_build(people: int) -> None:
    small = hf.build(_world(people, 3)[0])
    assert small.truth.height <= hf.planted_count(people)
    for (role, name), frame in small.frames.items():
        assert conform(frame, role, name).columns == [c.name for c in datasets(role)[name].columns]

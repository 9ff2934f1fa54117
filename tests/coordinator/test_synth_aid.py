"""The judicial-aid contributor (seed 004): schema, identifiers, wages, planted people and their
look-alikes, determinism, and the model's own SQL run over the generated data (100,000 people,
seed 7) as agents would: stage by stage, candidates filtered, disclosure share measured, leads
scored per kind against the truth.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import polars as pl
import pytest

from coordinator.synth import AS_OF, seed_world
from coordinator.synth import aid as jd
from coordinator.synth.extend import Population
from coordinator.synth.render import conform
from fedscreen.dictionary import datasets
from tests.coordinator.synth_replay import canonical, quality, replay, write

PEOPLE, SEED = 100_000, 7
CAP = 0.2  # the demo agents' disclosure cap: share of a role's largest input dataset
KINDS = ("omission", "transfer", "duplicate_or_over_cap")
WRITTEN = {
    ("procuratorate", "victims"),
    ("procuratorate", "judicial_aid"),
    ("procuratorate", "wage_reference"),
    ("court", "civil_judgments"),
    ("civil_affairs", "assistance"),
    ("disability_federation", "certificates"),
}
DATES = {
    "victims": ("decided_on",),
    "judicial_aid": ("granted_on",),
    "civil_judgments": ("decided_on",),
    "assistance": ("start_on", "end_on"),
    "certificates": ("issued_on",),
}


def _share(mask: pl.Series) -> float:
    return int(mask.sum()) / max(mask.len(), 1)


def _population(people: int, seed: int) -> Population:
    """The canonical population exactly as coordinator.synth.generate hands it on."""
    return seed_world(people, seed)[1]


@pytest.fixture(scope="module")
def pop() -> Population:
    return _population(PEOPLE, SEED)


@pytest.fixture(scope="module")
def built(pop: Population) -> jd.Built:
    return jd.build(pop)


@pytest.fixture(scope="module")
def canon(built: jd.Built) -> dict[str, pl.DataFrame]:
    return canonical(built.frames)


def test_writes_exactly_its_datasets_in_dictionary_layout(built: jd.Built) -> None:
    assert set(built.frames) == WRITTEN
    for (role, name), frame in built.frames.items():
        columns = datasets(role)[name].columns
        assert frame.columns == [c.name for c in columns]
        conform(frame, role, name)  # the types generate() casts to are reachable


def test_identifiers_are_valid_and_a_few_percent_dirty(
    built: jd.Built, canon: dict[str, pl.DataFrame]
) -> None:
    # Planted duplicates and the grants entered twice are spelled dirty on purpose (aid.py):
    # the share measured here is the random dirt of every agency file.
    forced = pl.concat(
        [
            built.truth.filter(pl.col("kind") == "duplicate_or_over_cap")["person:person"],
            built.lookalikes.filter(pl.col("kind") == "recorded_twice")["person_id"],
        ]
    )
    for (role, name), frame in built.frames.items():
        keep = ~canon[name]["person_id"].is_in(forced.implode()) if name == "judicial_aid" else None
        for column in (c for c in datasets(role)[name].columns if c.id_kind):
            raw, clean = frame[column.name], canon[name][column.name]
            assert clean.null_count() == raw.null_count() == 0, (name, column.name)
            if keep is not None:
                raw, clean = raw.filter(keep), clean.filter(keep)
            if column.id_kind == "person":
                dirty = _share(clean != raw)
            else:  # as rendered: full-width brackets, ASCII digits, no spaces
                dirty = _share(raw.str.contains(r"\s|\(|[０-９]"))
            assert 0.01 < dirty < 0.08, (name, column.name, dirty)


def test_wage_reference_covers_every_region_and_year(pop: Population, built: jd.Built) -> None:
    wages = built.frames[("procuratorate", "wage_reference")]
    regions = set(pop.people["region"]) | set(pop.firms["region"])
    assert {(r, y) for r, y in wages.select("region", "year").iter_rows()} == {
        (r, y) for r in regions for y in range(2019, 2025)
    }
    assert wages["avg_monthly_wage"].is_between(3_000, 30_000).all()
    growth = wages.sort("region", "year").select(
        (pl.col("avg_monthly_wage").diff().over("region") > 0).drop_nulls().all()
    )
    assert growth.item()
    beijing, mianxian = (
        wages.filter(pl.col("region") == r, pl.col("year") == 2023)["avg_monthly_wage"].item()
        for r in ("110105", "610725")
    )
    assert beijing > 2.5 * mianxian


def test_background_rates_follow_the_population(canon: dict[str, pl.DataFrame]) -> None:
    disabled = canon["certificates"]["person_id"].n_unique() / PEOPLE
    supported = (
        (
            canon["assistance"].filter(pl.col("program").is_in(["低保", "特困供养"]))["person_id"]
        ).n_unique()
        / PEOPLE
    )
    assert 0.045 < disabled < 0.06 and 0.01 < supported < 0.025
    victims = canon["victims"]
    assert victims.height >= PEOPLE // 60
    assert 0.05 < _share(victims["loss_amount"] >= 30_000) < 0.15
    assert canon["judicial_aid"]["person_id"].n_unique() >= PEOPLE // 4000


def test_every_date_is_before_the_reference_date(canon: dict[str, pl.DataFrame]) -> None:
    for name, columns in DATES.items():
        for column in columns:
            dates = canon[name][column].drop_nulls()
            assert dates.is_between(datetime.date(1995, 1, 1), AS_OF, closed="left").all(), name


def test_grants_have_a_prior_year_wage(canon: dict[str, pl.DataFrame]) -> None:
    years = canon["judicial_aid"]["granted_on"].dt.year()
    assert years.is_between(2020, 2025).all()


def test_planted_people_per_kind(built: jd.Built) -> None:
    counts = dict(built.truth.group_by("kind").len().iter_rows())
    assert counts == {kind: jd.planted_count(PEOPLE) for kind in KINDS}
    assert built.truth["person:person"].n_unique() == built.truth.height
    assert built.truth.columns == ["kind", "person:person"]


def test_planted_people_recur_across_agencies(
    built: jd.Built, canon: dict[str, pl.DataFrame]
) -> None:
    def holders(name: str, column: str = "person_id") -> set[str]:
        return set(canon[name][column].to_list())

    truth = built.truth
    omitted = set(truth.filter(pl.col("kind") == "omission")["person:person"])
    transferred = set(truth.filter(pl.col("kind") == "transfer")["person:person"])
    assert omitted <= holders("victims") & holders("civil_judgments", "plaintiff_id")
    assert omitted <= holders("assistance") | holders("certificates")
    assert not omitted & holders("judicial_aid")
    assert transferred <= holders("judicial_aid") & holders("certificates")


def test_every_lookalike_kind_exists_and_is_not_truth(built: jd.Built) -> None:
    kinds = dict(built.lookalikes.group_by("kind").len().iter_rows())
    k = jd.planted_count(PEOPLE)
    assert set(kinds) == set(jd.LOOKALIKES)
    assert all(n >= k for n in kinds.values())
    assert kinds["two_persons_one_case"] == 2 * k
    assert not set(built.lookalikes["person_id"]) & set(built.truth["person:person"])


def test_lookalike_grants_sit_where_a_careless_rule_would_flag_them(
    built: jd.Built, canon: dict[str, pl.DataFrame]
) -> None:
    aid = canon["judicial_aid"].with_columns(year=pl.col("granted_on").dt.year() - 1)
    wages = canon["wage_reference"]
    ratio = aid.join(wages, on=["region", "year"]).with_columns(
        ratio=pl.col("amount") / (36 * pl.col("avg_monthly_wage"))
    )

    def of(kind: str) -> pl.DataFrame:
        people = built.lookalikes.filter(pl.col("kind") == kind)["person_id"].implode()
        return ratio.filter(pl.col("person_id").is_in(people))

    assert of("just_under_cap")["ratio"].is_between(0.94, 1.0).all()
    rich = of("rich_region")
    poorest = wages.filter(pl.col("year") == 2019)["avg_monthly_wage"].cast(pl.Float64).min()
    assert (rich["ratio"] < 0.8).all() and (rich["amount"] > 36 * float(str(poorest))).all()
    twice = of("recorded_twice")
    assert twice.height == 2 * jd.planted_count(PEOPLE)
    assert twice["aid_no"].n_unique() == twice["person_id"].n_unique()
    family = of("two_persons_one_case").group_by("case_no").agg(pl.col("person_id").n_unique())
    assert family.height == jd.planted_count(PEOPLE) and (family["person_id"] == 2).all()
    over = ratio.filter(pl.col("ratio") > 1)["person_id"]
    planted = built.truth.filter(pl.col("kind") == "duplicate_or_over_cap")["person:person"]
    assert set(over) <= set(planted)


def test_deterministic(pop: Population, built: jd.Built) -> None:
    again = jd.build(pop)
    for key, frame in built.frames.items():
        assert frame.equals(again.frames[key]), key
    assert built.truth.equals(again.truth) and built.lookalikes.equals(again.lookalikes)


def test_contribute_hands_over_frames_and_truth(pop: Population, built: jd.Built) -> None:
    part = jd.contribute(pop)
    assert set(part.frames) == set(built.frames)
    assert set(part.truth) == {jd.MODEL} and part.truth[jd.MODEL].equals(built.truth)


@pytest.mark.parametrize("people", [100, 200, 3_000])
def test_small_worlds_still_build(people: int) -> None:
    small = jd.build(_population(people, 3))
    assert small.truth.height <= 3 * jd.planted_count(people)
    for (role, name), frame in small.frames.items():
        assert conform(frame, role, name).columns == [c.name for c in datasets(role)[name].columns]


# --- the model itself over the generated world ----------------------------------------------
@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, built: jd.Built) -> Path:
    """The agencies' files as generate() writes them (this contributor's datasets only)."""
    return write(tmp_path_factory.mktemp("aid_synth"), built.frames)


def test_model_on_synthetic_world(out: Path, built: jd.Built) -> None:
    result = replay(jd.MODEL, out)
    shares = result.shares
    assert set(shares) == {"procuratorate", "court", "civil_affairs", "disability_federation"}
    assert all(share < 0.75 * CAP for share in shares.values()), shares
    assert shares["procuratorate"] > 0.02  # stage 1 really screens
    scored = quality(jd.MODEL, result, built.truth)
    assert set(scored) == set(KINDS)
    for q in scored.values():
        assert q.precision >= 0.9 and q.recall >= 0.9, q
    for lead in result.leads:
        assert "{" not in lead.explanation_zh + lead.explanation_en
        assert lead.region and len(lead.region) == 6

"""The synthetic generator: schema, identifiers, planted rings, look-alikes, determinism."""

from __future__ import annotations

import datetime
import re
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from coordinator.synth import (
    AS_OF,
    LOOKALIKE_FILE,
    TRUTH_FILE,
    SynthSummary,
    dataset_path,
    generate,
    ids,
    ring_count,
    truth_file,
)
from coordinator.synth import dirty as dirt
from coordinator.synth.extend import CONTRIBUTORS, Population
from coordinator.synth.ids import REGIONS, day, org_code_check_char
from coordinator.synth.lookalikes import KINDS
from fedscreen.dictionary import datasets, roles
from fedscreen.identifiers import normalise, person_check_char, uscc_check_char

PEOPLE = 20_000
SEED = 7
WRITTEN = {
    "court": ("labour_cases",),
    "hrss": ("arbitration_awards",),
    "social_security": ("insured_persons", "employers", "back_payments", "retirements"),
    "market_regulation": ("enterprises",),
}
RING_START = datetime.date(2022, 1, 1)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="module")
def summary(out: Path) -> SynthSummary:
    return generate(out, PEOPLE, SEED)


@pytest.fixture(scope="module")
def data(summary: SynthSummary) -> dict[str, pl.DataFrame]:
    """Every dataset, with a canonical `<column>_n` next to each identifier column."""
    frames = {}
    for role, names in WRITTEN.items():
        for name in names:
            frame = pl.read_parquet(dataset_path(summary.out, role, name))
            for column in datasets(role)[name].columns:
                if column.id_kind:
                    kind = column.id_kind
                    frame = frame.with_columns(
                        pl.col(column.name)
                        .map_elements(partial(normalise, kind), return_dtype=pl.Utf8)
                        .alias(column.name + "_n")
                    )
            frames[name] = frame
    return frames


@pytest.fixture(scope="module")
def truth(summary: SynthSummary) -> pl.DataFrame:
    return pl.read_csv(summary.out / TRUTH_FILE, schema_overrides={"case_no": pl.Utf8})


@pytest.fixture(scope="module")
def lookalikes(summary: SynthSummary) -> pl.DataFrame:
    return pl.read_csv(summary.out / LOOKALIKE_FILE, schema_overrides={"case_no": pl.Utf8})


def id_columns(data: dict[str, pl.DataFrame], kinds: tuple[str, ...]) -> list[pl.DataFrame]:
    """(raw, canonical) pairs of every identifier column of the given kinds."""
    pairs = []
    for role, names in WRITTEN.items():
        for name in names:
            for column in datasets(role)[name].columns:
                if column.id_kind in kinds:
                    pairs.append(
                        data[name].select(
                            pl.col(column.name).alias("raw"), pl.col(column.name + "_n").alias("n")
                        )
                    )
    return pairs


# Schema and layout ----------------------------------------------------------------------------


def test_every_dataset_has_the_dictionary_columns_and_types(summary: SynthSummary) -> None:
    for role, names in WRITTEN.items():
        for name in names:
            path = dataset_path(summary.out, role, name)
            query = f"DESCRIBE SELECT * FROM read_parquet('{path}')"
            described = duckdb.connect().execute(query).fetchall()
            expected = [(c.name, c.type) for c in datasets(role)[name].columns]
            assert [(row[0], row[1]) for row in described] == expected, f"{role}.{name}"


def test_only_the_listed_files_are_written(summary: SynthSummary) -> None:
    written = {str(p.relative_to(summary.out)) for p in summary.out.rglob("*.*")}
    base = {f"{role}/{name}.parquet" for role, names in WRITTEN.items() for name in names}
    assert base | {TRUTH_FILE, LOOKALIKE_FILE, truth_file("fake_labour_litigation")} <= written
    for path in written - base:
        folder, _, name = path.partition("/")
        # Anything else is either a dictionary dataset of its role or ground truth.
        assert folder == "truth" or name.removesuffix(".parquet") in datasets(folder), path
    assert dataset_path(Path("x"), "court", "labour_cases") == Path("x/court/labour_cases.parquet")


def test_truth_lies_outside_every_role_directory(summary: SynthSummary) -> None:
    for name in (TRUTH_FILE, LOOKALIKE_FILE):
        path = (summary.out / name).resolve()
        assert path.is_file()
        for role in roles():
            assert not path.is_relative_to((summary.out / role).resolve())


def test_summary_reports_the_files_and_the_planted_rows(
    summary: SynthSummary, data: dict[str, pl.DataFrame], truth: pl.DataFrame
) -> None:
    assert summary.people == PEOPLE and summary.seed == SEED
    for role, names in WRITTEN.items():
        for name in names:  # contributors may add rows to seed-001 datasets, never remove any
            assert summary.rows[role][name] >= data[name].height > 0
    for role, counts in summary.rows.items():
        for name, n in counts.items():
            assert pl.read_parquet(dataset_path(summary.out, role, name)).height == n
    assert summary.planted == truth.height > 0
    assert summary.seconds < 3


def test_dataset_sizes_follow_the_population(summary: SynthSummary) -> None:
    rows = summary.rows
    n = PEOPLE

    def near(value: int, target: float) -> bool:
        return 0.6 * target <= value <= 1.8 * target

    assert rows["social_security"]["insured_persons"] == pytest.approx(0.6 * n, rel=0.05)
    assert near(rows["market_regulation"]["enterprises"], n / 25)
    assert near(rows["court"]["labour_cases"], n / 100)
    assert near(rows["hrss"]["arbitration_awards"], n / 150)
    assert near(rows["social_security"]["back_payments"], n / 150)
    assert near(rows["social_security"]["retirements"], n / 40)
    assert rows["social_security"]["employers"] < rows["market_regulation"]["enterprises"]


# Identifiers ----------------------------------------------------------------------------------


def test_known_check_characters() -> None:
    # Published valid examples (GB 11643 annex; a widely cited GB 32100 code).
    assert normalise("person", "11010519491231002X") == "11010519491231002X"
    assert normalise("person", "11010519491231002x") == "11010519491231002X"
    assert normalise("person", "110105491231002") == "11010519491231002X"
    assert normalise("person", "110105194912310021") is None
    assert org_code_check_char("M000100Y") == "4"
    assert normalise("org", "91350100M000100Y43") == "91350100M000100Y43"
    assert normalise("org", "91350100M000100Y44") is None


def test_generated_identifiers_carry_valid_check_characters(data: dict[str, pl.DataFrame]) -> None:
    people = data["insured_persons"]["person_id_n"].drop_nulls().to_list()
    for pid in people[:: max(1, len(people) // 500)]:
        assert person_check_char(pid[:17]) == pid[17]
    for code in data["enterprises"]["uscc_n"].to_list():
        assert code.startswith("91") and code[2:8] in {r.code for r in REGIONS}
        assert org_code_check_char(code[8:16]) == code[16]
        assert uscc_check_char(code[:17]) == code[17]


def test_corrupted_identifiers_fail_their_check() -> None:
    clean = pl.Series(["11010519491231002X", "440524188001010014"])
    bad = dirt.corrupt_person(np.random.default_rng(0), clean, np.arange(2), 2)
    assert [normalise("person", v) for v in bad] == [None, None]


def test_identifiers_are_mostly_valid_and_a_few_percent_dirty(
    data: dict[str, pl.DataFrame],
) -> None:
    values = pl.concat(id_columns(data, ("person", "org"))).drop_nulls("raw")
    valid = values["n"].is_not_null().mean()
    dirty = (values["n"].is_not_null() & (values["raw"] != values["n"])).mean()
    assert isinstance(valid, float) and isinstance(dirty, float)
    assert valid >= 0.95
    assert 0.01 <= dirty <= 0.06
    legacy = values.filter(pl.col("raw").str.replace_all(r"\s", "").str.len_chars() == 15)
    assert legacy.height > 0 and legacy["n"].is_not_null().all()
    assert legacy["n"].str.slice(6, 2).eq("19").all()


def test_the_same_person_appears_clean_in_one_file_and_dirty_in_another(
    data: dict[str, pl.DataFrame],
) -> None:
    values = pl.concat(id_columns(data, ("person",))).drop_nulls()
    per_person = values.group_by("n").agg(
        (pl.col("raw") == pl.col("n")).any().alias("clean"),
        (pl.col("raw") != pl.col("n")).any().alias("dirty"),
    )
    assert per_person.filter(pl.col("clean") & pl.col("dirty")).height >= 10


def test_invalid_identifiers_are_rare_and_only_among_background_plaintiffs(
    data: dict[str, pl.DataFrame], truth: pl.DataFrame, lookalikes: pl.DataFrame
) -> None:
    cases = data["labour_cases"]
    invalid = cases.filter(pl.col("plaintiff_id_n").is_null())
    assert 1 <= invalid.height <= max(3, 0.01 * cases.height)
    planted = set(truth["case_no"]) | set(lookalikes["case_no"].drop_nulls())
    assert not set(invalid["case_no_n"]) & planted
    for role, names in WRITTEN.items():
        for name in names:
            for column in datasets(role)[name].columns:
                if column.id_kind and (name, column.name) != ("labour_cases", "plaintiff_id"):
                    frame = data[name]
                    broken = frame[column.name].is_not_null() & frame[column.name + "_n"].is_null()
                    assert not broken.any(), f"{name}.{column.name}"


def test_identifiers_are_unique(data: dict[str, pl.DataFrame]) -> None:
    assert data["insured_persons"]["person_id_n"].is_unique().all()
    assert data["enterprises"]["uscc_n"].is_unique().all()
    assert data["employers"]["employer_uscc_n"].is_unique().all()
    assert data["labour_cases"]["case_no_n"].is_unique().all()
    assert data["arbitration_awards"]["award_no_n"].is_unique().all()


def test_generators_sharing_a_register_never_issue_one_number_twice() -> None:
    rng = np.random.default_rng(0)
    region = rng.integers(0, 2, 400)
    on = rng.integers(day(2023), day(2024, 6), 400)
    first = ids.sequence_numbers(rng, region, on)
    second = ids.sequence_numbers(rng, region, on, slot=2)
    assert not set(first) & set(second)
    assert (first % ids.SLOTS == 0).all() and (second % ids.SLOTS == 2).all()
    for r in (0, 1):  # per register and year, rising in date order
        for year in (2023, 2024):
            mine = np.flatnonzero((region == r) & (ids.year_of(on) == year))
            by_date = mine[np.lexsort((mine, on[mine]))]
            assert (np.diff(first[by_date]) > 0).all()
    with pytest.raises(ValueError, match="slot"):
        ids.sequence_numbers(rng, region, on, slot=ids.SLOTS)
    empty = pl.DataFrame()
    slots = [Population(empty, empty, 0, AS_OF, 0).slot(name) for name in CONTRIBUTORS]
    assert sorted(set(slots)) == slots and 0 not in slots and max(slots) < ids.SLOTS


def test_the_courts_registers_hold_each_number_once(summary: SynthSummary) -> None:
    """Seed 001, the wage and the judicial-aid contributors all file 民初 suits; the housing-fund
    and wage contributors both file 执 cases."""

    def numbers(name: str) -> pl.Series:
        frame = pl.read_parquet(dataset_path(summary.out, "court", name))
        return frame["case_no"].map_elements(partial(normalise, "case"), pl.Utf8).unique()

    civil = pl.concat([numbers("labour_cases"), numbers("civil_judgments")])
    assert civil.str.contains("民初").sum() > 100 and civil.is_unique().all()
    enforcement = pl.read_parquet(dataset_path(summary.out, "court", "enforcement_cases"))
    assert set(enforcement["basis_type"]) >= {"责令限期缴存决定", "行政处理决定"}
    assert numbers("enforcement_cases").len() == enforcement.height


def test_case_numbers_name_the_court_of_the_case(data: dict[str, pl.DataFrame]) -> None:
    province = {r.code: r.province for r in REGIONS}
    pattern = re.compile(r"\((\d{4})\)(.)(\d{4})民初(\d+)号")
    for number, region, filed in (
        data["labour_cases"].select("case_no_n", "court_region", "filed_on").iter_rows()
    ):
        match = pattern.fullmatch(number)
        assert match, number
        assert match[2] == province[region] and match[3] == region[2:]
        assert int(match[1]) == filed.year
    # As printed on judgments, with full-width brackets; a few are typed with ASCII ones.
    full_width = data["labour_cases"]["case_no"].str.starts_with("（").mean()
    assert isinstance(full_width, float) and 0.9 <= full_width <= 1
    awards = data["arbitration_awards"]["award_no_n"]
    assert awards.str.contains(r"^.+劳人仲案字〔\d{4}〕\d+号$").all()


def test_insured_gender_and_birth_date_agree_with_the_id(data: dict[str, pl.DataFrame]) -> None:
    insured = data["insured_persons"].filter(pl.col("person_id_n").is_not_null())
    odd = insured["person_id_n"].str.slice(16, 1).cast(pl.Int32) % 2 == 1
    assert ((insured["gender"] == "M") == odd).all()
    born = insured["birth_date"].dt.strftime("%Y%m%d")
    assert (insured["person_id_n"].str.slice(6, 8) == born).all()
    assert (insured["first_insured_on"] >= insured["birth_date"]).all()


# One coherent population ----------------------------------------------------------------------


def test_people_and_firms_recur_across_agencies(data: dict[str, pl.DataFrame]) -> None:
    firms = set(data["enterprises"]["uscc_n"])
    employers = set(data["employers"]["employer_uscc_n"])
    insured = set(data["insured_persons"]["person_id_n"])
    assert employers <= firms
    assert set(data["labour_cases"]["defendant_uscc_n"]) <= firms
    assert set(data["arbitration_awards"]["respondent_uscc_n"]) <= firms
    assert set(data["back_payments"]["employer_uscc_n"]) <= employers
    assert set(data["back_payments"]["person_id_n"]) <= insured
    assert set(data["retirements"]["person_id_n"]) <= insured
    plaintiffs = set(data["labour_cases"]["plaintiff_id_n"].drop_nulls())
    assert len(plaintiffs & insured) > 0.5 * len(plaintiffs)


def test_every_date_is_before_the_reference_date(data: dict[str, pl.DataFrame]) -> None:
    for frame in data.values():
        for name, dtype in frame.schema.items():
            if dtype == pl.Date:
                assert frame[name].max() <= AS_OF, name  # type: ignore[operator]


# Ground truth ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claims(data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Court suits and arbitrations in one shape: the rows a fraud chain starts from."""
    court = data["labour_cases"].select(
        pl.col("case_no_n").alias("case_no"),
        pl.col("plaintiff_id_n").alias("person_id"),
        pl.col("defendant_uscc_n").alias("uscc"),
        "cause",
        "outcome",
        pl.col("filed_on").alias("on"),
        "decided_on",
        pl.col("judgment_text").alias("text"),
        pl.lit("court").alias("via"),
    )
    awards = data["arbitration_awards"].select(
        pl.col("award_no_n").alias("case_no"),
        pl.col("applicant_id_n").alias("person_id"),
        pl.col("respondent_uscc_n").alias("uscc"),
        "cause",
        "outcome",
        pl.col("decided_on").alias("on"),
        "decided_on",
        pl.col("award_text").alias("text"),
        pl.lit("arbitration").alias("via"),
    )
    return pl.concat([court, awards])


@pytest.fixture(scope="module")
def chains(data: dict[str, pl.DataFrame], claims: pl.DataFrame) -> pl.DataFrame:
    """Each claim joined to the back-payment citing it and the claimant's retirement."""
    pays = data["back_payments"].select(
        pl.col("person_id_n").alias("person_id"),
        pl.col("basis_doc_no_n").alias("case_no"),
        pl.col("employer_uscc_n").alias("payer_uscc"),
        "months",
        "paid_on",
        "basis_type",
    )
    retired = data["retirements"].select(pl.col("person_id_n").alias("person_id"), "retired_on")
    firms = data["enterprises"].select(pl.col("uscc_n").alias("uscc"), "reported_employees")
    insured = data["insured_persons"].select(pl.col("person_id_n").alias("person_id"), "birth_date")
    return (
        claims.join(pays, on=["person_id", "case_no"], how="left")
        .join(retired, on="person_id", how="left")
        .join(firms, on="uscc", how="left")
        .join(insured, on="person_id", how="left")
    )


def test_ring_plaintiffs_follow_the_pattern_of_seed_001(
    truth: pl.DataFrame, chains: pl.DataFrame, data: dict[str, pl.DataFrame]
) -> None:
    assert truth.columns == ["person_id", "case_no", "ring", "via"]
    assert truth["person_id"].is_unique().all() and truth["case_no"].is_unique().all()
    rows = truth.join(chains, on=["person_id", "case_no"], how="left", suffix="_claim")
    assert rows.height == truth.height
    assert (rows["via"] == rows["via_claim"]).all()
    assert rows["cause"].is_in(["确认劳动关系纠纷", "确认劳动关系"]).all()
    assert rows["outcome"].is_in(["确认", "支持"]).all()
    assert rows["text"].str.contains("无异议").all()
    assert not rows["text"].str.contains("辩称").any()
    assert rows["basis_type"].is_in(["判决", "仲裁"]).all()
    assert ((rows["basis_type"] == "判决") == (rows["via"] == "court")).all()
    assert (rows["payer_uscc"] == rows["uscc"]).all()
    assert rows["months"].is_between(60, 180).all()
    assert ((rows["paid_on"] - rows["decided_on"]).dt.total_days().is_between(20, 90)).all()
    assert ((rows["retired_on"] - rows["paid_on"]).dt.total_days().is_between(10, 180)).all()
    assert rows["reported_employees"].is_between(1, 5).all()
    # Age on filing (awards carry only the decision date, up to 45 days later).
    age = (rows["on"] - rows["birth_date"]).dt.total_days() / 365.25
    assert age.is_between(50 - 1 / 365, 63 + 45 / 365).all()  # days / 365.25, not birthdays
    assert rows["on"].min() >= RING_START and rows["retired_on"].max() <= AS_OF  # type: ignore[operator]
    sizes = truth.group_by("ring").len()["len"]
    assert sizes.len() == ring_count(PEOPLE) and sizes.is_between(8, 30).all()
    # Some ring back-payments cite the judgment in a dirty (but normalisable) spelling.
    cited = data["back_payments"].filter(pl.col("basis_doc_no_n").is_in(truth["case_no"].to_list()))
    assert (cited["basis_doc_no"] != cited["basis_doc_no_n"]).any()
    assert truth["via"].is_in(["court", "arbitration"]).all() and truth["via"].n_unique() == 2


def test_ring_suits_are_dense_per_shell(truth: pl.DataFrame, chains: pl.DataFrame) -> None:
    rows = truth.join(chains, on=["person_id", "case_no"])
    per_shell = rows.group_by("uscc").agg(
        pl.len().alias("claims"),
        (pl.col("on").max() - pl.col("on").min()).dt.total_days().alias("span"),
        pl.col("via").n_unique().alias("channels"),
    )
    assert (per_shell["claims"] >= 4).all()
    assert (per_shell["span"] <= 120 + 45).all()
    assert (per_shell["channels"] == 1).all()


def test_lookalikes_of_every_kind_exist_and_are_not_truth(
    lookalikes: pl.DataFrame,
    truth: pl.DataFrame,
    chains: pl.DataFrame,
    data: dict[str, pl.DataFrame],
) -> None:
    assert set(lookalikes["kind"]) == set(KINDS)
    assert not set(lookalikes["person_id"]) & set(truth["person_id"])
    assert not set(lookalikes["case_no"].drop_nulls()) & set(truth["case_no"])
    rows = lookalikes.join(chains, on=["person_id", "case_no"], how="left")

    def kind(name: str) -> pl.DataFrame:
        return rows.filter(pl.col("kind") == name)

    contested = kind("contested")
    assert contested["text"].str.contains("辩称双方不存在劳动关系").all()
    assert contested["outcome"].is_in(["驳回", "确认", "支持"]).all()
    assert contested.filter(pl.col("retired_on").is_not_null()).height > 0

    large = kind("large_employer")
    assert large["reported_employees"].min() >= 300  # type: ignore[operator]
    employers = data["employers"].filter(pl.col("employer_uscc_n").is_in(large["uscc"].to_list()))
    assert employers["insured_count"].min() >= 300  # type: ignore[operator]
    assert large["text"].str.contains("无异议").all()
    assert large["paid_on"].is_not_null().any()

    audit = lookalikes.filter(pl.col("kind") == "audit")
    pays = data["back_payments"].filter(pl.col("person_id_n").is_in(audit["person_id"].to_list()))
    assert pays["basis_type"].is_in(["稽核", "其他"]).all() and pays.height == audit.height
    assert set(data["retirements"]["person_id_n"]) >= set(audit["person_id"])

    young = kind("young")
    assert ((young["on"] - young["birth_date"]).dt.total_days() / 365.25).is_between(22, 41).all()
    assert young["paid_on"].is_not_null().all() and young["retired_on"].is_null().all()

    isolated = kind("isolated")
    assert isolated["text"].str.contains("无异议").all()
    assert isolated["paid_on"].is_not_null().all() and isolated["retired_on"].is_not_null().all()
    per_firm = (
        chains.filter(pl.col("uscc").is_in(isolated["uscc"].to_list())).group_by("uscc").len()
    )
    assert (per_firm["len"] == 1).all()


def test_a_seed_001_rule_recovers_exactly_the_truth(
    truth: pl.DataFrame, chains: pl.DataFrame
) -> None:
    """Uncontested confirmation, small dense defendant, back-pay citing it, then retirement."""
    uncontested = chains.filter(
        pl.col("cause").str.starts_with("确认劳动关系")
        & pl.col("text").str.contains("无异议")
        & pl.col("outcome").is_in(["确认", "支持"])
    )
    pairs = uncontested.select("uscc", "via", "case_no", "on").join(
        uncontested.select("uscc", "via", pl.col("on").alias("other")), on=["uscc", "via"]
    )
    dense = (
        pairs.filter((pl.col("on") - pl.col("other")).dt.total_days().abs() <= 180)
        .group_by("case_no")
        .len()
        .filter(pl.col("len") >= 3)["case_no"]
    )
    flagged = uncontested.filter(
        pl.col("case_no").is_in(dense.implode())
        & (pl.col("reported_employees") <= 10)
        & pl.col("paid_on").is_not_null()
        & ((pl.col("retired_on") - pl.col("paid_on")).dt.total_days().is_between(0, 365))
    )
    assert set(flagged["person_id"]) == set(truth["person_id"])


# Determinism ----------------------------------------------------------------------------------


def _frames(out: Path) -> dict[str, pl.DataFrame]:
    frames = {
        name: pl.read_parquet(dataset_path(out, role, name))
        for role, names in WRITTEN.items()
        for name in names
    }
    frames["truth"] = pl.read_csv(out / TRUTH_FILE)
    return frames


def test_the_same_seed_gives_identical_data(summary: SynthSummary, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", PEOPLE, SEED)
    first, second = _frames(summary.out), _frames(again.out)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].equals(second[name]), name


def test_a_different_seed_gives_different_data(summary: SynthSummary, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", PEOPLE, SEED + 1)
    first, second = _frames(summary.out), _frames(other.out)
    for name in first:
        assert not first[name].equals(second[name]), name


def test_tiny_populations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 100"):
        generate(tmp_path, 10, 0)


def test_every_role_of_the_synthetic_world_passes_the_agents_schema_check(
    summary: SynthSummary,
) -> None:
    # What `fedscreen-agent check` runs: the mapped sources against the logical dictionary.
    from fedscreen.engine import Engine, SourceSpec

    assert set(summary.rows) == set(roles())  # every agency role gets data
    for role, names in summary.rows.items():
        sources = {
            n: SourceSpec(n, "parquet", str(dataset_path(summary.out, role, n))) for n in names
        }
        with Engine(role, sources) as engine:
            assert engine.validate() == [], role

"""Spec tests of the judicial-aid + social-aid model (seed 004).

The shipped fixture must pass; then small literal agency tables, written as CSV the way agents
read them, pin each lead kind down: the full story is a lead of its kind, and every honest
look-alike — compensation paid, aid granted, support that ended before the case, one-off
temporary aid, a minor loss, a recipient already on 低保, two relatives aided for one case, one
grant entered twice, a grant just under the cap or under a richer region's cap — is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator import modeltest
from coordinator.combine import Lead
from fedscreen.identifiers import person_check_char
from fedscreen.tokens import reference_token
from tests.models.spec import run_model, write_tables

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "judicial_aid_social_aid"
OMISSION, TRANSFER, DUPLICATE = "omission", "transfer", "duplicate_or_over_cap"
# Prior-year average monthly wages: 36 months of Anyang's 2022 wage is 219,600 yuan.
WAGES = {
    "410502": (5300, 5550, 5800, 6100, 6350, 6600),
    "110105": (13900, 14500, 15300, 16000, 16800, 17500),
}
ROLES = {
    "procuratorate": ("victims", "judicial_aid", "wage_reference"),
    "court": ("civil_judgments",),
    "civil_affairs": ("assistance",),
    "disability_federation": ("certificates",),
}


def person(n: int, born: str = "19700101", region: str = "410502") -> str:
    body = f"{region}{born}{n:03d}"
    return body + person_check_char(body)


def legacy(pid: str) -> str:
    """The 15-digit form old records keep."""
    return pid[:6] + pid[8:17]


class World:
    """Agency rows, one helper per record type; defaults describe an ordinary victim."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, object]]] = {d: [] for ds in ROLES.values() for d in ds}
        self.rows["wage_reference"] = [
            {"region": r, "year": 2019 + i, "avg_monthly_wage": f"{w}.00"}
            for r, ws in WAGES.items()
            for i, w in enumerate(ws)
        ]
        self.cases = 0

    def victim(self, pid: str, loss: int = 80_000, decided: str = "2022-05-10") -> str:
        self.cases += 1
        case = f"（{decided[:4]}）豫0502刑初{self.cases}号"
        self.rows["victims"].append(
            {"case_no": case, "person_id": pid, "crime": "故意伤害罪",
             "loss_amount": f"{loss}.00", "decided_on": decided, "region": "410502"}
        )  # fmt: skip
        return case

    def judgment(self, pid: str, case: str, award: int = 60_000, paid: int = 0) -> None:
        self.rows["civil_judgments"].append(
            {"case_no": case, "plaintiff_id": pid, "defendant_id": person(999, "19800101"),
             "cause": "刑事附带民事赔偿", "award_amount": f"{award}.00",
             "paid_amount": f"{paid}.00", "decided_on": "2022-05-10"}
        )  # fmt: skip

    def support(self, pid: str, program: str = "低保", end: str = "", start: str = "2019-01-01"):
        self.rows["assistance"].append(
            {"person_id": pid, "program": program, "region": "410502", "start_on": start,
             "end_on": end, "monthly_amount": "650.00", "household_size": 2}
        )  # fmt: skip

    def cert(self, pid: str, grade: int) -> None:
        self.rows["certificates"].append(
            {"person_id": pid, "category": "肢体", "grade": grade, "issued_on": "2022-08-01"}
        )

    def aid(self, pid: str, case: str, amount: int = 40_000, granted: str = "2023-03-01",
            region: str = "410502", no: str = "") -> None:  # fmt: skip
        number = no or f"文检司救〔{granted[:4]}〕{len(self.rows['judicial_aid']) + 1}号"
        self.rows["judicial_aid"].append(
            {"aid_no": number, "person_id": pid, "case_no": case, "amount": f"{amount}.00",
             "granted_on": granted, "region": region}
        )  # fmt: skip

    def omission(self, pid: str, loss: int = 80_000, paid: int = 0) -> str:
        """A victim with a loss and a compensation judgment; hardship is added by the caller."""
        case = self.victim(pid, loss)
        self.judgment(pid, case, paid=paid)
        return case

    def recipient(self, pid: str, paid: int = 0, amount: int = 40_000) -> str:
        case = self.omission(pid, paid=paid)
        self.aid(pid, case, amount)
        return case

    def write(self, root: Path) -> Path:
        tables = {(role, n): self.rows[n] for role, names in ROLES.items() for n in names}
        return write_tables(root, tables)


def leads(world: World, tmp_path: Path, **params: int) -> list[Lead]:
    return run_model(MODEL_DIR, world.write(tmp_path / "in"), **params)[0]


def found(world: World, tmp_path: Path, *people: str, **params: int) -> set[tuple[str, str]]:
    """(kind, raw ID) of every lead, the IDs mapped back from their tokens."""
    result, keys = run_model(MODEL_DIR, world.write(tmp_path / "in"), **params)
    back = {reference_token(keys, "person", p): p for p in people}
    return {(lead.kind, back[lead.key["person"]]) for lead in result}


def test_shipped_fixtures_pass() -> None:
    results = modeltest.test_model(MODEL_DIR)
    assert results and all(r.passed for r in results), results
    assert sum(r.expected for r in results) >= 13


# --- omission ------------------------------------------------------------------------------
V = person(101)


@pytest.mark.parametrize(
    "hardship",
    ["低保", "特困供养", "disabled", "ended_after_decision"],
)
def test_unaided_victim_in_hardship_with_unpaid_compensation_is_an_omission(
    tmp_path: Path, hardship: str
) -> None:
    w = World()
    w.omission(V)
    if hardship == "disabled":
        w.cert(V, 4)
    elif hardship == "ended_after_decision":  # decided 2022, support until 2023
        w.support(V, end="2023-02-28")
    else:
        w.support(V, hardship)
    assert found(w, tmp_path, V) == {(OMISSION, V)}


@pytest.mark.parametrize(
    "lookalike",
    ["paid", "mostly_paid", "aided", "ended_before", "ended_same_year", "temporary_only",
     "minor_loss", "no_judgment", "defendant_only", "no_hardship"],
)  # fmt: skip
def test_omission_lookalikes_are_not_leads(tmp_path: Path, lookalike: str) -> None:
    w = World()
    if lookalike == "paid":
        w.omission(V, paid=60_000)
    elif lookalike == "mostly_paid":  # 40% unpaid, under the default 50%
        w.omission(V, paid=36_000)
    elif lookalike == "aided":
        w.recipient(V)
    elif lookalike == "minor_loss":
        w.omission(V, loss=20_000)
    elif lookalike == "no_judgment":
        w.victim(V)
    elif lookalike == "defendant_only":  # owes money in another suit; is owed nothing
        w.victim(V)
        w.judgment(person(998, "19800101"), "（2023）豫0502民初77号", paid=0)
        w.rows["civil_judgments"][-1]["defendant_id"] = V
    else:
        w.omission(V)
    program = {"temporary_only": "临时救助", "no_hardship": ""}.get(lookalike, "低保")
    end = {"ended_before": "2021-06-30", "ended_same_year": "2022-12-31"}.get(lookalike, "")
    if program:
        w.support(V, program, end)
    assert found(w, tmp_path, V) == set()


def test_a_lower_loss_threshold_reaches_minor_losses(tmp_path: Path) -> None:
    w = World()
    w.omission(V, loss=20_000)
    w.support(V)
    assert found(w, tmp_path, V, min_loss=10_000) == {(OMISSION, V)}


def test_one_person_spelled_three_ways_is_still_found(tmp_path: Path) -> None:
    w = World()
    case = w.victim(legacy(V))
    w.judgment(V.replace("1", "１"), case)
    w.cert(f"{V[:6]} {V[6:14]} {V[14:]}", 2)
    assert found(w, tmp_path, V) == {(OMISSION, V)}


# --- transfer ------------------------------------------------------------------------------
R = person(202)


@pytest.mark.parametrize(
    ("grade", "paid", "support"),
    [(1, 60_000, ""), (2, 60_000, "ended"), (4, 0, ""), (3, 0, "医疗救助")],
)
def test_recipient_still_in_hardship_without_social_aid_is_a_transfer(
    tmp_path: Path, grade: int, paid: int, support: str
) -> None:
    w = World()
    w.recipient(R, paid=paid)
    w.cert(R, grade)
    if support == "ended":
        w.support(R, end="2024-03-31")
    elif support:
        w.support(R, support, end="2023-06-30")
    assert found(w, tmp_path, R) == {(TRANSFER, R)}


@pytest.mark.parametrize(
    ("grade", "paid", "support"),
    [(1, 0, "低保"), (2, 0, "特困供养_future_end"), (3, 60_000, ""), (0, 0, "")],
)
def test_transfer_lookalikes_are_not_leads(
    tmp_path: Path, grade: int, paid: int, support: str
) -> None:
    w = World()
    w.recipient(R, paid=paid)
    if grade:
        w.cert(R, grade)
    if support == "低保":
        w.support(R)
    elif support:  # a support decision whose end lies in the future is still running
        w.support(R, "特困供养", end="2099-12-31")
    assert found(w, tmp_path, R) == set()


def test_severity_threshold_is_a_parameter(tmp_path: Path) -> None:
    w = World()
    w.recipient(R, paid=60_000)
    w.cert(R, 3)
    assert found(w, tmp_path, R) == set()
    assert found(w, tmp_path, R, severe_grade=3) == {(TRANSFER, R)}


# --- duplicate or over cap ---------------------------------------------------------------------
D, D2 = person(303), person(404)


def test_two_grants_to_one_person_spelled_differently_are_a_duplicate(tmp_path: Path) -> None:
    w = World()
    case = w.recipient(D, paid=60_000)
    w.aid(legacy(D), case, 20_000, "2024-02-01", no="安检司救〔2024〕3号")
    assert found(w, tmp_path, D) == {(DUPLICATE, D)}


def test_one_grant_entered_twice_is_not_a_duplicate(tmp_path: Path) -> None:
    w = World()
    case = w.recipient(D, paid=60_000)
    w.aid(D, case, 40_000, "2023-03-01", no="文检司救 〔２０２３〕1号")
    assert found(w, tmp_path, D) == set()


def test_two_relatives_aided_for_one_case_are_not_duplicates(tmp_path: Path) -> None:
    w = World()
    case = w.victim(person(505, "19500101"), 900_000)
    w.aid(D, case, 100_000)
    w.aid(D2, case, 80_000)
    assert found(w, tmp_path, D, D2) == set()


@pytest.mark.parametrize(
    ("amount", "granted", "region", "over"),
    [
        (230_000, "2023-03-01", "410502", True),  # cap 219,600 (2022 wage × 36)
        (215_000, "2023-03-01", "410502", False),  # just under; over 2021's cap of 208,800
        (228_000, "2024-03-01", "410502", False),  # 2023's wage: cap 228,600
        (300_000, "2023-03-01", "110105", False),  # Beijing's cap is 576,000
        (600_000, "2023-03-01", "110105", True),
    ],
)
def test_cap_is_36_prior_year_wages_of_the_granting_region(
    tmp_path: Path, amount: int, granted: str, region: str, over: bool
) -> None:
    w = World()
    case = w.omission(D, paid=60_000)
    w.aid(D, case, amount, granted, region)
    assert found(w, tmp_path, D) == ({(DUPLICATE, D)} if over else set())


def test_the_cap_length_is_a_parameter(tmp_path: Path) -> None:
    w = World()
    case = w.omission(D, paid=60_000)
    w.aid(D, case, 215_000, "2023-03-01")
    assert found(w, tmp_path, D, cap_months=24) == {(DUPLICATE, D)}
    (lead,) = leads(w, tmp_path / "again", cap_months=24)  # the explanation names that cap
    assert "（当地上一年度职工月平均工资×24个月）" in lead.explanation_zh
    assert "(24 × local prior-year average monthly wage)" in lead.explanation_en


def test_duplicate_takes_precedence_and_says_the_person_still_needs_social_aid(
    tmp_path: Path,
) -> None:
    w = World()
    case = w.recipient(D)
    w.aid(D, case, 20_000, "2024-02-01")
    w.cert(D, 1)
    (lead,) = leads(w, tmp_path)
    assert lead.kind == DUPLICATE
    assert "获国家司法救助2次" in lead.explanation_zh
    assert "仍生活困难、未纳入社会救助：是" in lead.explanation_zh
    assert "above the cap: no" in lead.explanation_en


def test_explanations_show_buckets_never_amounts(tmp_path: Path) -> None:
    w = World()
    w.omission(V, loss=123_456, paid=7_777)
    w.support(V)
    w.recipient(R)
    w.cert(R, 1)
    case = w.omission(D, paid=60_000)
    w.aid(D, case, 234_567)
    by_kind = {lead.kind: lead for lead in leads(w, tmp_path)}
    assert set(by_kind) == {OMISSION, TRANSFER, DUPLICATE}
    omission = by_kind[OMISSION]
    assert "损失100k-500k" in omission.explanation_zh and "80-99%" in omission.explanation_zh
    assert "社会救助低保" in omission.explanation_zh
    assert "残疾等级1" in by_kind[TRANSFER].explanation_zh
    assert "100-120%" in by_kind[DUPLICATE].explanation_en
    for lead in by_kind.values():
        text = lead.explanation_zh + lead.explanation_en
        assert not any(a in text for a in ("123456", "7777", "234567", "60000")), text
        assert "{" not in text and lead.region == "410502"

"""Wages (seeds 002 and 003): labour inspection, housing and construction, the court's wage files.

Both models stand on one construction world: projects (住建 工程项目) with a developer and a
contractor, many with a presale escrow account (预售资金监管账户), most with a wage deposit
(工资保证金, kept by 人社).
- wage_decision_escrow (seed 002, 勉县/伍家岗): an inspection decision ordering wages paid is not
  performed, its court enforcement ended 终结本次执行, yet the developer of the decision's project
  holds an escrow balance for it. Lead: (project, employer).
- wage_arrears_support (seed 003, 支持起诉): a group of workers' complaints against an employer on
  a project are still open (处理中) past the deadline, hardly any of them sued (追索劳动报酬纠纷),
  and the project's wage deposit is unpaid or short. Lead: (project, employer).
Background traffic never completes either chain — stuck enforcement sits on projects without an
escrow balance, overdue open complaints on projects whose deposit is paid (or on no project) —
so the truth is exactly the planted cases; each honest look-alike misses one link.
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import polars as pl

from coordinator.synth import dirty
from coordinator.synth import texts as t
from coordinator.synth.extend import Contribution, Population
from coordinator.synth.ids import REGIONS, day, year_of

ESCROW_MODEL = "wage_decision_escrow"
SUPPORT_MODEL = "wage_arrears_support"
DECISION_BASIS = "行政处理决定"
STUCK, ONGOING, DONE, ENDED = "终结本次执行", "执行中", "执行完毕", "终结执行"
PERFORMED, PARTLY, UNPERFORMED, APPLIED = "已履行", "部分履行", "未履行", "已申请强制执行"
OPEN, RESOLVED, WITHDRAWN, TRANSFERRED = "处理中", "已解决", "已撤回", "已移送"
START = day(2019, 1, 1)
_EPOCH = datetime.date(1970, 1, 1)
_PREFIX = {r.code: r.arbitration for r in REGIONS}  # 文, 勉, 伍 …: local document prefixes
_COURT = {r.code: r.province + r.code[2:] for r in REGIONS}  # 豫0502 …: court codes
_PROJECT_STATUS = ["在建", "竣工", "停工"]
_HALF = list("0123456789-")
_FULL = [chr(ord(c) + 0xFEE0) for c in _HALF]

# Identifier columns per dataset (dirty spellings are drawn for these), and each one's row order.
IDS: dict[tuple[str, str], dict[str, str]] = {
    ("hrss", "inspection_decisions"): {
        "decision_no": "case", "employer_uscc": "org", "project_code": "project"},
    ("hrss", "wage_complaints"): {
        "complaint_id": "case", "worker_id": "person", "employer_uscc": "org",
        "project_code": "project"},
    ("hrss", "wage_deposits"): {"project_code": "project", "contractor_uscc": "org"},
    ("housing_construction", "projects"): {
        "project_code": "project", "developer_uscc": "org", "contractor_uscc": "org"},
    ("housing_construction", "presale_escrow"): {
        "project_code": "project", "developer_uscc": "org"},
    ("court", "enforcement_cases"): {
        "case_no": "case", "basis_doc_no": "case", "respondent_uscc": "org"},
    ("court", "labour_cases"): {
        "case_no": "case", "plaintiff_id": "person", "defendant_uscc": "org"},
}  # fmt: skip
_ORDER = {
    "inspection_decisions": "issued_on", "wage_complaints": "filed_on",
    "wage_deposits": "project_code", "projects": "permit_on", "presale_escrow": "project_code",
    "enforcement_cases": "filed_on", "labour_cases": "filed_on",
}  # fmt: skip
_DIRT = {"person": dirty.person, "org": dirty.org, "case": dirty.case}


def _dates(days: np.ndarray) -> pl.Series:
    """Internal day numbers to dates; negative numbers mean NULL."""
    days = np.asarray(days, dtype=np.int64)
    return pl.Series(days.astype(np.int32)).cast(pl.Date).set(pl.Series(days < 0), None)


def _money(yuan: np.ndarray) -> pl.Series:
    return pl.Series(np.round(np.asarray(yuan, dtype=float), 2)).fill_nan(None)


def dirty_project(
    rng: np.random.Generator, codes: pl.Series, rate: float = dirty.RATE
) -> pl.Series:
    """Full-width digits and hyphens, spaces around hyphens, or padding: all normalise back."""
    idx = np.flatnonzero((rng.random(len(codes)) < rate) & codes.is_not_null().to_numpy())
    if idx.size == 0:
        return codes
    sub = pl.DataFrame({"s": codes.gather(idx), "k": rng.integers(0, 3, idx.size)})
    s, k = pl.col("s"), pl.col("k")
    spelled = sub.select(
        pl.when(k == 0)
        .then(s.str.replace_many(_HALF, _FULL))
        .when(k == 1)
        .then(s.str.replace_all("-", " - ", literal=True))
        .otherwise(pl.concat_str([pl.lit(" "), s, pl.lit(" ")]))
    ).to_series()
    out = codes.clone()
    out.scatter(idx, spelled)
    return out


class _Builder:
    """Rows per dataset with canonical identifiers; dirt and row order are applied at the end."""

    def __init__(self, pop: Population) -> None:
        self.rng = pop.rng("wages")
        self.size = pop.size
        self.today = (pop.as_of - _EPOCH).days
        self.uscc, self.person = pop.firms["uscc"], pop.people["person_id"]
        self.firm_region = pop.firms["region"].to_numpy()
        active = pop.firms["status"].is_in(["存续", "在业"]).to_numpy()
        age = (self.today - pop.people["birth_date"].cast(pl.Int32).to_numpy()) / 365.25
        able = (age >= 20) & (age < 60) & ~pop.people["planted"].to_numpy()
        # Handed out in a fixed random order (wrapping round only in a tiny world), so every
        # case gets firms and workers of its own.
        self.pools = {
            "firms": self.rng.permutation(np.flatnonzero(active)),
            "workers": self.rng.permutation(np.flatnonzero(able)),
        }
        self.taken = {"firms": 0, "workers": 0}
        self.rows: dict[tuple[str, str], list[pl.DataFrame]] = {}
        self.serial = 0

    def take(self, pool: str, n: int) -> np.ndarray:
        items = self.pools[pool]
        self.taken[pool] += n
        return items[(self.taken[pool] - n + np.arange(n)) % len(items)]

    def add(self, key: tuple[str, str], **columns: object) -> None:
        self.rows.setdefault(key, []).append(pl.DataFrame(columns))

    def numbers(
        self, firms: np.ndarray, on: np.ndarray, template: str, base: int = 100
    ) -> pl.Series:
        """Document numbers, unique across this module: template fields {prefix} and {court}
        (from the firm's region), {year} (of `on`) and {seq}."""
        seq = base + self.serial + np.arange(len(firms))
        self.serial += len(firms)
        region = pl.Series(self.firm_region[firms])
        frame = pl.DataFrame(
            {
                "prefix": region.replace_strict(_PREFIX),
                "court": region.replace_strict(_COURT),
                "year": year_of(np.asarray(on)),
                "seq": seq,
            }
        )
        parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, …
        exprs = [pl.col(p).cast(pl.Utf8) if i % 2 else pl.lit(p) for i, p in enumerate(parts) if p]
        return frame.select(pl.concat_str(exprs).alias("number")).to_series()

    # --- housing and construction -----------------------------------------------------------
    def escrow(self, kinds: np.ndarray) -> np.ndarray:
        """Balance per project by kind: positive, zero, or none (NaN: no escrow account)."""
        money = np.round(self.rng.lognormal(np.log(2_000_000), 0.9, len(kinds)), -2) + 100_000
        return np.select([kinds == "positive", kinds == "zero"], [money, 0.0], np.nan)

    def deposit(self, kinds: np.ndarray) -> np.ndarray:
        """Paid share of the wage deposit by kind: full, short, unpaid, none (NaN: no row)."""
        short = self.rng.uniform(0.2, 0.8, len(kinds))
        return np.select(
            [kinds == "full", kinds == "short", kinds == "unpaid"], [1.0, short, 0.0], np.nan
        )

    def projects(
        self,
        escrow: np.ndarray,
        deposit: np.ndarray,
        developers: np.ndarray | None = None,
        contractors: np.ndarray | None = None,
    ) -> tuple[pl.Series, np.ndarray]:
        """New projects (of fresh firms unless given); returns their codes and contractors."""
        rng, n = self.rng, len(escrow)
        dev = self.take("firms", n) if developers is None else developers
        con = self.take("firms", n) if contractors is None else contractors
        permit = rng.integers(day(2018, 1, 1), self.today - 400, n)
        seq = (self.serial + np.arange(n)) * 7919 % 900_000 + 100_000  # distinct below 900,000
        self.serial += n
        region = self.firm_region[dev]
        codes = pl.DataFrame({"y": year_of(permit), "r": region, "s": seq}).select(
            pl.format("{}-{}-47-01-{}", "y", "r", "s").alias("project_code")
        )["project_code"]
        dev_id, con_id = self.uscc.gather(dev), self.uscc.gather(con)
        self.add(
            ("housing_construction", "projects"),
            project_code=codes, developer_uscc=dev_id, contractor_uscc=con_id, region=region,
            permit_on=_dates(permit), status=rng.choice(_PROJECT_STATUS, n, p=[0.55, 0.35, 0.1]),
        )  # fmt: skip
        has = ~np.isnan(escrow)
        self.add(
            ("housing_construction", "presale_escrow"),
            project_code=codes.filter(has), developer_uscc=dev_id.filter(has),
            balance=_money(escrow[has]), as_of=_dates(self.today - rng.integers(1, 31, has.sum())),
        )  # fmt: skip
        has = ~np.isnan(deposit)
        required = np.round(rng.lognormal(np.log(300_000), 0.6, n), -3)
        paid_on = np.where(deposit > 0, permit + rng.integers(5, 60, n), -1)
        self.add(
            ("hrss", "wage_deposits"),
            project_code=codes.filter(has), contractor_uscc=con_id.filter(has),
            required_amount=_money(required[has]),
            paid_amount=_money(np.round(required * deposit, -2)[has]), paid_on=_dates(paid_on[has]),
        )  # fmt: skip
        return codes, con

    # --- labour inspection and its enforcement ----------------------------------------------
    def decisions(
        self, employer: np.ndarray, project: pl.Series, status: np.ndarray, paid: np.ndarray,
        issued: np.ndarray, fewest: int = 1,
    ) -> tuple[pl.Series, np.ndarray, np.ndarray]:  # fmt: skip
        """劳动保障监察行政处理决定 (paid: the share paid) for at least `fewest` workers each;
        returns numbers, amounts and amounts left unpaid."""
        rng, n = self.rng, len(employer)
        workers = np.clip(rng.geometric(0.12, n), fewest, 120)
        amount = np.round(workers * rng.uniform(3_000, 20_000, n), 2)
        paid = np.round(amount * paid, 2)
        numbers = self.numbers(employer, issued, "{prefix}人社监处字〔{year}〕{seq}号")
        self.add(
            ("hrss", "inspection_decisions"),
            decision_no=numbers, employer_uscc=self.uscc.gather(employer), project_code=project,
            workers=workers, amount=_money(amount), paid_amount=_money(paid),
            issued_on=_dates(issued), status=status,
        )  # fmt: skip
        return numbers, amount, amount - paid

    def enforcement(
        self, basis: pl.Series, employer: np.ndarray, amount: np.ndarray, issued: np.ndarray,
        status: np.ndarray,
    ) -> None:  # fmt: skip
        """The court's non-litigation enforcement of decisions (申请法院强制执行)."""
        rng, n = self.rng, len(employer)
        filed = np.minimum(issued + rng.integers(200, 290, n), self.today - 2)
        closed = np.minimum(filed + rng.integers(60, 400, n), self.today - 1)
        self.add(
            ("court", "enforcement_cases"),
            case_no=self.numbers(employer, filed, "（{year}）{court}执{seq}号", base=1_000),
            court_region=self.firm_region[employer], basis_type=DECISION_BASIS,
            basis_doc_no=basis, respondent_uscc=self.uscc.gather(employer),
            respondent_id=pl.Series([None] * n, dtype=pl.Utf8), amount=_money(amount),
            filed_on=_dates(filed), status=status,
            closed_on=_dates(np.where(status == ONGOING, -1, closed)),
        )  # fmt: skip

    # --- wage complaints and wage suits -----------------------------------------------------
    def complaints(
        self, employer: np.ndarray, project: pl.Series, size: np.ndarray, status: np.ndarray,
        filed: np.ndarray, settle: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Groups of workers complaining together (欠薪投诉); a share `settle` of open complaints
        is settled one by one. Per complaint: worker, employer, filing day, place in group."""
        rng = self.rng
        group = np.repeat(np.arange(len(size)), size)
        n = len(group)
        place = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
        workers = self.take("workers", n)
        on = np.minimum(filed[group] + rng.integers(0, 21, n), self.today - 1)
        state = status[group]
        state = np.where((state == OPEN) & (rng.random(n) < settle), RESOLVED, state)
        closed = np.minimum(on + rng.integers(10, 81, n), self.today - 1)
        closed = np.where(state == OPEN, -1, closed)
        self.add(
            ("hrss", "wage_complaints"),
            complaint_id=self.numbers(employer[group], on, "{prefix}人社投字〔{year}〕{seq}号"),
            worker_id=self.person.gather(workers), employer_uscc=self.uscc.gather(employer[group]),
            project_code=project.gather(group), amount_owed=_money(rng.uniform(2_000, 60_000, n)),
            filed_on=_dates(on), status=state, closed_on=_dates(closed),
        )  # fmt: skip
        return workers, employer[group], on, place

    def suits(self, workers: np.ndarray, employer: np.ndarray, after: np.ndarray) -> None:
        """Wage-recovery suits (追索劳动报酬纠纷) the workers filed after complaining."""
        rng, n = self.rng, len(workers)
        filed = np.minimum(after + rng.integers(30, 200, n), self.today - 2)
        decided = filed + rng.integers(30, 150, n)
        pending = pl.Series(decided >= self.today)
        outcome = rng.choice(
            [t.UPHELD, t.PARTLY, t.MEDIATED, t.WITHDRAWN], n, p=[0.4, 0.3, 0.2, 0.1]
        )
        text = np.select(
            [outcome == t.MEDIATED, outcome == t.WITHDRAWN],
            [np.array(t.MEDIATED_TEXT[0]), np.array(t.WITHDRAWN_TEXT[0])],
            t.OTHER_CONTESTED[0],
        )
        self.add(
            ("court", "labour_cases"),
            case_no=self.numbers(employer, filed, "（{year}）{court}民初{seq}号", base=20_000),
            court_region=self.firm_region[employer], cause=t.WAGES, filed_on=_dates(filed),
            decided_on=_dates(np.where(pending.to_numpy(), -1, decided)),
            plaintiff_id=self.person.gather(workers), defendant_uscc=self.uscc.gather(employer),
            outcome=pl.Series(outcome).set(pending, None),
            claim_amount=_money(rng.uniform(2_000, 60_000, n)),
            judgment_text=pl.Series(text).set(pending, None),
        )  # fmt: skip

    def finish(self) -> dict[tuple[str, str], pl.DataFrame]:
        """One frame per dataset in a natural row order, identifiers spelled as agencies do."""
        out = {}
        for key, parts in self.rows.items():
            frame = pl.concat(parts, how="diagonal_relaxed")
            tie = pl.Series("__tie", self.rng.random(frame.height))
            frame = frame.with_columns(tie).sort([_ORDER[key[1]], "__tie"]).drop("__tie")
            for column, kind in IDS[key].items():
                spell = _DIRT.get(kind, dirty_project)
                frame = frame.with_columns(spell(self.rng, frame[column]).alias(column))
            out[key] = frame
        return out


# --- the two models' cases -------------------------------------------------------------------
def case_count(size: int) -> int:
    """Planted cases per model: about one per 20,000 people, never fewer than five."""
    return max(5, size // 20_000)


def _decision_cases(
    b: _Builder, escrow: str, status: str, paid: tuple[float, float], enforced: np.ndarray
) -> tuple[pl.Series, np.ndarray]:
    """A decision on each of len(enforced) new projects, by its contractor, and its enforcement.
    `escrow` is a kind ("positive", "zero", "none"), or "" for decisions with no project."""
    n = len(enforced)
    if escrow:
        kinds = b.rng.choice(["full", "short", "none"], n, p=[0.7, 0.2, 0.1])
        codes, employer = b.projects(b.escrow(np.full(n, escrow)), b.deposit(kinds))
    else:
        codes, employer = pl.Series([None] * n, dtype=pl.Utf8), b.take("firms", n)
    issued = b.rng.integers(day(2020, 1, 1), b.today - 500, n)
    share = b.rng.uniform(*paid, n)
    numbers, amount, unpaid = b.decisions(employer, codes, np.full(n, status), share, issued, 5)
    b.enforcement(numbers, employer, amount if status == PERFORMED else unpaid, issued, enforced)
    return codes, employer


def _escrow_cases(b: _Builder, n: int) -> pl.DataFrame:
    """Seed 002's chain, and one look-alike of each kind per planted case."""
    stuck, unpaid = np.full(n, STUCK), (0.0, 0.35)
    codes, employer = _decision_cases(b, "positive", APPLIED, unpaid, stuck)
    _decision_cases(b, "zero", APPLIED, unpaid, stuck)  # the escrow was emptied
    _decision_cases(b, "positive", PERFORMED, (1.0, 1.0), stuck)  # paid after enforcement ended
    moving = np.where(np.arange(n) % 2 == 0, ONGOING, DONE)
    _decision_cases(b, "positive", APPLIED, unpaid, moving)  # enforcement still works, or worked
    _decision_cases(b, "", APPLIED, unpaid, stuck)  # a restaurant, say: no project at all
    # The employer's *other* project, under an unrelated developer, has escrow money; the
    # decision's own project has no escrow account.
    full = b.deposit(np.full(n, "full"))
    own, contractor = b.projects(b.escrow(np.full(n, "none")), full)
    b.projects(b.escrow(np.full(n, "positive")), full, contractors=contractor)
    issued = b.rng.integers(day(2020, 1, 1), b.today - 500, n)
    share = b.rng.uniform(*unpaid, n)
    numbers, _amount, owed = b.decisions(contractor, own, np.full(n, APPLIED), share, issued, 5)
    b.enforcement(numbers, contractor, owed, issued, stuck)
    return _truth(ESCROW_MODEL, codes, b.uscc.gather(employer))


def _complaint_cases(
    b: _Builder, n: int, deposit: np.ndarray, status: np.ndarray, age: tuple[int, int]
) -> tuple[pl.Series, np.ndarray, tuple[np.ndarray, ...]]:
    """n projects, each with a group of 5–12 workers complaining against its contractor."""
    escrow = b.escrow(b.rng.choice(["positive", "zero", "none"], n, p=[0.4, 0.1, 0.5]))
    codes, contractor = b.projects(escrow, b.deposit(deposit))
    filed = b.today - b.rng.integers(*age, n)
    rows = b.complaints(contractor, codes, b.rng.integers(5, 13, n), status, filed)
    return codes, contractor, rows


def _support_cases(b: _Builder, n: int) -> pl.DataFrame:
    """Seed 003's groups, and one look-alike group of each kind per planted group."""
    short = np.where(np.arange(n) % 2 == 0, "short", "unpaid")
    old, still_open = (200, 700), np.full(n, OPEN)
    codes, contractor, (workers, employer, on, place) = _complaint_cases(
        b, n, short, still_open, old
    )
    # In a third of the groups one worker did sue: the others still never reached a court.
    sued = (place == 0) & np.isin(employer, contractor[::3])
    b.suits(workers[sued], employer[sued], on[sued])
    settled = b.rng.choice([RESOLVED, WITHDRAWN], n, p=[0.8, 0.2])
    _complaint_cases(b, n, short, settled, old)  # closed within weeks of filing
    _c, _k, (workers, employer, on, place) = _complaint_cases(b, n, short, still_open, old)
    b.suits(workers[place > 0], employer[place > 0], on[place > 0])  # all but one sued
    _complaint_cases(b, n, np.full(n, "full"), still_open, old)  # the deposit is paid in full
    _complaint_cases(b, n, short, still_open, (5, 45))  # still within the deadline
    return _truth(SUPPORT_MODEL, codes, b.uscc.gather(contractor))


def _truth(model: str, projects: pl.Series, employers: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {"kind": [model] * len(projects), "project:project": projects, "employer:org": employers}
    )


# --- background traffic ----------------------------------------------------------------------
def _background(b: _Builder) -> None:
    rng, size = b.rng, b.size
    developers = b.take("firms", max(5, size // 2_000))
    contractors = b.take("firms", max(10, size // 1_000))
    others = b.take("firms", max(20, size // 500))  # employers outside construction
    n = max(40, size // 500)
    escrow = rng.choice(["positive", "zero", "none"], n, p=[0.35, 0.08, 0.57])
    deposit = rng.choice(["full", "short", "unpaid", "none"], n, p=[0.82, 0.08, 0.05, 0.05])
    codes, builder = b.projects(
        b.escrow(escrow), b.deposit(deposit), rng.choice(developers, n), rng.choice(contractors, n)
    )
    _background_decisions(b, codes, builder, np.flatnonzero(escrow != "positive"), others)
    paid = np.flatnonzero(np.isin(deposit, ["full", "none"]))
    _background_complaints(b, codes, builder, paid, np.concatenate([contractors, others]))


def _background_decisions(
    b: _Builder, codes: pl.Series, builder: np.ndarray, no_money: np.ndarray, others: np.ndarray
) -> None:
    rng, n = b.rng, max(60, b.size // 250)
    status = rng.choice([PERFORMED, PARTLY, UNPERFORMED, APPLIED], n, p=[0.86, 0.03, 0.03, 0.08])
    enforced = rng.choice([ONGOING, DONE, STUCK, ENDED], n, p=[0.35, 0.35, 0.25, 0.05])
    paid_late = (status == PERFORMED) & (rng.random(n) < 0.1)  # paid only under enforcement
    enforced = np.where(paid_late, DONE, enforced)
    # Stuck enforcement never sits on a project with escrow money: that is the planted chain.
    stuck = (status == APPLIED) & (enforced == STUCK)
    pick = np.where(stuck, rng.choice(no_money, n), rng.integers(0, len(codes), n))
    built = rng.random(n) < 0.6
    project = codes.gather(pick).set(pl.Series(~built), None)
    employer = np.where(built, builder[pick], rng.choice(others, n))
    share = np.select(
        [status == PERFORMED, status == PARTLY, status == APPLIED],
        [np.ones(n), rng.uniform(0.2, 0.8, n), rng.uniform(0, 0.5, n)],
        0.0,
    )
    issued = rng.integers(START, b.today - 300, n)
    numbers, amount, unpaid = b.decisions(employer, project, status, share, issued)
    rows = np.flatnonzero((status == APPLIED) | paid_late)
    owed = np.where(paid_late, amount, unpaid)[rows]
    b.enforcement(numbers.gather(rows), employer[rows], owed, issued[rows], enforced[rows])


def _background_complaints(
    b: _Builder, codes: pl.Series, builder: np.ndarray, paid: np.ndarray, employers: np.ndarray
) -> None:
    rng, groups = b.rng, max(80, b.size // 250)  # ~2.5 complaints a group
    size = np.minimum(rng.geometric(0.4, groups), 12)
    filed = rng.integers(START, b.today, groups)
    age = b.today - filed
    is_open = rng.random(groups) < np.where(age < 90, 0.6, 0.06)
    closed = rng.choice([RESOLVED, WITHDRAWN, TRANSFERRED], groups, p=[0.75, 0.1, 0.15])
    status = np.where(is_open, OPEN, closed)
    # Open complaints that may be overdue sit on projects whose deposit is paid (or none).
    risky = is_open & (age >= 60)
    pick = np.where(risky, rng.choice(paid, groups), rng.integers(0, len(codes), groups))
    built = rng.random(groups) < 0.65
    project = codes.gather(pick).set(pl.Series(~built), None)
    # On a project, mostly its contractor, sometimes a subcontractor; elsewhere any employer.
    sub = np.where(rng.random(groups) < 0.8, builder[pick], rng.choice(employers, groups))
    employer = np.where(built, sub, rng.choice(employers, groups))
    workers, employer, on, _place = b.complaints(employer, project, size, status, filed, 0.1)
    # Some complaining workers also went to court (honest: the court knows them).
    rows = rng.choice(len(workers), min(len(workers), max(10, b.size // 2_500)), replace=False)
    b.suits(workers[rows], employer[rows], on[rows])


def contribute(pop: Population) -> Contribution:
    b = _Builder(pop)
    n = case_count(pop.size)
    _background(b)
    truth = {ESCROW_MODEL: _escrow_cases(b, n), SUPPORT_MODEL: _support_cases(b, n)}
    return Contribution(frames=b.finish(), truth=truth)

"""Crime victims, judicial aid, compensation judgments, social aid and disability (seed 004).

Judicial aid (国家司法救助) is for victims whom a crime left in hardship and who cannot get their
court-awarded compensation paid; it is capped at 36 prior-year average monthly wages of the
region and granted once. Planted people follow the three stories of the model
judicial_aid_social_aid — omissions (in hardship, compensation unpaid, never aided), transfers
(aided, still disabled, not on 低保/特困供养) and duplicate or over-cap grants — among honest
look-alikes (LOOKALIKES) that each break one link of a story.

The background never forms a story: victims on social aid or disabled had their compensation
paid, aid recipients are neither disabled nor aided twice nor near the cap, and the plaintiffs
of everyday compensation suits are never victims. So the truth is exactly the planted people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coordinator.synth import dirty
from coordinator.synth.extend import Contribution, Population
from coordinator.synth.ids import REGIONS, day, year_of
from fedscreen.dictionary import datasets

MODEL = "judicial_aid_social_aid"
ROLES = ("procuratorate", "court", "civil_affairs", "disability_federation")
AS_OF = day(2025, 6, 30)
WAGE_YEARS = range(2019, 2025)
ATTACHED = "刑事附带民事赔偿"  # compensation ordered in the criminal judgment: same case number
# Crime, share of victims, median loss (yuan), log spread: ~7% of losses reach 30,000 yuan.
CRIMES = (
    ("盗窃罪", 0.34, 3000, 1.0), ("诈骗罪", 0.20, 5000, 1.2), ("故意伤害罪", 0.14, 8000, 1.0),
    ("交通肇事罪", 0.08, 12000, 1.0), ("寻衅滋事罪", 0.06, 3000, 0.9),
    ("故意毁坏财物罪", 0.05, 4000, 1.0), ("抢劫罪", 0.04, 5000, 1.0),
    ("敲诈勒索罪", 0.035, 8000, 1.0), ("非法吸收公众存款罪", 0.02, 20000, 1.0),
    ("过失致人重伤罪", 0.02, 20000, 0.8), ("强奸罪", 0.01, 10000, 0.8),
    ("故意杀人罪", 0.005, 150000, 0.7),
)  # fmt: skip
SEVERE = ("故意伤害罪", "交通肇事罪", "抢劫罪", "过失致人重伤罪")
CAUSES = ("机动车交通事故责任纠纷", "生命权、身体权、健康权纠纷", "财产损害赔偿纠纷")
CATEGORIES = ("肢体", "听力", "视力", "精神", "多重", "智力", "言语")
CATEGORY_P = (0.45, 0.16, 0.12, 0.10, 0.08, 0.07, 0.02)
# 2019 average monthly wage of employees (yuan); each region's grows 4-7% a year.
WAGE_2019 = {
    "110101": 14200, "110105": 13900, "310112": 12400, "310115": 12800, "320102": 10500,
    "330106": 10200, "370102": 8600, "410102": 6800, "410502": 5300, "410503": 5200,
    "410522": 4700, "420102": 8300, "420503": 6400, "430102": 8000, "440106": 11000,
    "460105": 7400, "469005": 6000, "500103": 7800, "510104": 8400, "610113": 8100,
    "610725": 4600,
}  # fmt: skip
LOOKALIKES = (
    "paid",  # victim on 低保, compensation paid in full
    "mostly_paid",  # disabled victim, 85-95% of the compensation paid
    "aided",  # on 低保, compensation unpaid, but did get judicial aid
    "support_ended_before",  # 低保 ended a year or more before the case was decided
    "temporary_aid_only",  # only 临时救助 or 医疗救助, which is not being on social aid
    "minor_loss",  # on 低保, unpaid, but a loss under 30,000 yuan
    "on_social_aid",  # aided, severely disabled, but already on 低保 or 特困供养
    "mild_and_paid",  # aided, grade 3-4 disability, compensation paid
    "not_disabled",  # aided, compensation unpaid, no disability
    "two_persons_one_case",  # the widow and the child of a killed victim, one aid each
    "just_under_cap",  # 95-99% of the cap (above it with the wage of two years before)
    "rich_region",  # above a poor county's cap, granted where wages are much higher
    "recorded_twice",  # one grant entered twice, its number spelled differently
)
TABLES = {
    "case": ("case", "region", "on", "court"),
    "victim": ("case", "pid", "crime", "loss"),
    "judgment": ("case", "plaintiff", "defendant", "cause", "award", "paid", "on"),
    "aid": ("grant", "pid", "case", "amount", "on", "region", "dirty_pid", "dirty_no"),
    "support": ("pid", "program", "region", "start", "end", "monthly", "household"),
    "cert": ("pid", "category", "grade", "issued"),
}


def planted_count(size: int) -> int:
    return max(5, size // 20_000)


def _year(on: int) -> int:
    return int(year_of(np.array([on]))[0])


class _Book:
    """Every internal table: planted rows appended one at a time, background in bulk frames.
    People are row numbers of pop.people, dates int days since 1970, cases and grants int keys
    (numbered when rendered)."""

    def __init__(self, pop: Population) -> None:
        self.rng, self.pop = pop.rng("aid"), pop
        self.rows: dict[str, dict[str, list[object]]] = {
            t: {c: [] for c in cols} for t, cols in TABLES.items()
        }
        self.bulk: dict[str, list[pl.DataFrame]] = {t: [] for t in TABLES}
        self.cases = self.grants = self.taken = 0
        people = pop.people
        self.ids, self.regions = people["person_id"], people["region"].to_numpy().astype(str)
        self.birth = people["birth_date"].cast(pl.Int32).to_numpy().astype(np.int64)
        age = (AS_OF - self.birth) / 365.25
        adults = np.flatnonzero(~people["planted"].to_numpy() & (age >= 20) & (age < 85))
        self.pool = self.rng.permutation(adults)
        self.wage = _wages(pop, self.rng)
        by_wage = sorted({r for r, _y in self.wage}, key=lambda r: self.wage[(r, 2019)])
        self.poorest, self.richest = by_wage[0], by_wage[-1]
        self.truth: list[tuple[str, int]] = []
        self.lookalikes: list[tuple[str, int]] = []

    def take(self, n: int = 1, *kinds: str) -> list[int]:
        """Fresh adults, never used by another story (nor by seed 001's rings); the i-th is
        listed as a look-alike of kinds[i] if that is given."""
        self.taken += n
        people = [int(p) for p in self.pool[self.taken - n : self.taken]]
        self.lookalikes += [(k, p) for k, p in zip(kinds or [""] * n, people, strict=True) if k]
        return people

    def rest(self) -> np.ndarray:
        return self.pool[self.taken :]

    def add(self, table: str, **row: object) -> None:
        for column, value in row.items():
            self.rows[table][column].append(value)

    def case(self, region: str, on: int, court: str = "刑初") -> int:
        self.cases += 1
        self.add("case", case=self.cases, region=region, on=on, court=court)
        return self.cases

    def cap(self, region: str, granted: int) -> float:
        return 36.0 * self.wage[(region, _year(granted) - 1)]

    def frame(self, table: str) -> pl.DataFrame:
        frames = [pl.DataFrame(self.rows[table], strict=False), *self.bulk[table]]
        return pl.concat([f for f in frames if f.height], how="diagonal_relaxed")


def _wages(pop: Population, rng: np.random.Generator) -> dict[tuple[str, int], float]:
    out = {}
    for region in sorted(set(pop.people["region"].unique()) | set(pop.firms["region"].unique())):
        base = WAGE_2019.get(region, 6500) * rng.uniform(0.97, 1.03)
        growth = rng.uniform(1.04, 1.07)
        for year in WAGE_YEARS:
            out[(region, year)] = float(round(base * growth ** (year - 2019)))
    return out


class _Planter:
    """The planted stories and their look-alikes, one person (or family) per call."""

    def __init__(self, book: _Book) -> None:
        self.b, self.rng = book, book.rng

    def u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def within(self, first: int, last: int) -> int:
        return int(self.rng.integers(first, max(first, last) + 1))

    def after(self, on: int, low: int = 60, high: int = 500) -> int:
        return min(on + self.within(low, high), AS_OF - 1)

    def grant_day(self, on: int) -> int:
        """Aid follows the case; the wage reference begins with 2019, so grants with 2020."""
        return max(self.after(on), self.within(day(2020), day(2020, 4)))

    def victim(
        self, pid: int, loss: float, region: str = "", on: int = 0, crime: str = ""
    ) -> tuple[int, int]:
        """A victim of a crime decided mid-2019 to mid-2023 (or on `on`): (case, decided)."""
        on = on or self.within(day(2019, 6, 1), day(2023, 6, 30))
        case = self.b.case(region or self.b.regions[pid], on)
        crime = crime or str(self.rng.choice(SEVERE))
        self.b.add("victim", case=case, pid=pid, crime=crime, loss=round(loss, 2))
        return case, on

    def claim(self, pid: int, loss: float, paid_share: float, on: int = 0) -> tuple[int, int]:
        """A victim awarded 60-100% of the loss by the court, `paid_share` of it paid."""
        case, on = self.victim(pid, loss, on=on)
        self.judgment(pid, case, loss * self.u(0.6, 1.0), paid_share, on)
        return case, on

    def judgment(self, pid: int, case: int, award: float, paid_share: float, on: int) -> None:
        defendant = int(self.rng.choice(self.b.rest()))
        cause = ATTACHED
        if self.rng.random() < 0.4:  # a separate civil suit after the criminal judgment
            on, cause = self.after(on, 30, 200), str(self.rng.choice(CAUSES[:2]))
            case = self.b.case(self.b.regions[pid], on, "民初")
        award = round(award, -2)
        paid = round(award * paid_share, -2)
        row = {"plaintiff": pid, "defendant": defendant, "cause": cause, "award": award}
        self.b.add("judgment", case=case, paid=paid, on=on, **row)

    def support(self, pid: int, program: str, start: int, end: int | None = None) -> None:
        size = 1 if program == "特困供养" else int(self.rng.integers(1, 6))
        monthly = {"低保": 600.0 * size, "特困供养": 1100.0}.get(program, 2000.0)
        row = {"program": program, "region": self.b.regions[pid], "start": start, "end": end}
        self.b.add("support", pid=pid, monthly=monthly, household=size, **row)

    def cert(self, pid: int, grade: int, issued: int) -> None:
        category = str(self.rng.choice(CATEGORIES[:4]))
        self.b.add("cert", pid=pid, category=category, grade=grade, issued=issued)

    def aid(
        self, pid: int, case: int, amount: float, on: int, region: str = "", *,
        dirty_pid: bool = False, again: bool = False,
    ) -> None:  # fmt: skip
        """A grant; dirty_pid spells the person's ID dirty, `again` enters the previous grant
        a second time (its number spelled differently)."""
        self.b.grants += 0 if again else 1
        row = {"case": case, "amount": round(amount, -2), "on": on, "dirty_pid": dirty_pid}
        region = region or self.b.regions[pid]
        self.b.add("aid", grant=self.b.grants, pid=pid, region=region, dirty_no=again, **row)

    def grade(self, severe: bool) -> int:
        return int(self.rng.integers(1, 3) if severe else self.rng.integers(3, 5))

    def omission(self, i: int) -> None:
        (pid,) = self.b.take()
        case, on = self.claim(pid, self.u(35_000, 400_000), self.u(0.0, 0.4))
        if i % 4 == 0:
            self.support(pid, "低保", self.within(day(2015), AS_OF - 30))
        elif i % 4 == 1:
            self.support(pid, "特困供养", self.within(day(2015), on))
        elif i % 4 == 2:
            self.cert(pid, self.grade(i % 8 == 2), self.after(on, 30, 300))
        else:  # support that outlasted the decision by at least a calendar year
            self.support(pid, "低保", on - 400, self.within(day(_year(on) + 1, 2), AS_OF - 10))
        self.b.truth.append(("omission", pid))

    def omission_lookalikes(self) -> None:
        paid, mostly, aided, ended, temporary, minor = self.b.take(6, *LOOKALIKES[:6])
        for pid, share in ((paid, 1.0), (mostly, self.u(0.85, 0.95)), (aided, 0.0)):
            case, on = self.claim(pid, self.u(40_000, 200_000), share)  # the last: aided's
        self.support(paid, "低保", self.within(day(2016), AS_OF - 30))
        self.cert(mostly, self.grade(self.rng.random() < 0.5), self.within(day(2010), AS_OF - 30))
        self.support(aided, "低保", on - 200)
        self.aid(aided, case, self.u(20_000, 60_000), self.grant_day(on))
        case, on = self.claim(
            ended, self.u(40_000, 200_000), 0.0, on=self.within(day(2021), day(2023))
        )
        self.support(ended, "低保", day(2015, 3), self.within(day(2017), day(_year(on) - 1, 6)))
        case, on = self.claim(temporary, self.u(40_000, 200_000), 0.0)
        start = self.after(on, 10, 200)
        self.support(temporary, str(self.rng.choice(["临时救助", "医疗救助"])), start, start + 60)
        case, on = self.claim(minor, self.u(3_000, 25_000), 0.0)
        self.support(minor, "低保", self.within(day(2016), on))

    def recipient(self, pid: int, unpaid: bool) -> int:
        """An aided victim (one grant well under the cap); returns the grant day."""
        case, on = self.claim(pid, self.u(40_000, 300_000), 0.1 if unpaid else 1.0)
        granted = self.grant_day(on)
        self.aid(pid, case, self.u(20_000, 80_000), granted)
        return granted

    def transfer(self, i: int) -> None:
        (pid,) = self.b.take()
        severe = i % 2 == 0  # severe alone; a milder grade only with compensation unpaid
        granted = self.recipient(pid, unpaid=not severe)
        self.cert(pid, self.grade(severe), self.after(granted - 400, 0, 390))
        if i % 4 == 2:  # was on 低保 once, no longer
            self.support(pid, "低保", granted - 300, self.after(granted, 30, 300))
        elif i % 4 == 3:  # medical aid is no ongoing social aid
            start = self.after(granted, 10, 200)
            self.support(pid, "医疗救助", start, start + 90)
        self.b.truth.append(("transfer", pid))

    def transfer_lookalikes(self) -> None:
        on_aid, mild, healthy = self.b.take(3, *LOOKALIKES[6:9])
        granted = self.recipient(on_aid, unpaid=True)
        self.cert(on_aid, self.grade(True), granted - 30)
        self.support(on_aid, str(self.rng.choice(["低保", "特困供养"])), granted - 100)
        self.cert(mild, self.grade(False), self.recipient(mild, unpaid=False) - 30)
        self.recipient(healthy, unpaid=True)

    def duplicate(self, i: int) -> None:
        (pid,) = self.b.take()
        if i % 3 == 2:  # one grant above the cap of the poorest county
            region = self.b.poorest
            case, on = self.victim(pid, self.u(300_000, 900_000), region)
            granted = self.grant_day(on)
            self.aid(pid, case, self.b.cap(region, granted) * self.u(1.1, 1.6), granted, region)
        else:  # twice: for one case by two procuratorates, or for two cases
            case, on = self.victim(pid, self.u(40_000, 300_000))
            first = self.grant_day(on)
            self.aid(pid, case, self.u(20_000, 60_000), first)
            if i % 3 == 1:
                case, on = self.victim(pid, self.u(40_000, 300_000), on=self.after(first, 30, 300))
            self.aid(
                pid, case, self.u(10_000, 40_000), self.grant_day(max(first, on)), dirty_pid=True
            )
        self.b.truth.append(("duplicate_or_over_cap", pid))

    def duplicate_lookalikes(self) -> None:
        kinds = ("", LOOKALIKES[9], *LOOKALIKES[9:])  # the killed victim is no look-alike
        killed, widow, child, under, rich, twice = self.b.take(6, *kinds)
        region = self.b.regions[killed]
        case, on = self.victim(killed, self.u(500_000, 1_500_000), crime="故意杀人罪")
        granted = self.grant_day(on)
        self.aid(widow, case, self.u(60_000, 120_000), granted, region)
        self.aid(child, case, self.u(30_000, 80_000), granted, region)
        case, on = self.victim(under, self.u(300_000, 800_000))
        granted = self.grant_day(on)
        amount = np.floor(self.b.cap(self.b.regions[under], granted) * self.u(0.95, 0.99) / 100)
        self.aid(under, case, float(amount) * 100, granted)
        case, on = self.victim(rich, self.u(400_000, 900_000), self.b.richest)
        granted = self.grant_day(on)
        amount = self.b.cap(self.b.poorest, granted) * self.u(1.1, 1.3)
        self.aid(rich, case, amount, granted, self.b.richest)
        case, on = self.victim(twice, self.u(40_000, 300_000))
        granted = self.grant_day(on)
        amount = self.u(20_000, 60_000)
        self.aid(twice, case, amount, granted)
        self.aid(twice, case, amount, granted, again=True)


# --- background ------------------------------------------------------------------------------
def _background(b: _Book, k: int) -> None:
    rng, size, pool = b.rng, b.pop.size, b.rest()
    # ~5% hold a disability certificate; ~1.5% are on 低保 or 特困供养, disabled people more
    # often; ~0.5% had only one-off temporary or medical aid.
    holders = rng.choice(pool, min(int(size * 0.05), pool.size), replace=False)
    _certificates(b, holders)
    others = _without(b, pool, holders)
    # Small worlds get at least 50 per planted round, so that the planted people's records
    # stay a small share of civil affairs' rows (its disclosure cap).
    n = max(int(size * 0.015), 50 * k)
    supported = np.concatenate(
        [
            rng.choice(holders, min(n * 4 // 15, holders.size), replace=False),
            rng.choice(others, min(n * 11 // 15, others.size), replace=False),
        ]
    )
    _supports(b, supported, rng.choice(["低保", "特困供养"], supported.size, p=[0.85, 0.15]))
    once = rng.choice(pool, min(int(size * 0.005), pool.size), replace=False)
    _supports(b, once, rng.choice(["临时救助", "医疗救助"], once.size))
    hardship = np.concatenate([holders, supported])
    victims = _victims(b, pool, max(size // 60, 200 * k))
    _judgments(b, victims, hardship)
    _aids(b, victims, hardship, max(k, size // 4000))
    _everyday_suits(b, _without(b, pool, victims["pid"].to_numpy()), size // 100)


def _without(b: _Book, pool: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """`pool` less the people in `drop` (a mask over everyone: no sorting of a million IDs)."""
    dropped = np.zeros(b.ids.len(), dtype=bool)
    dropped[drop] = True
    return pool[~dropped[pool]]


def _certificates(b: _Book, pids: np.ndarray) -> None:
    rng, n = b.rng, pids.size
    issued = rng.integers(np.maximum(b.birth[pids] + 365, day(1995)), AS_OF)
    grade = rng.choice(4, n, p=[0.12, 0.2, 0.3, 0.38]) + 1
    category = rng.choice(CATEGORIES, n, p=CATEGORY_P)
    frame = {"pid": pids, "category": category, "grade": grade, "issued": issued}
    b.bulk["cert"].append(pl.DataFrame(frame))


def _supports(b: _Book, pids: np.ndarray, program: np.ndarray) -> None:
    rng, n = b.rng, pids.size
    start = rng.integers(day(2012), AS_OF - 30, n)
    once = np.isin(program, ["临时救助", "医疗救助"])
    ongoing = ~once & (rng.random(n) < 0.7)
    length = np.where(once, rng.integers(1, 120, n), rng.integers(365, 6 * 365, n))
    end = np.where(ongoing, -1, np.minimum(start + length, AS_OF - 1))
    size = np.where(program == "特困供养", 1, rng.integers(1, 6, n))
    monthly = np.select(
        [program == "低保", program == "特困供养"],
        [rng.uniform(450, 800, n) * size, rng.uniform(900, 1400, n)],
        rng.uniform(500, 5000, n),
    )
    frame = pl.DataFrame(
        {
            "pid": pids,
            "program": program,
            "region": b.regions[pids],
            "start": start,
            "end": end,
            "monthly": monthly.round(-1),
            "household": size,
        }
    )
    b.bulk["support"].append(frame.with_columns(end=pl.when(pl.col("end") >= 0).then("end")))


def _victims(b: _Book, pool: np.ndarray, n: int) -> pl.DataFrame:
    """Victims of everyday crimes; about one case in fourteen has a second victim."""
    rng = b.rng
    pids = rng.choice(pool, n)
    of_case = np.cumsum(rng.random(n) >= 0.07) - 1  # the case, numbered within this batch
    cases = int(of_case[-1]) + 1
    crime = rng.choice(len(CRIMES), cases, p=[c[1] for c in CRIMES])[of_case]
    median, spread = (np.array([c[i] for c in CRIMES])[crime] for i in (2, 3))
    region = b.regions[pids][np.searchsorted(of_case, np.arange(cases))]  # first victim's
    on = rng.integers(day(2019), AS_OF - 30, cases)
    first = b.cases + 1
    b.cases += cases
    case = {"case": np.arange(first, first + cases), "region": region, "on": on, "court": "刑初"}
    b.bulk["case"].append(pl.DataFrame(case))
    victims = pl.DataFrame(
        {
            "case": first + of_case,
            "pid": pids,
            "crime": np.array([c[0] for c in CRIMES])[crime],
            "loss": (median * np.exp(rng.normal(0, 1, n) * spread)).round(-1),
            "on": on[of_case],
            "region": region[of_case],
        }
    )
    b.bulk["victim"].append(victims.select(TABLES["victim"]))
    return victims


def _paid_share(rng: np.random.Generator, n: int, full: float) -> np.ndarray:
    partly = rng.random(n) < 0.5
    return np.select([rng.random(n) < full, partly], [1.0, rng.uniform(0.1, 0.9, n)], 0.0)


def _judgments(b: _Book, victims: pl.DataFrame, hardship: np.ndarray) -> None:
    """Half the victims with a loss won compensation in the criminal judgment; those in
    recorded hardship were paid (else they would be omissions the truth does not list)."""
    rng = b.rng
    sued = victims.filter(pl.col("loss") >= 2000)
    sued = sued.filter(pl.Series(rng.random(sued.height) < 0.5))
    n = sued.height
    share = np.where(np.isin(sued["pid"], hardship), 1.0, _paid_share(rng, n, 0.45))
    award = (sued["loss"].to_numpy() * rng.uniform(0.5, 1.0, n)).round(-2)
    b.bulk["judgment"].append(
        sued.select(
            "case",
            "on",
            plaintiff="pid",
            defendant=pl.Series(rng.choice(b.rest(), n)),
            cause=pl.lit(ATTACHED),
            award=award,
            paid=(award * share).round(-2),
        )
    )


def _aids(b: _Book, victims: pl.DataFrame, hardship: np.ndarray, n: int) -> None:
    """Aid once each, at 15-70% of the cap, to victims with a large loss and no disability;
    half of them are on 低保 (look-alikes of a transfer: already on social aid)."""
    rng = b.rng
    eligible = victims.filter(
        (pl.col("loss") >= 30_000)
        & pl.col("on").is_between(day(2019, 3), AS_OF - 120)
        & ~pl.col("pid").is_in(pl.Series(hardship).implode())
    ).unique("pid", keep="first", maintain_order=True)
    chosen = eligible[np.sort(rng.permutation(eligible.height)[:n])]
    m = chosen.height
    granted = chosen["on"].to_numpy() + rng.integers(30, 400, m)
    granted = np.clip(granted, rng.integers(day(2020), day(2020, 4), m), AS_OF - 1)
    caps = [b.cap(r, g) for r, g in zip(chosen["region"], granted.tolist(), strict=True)]
    first = b.grants + 1
    b.grants += m
    b.bulk["aid"].append(
        chosen.select(
            "case",
            "pid",
            "region",
            grant=np.arange(first, first + m),
            amount=(np.array(caps) * rng.uniform(0.15, 0.7, m)).round(-2),
            on=granted,
            dirty_pid=pl.lit(False),
            dirty_no=pl.lit(False),
        )
    )
    later = chosen["pid"].to_numpy()[rng.random(m) < 0.5]
    _supports(b, later, np.full(later.size, "低保"))


def _everyday_suits(b: _Book, plaintiffs: np.ndarray, n: int) -> None:
    """Traffic, injury and property suits between people who are not victims in our data."""
    rng, n = b.rng, n if plaintiffs.size else 0  # a tiny world may have no one left
    on = rng.integers(day(2019), AS_OF - 1, n)
    pids = rng.choice(plaintiffs, n)
    first = b.cases + 1
    b.cases += n
    cases = np.arange(first, first + n)
    case = {"case": cases, "region": b.regions[pids], "on": on, "court": "民初"}
    b.bulk["case"].append(pl.DataFrame(case))
    award = np.exp(rng.normal(np.log(30_000), 1.0, n)).round(-2)
    judgments = {
        "case": cases,
        "plaintiff": pids,
        "defendant": rng.choice(b.rest(), n),
        "cause": rng.choice(CAUSES, n, p=[0.6, 0.25, 0.15]),
        "award": award,
        "paid": (award * _paid_share(rng, n, 0.6)).round(-2),
        "on": on,
    }
    b.bulk["judgment"].append(pl.DataFrame(judgments))


# --- rendering -------------------------------------------------------------------------------
_PROVINCE = {r.code: r.province for r in REGIONS}
_PLACE = {r.code: r.arbitration for r in REGIONS}


def _date(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int32).cast(pl.Date)


def _numbered(frame: pl.DataFrame, rng: np.random.Generator, by: list[str]) -> pl.DataFrame:
    """`seq`: document numbers per register and year in date order, with gaps (the register
    numbers other kinds of case too)."""
    steps = pl.Series(rng.integers(1, 8, frame.height))
    frame = frame.with_columns(year=_date("on").dt.year(), step=steps)
    return frame.with_columns(seq=pl.col("step").cum_sum().over([*by, "year"], order_by="on"))


def _case_numbers(b: _Book) -> pl.DataFrame:
    """`（2023）豫0502刑初123号`; civil suits of this model start at 20000 so that they never
    meet the numbers of the labour suits in the same court's register."""
    cases = _numbered(b.frame("case"), b.rng, ["region", "court"])
    province = pl.col("region").replace_strict(_PROVINCE, default="豫")
    seq = pl.col("seq") + pl.when(pl.col("court") == "民初").then(20_000).otherwise(0)
    number = pl.format(
        "（{}）{}{}{}{}号", "year", province, pl.col("region").str.slice(2), "court", seq
    )
    return cases.select("case", case_no=number)


def _aid_numbers(aid: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """`文检司救〔2023〕12号`: the procuratorate's register of judicial-aid decisions."""
    grants = _numbered(aid.unique("grant", keep="first").sort("grant"), rng, ["region"])
    place = pl.col("region").replace_strict(_PLACE, default="")
    return grants.select("grant", aid_no=pl.format("{}检司救〔{}〕{}号", place, "year", "seq"))


def _spell(b: _Book, frame: pl.DataFrame, column: str, force: str = "") -> pl.DataFrame:
    """A few percent of the column's identifiers dirty, and every row flagged `force`."""
    rate = np.full(frame.height, dirty.RATE)
    if force:
        rate = np.where(frame[force].to_numpy(), 1.0, rate)
    spell = dirty.case if column.endswith("_no") else dirty.person
    return frame.with_columns(spell(b.rng, frame[column], rate).alias(column))


def _people(b: _Book, frame: pl.DataFrame, **columns: str) -> pl.DataFrame:
    """Row numbers of people replaced by their canonical resident IDs."""
    return frame.with_columns(b.ids.gather(frame[c]).alias(name) for name, c in columns.items())


def _order(b: _Book, frame: pl.DataFrame, on: str) -> pl.DataFrame:
    """Rows in date order, ties at random, so planted rows hide among the background."""
    shuffle = pl.Series("__r", b.rng.random(frame.height))
    return frame.with_columns(shuffle).sort(on, "__r").drop("__r")


def _render(b: _Book) -> dict[tuple[str, str], pl.DataFrame]:
    numbers = _case_numbers(b)
    cases = b.frame("case").join(numbers, on="case")
    victims = _people(b, b.frame("victim").join(cases, on="case"), person_id="pid")
    victims = victims.with_columns(loss_amount="loss", decided_on=_date("on"))
    judgments = b.frame("judgment").join(numbers, on="case")
    judgments = _people(b, judgments, plaintiff_id="plaintiff", defendant_id="defendant")
    judgments = judgments.with_columns(
        award_amount="award", paid_amount="paid", decided_on=_date("on")
    )
    aid = b.frame("aid")
    aid = aid.join(numbers, on="case").join(_aid_numbers(aid, b.rng), on="grant")
    aid = _people(b, aid, person_id="pid").with_columns(granted_on=_date("on"))
    support = _people(b, b.frame("support"), person_id="pid").with_columns(
        start_on=_date("start"),
        end_on=_date("end"),
        monthly_amount="monthly",
        household_size="household",
    )
    certs = _people(b, b.frame("cert"), person_id="pid").with_columns(issued_on=_date("issued"))
    spelled = {
        "victims": (victims, ("person_id", "case_no"), "decided_on"),
        "judicial_aid": (aid, ("person_id", "aid_no", "case_no"), "granted_on"),
        "civil_judgments": (judgments, ("plaintiff_id", "defendant_id", "case_no"), "decided_on"),
        "assistance": (support, ("person_id",), "start_on"),
        "certificates": (certs, ("person_id",), "issued_on"),
    }
    frames = {}
    for name, (frame, columns, on) in spelled.items():
        for column in columns:
            force = {"person_id": "dirty_pid", "aid_no": "dirty_no"}.get(column, "")
            frame = _spell(b, frame, column, force if force in frame.columns else "")
        frames[name] = _order(b, frame, on)
    wages = [(r, y, w) for (r, y), w in sorted(b.wage.items())]
    frames["wage_reference"] = pl.DataFrame(
        wages, schema=["region", "year", "avg_monthly_wage"], orient="row"
    )
    return {
        (role, name): frame.select(c.name for c in datasets(role)[name].columns)
        for role in ROLES
        for name, frame in frames.items()
        if name in datasets(role)
    }


@dataclass(frozen=True)
class Built:
    frames: dict[tuple[str, str], pl.DataFrame]
    truth: pl.DataFrame  # kind, person:person (canonical resident IDs)
    lookalikes: pl.DataFrame  # kind (one of LOOKALIKES), person_id (canonical)


def contribute(pop: Population) -> Contribution:
    built = build(pop)
    return Contribution(frames=built.frames, truth={MODEL: built.truth})


def build(pop: Population) -> Built:
    book = _Book(pop)
    planter = _Planter(book)
    # Each round plants 18 people; tiny populations keep half their adults for the background.
    k = min(planted_count(pop.size), book.pool.size // 36)
    for i in range(k):
        planter.omission(i)
        planter.omission_lookalikes()
        planter.transfer(i)
        planter.transfer_lookalikes()
        planter.duplicate(i)
        planter.duplicate_lookalikes()
    _background(book, k)
    return Built(
        _render(book),
        _listed(book, book.truth, "person:person"),
        _listed(book, book.lookalikes, "person_id"),
    )


def _listed(b: _Book, rows: list[tuple[str, int]], column: str) -> pl.DataFrame:
    people = [p for _k, p in rows]
    return pl.DataFrame({"kind": [k for k, _p in rows], column: b.ids.gather(people)})

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

The Book of internal tables and the shared vocabulary are in aid_records.py; the background
volumes and the rendering into datasets in aid_background.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coordinator.synth.aid_background import background, render_frames
from coordinator.synth.aid_records import (
    AS_OF,
    ATTACHED,
    CATEGORIES,
    CAUSES,
    Book,
    year_on,
)
from coordinator.synth.extend import Contribution, Population, planted_count
from coordinator.synth.ids import day

MODEL = "judicial_aid_social_aid"
SEVERE = ("故意伤害罪", "交通肇事罪", "抢劫罪", "过失致人重伤罪")
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


class _Planter:
    """The planted stories and their look-alikes, one person (or family) per call."""

    def __init__(self, book: Book) -> None:
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
            self.support(pid, "低保", on - 400, self.within(day(year_on(on) + 1, 2), AS_OF - 10))
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
        self.support(ended, "低保", day(2015, 3), self.within(day(2017), day(year_on(on) - 1, 6)))
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


@dataclass(frozen=True)
class Built:
    frames: dict[tuple[str, str], pl.DataFrame]
    truth: pl.DataFrame  # kind, person:person (canonical resident IDs)
    lookalikes: pl.DataFrame  # kind (one of LOOKALIKES), person_id (canonical)


def contribute(pop: Population) -> Contribution:
    built = build(pop)
    return Contribution(frames=built.frames, truth={MODEL: built.truth})


def build(pop: Population) -> Built:
    book = Book(pop)
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
    background(book, k)
    return Built(
        render_frames(book),
        _listed(book, book.truth, "person:person"),
        _listed(book, book.lookalikes, "person_id"),
    )


def _listed(b: Book, rows: list[tuple[str, int]], column: str) -> pl.DataFrame:
    people = [p for _k, p in rows]
    return pl.DataFrame({"kind": [k for k, _p in rows], column: b.ids.gather(people)})

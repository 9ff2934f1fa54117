"""The background population: ordinary people, firms and the everyday traffic of the agencies.

Generated after the planted rows, in bulk (one numpy draw per column, no loop per person),
topping each dataset up to its target size (targets in `targets`). Background events never
form the fraud chain: confirmation suits here are mostly contested, and no back-payment here
cites a confirmation suit, so the ground truth is exactly the planted rings.
"""

from __future__ import annotations

import numpy as np

from coordinator.synth import texts as t
from coordinator.synth.ids import day
from coordinator.synth.world import AS_OF_DAY, YEAR, World

START = day(2019, 1, 1)  # background court and agency records begin here
INSURANCE_START = day(1992, 1, 1)
_STATUS_P = {"存续": 0.55, "在业": 0.25, "吊销": 0.08, "注销": 0.10, "迁出": 0.02}


def targets(people: int) -> dict[str, int]:
    """Rough sizes of each dataset for a population of `people` (planted rows included)."""
    return {
        "firms": people // 25,
        "cases": people // 100,
        "awards": people // 150,
        "back_payments": people // 150,
        "retirements": people // 40,
        "insured": int(people * 0.6),
    }


def populate(world: World, people: int) -> None:
    want = targets(people)
    base = _people(world, max(people - world.size("people"), 100))
    firms = _firms(world, max(want["firms"] - world.size("firms"), 20), base)
    cases = _cases(world, max(want["cases"] - world.size("cases"), people // 200, 1), base, firms)
    _awards(world, max(want["awards"] - world.size("awards"), people // 300, 1), base, firms)
    retirees = _retirements(world, max(want["retirements"] - world.size("retirements"), 1), base)
    payers = _back_payments(
        world,
        max(want["back_payments"] - world.size("back_payments"), people // 300, 1),
        base,
        firms,
        retirees,
        cases,
    )
    _insured(world, want["insured"], base, np.union1d(retirees, payers))


def _people(world: World, n: int) -> np.ndarray:
    # Reflect rather than clip at 0 and 95: clipping piles people onto one birth date.
    age = np.abs(world.rng.normal(40, 18, n))
    age = np.where(age > 95, 190 - age, age)
    birth = AS_OF_DAY - np.floor(age * YEAR).astype(np.int64) - 1
    male = world.rng.random(n) < 0.51
    return world.add("people", birth=birth, male=male, region=world.region(n), planted=False)


def _adults(world: World, base: np.ndarray, low: int, high: int) -> np.ndarray:
    age = (AS_OF_DAY - world.table("people")["birth"][base]) / YEAR
    return base[(age >= low) & (age < high)]


def _firms(world: World, n: int, base: np.ndarray) -> np.ndarray:
    rng = world.rng
    # Younger firms are more common; ages wrap at 32 years (the register starts in 1993).
    established = AS_OF_DAY - 1 - ((rng.exponential(8, n) % 32) * YEAR).astype(np.int64)
    status = rng.choice(list(_STATUS_P), size=n, p=list(_STATUS_P.values()))
    active = np.isin(status, ["存续", "在业"])
    reported = np.clip(np.round(rng.lognormal(1.8, 1.3, n)), 0, 20_000).astype(np.int64)
    reported = np.where(~active & (rng.random(n) < 0.7), 0, reported)
    employer = active & (reported > 0) & (rng.random(n) < 0.9)
    insured = np.clip(np.round(reported * rng.uniform(0.5, 1.1, n)), 1, None).astype(np.int64)
    capital = np.round(rng.lognormal(np.log(100.0), 1.2, n)).astype(np.int64) * 10_000_00
    return world.add(
        "firms",
        region=world.region(n),
        established=established,
        status=status,
        capital=np.maximum(capital, 10_000_00),
        reported=reported,
        insured=np.where(employer, insured, -1),
        legal_rep=rng.choice(_adults(world, base, 25, 75), n),
    )


def _sued(world: World, firms: np.ndarray, n: int) -> np.ndarray:
    """Firms drawn in proportion to their size: big employers see more disputes."""
    weight = world.table("firms")["reported"][firms] + 1.0
    return world.rng.choice(firms, n, p=weight / weight.sum())


def _filing_dates(world: World, fids: np.ndarray, latest: int) -> np.ndarray:
    established = world.table("firms")["established"][fids]
    low = np.minimum(np.maximum(established + 30, START), latest)
    return world.rng.integers(low, latest + 1)


def _cases(world: World, n: int, base: np.ndarray, firms: np.ndarray) -> np.ndarray:
    rng = world.rng
    fids = _sued(world, firms, n)
    filed = _filing_dates(world, fids, AS_OF_DAY - 161)
    cause = rng.choice(t.COURT_CAUSES, n, p=[0.15, 0.4, 0.3, 0.15])
    confirm = cause == t.CONFIRM
    # Confirmation suits: mostly contested; the uncontested ones never lead to a back-payment.
    contested = ~confirm | (rng.random(n) < 0.8)
    outcome = np.where(
        confirm,
        rng.choice(
            [t.DISMISSED, t.CONFIRMED, t.WITHDRAWN, t.MEDIATED], n, p=[0.45, 0.35, 0.1, 0.1]
        ),
        rng.choice(
            [t.UPHELD, t.PARTLY, t.DISMISSED, t.MEDIATED, t.WITHDRAWN],
            n,
            p=[0.25, 0.3, 0.15, 0.2, 0.1],
        ),
    )
    outcome = np.where(confirm & ~contested, t.CONFIRMED, outcome)
    other = np.select(
        [cause == t.WAGES, cause == t.CONTRACT],
        [np.array(t.OTHER_CONTESTED[0]), np.array(t.OTHER_CONTESTED[1])],
        t.OTHER_CONTESTED[2],
    )
    other = np.where((cause == t.WAGES) & (rng.random(n) < 0.3), t.WAGES_UNCONTESTED[0], other)
    text = np.select(
        [
            outcome == t.MEDIATED,
            outcome == t.WITHDRAWN,
            confirm & ~contested,
            confirm & (outcome == t.CONFIRMED),
            confirm,
        ],
        [
            np.array(t.MEDIATED_TEXT[0]),
            np.array(t.WITHDRAWN_TEXT[0]),
            t.pick(rng, t.UNCONTESTED_COURT, n),
            t.pick(rng, t.CONTESTED_CONFIRMED_COURT, n),
            t.pick(rng, t.CONTESTED_DISMISSED_COURT, n),
        ],
        other,
    )
    yuan = np.select(
        [cause == t.WAGES, cause == t.CONTRACT, cause == t.INJURY],
        [
            rng.integers(3_000, 150_000, n),
            rng.integers(5_000, 200_000, n),
            rng.integers(20_000, 600_000, n),
        ],
        np.where(rng.random(n) < 0.5, 0, -1),
    )
    claim = np.where(yuan > 0, yuan * 100 + rng.integers(0, 100, n) * (yuan > 0), yuan)
    return world.add(
        "cases",
        pid=rng.choice(_adults(world, base, 22, 70), n),
        fid=fids,
        cause=cause,
        filed=filed,
        decided=filed + rng.integers(25, 161, n),
        outcome=outcome,
        claim=claim,
        text=text,
        background=True,
    )


def _awards(world: World, n: int, base: np.ndarray, firms: np.ndarray) -> None:
    rng = world.rng
    fids = _sued(world, firms, n)
    cause = rng.choice(t.ARB_CAUSES, n, p=[0.15, 0.45, 0.25, 0.15])
    confirm = cause == t.ARB_CONFIRM
    outcome = np.where(
        confirm,
        rng.choice([t.DISMISSED, t.CONFIRMED], n, p=[0.55, 0.45]),
        rng.choice([t.UPHELD, t.PARTLY, t.DISMISSED, t.MEDIATED], n, p=[0.3, 0.35, 0.15, 0.2]),
    )
    text = np.select(
        [
            confirm & (outcome == t.CONFIRMED),
            confirm,
            outcome == t.MEDIATED,
            outcome == t.DISMISSED,
        ],
        [
            t.pick(rng, t.CONTESTED_CONFIRMED_AWARD, n),
            t.pick(rng, t.CONTESTED_DISMISSED_AWARD, n),
            np.array(t.AWARD_OTHER[2]),
            np.array(t.AWARD_OTHER[1]),
        ],
        t.AWARD_OTHER[0],
    )
    world.add(
        "awards",
        pid=rng.choice(_adults(world, base, 22, 70), n),
        fid=fids,
        cause=cause,
        decided=_filing_dates(world, fids, AS_OF_DAY - 1),
        outcome=outcome,
        text=text,
    )


def _retirements(world: World, n: int, base: np.ndarray) -> np.ndarray:
    """Pensioners who retired at the statutory age (men 60, women 50 or 55) since 2010."""
    rng = world.rng
    people = world.table("people")
    birth, male = people["birth"][base], people["male"][base]
    age = np.where(male, 60, np.where(rng.random(len(base)) < 0.6, 50, 55))
    retired = birth + np.round(age * YEAR).astype(np.int64) + rng.integers(0, 61, len(base))
    ok = (retired >= day(2010, 1, 1)) & (retired <= AS_OF_DAY)
    pick = rng.choice(np.flatnonzero(ok), min(n, int(ok.sum())), replace=False)
    pids = base[pick]
    world.add(
        "retirements",
        pid=pids,
        retired=retired[pick],
        pension=world.pensions(len(pick), 1800, 6500),
        contribution_months=rng.integers(180, 481, len(pick)),
    )
    return pids


def _back_payments(
    world: World,
    n: int,
    base: np.ndarray,
    firms: np.ndarray,
    retirees: np.ndarray,
    cases: np.ndarray,
) -> np.ndarray:
    """A quarter cite a won wage/contract/injury judgment of the payer; the rest are audits."""
    rng = world.rng
    table = world.table("cases")
    won = (
        np.isin(table["outcome"][cases], [t.UPHELD, t.PARTLY])
        & (table["cause"][cases] != t.CONFIRM)
        & (world.table("firms")["insured"][table["fid"][cases]] > 0)  # pays through an employer
    )
    paid_after = table["decided"][cases] + rng.integers(30, 201, len(cases))
    usable = cases[won & (paid_after <= AS_OF_DAY)]
    cited = np.sort(rng.choice(usable, min(len(usable), n // 4), replace=False))
    months = rng.integers(1, 37, len(cited))
    world.add(
        "back_payments",
        pid=table["pid"][cited],
        fid=table["fid"][cited],
        months=months,
        amount=world.contributions(months),
        paid=paid_after[np.searchsorted(cases, cited)],
        basis=t.BASIS_JUDGMENT,
        ref="court",
        ref_key=cited,
        doc_dirt=0.03,
    )
    rest = n - len(cited)
    working = np.setdiff1d(_adults(world, base, 22, 60), retirees)
    payers = rng.choice(working, rest, replace=False)
    employers = firms[world.table("firms")["insured"][firms] > 0]
    audit = rng.random(rest) < 0.6
    months = rng.integers(1, 37, rest)
    world.add(
        "back_payments",
        pid=payers,
        fid=rng.choice(employers, rest),
        months=months,
        amount=world.contributions(months),
        paid=rng.integers(START, AS_OF_DAY + 1, rest),
        basis=np.where(audit, t.BASIS_AUDIT, t.BASIS_OTHER),
        ref=np.where(audit, "audit", ""),
        ref_key=-1,
        doc_dirt=0.03,
    )
    return np.union1d(payers, table["pid"][cited])


def _insured(world: World, total: int, base: np.ndarray, needed: np.ndarray) -> None:
    """Everyone social security knows of, plus adults drawn to reach `total`."""
    rng = world.rng
    people = world.table("people")
    extra = max(total - world.size("insured") - len(needed), 0)
    pool = np.setdiff1d(_adults(world, base, 18, 120), needed)
    pids = np.concatenate([needed, rng.choice(pool, min(extra, len(pool)), replace=False)])
    birth = people["birth"][pids]
    # First insured between 18 and 28 (or today's age, for the young), never before 1992.
    latest = np.minimum((AS_OF_DAY - birth) / YEAR, 28.0)
    start_age = 18 + rng.random(len(pids)) * np.maximum(latest - 18, 0)
    start = birth + (start_age * YEAR).astype(np.int64)
    first = np.clip(start, INSURANCE_START + rng.integers(0, 365, len(pids)), AS_OF_DAY - 1)
    world.add("insured", pid=pids, first_insured=first)

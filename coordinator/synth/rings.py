"""Planted fraud rings: the pattern of seed 001 (确认劳动关系补缴社保虚假诉讼、虚假仲裁).

A broker sets up one to three shell companies; within a short window eight to thirty people
near retirement age each sue (or go to arbitration against) a shell asking only to confirm a
labour relationship; the shell does not object; the relationship is confirmed; each plaintiff
then back-pays years of pension contributions citing that document and retires soon after.
Every plaintiff is a ground-truth row. The shared helpers here also serve the honest
look-alikes (lookalikes.py), so both sides differ only where the story says they differ.
"""

from __future__ import annotations

import numpy as np

from coordinator.synth import texts as t
from coordinator.synth.ids import day
from coordinator.synth.world import AS_OF_DAY, World

RING_START = day(2022, 1, 1)
WINDOW_DAYS = (30, 120)  # all suits of one ring are filed within this many days
DECIDE_LAG = (12, 45)  # filing to judgment/award when nobody objects
CONTESTED_LAG = (60, 150)
PAY_LAG = (20, 90)  # judgment/award to back-payment
RETIRE_LAG = (10, 180)  # back-payment to retirement
# Latest window start that still leaves every event of a ring before AS_OF.
RING_SPAN = WINDOW_DAYS[1] + DECIDE_LAG[1] + PAY_LAG[1] + RETIRE_LAG[1]
COURT_SHARE = 0.7  # the rest go to labour arbitration
MONTH = 30.44


def lag(world: World, bounds: tuple[int, int], n: int) -> np.ndarray:
    return world.rng.integers(bounds[0], bounds[1] + 1, n)


def elderly_people(world: World, on: np.ndarray, region: np.ndarray) -> np.ndarray:
    """New planted people living in `region`, 55% men; men 52-62 and women 50-60 on `on`:
    close to (or past) the statutory retirement age."""
    male = world.rng.random(len(on)) < 0.55
    birth = world.births_for_age(on, np.where(male, 52, 50), np.where(male, 62, 60))
    return world.add("people", birth=birth, male=male, region=region, planted=True)


def claims(
    world: World,
    pids: np.ndarray,
    fids: np.ndarray,
    filed: np.ndarray,
    *,
    court_share: float | np.ndarray,
    contested: np.ndarray | bool,
    confirmed: np.ndarray | bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """File one confirmation claim per person: a court suit or an arbitration.

    court_share is a probability per claim (a scalar, or one per claim: 0 or 1 forces the
    channel). Returns (via, key, decided): via is "court" or "arbitration", key the row in
    that table.
    """
    rng = world.rng
    n = len(pids)
    contested = np.broadcast_to(contested, (n,))
    confirmed = np.broadcast_to(confirmed, (n,))
    court = rng.random(n) < court_share
    decided = filed + np.where(contested, lag(world, CONTESTED_LAG, n), lag(world, DECIDE_LAG, n))
    court_text = np.select(
        [~contested, confirmed],
        [t.pick(rng, t.UNCONTESTED_COURT, n), t.pick(rng, t.CONTESTED_CONFIRMED_COURT, n)],
        t.pick(rng, t.CONTESTED_DISMISSED_COURT, n),
    )
    award_text = np.select(
        [~contested, confirmed],
        [t.pick(rng, t.UNCONTESTED_AWARD, n), t.pick(rng, t.CONTESTED_CONFIRMED_AWARD, n)],
        t.pick(rng, t.CONTESTED_DISMISSED_AWARD, n),
    )
    # A confirmation claim asks for no money: the amount is recorded as 0 or left empty.
    claim = np.where(rng.random(n) < 0.6, 0, -1)
    court_keys = world.add(
        "cases",
        pid=pids[court],
        fid=fids[court],
        cause=t.CONFIRM,
        filed=filed[court],
        decided=decided[court],
        outcome=np.where(confirmed, t.CONFIRMED, t.DISMISSED)[court],
        claim=claim[court],
        text=court_text[court],
        background=False,
    )
    award_outcome = np.where(rng.random(n) < 0.5, t.UPHELD, t.CONFIRMED)
    award_keys = world.add(
        "awards",
        pid=pids[~court],
        fid=fids[~court],
        cause=t.ARB_CONFIRM,
        decided=decided[~court],
        outcome=np.where(confirmed, award_outcome, t.DISMISSED)[~court],
        text=award_text[~court],
    )
    key = np.empty(n, dtype=np.int64)
    key[court] = court_keys
    key[~court] = award_keys
    return np.where(court, "court", "arbitration"), key, decided


def pay_back(
    world: World,
    pids: np.ndarray,
    fids: np.ndarray,
    paid: np.ndarray,
    months: np.ndarray,
    via: np.ndarray,
    key: np.ndarray,
    doc_dirt: float,
) -> None:
    """Back-payments citing the judgment (判决) or the award (仲裁) by its number."""
    world.add(
        "back_payments",
        pid=pids,
        fid=fids,
        months=months,
        amount=world.contributions(months),
        paid=paid,
        basis=np.where(via == "court", t.BASIS_JUDGMENT, t.BASIS_AWARD),
        ref=via,
        ref_key=key,
        doc_dirt=doc_dirt,
    )


def retire(world: World, pids: np.ndarray, retired: np.ndarray, months: np.ndarray) -> None:
    world.add(
        "retirements",
        pid=pids,
        retired=retired,
        pension=world.pensions(len(pids), 1500, 3600),
        contribution_months=months,
    )


def insure(world: World, pids: np.ndarray, first_insured: np.ndarray) -> None:
    world.add("insured", pid=pids, first_insured=np.minimum(first_insured, AS_OF_DAY - 1))


def plant(world: World, rings: int) -> None:
    for ring in range(rings):
        _plant_ring(world, ring)


def _plant_ring(world: World, ring: int) -> None:
    rng = world.rng
    region = int(world.region(1)[0])
    start = int(rng.integers(RING_START, AS_OF_DAY - RING_SPAN + 1))
    window = int(rng.integers(WINDOW_DAYS[0], WINDOW_DAYS[1] + 1))

    n = int(rng.integers(8, 31))
    # At least four claims per shell, all through one channel (a broker who has found a
    # compliant court or arbitration route sticks to it): every shell is sued densely.
    shells = min(int(rng.integers(1, 4)), n // 4)
    # The broker is the legal representative of most shells; nominees front the others.
    on = np.full(shells, start)
    nominees = world.add_planted_people(shells, on, 0.6, (28, 60), np.full(shells, region))
    broker = nominees[0]
    legal_rep = np.where(rng.random(shells) < 0.6, broker, nominees)
    recent = rng.random(shells) < 0.7
    established = np.where(
        recent,
        start - rng.integers(30, 540, shells),
        start - rng.integers(3 * 365, 12 * 365, shells),
    )
    reported = rng.integers(1, 6, shells)
    fids = world.add(
        "firms",
        region=region,
        established=established,
        status=rng.choice(["存续", "在业", "吊销", "注销"], size=shells, p=[0.5, 0.35, 0.1, 0.05]),
        capital=rng.integers(3, 101, shells) * 10_000_00,
        reported=reported,
        insured=np.clip(reported + rng.integers(-1, 2, shells), 1, 5),
        legal_rep=legal_rep,
    )

    filed = start + rng.integers(0, window + 1, n)
    home = np.where(rng.random(n) < 0.85, region, world.region(n))
    pids = elderly_people(world, filed, home)
    which = rng.permutation(np.arange(n) % shells)
    shell = fids[which]
    shell_in_court = rng.random(shells) < COURT_SHARE
    # Ring 1 always works through arbitration, so that any run has both channels.
    shell_in_court[0] = shell_in_court[0] and ring != 1
    via, key, decided = claims(
        world,
        pids,
        shell,
        filed,
        court_share=shell_in_court[which].astype(float),
        contested=False,
        confirmed=True,
    )
    # Bought months top the plaintiff's own record up to the 15-year pension minimum.
    prior = rng.integers(0, 61, n)
    months = np.clip(180 - prior + rng.integers(0, 13, n), 60, 180)
    paid = decided + lag(world, PAY_LAG, n)
    pay_back(world, pids, shell, paid, months, via, key, doc_dirt=0.25)
    retire(world, pids, paid + lag(world, RETIRE_LAG, n), prior + months)
    first = np.where(
        prior > 0,
        filed - (prior * MONTH).astype(np.int64) - rng.integers(0, 3 * 365, n),
        paid - (months * MONTH).astype(np.int64),
    )
    insure(world, pids, first)
    world.add("truth", pid=pids, via=via, key=key, ring=ring)

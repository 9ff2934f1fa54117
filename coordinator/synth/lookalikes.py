"""Honest look-alikes: genuine cases sharing part of the fraud pattern, never ground truth.

Each kind breaks exactly one rule of seed 001, so a model that drops that rule flags them:
  contested       the defendant objects (辩称双方不存在劳动关系), yet elderly plaintiffs, small
                  firms, bursts of suits, back-payments citing the judgment and retirements;
  large_employer  uncontested bursts against a firm of 300+ insured staff (a restructuring);
  audit           lump back-payments then retirement, but after an audit, with no suit;
  young           uncontested suits, back-payment citing them, but plaintiffs 22-40, sparse
                  suits per firm and no retirement;
  isolated        the whole chain by one person near retirement against a small firm, but the
                  firm is sued only once (the density rule must exclude it).
Counts scale with the number of rings (see COUNTS) so precision stays measurable at any size.
"""

from __future__ import annotations

import numpy as np

from coordinator.synth import texts as t
from coordinator.synth.ids import day
from coordinator.synth.rings import (
    CONTESTED_LAG,
    MONTH,
    PAY_LAG,
    RETIRE_LAG,
    claims,
    elderly_people,
    insure,
    lag,
    pay_back,
    retire,
)
from coordinator.synth.world import AS_OF_DAY, YEAR, World

KINDS = ("contested", "large_employer", "audit", "young", "isolated")
# Instances per ring: firms (contested), employers (large_employer, per two rings), people.
COUNTS = {"contested": 2, "large_employer": 0.5, "audit": 4, "young": 3, "isolated": 3}
EARLIEST = day(2020, 1, 1)
# Latest first filing that leaves room for window, decision, back-payment and retirement.
LATEST_START = AS_OF_DAY - (120 + CONTESTED_LAG[1] + PAY_LAG[1] + RETIRE_LAG[1])


def plant(world: World, rings: int) -> None:
    _contested(world, int(COUNTS["contested"] * rings))
    _large_employer(world, max(1, int(np.ceil(COUNTS["large_employer"] * rings))))
    _audit(world, int(COUNTS["audit"] * rings))
    _young(world, int(COUNTS["young"] * rings))
    _isolated(world, int(COUNTS["isolated"] * rings))


def _firms(world: World, n: int, employees: tuple[int, int], latest: np.ndarray) -> np.ndarray:
    """`n` ordinary firms established two to twenty years before `latest`."""
    region = world.region(n)
    established = latest - world.rng.integers(2 * 365, 20 * 365, n)
    reps = world.add_planted_people(n, latest, 0.7, (30, 60), region)
    return world.add_small_firms(region, established, employees, reps)


def _people(world: World, on: np.ndarray, fids: np.ndarray, ages: tuple[int, int]) -> np.ndarray:
    n = len(on)
    male = world.rng.random(n) < 0.55
    birth = world.births_for_age(on, np.full(n, ages[0]), np.full(n, ages[1]))
    region = world.table("firms")["region"][fids] if n else np.empty(0, np.int64)
    return world.add("people", birth=birth, male=male, region=region, planted=True)


def _record(world: World, kind: str, pids: np.ndarray, via: np.ndarray, key: np.ndarray) -> None:
    world.add("lookalikes", pid=pids, kind=kind, via=via, key=key)


def _insure_before(world: World, pids: np.ndarray, on: np.ndarray, years: tuple[int, int]) -> None:
    span = world.rng.integers(years[0] * 365, years[1] * 365 + 1, len(pids))
    insure(world, pids, on - span)


def _contested(world: World, n_firms: int) -> None:
    rng = world.rng
    start = rng.integers(EARLIEST, LATEST_START, n_firms)
    fids = _firms(world, n_firms, (5, 60), start)
    per_firm = rng.integers(1, 5, n_firms)
    fid = np.repeat(fids, per_firm)
    filed = np.repeat(start, per_firm) + rng.integers(0, 121, len(fid))
    pids = elderly_people(world, filed, world.table("firms")["region"][fid])
    confirmed = rng.random(len(fid)) < 0.4
    via, key, decided = claims(
        world, pids, fid, filed, court_share=0.7, contested=True, confirmed=confirmed
    )
    _record(world, "contested", pids, via, key)
    _insure_before(world, pids, filed, (3, 30))
    # Won cases are used to back-pay, and most of those plaintiffs then retire.
    pays = confirmed & (rng.random(len(fid)) < 0.7)
    paid = decided + lag(world, PAY_LAG, len(fid))
    months = rng.integers(24, 121, len(fid))
    pay_back(world, pids[pays], fid[pays], paid[pays], months[pays], via[pays], key[pays], 0.03)
    retires = pays & (rng.random(len(fid)) < 0.8)
    retired = paid + lag(world, RETIRE_LAG, len(fid))
    retire(world, pids[retires], retired[retires], months[retires] + 120)


def _large_employer(world: World, n_firms: int) -> None:
    rng = world.rng
    for _ in range(n_firms):
        start = int(rng.integers(EARLIEST, LATEST_START))
        fid = _firms(world, 1, (300, 3000), np.array([start]))
        n = int(rng.integers(10, 31))
        filed = start + rng.integers(0, int(rng.integers(30, 91)) + 1, n)
        fids = np.full(n, fid[0])
        pids = _people(world, filed, fids, (40, 58))
        via, key, decided = claims(
            world, pids, fids, filed, court_share=0.85, contested=False, confirmed=True
        )
        _record(world, "large_employer", pids, via, key)
        _insure_before(world, pids, filed, (5, 25))
        pays = rng.random(n) < 0.5
        paid = decided + lag(world, PAY_LAG, n)
        months = rng.integers(12, 97, n)
        pay_back(
            world, pids[pays], fids[pays], paid[pays], months[pays], via[pays], key[pays], 0.03
        )
        # Early retirement in a restructuring: women from 50, men from 55 (特殊工种).
        retired = paid + lag(world, RETIRE_LAG, n)
        birth = world.table("people")["birth"][pids]
        male = world.table("people")["male"][pids]
        old_enough = (retired - birth) / YEAR >= np.where(male, 55, 50)
        retires = pays & old_enough & (rng.random(n) < 0.6)
        retire(world, pids[retires], retired[retires], months[retires] + 200)


def _audit(world: World, n: int) -> None:
    rng = world.rng
    paid = rng.integers(EARLIEST, AS_OF_DAY - RETIRE_LAG[1], n)
    fids = _firms(world, n, (10, 200), paid)
    pids = _people(world, paid, fids, (50, 60))
    months = rng.integers(12, 121, n)
    audit = rng.random(n) < 0.6
    world.add(
        "back_payments",
        pid=pids,
        fid=fids,
        months=months,
        amount=world.contributions(months),
        paid=paid,
        basis=np.where(audit, t.BASIS_AUDIT, t.BASIS_OTHER),
        ref=np.where(audit, "audit", ""),
        ref_key=-1,
        doc_dirt=0.03,
    )
    retire(world, pids, paid + lag(world, RETIRE_LAG, n), months + rng.integers(100, 300, n))
    _insure_before(world, pids, paid, (10, 30))
    _record(world, "audit", pids, np.full(n, ""), np.full(n, -1))


def _young(world: World, n: int) -> None:
    rng = world.rng
    # One or two suits per firm, months apart: sparse, unlike a ring's burst.
    per_firm = rng.integers(1, 3, max(1, n))
    per_firm = per_firm[: int(np.searchsorted(np.cumsum(per_firm), n)) + 1]
    start = rng.integers(EARLIEST, LATEST_START, len(per_firm))
    fids = np.repeat(_firms(world, len(per_firm), (3, 30), start), per_firm)[:n]
    filed = np.repeat(start, per_firm)[:n] + rng.integers(0, 241, n)
    pids = _people(world, filed, fids, (22, 40))
    via, key, decided = claims(
        world, pids, fids, filed, court_share=0.8, contested=False, confirmed=True
    )
    _record(world, "young", pids, via, key)
    _insure_before(world, pids, filed, (0, 5))
    paid = decided + lag(world, PAY_LAG, n)
    pay_back(world, pids, fids, paid, rng.integers(6, 61, n), via, key, 0.03)


def _isolated(world: World, n: int) -> None:
    rng = world.rng
    filed = rng.integers(EARLIEST, LATEST_START, n)
    fids = _firms(world, n, (1, 10), filed)
    pids = elderly_people(world, filed, world.table("firms")["region"][fids])
    via, key, decided = claims(
        world, pids, fids, filed, court_share=0.8, contested=False, confirmed=True
    )
    _record(world, "isolated", pids, via, key)
    prior = rng.integers(0, 121, n)
    months = np.clip(180 - prior + rng.integers(0, 25, n), 24, 150)
    insure(world, pids, filed - (prior * MONTH).astype(np.int64) - rng.integers(0, 3 * 365, n))
    paid = decided + lag(world, PAY_LAG, n)
    pay_back(world, pids, fids, paid, months, via, key, 0.1)
    retire(world, pids, paid + lag(world, RETIRE_LAG, n), prior + months)

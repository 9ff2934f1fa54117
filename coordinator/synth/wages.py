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

The Builder that writes the agencies' rows, and their status vocabulary, are in wages_records.py.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordinator.synth.extend import Contribution, Population, planted_count
from coordinator.synth.ids import day
from coordinator.synth.wages_records import (
    APPLIED,
    DONE,
    ENDED,
    ONGOING,
    OPEN,
    PARTLY,
    PERFORMED,
    RESOLVED,
    STUCK,
    TRANSFERRED,
    UNPERFORMED,
    WITHDRAWN,
    Builder,
)
from coordinator.synth.wages_records import IDS as IDS  # the datasets this contributor fills

ESCROW_MODEL = "wage_decision_escrow"
SUPPORT_MODEL = "wage_arrears_support"
START = day(2019, 1, 1)


# --- the two models' cases -------------------------------------------------------------------
def _decision_cases(
    b: Builder, escrow: str, status: str, paid: tuple[float, float], enforced: np.ndarray
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


def _escrow_cases(b: Builder, n: int) -> pl.DataFrame:
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
    b: Builder, n: int, deposit: np.ndarray, status: np.ndarray, age: tuple[int, int]
) -> tuple[pl.Series, np.ndarray, tuple[np.ndarray, ...]]:
    """n projects, each with a group of 5–12 workers complaining against its contractor."""
    escrow = b.escrow(b.rng.choice(["positive", "zero", "none"], n, p=[0.4, 0.1, 0.5]))
    codes, contractor = b.projects(escrow, b.deposit(deposit))
    filed = b.today - b.rng.integers(*age, n)
    rows = b.complaints(contractor, codes, b.rng.integers(5, 13, n), status, filed)
    return codes, contractor, rows


def _support_cases(b: Builder, n: int) -> pl.DataFrame:
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
def _background(b: Builder) -> None:
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
    b: Builder, codes: pl.Series, builder: np.ndarray, no_money: np.ndarray, others: np.ndarray
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
    b: Builder, codes: pl.Series, builder: np.ndarray, paid: np.ndarray, employers: np.ndarray
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
    b = Builder(pop)
    n = planted_count(pop.size)  # per model
    _background(b)
    truth = {ESCROW_MODEL: _escrow_cases(b, n), SUPPORT_MODEL: _support_cases(b, n)}
    return Contribution(frames=b.finish(), truth=truth)

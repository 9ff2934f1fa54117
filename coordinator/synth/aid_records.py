"""The judicial-aid contributor's record book: its vocabulary, regional wages and tables.

The planted stories (aid.py) append rows to the Book one at a time, the background
(aid_background.py) in bulk frames; aid_background.py also renders the Book into datasets.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordinator.synth.extend import Population
from coordinator.synth.ids import year_of
from coordinator.synth.world import AS_OF_DAY as AS_OF

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
TABLES = {
    "case": ("case", "region", "on", "court"),
    "victim": ("case", "pid", "crime", "loss"),
    "judgment": ("case", "plaintiff", "defendant", "cause", "award", "paid", "on"),
    "aid": ("grant", "pid", "case", "amount", "on", "region", "dirty_pid", "dirty_no"),
    "support": ("pid", "program", "region", "start", "end", "monthly", "household"),
    "cert": ("pid", "category", "grade", "issued"),
}


def year_on(on: int) -> int:
    return int(year_of(np.array([on]))[0])


class Book:
    """Every internal table: planted rows appended one at a time, background in bulk frames.
    People are row numbers of pop.people, dates int days since 1970, cases and grants int keys
    (numbered when rendered)."""

    def __init__(self, pop: Population) -> None:
        self.rng, self.pop, self.slot = pop.rng("aid"), pop, pop.slot("aid")
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
        return 36.0 * self.wage[(region, year_on(granted) - 1)]

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

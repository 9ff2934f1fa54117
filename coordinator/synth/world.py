"""The synthetic world before it is written: people, firms and events, all by integer index.

Generators add people and firms (getting back their indices) and events that refer to them;
identifiers, case numbers and dirty spellings are made only when the world is rendered into
agency files, so that every event of one person carries the same canonical ID.
Dates are int days since 1970-01-01 (ids.day), money is int cents, "none" is -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coordinator.synth.ids import REGION_P, day

AS_OF_DAY = day(2025, 6, 30)  # mirrors coordinator.synth.AS_OF (kept here to avoid a cycle)
YEAR = 365.25

# Column names of every table, in the order generators must supply them.
TABLES: dict[str, tuple[str, ...]] = {
    "people": ("birth", "male", "region", "planted"),
    "firms": (
        "region",
        "established",
        "status",
        "capital",
        "reported",
        "insured",
        "legal_rep",
    ),
    # via of a court case is always "court"; key is the row number in its table.
    "cases": ("pid", "fid", "cause", "filed", "decided", "outcome", "claim", "text", "background"),
    "awards": ("pid", "fid", "cause", "decided", "outcome", "text"),
    # ref: "court" / "arbitration" (ref_key = that case's key), "audit" (a notice number is
    # made at render), "" (no document). doc_dirt: chance the cited number is spelled dirty.
    "back_payments": (
        "pid",
        "fid",
        "months",
        "amount",
        "paid",
        "basis",
        "ref",
        "ref_key",
        "doc_dirt",
    ),
    "retirements": ("pid", "retired", "pension", "contribution_months"),
    "insured": ("pid", "first_insured"),
    "truth": ("pid", "via", "key", "ring"),
    "lookalikes": ("pid", "kind", "via", "key"),
}


@dataclass
class World:
    rng: np.random.Generator
    _chunks: dict[str, list[dict[str, np.ndarray]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )
    _sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    _cache: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def add(self, table: str, **columns: np.ndarray | int | float | str | bool) -> np.ndarray:
        """Append rows (scalars broadcast); returns the new rows' indices in `table`."""
        names = TABLES[table]
        if set(columns) != set(names):
            raise ValueError(f"{table} needs exactly {names}, got {sorted(columns)}")
        n = max((len(v) for v in columns.values() if isinstance(v, np.ndarray)), default=1)
        chunk = {k: np.broadcast_to(np.asarray(columns[k]), (n,)).copy() for k in names}
        self._chunks[table].append(chunk)
        self._cache.pop(table, None)
        start = self._sizes[table]
        self._sizes[table] += n
        return np.arange(start, start + n)

    def size(self, table: str) -> int:
        return self._sizes[table]

    def table(self, table: str) -> dict[str, np.ndarray]:
        """All rows of `table`, concatenated column by column (cached: do not modify)."""
        if table not in self._cache:
            chunks = self._chunks[table]
            merged = {
                k: np.concatenate([c[k] for c in chunks]) if chunks else np.empty(0, np.int64)
                for k in TABLES[table]
            }
            self._chunks[table] = [merged] if chunks else []
            self._cache[table] = merged
        return self._cache[table]

    # Helpers shared by the generators -------------------------------------------------------

    def region(self, n: int) -> np.ndarray:
        return self.rng.choice(len(REGION_P), size=n, p=REGION_P)

    def births_for_age(
        self, on: np.ndarray, age_low: np.ndarray, age_high: np.ndarray
    ) -> np.ndarray:
        """Birth dates giving an age (whole years) in [age_low, age_high] on `on`."""
        age = self.rng.uniform(age_low, np.asarray(age_high) + 1.0 - 1e-3, len(on))
        return (on - np.floor(age * YEAR)).astype(np.int64)

    def add_planted_people(
        self, n: int, on: np.ndarray, male_share: float, ages: tuple[int, int], region: np.ndarray
    ) -> np.ndarray:
        """New people aged `ages` on dates `on` (men and women in the same range)."""
        male = self.rng.random(n) < male_share
        birth = self.births_for_age(on, np.full(n, ages[0]), np.full(n, ages[1]))
        return self.add("people", birth=birth, male=male, region=region, planted=True)

    def add_small_firms(
        self,
        region: np.ndarray,
        established: np.ndarray,
        employees: tuple[int, int],
        legal_rep: np.ndarray,
    ) -> np.ndarray:
        """Active firms of a given size that insure about as many staff as they report."""
        n = len(region)
        reported = self.rng.integers(employees[0], employees[1] + 1, n)
        insured = np.clip(np.round(reported * self.rng.uniform(0.7, 1.0, n)), 1, None)
        # Large employers keep insured_count at least as high as the low end of their size.
        insured = np.maximum(insured, np.where(employees[0] >= 100, employees[0], 1))
        status = np.where(self.rng.random(n) < 0.6, "存续", "在业")
        capital = self.rng.integers(3, 500, n) * 10_000_00
        return self.add(
            "firms",
            region=region,
            established=established,
            status=status,
            capital=capital,
            reported=reported,
            insured=insured.astype(np.int64),
            legal_rep=legal_rep,
        )

    def contributions(self, months: np.ndarray) -> np.ndarray:
        """Cents paid for `months` of pension contributions (base 3,000-7,000 yuan x 24%)."""
        per_month = self.rng.uniform(720, 1680, len(months))
        return np.round(months * per_month * 100).astype(np.int64)

    def pensions(self, n: int, low: int = 1600, high: int = 4200) -> np.ndarray:
        return self.rng.integers(low * 100, high * 100, n)

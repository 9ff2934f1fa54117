"""How further screening models add their agencies' data to the one synthetic population.

The seed-001 world (people, firms, suits, social security) is built first. Each contributor
module then receives the *canonical* population — every person's resident ID and every
firm's credit code, with attributes — and returns rows for its datasets (in the logical
dictionary's column names; `generate` conforms types and concatenates rows that several
contributors give for one dataset) and the ground truth of its model. Contributors draw the
people and firms they use from this population, so the same person recurs across agencies.

Ground truth per model: a frame with a `kind` column (the lead kind) and one column per lead
key, headed `<key>:<identifier kind>` (e.g. `company:org`), holding canonical identifiers.
"""

from __future__ import annotations

import datetime
import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from coordinator.synth.ids import EPOCH, SLOTS

# Contributor modules under coordinator.synth, in the order they run.
CONTRIBUTORS: tuple[str, ...] = ("housing_fund", "wages", "aid")


def planted_count(size: int) -> int:
    """Planted cases (or people) per story of a contributor's model: about one per 20,000
    people, never fewer than five."""
    return max(5, size // 20_000)


@dataclass(frozen=True)
class Population:
    """The world as agencies would key it, canonical identifiers only."""

    people: pl.DataFrame  # person_id, birth_date, gender (M/F), region, planted (bool)
    firms: pl.DataFrame  # uscc, region, established_on, status, reported_employees,
    #                      insured_count, legal_rep_id
    size: int  # the requested population size N (scale background volumes by it)
    as_of: datetime.date  # every event happens before this date
    seed: int

    @property
    def as_of_day(self) -> int:
        """as_of in the internal date representation (days since 1970-01-01)."""
        return (self.as_of - EPOCH).days

    def rng(self, module: str) -> np.random.Generator:
        """A generator of the contributor's own, so adding one never reshuffles another."""
        return np.random.default_rng([self.seed, zlib.crc32(module.encode())])

    def slot(self, module: str) -> int:
        """The contributor's residue class in registers it shares (ids.sequence_numbers); the
        seed-001 world numbers in slot 0."""
        slot = 1 + CONTRIBUTORS.index(module)
        if slot >= SLOTS:
            raise ValueError(f"ids.SLOTS ({SLOTS}) leaves no register slot for {module}")
        return slot


@dataclass
class Contribution:
    frames: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)
    truth: dict[str, pl.DataFrame] = field(default_factory=dict)  # model -> ground truth


Contributor = Callable[[Population], Contribution]


def contributors() -> list[tuple[str, Contributor]]:
    return [
        (name, importlib.import_module(f"coordinator.synth.{name}").contribute)
        for name in CONTRIBUTORS
    ]

"""Synthetic agency data with planted fraud rings, for demos, benchmarks and model tests.

One coherent population (the same people and firms recur across agencies) is written as one
Parquet file per logical dataset, laid out per agency role exactly as the data dictionary
says, so an agent can be pointed at `out/<role>/` unchanged. The planted rings follow seed 001
(fake labour-relationship suits to back-pay pensions); their plaintiffs are the ground truth,
written under `out/truth/`, outside every role directory, where no agent is configured to look.
Honest look-alikes of five kinds (lookalikes.py) are listed in LOOKALIKE_FILE, to measure
false positives. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from coordinator.synth import lookalikes, population, rings
from coordinator.synth.extend import Population, contributors
from coordinator.synth.render import Rendered, conform, render
from coordinator.synth.world import AS_OF_DAY, World

AS_OF = datetime.date(2025, 6, 30)  # the data's reference date; everything happens before it
TRUTH_FILE = "truth/fake_labour_litigation.csv"  # relative to out; no agent ever reads it
LOOKALIKE_FILE = "truth/lookalikes.csv"  # honest cases resembling the fraud (kind column)

assert (AS_OF - datetime.date(1970, 1, 1)).days == AS_OF_DAY

__all__ = [
    "AS_OF",
    "LOOKALIKE_FILE",
    "TRUTH_FILE",
    "Frames",
    "SynthSummary",
    "dataset_path",
    "generate",
    "merged",
    "ring_count",
    "seed_world",
    "truth_file",
    "write_frames",
]

Frames = dict[tuple[str, str], pl.DataFrame]  # (role, dataset) -> rows


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    people: int
    seed: int
    rows: dict[str, dict[str, int]]  # role -> dataset -> row count
    planted: int  # number of planted fraudulent plaintiffs (ground-truth rows)
    seconds: float


def dataset_path(out: Path, role: str, dataset: str) -> Path:
    return out / role / f"{dataset}.parquet"


def truth_file(model: str) -> str:
    """Generic ground truth of a model (kind + lead-key columns), relative to out."""
    return f"truth/{model}.leads.csv"


def _generic_truth(truth: pl.DataFrame) -> pl.DataFrame:
    return truth.select(
        pl.lit("fake_labour_litigation").alias("kind"),
        pl.col("person_id").alias("person:person"),
        pl.col("case_no").alias("suit:case"),
    )


def ring_count(people: int) -> int:
    """About one ring per 50,000 people, never fewer than four (so tests always see some).

    At that density a district of 10^6 has ~20 rings and ~450 planted plaintiffs — a few
    percent of its labour cases, the order of seed 001's 272 cases in one district.
    """
    return max(4, people // 50_000)


def seed_world(people: int, seed: int) -> tuple[Rendered, Population]:
    """The seed-001 world rendered, and the canonical population every contributor builds on:
    exactly what `generate` hands on (tests build a single contributor's world with this)."""
    world = World(np.random.default_rng(seed))
    # Planted rows first, so the background can top every dataset up to its target size.
    n_rings = ring_count(people)
    rings.plant(world, n_rings)
    lookalikes.plant(world, n_rings)
    population.populate(world, people)
    rendered = render(world)
    return rendered, Population(rendered.people, rendered.firms, people, AS_OF, seed)


def merged(frames: Frames, more: Frames) -> Frames:
    """`frames` with the rows of `more` conformed to the dictionary and appended (several
    contributors may fill one dataset)."""
    out = dict(frames)
    for key, frame in more.items():
        frame = conform(frame, *key)
        out[key] = pl.concat([out[key], frame]) if key in out else frame
    return out


def write_frames(out: Path, frames: Frames) -> dict[str, dict[str, int]]:
    """One Parquet file per dataset, laid out per role; returns role -> dataset -> rows."""
    rows: dict[str, dict[str, int]] = {}
    for (role, name), frame in frames.items():
        path = dataset_path(out, role, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)
        rows.setdefault(role, {})[name] = frame.height
    return rows


def generate(out: Path, people: int, seed: int) -> SynthSummary:
    """Write every synthetic dataset and the ground truth under `out`; overwrites them."""
    if people < 100:
        raise ValueError(f"people must be at least 100 (got {people}): rings need a population")
    began = time.perf_counter()
    rendered, canonical = seed_world(people, seed)
    frames = rendered.frames
    truths = {"fake_labour_litigation": _generic_truth(rendered.truth)}
    for _name, contribute in contributors():
        part = contribute(canonical)
        frames = merged(frames, part.frames)
        truths.update(part.truth)
    rows = write_frames(out, frames)
    truth = out / TRUTH_FILE
    truth.parent.mkdir(parents=True, exist_ok=True)
    rendered.truth.write_csv(truth)
    rendered.lookalikes.write_csv(out / LOOKALIKE_FILE)
    for model, frame in truths.items():
        frame.write_csv(out / truth_file(model))
    return SynthSummary(
        out=out,
        people=rendered.people.height,
        seed=seed,
        rows=rows,
        planted=rendered.truth.height,
        seconds=round(time.perf_counter() - began, 3),
    )

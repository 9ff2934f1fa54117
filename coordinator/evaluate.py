"""Lead quality against synthetic ground truth — a test-bench tool.

It needs the federation's token secret to tokenise the truth, which a real coordinator never
holds; only `fedscreen demo` and `fedscreen eval` on synthetic data use it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from coordinator.registry import Registry
from fedscreen.tokens import TokenKeys, reference_token


@dataclass(frozen=True)
class Quality:
    model: str
    leads: int
    truth: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.leads if self.leads else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 0.0


def evaluate_people(
    registry: Registry,
    truth_csv: Path,
    secret: bytes,
    model: str,
    campaign: str,
    key_column: str = "person",
) -> Quality:
    """Precision and recall of a model's leads, counted per person."""
    keys = TokenKeys.derive(secret, model, campaign)
    with truth_csv.open(encoding="utf-8", newline="") as fh:
        truth = {reference_token(keys, "person", row["person_id"]) for row in csv.DictReader(fh)}
    truth.discard(None)
    found = {str(lead.key[key_column]) for lead in registry.leads(model)}
    return Quality(model, len(found), len(truth), len(found & truth))

"""Lead quality against synthetic ground truth — a test-bench tool.

It needs the federation's token secret to tokenise the truth, which a real coordinator never
holds; only `fedscreen demo` and `fedscreen eval` on synthetic data use it. Ground truth per
model (coordinator.synth.truth_file): a `kind` column, then one column per lead key headed
`<key>:<identifier kind>`, holding canonical identifiers.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from coordinator.registry import Registry
from fedscreen.errors import UsageError
from fedscreen.tokens import TokenKeys, reference_token


@dataclass(frozen=True)
class Quality:
    model: str
    kind: str
    leads: int
    truth: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.leads if self.leads else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 0.0


def _truth(path: Path, keys: TokenKeys) -> tuple[list[str], dict[str, set[tuple[str, ...]]]]:
    try:
        fh = path.open(encoding="utf-8", newline="")
    except OSError:
        raise UsageError(f"no ground truth at {path}") from None
    with fh:
        reader = csv.reader(fh)
        header = next(reader)
        if not header or header[0] != "kind":
            raise UsageError(f"{path}: the first column must be kind")
        cols = [h.split(":", 1) for h in header[1:]]
        by_kind: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for row in reader:
            tokens = [reference_token(keys, k, v) for (_n, k), v in zip(cols, row[1:], strict=True)]
            if all(tokens):
                by_kind[row[0]].add(tuple(t for t in tokens if t))
    return [c[0] for c in cols], by_kind


def evaluate_model(
    registry: Registry, truth_csv: Path, secret: bytes, model: str, campaign: str
) -> list[Quality]:
    """Precision and recall of a model's leads, per lead kind."""
    key_names, truth = _truth(truth_csv, TokenKeys.derive(secret, model, campaign))
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    # Tokens are scoped per campaign: leads of another campaign can never match this truth.
    for lead in registry.leads(model, campaign=campaign):
        found[lead.kind].add(tuple(str(lead.key.get(k)) for k in key_names))
    return [
        Quality(model, kind, len(found[kind]), len(truth[kind]), len(found[kind] & truth[kind]))
        for kind in sorted(set(truth) | set(found))
    ]

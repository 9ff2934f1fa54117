"""For the contributor tests: a model's shipped SQL replayed over synthetic data and scored.

The data is written as `generate` writes it (conformed Parquet per role and dataset), every role
runs stage by stage with candidates filtered exactly as agents would (coordinator.modeltest),
the coordinator combines the flags, and the leads are scored per kind against the contributor's
ground truth — so a test fails if the shipped SQL breaks, not only if the data does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from coordinator.combine import Lead, combine
from coordinator.evaluate import Quality
from coordinator.modeltest import run_roles
from coordinator.synth import Frames, merged, write_frames
from fedscreen.dictionary import datasets
from fedscreen.identifiers import normalise
from fedscreen.manifest import load_manifest
from fedscreen.tokens import TokenKeys, reference_token

MODELS = Path(__file__).resolve().parents[2] / "models"
SECRET = b"test secret for replaying a model over synthetic data"
CAMPAIGN = "replay"


@dataclass(frozen=True)
class Replay:
    leads: list[Lead]
    shares: dict[str, float]  # role -> share of its largest input it would send
    keys: TokenKeys


def write(out: Path, *parts: Frames) -> Path:
    """The parts' rows merged as `generate` merges contributions (conformed, appended per
    dataset) and written as it writes them; returns `out`."""
    frames: Frames = {}
    for part in parts:
        frames = merged(frames, part)
    write_frames(out, frames)
    return out


def canonical(frames: Frames) -> dict[str, pl.DataFrame]:
    """Each dataset, by name, with canonical identifiers in place of the raw spellings."""
    out = {}
    for (role, name), frame in frames.items():
        kinds = {c.name: c.id_kind for c in datasets(role)[name].columns if c.id_kind}
        out[name] = frame.with_columns(
            pl.Series(c, [normalise(k, v) for v in frame[c].to_list()], dtype=pl.Utf8)
            for c, k in kinds.items()
        )
    return out


def replay(model: str, out: Path) -> Replay:
    """The model's roles over the datasets under `out`, then its combine rule."""
    model_dir = MODELS / model
    manifest = load_manifest(model_dir)
    params = manifest.resolve_params({})
    keys = TokenKeys.derive(SECRET, manifest.name, CAMPAIGN)
    shares: dict[str, float] = {}
    tables = run_roles(model_dir, manifest, out, params, keys, "parquet", shares)
    combine_sql = (model_dir / manifest.combine_sql_file).read_text("utf-8")
    return Replay(combine(manifest, combine_sql, tables, params, CAMPAIGN), shares, keys)


def quality(model: str, result: Replay, truth: pl.DataFrame) -> dict[str, Quality]:
    """Per lead kind (of the truth or of the leads), the leads scored against `truth`: a
    `kind` column, then one column per lead key headed `<key>:<identifier kind>`."""
    columns = [c.split(":", 1) for c in truth.columns[1:]]

    def tokens(row: tuple[str, ...]) -> tuple[str | None, ...]:
        pairs = zip(columns, row[1:], strict=True)
        return (row[0], *(reference_token(result.keys, k, v) for (_n, k), v in pairs))

    real = {tokens(row) for row in truth.iter_rows()}
    found = {(lead.kind, *(lead.key[n] for n, _k in columns)) for lead in result.leads}
    return {
        kind: Quality(
            model,
            kind,
            len({f for f in found if f[0] == kind}),
            len({t for t in real if t[0] == kind}),
            len({f for f in found & real if f[0] == kind}),
        )
        for kind in sorted({t[0] for t in real} | {f[0] for f in found})
    }

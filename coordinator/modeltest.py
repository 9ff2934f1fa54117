"""`fedscreen model test DIR`: run a model's fixtures locally, exactly as agents would.

Each fixture is a folder `fixtures/<case>/` with `inputs/<role>/<dataset>.csv` (raw agency
rows), optional `params.toml`, and `expected.csv` whose header names each lead-key column with
its identifier kind (`person:person,suit:case`) and whose rows hold the raw identifiers of the
leads the model must find — no more, no fewer. Tokens use a fixed fixture secret.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from coordinator.combine import combine
from fedscreen.candidates import candidate_sets, filter_candidates
from fedscreen.engine import Engine, SourceSpec
from fedscreen.errors import ManifestError
from fedscreen.manifest import Manifest, load_manifest
from fedscreen.tokens import TokenKeys, reference_token

FIXTURE_SECRET = b"fedscreen fixture secret: never use for real data!"


@dataclass(frozen=True)
class FixtureResult:
    name: str
    expected: int
    found: int
    missing: tuple[tuple[str, ...], ...]
    unexpected: int

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


def _expected(path: Path, keys: TokenKeys, manifest: Manifest) -> set[tuple[str, ...]]:
    """(kind, *key tokens) of every expected lead; the kind column is optional."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        has_kind = bool(header) and header[0] == "kind"
        cols = [h.split(":", 1) for h in header[1:] if has_kind] or [
            h.split(":", 1) for h in header
        ]
        if [c[0] for c in cols] != list(manifest.lead_key) or any(len(c) != 2 for c in cols):
            raise ManifestError(
                f"{path}: header must be [kind,] then the lead key with kinds, e.g. kind,"
                + ",".join(f"{k}:KIND" for k in manifest.lead_key)
            )
        out = set()
        for row in reader:
            kind = row[0] if has_kind else manifest.name
            raw = row[1:] if has_kind else row
            pairs = zip(cols, raw, strict=True)
            tokens = tuple(reference_token(keys, k, value) for (_n, k), value in pairs)
            if any(t is None for t in tokens):
                raise ManifestError(f"{path}: an expected lead holds an invalid identifier")
            out.add((kind, *(t for t in tokens if t is not None)))
        return out


def run_roles(
    model_dir: Path,
    manifest: Manifest,
    inputs: Path,
    params: dict[str, int | float],
    keys: TokenKeys,
    fmt: Literal["csv", "parquet"] = "csv",
    shares: dict[str, float] | None = None,
) -> dict[str, pa.Table]:
    """Every role over `inputs/<role>/<dataset>.<fmt>`, stage by stage, as the federation would.

    Synth output has exactly this layout, so a model can be measured on a synthetic world
    without agents. If `shares` is given, it receives per role the fraction of its largest
    input that it would send — what the agent's disclosure cap checks.
    """
    tables: dict[str, pa.Table] = {}
    for stage in manifest.stages():
        for role in stage:
            sources = {
                ds: SourceSpec(ds, fmt, str(inputs / role.name / f"{ds}.{fmt}"))
                for ds in role.reads
            }
            with Engine(role.name, sources) as engine:
                sql = (model_dir / role.sql_file).read_text("utf-8")
                result = engine.run(role, sql, params, keys)
            tables[role.name] = filter_candidates(result.table, candidate_sets(role, tables))
            if shares is not None:
                shares[role.name] = tables[role.name].num_rows / max(result.rows_in, 1)
    return tables


def run_fixture(model_dir: Path, manifest: Manifest, case: Path) -> FixtureResult:
    params_file = case / "params.toml"
    given = tomllib.loads(params_file.read_text("utf-8")) if params_file.exists() else {}
    params = manifest.resolve_params({k: str(v) for k, v in given.items()})
    keys = TokenKeys.derive(FIXTURE_SECRET, manifest.name, manifest.name)
    tables = run_roles(model_dir, manifest, case / "inputs", params, keys)
    combine_sql = (model_dir / manifest.combine_sql_file).read_text("utf-8")
    leads = combine(manifest, combine_sql, tables, params, manifest.name)
    found = {(lead.kind, *(str(lead.key[k]) for k in manifest.lead_key)) for lead in leads}
    expected = _expected(case / "expected.csv", keys, manifest)
    return FixtureResult(
        name=case.name,
        expected=len(expected),
        found=len(found),
        missing=tuple(sorted(expected - found)),
        unexpected=len(found - expected),
    )


def test_model(model_dir: Path) -> list[FixtureResult]:
    manifest = load_manifest(model_dir)
    cases = sorted(p for p in (model_dir / "fixtures").glob("*") if p.is_dir())
    if not cases:
        raise ManifestError(f"{model_dir}/fixtures holds no fixture folders")
    return [run_fixture(model_dir, manifest, case) for case in cases]

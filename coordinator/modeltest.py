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

from coordinator.combine import combine
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
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = [h.split(":", 1) for h in header]
        if [c[0] for c in cols] != list(manifest.lead_key) or any(len(c) != 2 for c in cols):
            raise ManifestError(
                f"{path}: header must be the lead key with kinds, e.g. "
                + ",".join(f"{k}:KIND" for k in manifest.lead_key)
            )
        out = set()
        for row in reader:
            pairs = zip(cols, row, strict=True)
            tokens = tuple(reference_token(keys, kind, raw) for (_n, kind), raw in pairs)
            if any(t is None for t in tokens):
                raise ManifestError(f"{path}: expected lead {row} holds an invalid identifier")
            out.add(tuple(t for t in tokens if t is not None))
        return out


def run_fixture(model_dir: Path, manifest: Manifest, case: Path) -> FixtureResult:
    params_file = case / "params.toml"
    given = tomllib.loads(params_file.read_text("utf-8")) if params_file.exists() else {}
    params = manifest.resolve_params({k: str(v) for k, v in given.items()})
    keys = TokenKeys.derive(FIXTURE_SECRET, manifest.name, manifest.name)
    tables = {}
    for role in manifest.roles:
        sources = {
            ds: SourceSpec(ds, "csv", str(case / "inputs" / role.name / f"{ds}.csv"))
            for ds in role.reads
        }
        with Engine(role.name, sources) as engine:
            sql = (model_dir / role.sql_file).read_text("utf-8")
            tables[role.name] = engine.run(role, sql, params, keys).table
    combine_sql = (model_dir / manifest.combine_sql_file).read_text("utf-8")
    leads = combine(manifest, combine_sql, tables, params, manifest.name)
    found = {tuple(str(lead.key[k]) for k in manifest.lead_key) for lead in leads}
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

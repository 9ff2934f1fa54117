"""For the model spec tests: small literal agency tables, written as CSV the way an agent reads
them, and a shipped model run over them as the federation would (coordinator.modeltest):
stage by stage, candidates filtered, tokens under the fixture secret, then the combine rule.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from coordinator.combine import Lead, combine
from coordinator.modeltest import FIXTURE_SECRET, run_roles
from fedscreen.dictionary import datasets
from fedscreen.manifest import load_manifest
from fedscreen.tokens import TokenKeys

Dataset = tuple[str, str]  # (role, dataset)
Tables = dict[Dataset, list[dict[str, object]]]


def write_tables(root: Path, tables: Tables) -> Path:
    """Each dataset's rows as `root/<role>/<dataset>.csv` under the dictionary's header (columns
    a row leaves out stay empty); returns `root`."""
    for (role, name), rows in tables.items():
        path = root / role / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, datasets(role)[name].column_names(), restval="")
            writer.writeheader()
            writer.writerows(rows)
    return root


def run_model(
    model_dir: Path, inputs: Path, campaign: str = "", **given: int
) -> tuple[list[Lead], TokenKeys]:
    """The model's leads over `inputs` with parameters `given` (the rest default), and the
    token keys of its campaign (the model's name unless given)."""
    manifest = load_manifest(model_dir)
    params = manifest.resolve_params({k: str(v) for k, v in given.items()})
    campaign = campaign or manifest.name
    keys = TokenKeys.derive(FIXTURE_SECRET, manifest.name, campaign)
    tables = run_roles(model_dir, manifest, inputs, params, keys)
    sql = (model_dir / manifest.combine_sql_file).read_text("utf-8")
    return combine(manifest, sql, tables, params, campaign), keys


def with_values(dataset: Dataset, row: int = 0, **values: object) -> Callable[[Tables], None]:
    """A change to tables: row `row` of `dataset` takes `values`."""

    def change(tables: Tables) -> None:
        tables[dataset][row].update(values)

    return change

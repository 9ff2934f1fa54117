"""deploy/*.example.toml: the example configs load with the code that reads the real ones."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.schedules import load_schedules
from fedscreen.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "deploy" / "schedules.example.toml"


def test_schedules_example_loads_and_names_shipped_bundles() -> None:
    schedules = {s.name: s for s in load_schedules(SCHEDULES)}
    assert set(schedules) == {"nightly-labour", "weekly-wage-arrears"}
    for s in schedules.values():
        found = re.fullmatch(r"bundles/([a-z_]+)-(\d+\.\d+\.\d+)\.fsb", s.model)
        assert found, s.model
        manifest = load_manifest(ROOT / "models" / found.group(1))
        assert manifest.version == found.group(2)
        declared = {p.name for p in manifest.parameters}
        assert set(s.params) <= declared, s.name

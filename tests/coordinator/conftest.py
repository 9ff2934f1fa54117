"""Fixtures every coordinator test shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.cli import main


@pytest.fixture(autouse=True)
def _no_state_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # click reads FEDSCREEN_STATE from os.environ too; tests pass --state explicitly or not at all.
    monkeypatch.delenv("FEDSCREEN_STATE", raising=False)


@pytest.fixture()
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A state dir made by `fedscreen init` (a file may define its own `state` instead)."""
    root = tmp_path / "state"
    assert main(["init", str(root), "--name", "测试检察院"]) == 0
    capsys.readouterr()
    return root

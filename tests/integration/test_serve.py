"""`fedscreen serve --once` against real agents: a due schedule runs, its job is listed with
leads, and an immediate second pass does not run it again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator import daemon
from coordinator.cli import main
from coordinator.schedules import Schedule, add_schedule, remove_schedule
from tests.integration.conftest import MODEL, Fed

CAMPAIGN = "serve-integration"


def _jobs(fed: Fed, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["--state", str(fed.state.root), "jobs", "list", "--format", "json"]) == 0
    return [j for j in json.loads(capsys.readouterr().out) if j["campaign"] == CAMPAIGN]


def test_serve_once_runs_a_due_schedule_once(
    fed: Fed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FEDSCREEN_STATE", raising=False)
    bundle = tmp_path / f"{MODEL}.fsb"  # the signed bundle the agencies approved
    bundle.write_bytes(fed.bundle)
    # a daily tick two minutes ago, on a schedule added yesterday: due now, and not again today
    tick = datetime.now(UTC) - timedelta(minutes=2)
    path = daemon.schedules_file(fed.state)
    entry = Schedule(
        "serve-test",
        f"{tick.minute} {tick.hour} * * *",
        str(bundle),
        {"min_suits": 6},
        CAMPAIGN,
        120.0,
        tick - timedelta(days=1),
    )
    add_schedule(path, entry)
    try:
        state = ["--state", str(fed.state.root)]
        assert main([*state, "serve", "--once"]) == 0
        assert "ran 1 scheduled job(s), 0 failed" in capsys.readouterr().out
        [job] = _jobs(fed, capsys)
        assert job["status"] == "succeeded"
        assert isinstance(job["leads"], int) and job["leads"] > 0
        runs = json.loads(daemon.schedule_state_file(fed.state).read_text(encoding="utf-8"))
        assert runs["serve-test"]["job_id"] == job["job"]

        assert main([*state, "serve", "--once"]) == 0
        assert "ran 0 scheduled job(s)" in capsys.readouterr().out
        assert len(_jobs(fed, capsys)) == 1

        assert main([*state, "jobs", "show", str(job["job"])[:12]]) == 0
        shown = capsys.readouterr().out
        assert f"job {job['job']}: succeeded" in shown and "t-court" in shown
        assert '"min_suits": 6' in shown
    finally:
        remove_schedule(path, "serve-test")

"""`fedscreen serve` against real agents: a due schedule runs, its job is listed with leads,
an immediate second pass does not run it again, and a daemon killed mid-job resumes it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.audit import read_entries
from coordinator import daemon
from coordinator.cli import main
from coordinator.federation import Federation
from coordinator.registry import Registry
from coordinator.run import run_model
from coordinator.schedules import Schedule, add_schedule, remove_schedule
from tests.integration.agent_procs import agent_config, approve_at, audit_outcomes, ghost
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


def _campaign_leads(fed: Fed, campaign: str) -> list[str]:
    with sqlite3.connect(fed.state.registry) as con:
        rows = con.execute("SELECT lead_id FROM leads WHERE campaign=?", (campaign,)).fetchall()
    return sorted(r[0] for r in rows)


def test_a_daemon_killed_mid_job_resumes_it_on_restart_without_doubling_or_losing_leads(
    fed: Fed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FEDSCREEN_STATE", raising=False)
    campaign = "serve-resume"
    bundle = tmp_path / f"{MODEL}.fsb"
    bundle.write_bytes(fed.bundle)
    before = run_model(fed.state, fed.bundle, fed.verified, {}, campaign)  # leads on record
    recorded = _campaign_leads(fed, campaign)
    assert len(recorded) == len(before.leads) > 0

    tick = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    entry = Schedule(
        "resume-test", f"{tick.minute} {tick.hour} * * *", str(bundle), {}, campaign, 120.0,
        tick - timedelta(days=1), ("t-court", "t-hrss", "t-social-security",
                                   "t-market-regulation", "t-late"),
    )  # fmt: skip
    path = daemon.schedules_file(fed.state)
    job_id = daemon.tick_job_id(entry, tick)
    court_audit = fed.configs["court"].parent / "state" / "audit.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")}
    argv = [sys.executable, "-c", "from coordinator.cli import main; raise SystemExit(main())"]
    # A second court that is down: the daemon's job keeps retrying it when we kill the daemon.
    with ghost(fed, "t-late") as port:
        add_schedule(path, entry)
        proc = subprocess.Popen(
            [*argv, "serve", "--state", str(fed.state.root)],
            env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"),
        )  # fmt: skip
        try:
            # Wait until the real agents have answered this job: only t-late is outstanding.
            deadline = time.monotonic() + 60
            while not any(
                e.get("job_id") == job_id and e["outcome"] == "ok"
                for e in read_entries(court_audit)
            ):
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the scheduled job never reached t-court"
                time.sleep(0.05)
            proc.kill()  # SIGKILL, mid-job
            assert proc.wait() == -9
            job = Registry(fed.state.registry).job(job_id)
            assert job is not None and job["status"] == "running"  # no runner finished it

            # The late court comes up; the daemon restarts and resumes the same job.
            config = agent_config(fed, "t-late", port=port)
            approve_at(config, fed.verified)
            with Federation(fed.state) as federation:
                federation.start_agent("t-late", "court", config)
                capsys.readouterr()
                assert main(["--state", str(fed.state.root), "serve", "--once"]) == 0
                assert "ran 1 scheduled job(s), 0 failed, 0 partial" in capsys.readouterr().out
        finally:
            if proc.poll() is None:
                proc.kill()
            remove_schedule(path, "resume-test")
    job = Registry(fed.state.registry).job(job_id)
    assert job is not None and (job["status"], job["attempts"]) == ("succeeded", 2)
    assert _campaign_leads(fed, campaign) == recorded  # none doubled, none lost
    # The resumed job did not run again at t-court; t-late ran it once.
    assert audit_outcomes(fed.configs["court"], job_id) == ["ok", "replayed"]
    assert audit_outcomes(config, job_id) == ["ok"]

"""Clock skew end to end: the coordinator stamps its requests, a real agent keeps the skew,
and `fedscreen-agent doctor` reports it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from agent.cli import main
from coordinator.client import AgentClient
from fedscreen import wire
from fedscreen.jobs import Job
from tests.integration.agent_procs import SMALL_SQL, agent_config, own_agent, signed_model
from tests.integration.conftest import Fed

MODEL = "clock_probe"


def doctor_clock(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """doctor's exit status and its clock lines: the finding, then its fix if it has one."""
    status = main(["doctor", "--config", str(config)])
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line[5:].startswith("clock: "))
    fix = [line for line in lines[at + 1 : at + 2] if line.startswith("     fix: ")]
    return status, [lines[at], *fix]


def test_doctor_reports_the_skew_the_coordinators_requests_carried(
    fed: Fed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = agent_config(fed, "t-clock")
    clock_file = config.parent / "state" / "clock.json"
    bundle = signed_model(fed, tmp_path / "m", MODEL, SMALL_SQL, config)
    with own_agent(fed, "t-clock", config) as (entry, _proc):
        assert not clock_file.exists()
        with AgentClient(fed.state, entry) as client:
            result = client.screen(bundle, Job("j-clock-1", "probe", {}, "test"), timeout=60)
        assert result.summary.rows_out > 0
        doc = json.loads(clock_file.read_text("utf-8"))
        assert set(doc) == {"skew_seconds", "observed_at"}  # numbers and a time, nothing else
        assert abs(doc["skew_seconds"]) < 5  # one host, one clock: latency only
        status, lines = doctor_clock(config, capsys)
        assert len(lines) == 1 and re.fullmatch(
            r"OK   clock: this host is \d\.\d{3} s (ahead of|behind) the coordinator "
            r"\(observed \d{4}-\d\d-\d\d \d\d:\d\d UTC\)",
            lines[0],
        ), lines
        assert status == 0

        # A coordinator whose clock is two minutes behind: the stamp says so.
        late = wire.screen_request(
            bundle, Job("j-clock-2", "probe", {}, "test"), now=time.time() - 120
        )
        with AgentClient(fed.state, entry) as client:
            replies = list(client.stub.Screen(late, timeout=60))
        assert replies[-1].summary.job_id == "j-clock-2"  # the skew never fails the job
        skew = json.loads(clock_file.read_text("utf-8"))["skew_seconds"]
        assert 120 <= skew < 125
        status, lines = doctor_clock(config, capsys)
        assert status == 1
        assert re.fullmatch(
            r"FAIL clock: this host is 12\d\.\d{3} s ahead of the coordinator "
            r"\(observed \d{4}-\d\d-\d\d \d\d:\d\d UTC; more than 5 s\)",
            lines[0],
        ), lines
        assert lines[1] == (
            "     fix: enable time sync on both hosts: timedatectl set-ntp true, or configure "
            "chrony/ntpd to the same NTP source; then run a job from the coordinator, then "
            "doctor again"
        )

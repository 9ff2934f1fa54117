"""Faults, with real agent processes over mutual TLS: an agent killed mid-stream, an agent
down for a job's whole deadline, a job id sent twice, a job cancelled while it retries."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.federation import Federation
from coordinator.registry import Registry
from coordinator.retry import Backoff
from coordinator.run import run_model
from fedscreen.bundle import VerifiedBundle
from fedscreen.errors import JobFailed, JobStopped
from tests.integration.agent_procs import (
    SMALL_SQL,
    agent_config,
    approve_at,
    audit_outcomes,
    free_port,
    ghost,
    sign,
    write_model,
)
from tests.integration.conftest import Fed

FAST = Backoff(base=0.2, cap=1.0)  # the policy's shape, at test speed
REAL_COURTS = ["t-court", "t-hrss", "t-social-security", "t-market-regulation"]


def court_probe(fed: Fed, folder: Path, when_missing: str) -> tuple[bytes, VerifiedBundle]:
    """A court-only model named after `folder`, flagging about a tenth of the cases."""
    return sign(
        fed.state, write_model(folder, SMALL_SQL, name=folder.name, when_missing=when_missing)
    )


def test_an_agent_killed_mid_stream_is_retried_and_answers_from_its_record(
    fed: Fed, tmp_path: Path
) -> None:
    # Every insured person eight times over: ~30 MiB of tokens in 1 MiB batches, more than
    # the transport buffers ahead of the reader; leads only for a sixteenth of them.
    copies = [f"p{i}" for i in range(8)]
    model = write_model(
        tmp_path / "midstream_probe",
        "SELECT " + ", ".join(f"person_id AS {c}" for c in copies) + " FROM insured_persons",
        name="midstream_probe", role="social_security", dataset="insured_persons",
        outputs="\n".join(f'{c} = "person"' for c in copies), lead_key="p0",
        combine="SELECT p0 FROM social_security WHERE starts_with(p0, '0')",
        when_missing="withhold",
    )  # fmt: skip
    data, verified = sign(fed.state, model)
    config = agent_config(
        fed, "t-ss-kill", "social_security", port=free_port(), max_flag_fraction=1.0
    )
    approve_at(config, verified)
    killed: list[int] = []
    with Federation(fed.state) as federation:
        federation.start_agent("t-ss-kill", "social_security", config)

        def progress(agent: str, message: str) -> None:
            if agent == "t-ss-kill" and "flags received" in message and not killed:
                proc = federation.processes[-1].proc
                proc.kill()  # SIGKILL: no drain, no goodbye, mid-stream
                killed.append(proc.wait())
                federation.start_agent("t-ss-kill", "social_security", config)  # same port

        try:
            report = run_model(
                fed.state, data, verified, {}, "faults", timeout=120, progress=progress,
                targets=["t-ss-kill"], backoff=FAST,
            )  # fmt: skip
        finally:
            fed.state.remove_agent("t-ss-kill")
    assert killed == [-9]
    assert report.status == "succeeded"
    assert report.attempts["t-ss-kill"] >= 2
    [result] = report.results
    assert result.table.num_rows == result.summary.rows_out > 50_000
    assert 0 < len(report.leads) < result.table.num_rows
    # The first run recorded its answer before streaming; the re-send was answered from it.
    assert audit_outcomes(config, report.job_id) == ["ok", "replayed"]
    job = Registry(fed.state.registry).job(report.job_id)
    assert job is not None and job["status"] == "succeeded"


def test_an_agent_down_for_the_whole_deadline_makes_the_job_partial_naming_it(
    fed: Fed, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle = tmp_path / "labour.fsb"
    bundle.write_bytes(fed.bundle)
    with ghost(fed, "t-ghost-court"):
        report = run_model(
            fed.state, fed.bundle, fed.verified, {}, "faults-partial", timeout=6, backoff=FAST
        )
        # the command line says so in its exit code, for scripts and cron
        argv = ["--state", str(fed.state.root), "run", str(bundle), "--timeout", "3"]
        capsys.readouterr()
        assert main([*argv, "--campaign", "faults-partial"]) == 13
        err = capsys.readouterr().err
        assert "is partial: agents missing: t-ghost-court (court)" in err
    assert report.status == "partial"
    assert list(report.missing) == ["t-ghost-court"]
    assert report.attempts["t-ghost-court"] >= 3  # retried, with backoff, until the deadline
    # court allows combining without one of its agents: leads come from those that answered
    assert len(report.leads) > 0 and report.withheld == 0
    assert {r.agent for r in report.results} == set(REAL_COURTS)
    job = Registry(fed.state.registry).job(report.job_id)
    assert job is not None
    assert (job["status"], job["missing"]) == ("partial", '["t-ghost-court"]')
    assert "agents missing: t-ghost-court (court); leads combined without them" in str(
        job["message"]
    )
    assert main(["--state", str(fed.state.root), "jobs", "show", report.job_id]) == 0
    shown = capsys.readouterr().out
    assert f"job {report.job_id}: partial" in shown and "t-ghost-court" in shown


def test_a_role_that_excludes_withholds_the_leads_and_a_retry_completes_the_job(
    fed: Fed, tmp_path: Path
) -> None:
    data, verified = court_probe(fed, tmp_path / "withhold_probe", "withhold")
    fed.approve("court", verified)
    with ghost(fed, "t-late-court") as port:
        report = run_model(
            fed.state, data, verified, {}, "faults-withhold", timeout=5,
            targets=["t-court", "t-late-court"], backoff=FAST,
        )  # fmt: skip
        assert report.status == "partial"
        assert report.leads == [] and report.withheld > 0
        assert "leads withheld" in report.message
        registry = Registry(fed.state.registry)
        assert [ld for ld in registry.leads() if ld.model == "withhold_probe"] == []

        # The late agent comes up; the same job id is sent again.
        config = agent_config(fed, "t-late-court", port=port)
        approve_at(config, verified)
        with Federation(fed.state) as federation:
            federation.start_agent("t-late-court", "court", config)
            assert main(["--state", str(fed.state.root), "jobs", "retry", report.job_id]) == 0
    job = Registry(fed.state.registry).job(report.job_id)
    assert job is not None and (job["status"], job["attempts"]) == ("succeeded", 2)
    leads = [ld for ld in Registry(fed.state.registry).leads() if ld.model == "withhold_probe"]
    assert len(leads) == report.withheld  # both courts hold the same cases: no duplicates
    assert audit_outcomes(fed.configs["court"], report.job_id) == ["ok", "replayed"]  # ran once
    assert audit_outcomes(config, report.job_id) == ["ok"]


def test_no_agent_answering_fails_the_job(fed: Fed, tmp_path: Path) -> None:
    data, verified = court_probe(fed, tmp_path / "nobody_probe", "combine")
    with ghost(fed, "t-nobody"), pytest.raises(JobFailed, match="no agent answered.*t-nobody"):
        run_model(
            fed.state, data, verified, {}, "faults-failed", timeout=3,
            targets=["t-nobody"], backoff=FAST,
        )  # fmt: skip
    [job] = [j for j in Registry(fed.state.registry).jobs() if j["campaign"] == "faults-failed"]
    assert (job["status"], job["missing"]) == ("failed", '["t-nobody"]')


def test_the_same_job_id_sent_twice_runs_once_at_every_agent(fed: Fed) -> None:
    first = run_model(fed.state, fed.bundle, fed.verified, {}, "faults-twice", job_id="twice-1")
    again = run_model(fed.state, fed.bundle, fed.verified, {}, "faults-twice", job_id="twice-1")
    assert (first.attempt, again.attempt) == (1, 2)
    assert again.new_leads == 0 and len(again.leads) == len(first.leads) > 0
    for role, config in fed.configs.items():
        assert audit_outcomes(config, "twice-1") == ["ok", "replayed"], role
    registry = Registry(fed.state.registry)
    mine = [ld for ld in registry.leads() if "twice-1" in (ld.first_job, ld.last_job)]
    assert len(mine) == len(first.leads)  # a new campaign: every lead is this job's, once


def test_jobs_cancel_stops_a_job_that_is_waiting_for_an_agent(fed: Fed) -> None:
    outcome: list[BaseException] = []

    def runner() -> None:
        try:
            run_model(
                fed.state, fed.bundle, fed.verified, {}, "faults-cancel", timeout=120,
                job_id="cancel-me", backoff=FAST,
            )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    with ghost(fed, "t-ghost-cancel"):
        thread = threading.Thread(target=runner)
        thread.start()
        registry = Registry(fed.state.registry)
        while (job := registry.job("cancel-me")) is None or job["status"] != "running":
            assert thread.is_alive(), outcome
            thread.join(0.05)
        argv = ["--state", str(fed.state.root), "jobs", "cancel", "cancel-me", "--by", "tester"]
        assert main(argv) == 0
        thread.join(timeout=15)
        assert not thread.is_alive(), "the job did not stop after jobs cancel"
    assert len(outcome) == 1 and isinstance(outcome[0], JobStopped)
    job = Registry(fed.state.registry).job("cancel-me")
    assert job is not None and job["status"] == "cancelled"
    stamp = str(job["cancel_requested"])  # who asked, and when
    assert re.fullmatch(r"tester at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp), stamp

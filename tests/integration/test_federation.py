"""End to end over real agent processes and mutual TLS."""

from __future__ import annotations

import re
import subprocess
import sys

import polars as pl
import pytest

from agent.audit import read_entries, verify_chain
from coordinator import synth
from coordinator.client import AgentClient
from coordinator.evaluate import evaluate_model
from coordinator.registry import Registry
from coordinator.run import run_model
from coordinator.synth import truth_file
from fedscreen.errors import JobFailed
from fedscreen.jobs import Job, round_2sig
from tests.integration.conftest import MODEL, Fed


def test_model_run_finds_the_planted_rings(fed: Fed) -> None:
    report = run_model(fed.state, fed.bundle, fed.verified, {})
    assert {r.role for r in report.results} == {r.name for r in fed.verified.manifest.roles}
    (q,) = evaluate_model(
        Registry(fed.state.registry),
        fed.data / truth_file(MODEL),
        fed.secret.read_text().strip().encode(),
        MODEL,
        MODEL,
    )
    assert q.kind == MODEL
    assert q.truth > 20
    assert q.precision >= 0.9
    assert q.recall >= 0.9


def test_a_rerun_updates_leads_instead_of_duplicating(fed: Fed) -> None:
    registry = Registry(fed.state.registry)
    first = run_model(fed.state, fed.bundle, fed.verified, {})
    count = len(registry.leads(MODEL, campaign=MODEL))
    second = run_model(fed.state, fed.bundle, fed.verified, {})
    assert second.new_leads == 0
    assert len(registry.leads(MODEL, campaign=MODEL)) == count > 0
    assert {lead.lead_id for lead in first.leads} == {lead.lead_id for lead in second.leads}


def test_each_screen_is_in_the_agents_audit_chain(fed: Fed) -> None:
    report = run_model(fed.state, fed.bundle, fed.verified, {"min_suits": "6"})
    audit = fed.configs["court"].parent / "state" / "audit.jsonl"
    assert verify_chain(audit) >= 2
    entry = next(e for e in read_entries(audit) if e.get("job_id") == report.job_id)
    assert entry["outcome"] == "ok"
    assert entry["params"]["min_suits"] == 6
    assert entry["bundle_digest"] == fed.verified.digest
    assert entry["caller"] == "coordinator"
    assert (
        entry["rows_out"] == next(r for r in report.results if r.role == "court").summary.rows_out
    )


def test_a_parameter_outside_the_signed_bounds_is_refused(fed: Fed) -> None:
    entry = fed.state.agent("t-court")
    with AgentClient(fed.state, entry) as client, pytest.raises(JobFailed, match="maximum 50"):
        client.screen(fed.bundle, Job("j-bounds", MODEL, {"min_suits": "500"}, "t"), 30)


def test_agent_check_accepts_the_synthetic_sources(fed: Fed) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "check", "--config", str(fed.configs["social_security"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    checked = set(re.findall(r"^dataset: (\w+): [1-9]\d* rows, ok$", out.stdout, re.M))
    held = {path.stem for path in (fed.data / "social_security").glob("*.parquet")}
    assert "back_payments" in held and checked == held


def test_describe_reports_shapes_not_exact_sizes(fed: Fed) -> None:
    entry = fed.state.agent("t-social-security")
    with AgentClient(fed.state, entry) as client:
        desc, _latency = client.describe()
    assert desc.role == "social_security"
    assert fed.verified.digest in desc.approved_digests
    by_name = {d.name: d for d in desc.datasets}
    insured = by_name["insured_persons"]
    assert ("person_id", "VARCHAR") in insured.columns
    exact = pl.scan_parquet(synth.dataset_path(fed.data, "social_security", "insured_persons"))
    n = exact.select(pl.len()).collect().item()
    assert insured.approx_rows == round_2sig(n) > 0  # the shape, to two significant digits


def test_agents_status_shows_health_shape_and_latency(
    fed: Fed, capsys: pytest.CaptureFixture[str]
) -> None:
    from coordinator.cli import main

    assert main(["--state", str(fed.state.root), "agents", "status"]) == 0
    out = capsys.readouterr().out
    court = next(line for line in out.splitlines() if line.startswith("t-court "))
    assert "SERVING" in court and " ms " in court
    assert "labour_cases~" in court
    assert re.search(r"\b[1-9]\d* approved", court)

"""`fedscreen audit pull | verify` against a real agent: the chain and both sides' records.

Each test gets its own coordinator state and one court agent (over the session federation's
synthetic data and token secret), so jobs and raw calls made by other tests never show up
as "missing" here, and what one test plants does not leak into the next.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from coordinator.cli import main
from coordinator.client import AgentClient
from coordinator.combine import Lead
from coordinator.federation import Federation, write_agent_config
from coordinator.registry import Registry
from coordinator.resolutions import Resolutions, Target, resolve_lead
from coordinator.run import run_model
from coordinator.state import State, init_state
from fedscreen import pki
from fedscreen.bundle import VerifiedBundle
from fedscreen.errors import TokenNotIssued
from fedscreen.jobs import Job
from fedscreen.v1 import agent_pb2, agent_pb2_grpc
from tests.integration.agent_procs import approve_at, sign, write_model
from tests.integration.conftest import Fed

AGENT = "t-audit"
SQL = "SELECT case_no, court_region AS region FROM labour_cases WHERE false"


@dataclass
class Solo:
    state: State
    agent_log: Path
    bundle: bytes
    verified: VerifiedBundle

    def cli(self, *argv: str) -> int:
        return main(["--state", str(self.state.root), *argv])

    def run_job(self) -> str:
        return run_model(self.state, self.bundle, self.verified, {}).job_id

    @property
    def copy(self) -> Path:
        return self.state.root / "audit" / f"{AGENT}.jsonl"


@pytest.fixture
def solo(fed: Fed, tmp_path: Path) -> Iterator[Solo]:
    state = init_state(tmp_path / "coordinator", "audit test")
    config = write_agent_config(state, tmp_path / "agents", AGENT, "court", fed.data, fed.secret)
    # Signed by this state's own key, which is the one the agent trusts.
    model = write_model(tmp_path / "model", SQL, name="audit_probe", version="1.0.0")
    data, verified = sign(state, model)
    approve_at(config, verified)
    with Federation(state) as federation:
        federation.start_agent(AGENT, "court", config)
        yield Solo(state, config.parent / "state" / "audit.jsonl", data, verified)


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


def test_a_pulled_log_verifies_after_a_job(solo: Solo, capsys: pytest.CaptureFixture[str]) -> None:
    job_id = solo.run_job()
    assert solo.cli("audit", "pull", AGENT) == 0
    out = capsys.readouterr().out
    pulled = int(re.search(r"pulled (\d+) new lines", out).group(1))  # type: ignore[union-attr]
    # The copy is byte-for-byte the agent's log (the agent logged the pull itself first).
    assert solo.copy.read_bytes() == solo.agent_log.read_bytes()
    assert pulled == solo.copy.read_bytes().count(b"\n")
    assert b'"event":"audit_read"' in solo.copy.read_bytes().splitlines()[-1]
    assert job_id.encode() in solo.copy.read_bytes()

    assert solo.cli("audit", "verify", AGENT) == 0
    out = capsys.readouterr().out
    assert f"{AGENT}: chain intact, {pulled} entries (last seq {pulled})" in out
    assert f"jobs: 1 dispatched to {AGENT} per the registry, 1 screened by {AGENT}" in out
    assert out.rstrip().endswith(f"{AGENT}: every job and resolve request is on both sides")


def test_a_second_pull_appends_only_the_new_lines(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert solo.cli("audit", "pull", AGENT) == 0
    first = solo.copy.read_bytes()
    solo.run_job()
    solo.run_job()
    assert solo.cli("audit", "pull", AGENT) == 0
    # Two screens and the second pull's own audit_read entry.
    assert "pulled 3 new lines" in capsys.readouterr().out
    assert solo.copy.read_bytes().startswith(first)
    assert solo.copy.read_bytes() == solo.agent_log.read_bytes()
    assert solo.cli("audit", "verify", AGENT) == 0
    assert "jobs: 2 dispatched" in capsys.readouterr().out


def test_a_tampered_line_in_the_copy_fails_verify_naming_it(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    solo.run_job()
    assert solo.cli("audit", "pull", AGENT) == 0
    lines = solo.copy.read_bytes().split(b"\n")
    # Line 2 is the screen entry: change its outcome, keeping it valid canonical JSON.
    assert b'"outcome":"ok"' in lines[1]
    lines[1] = lines[1].replace(b'"outcome":"ok"', b'"outcome":"no"')
    solo.copy.write_bytes(b"\n".join(lines))
    capsys.readouterr()

    assert solo.cli("audit", "verify", AGENT) == 9
    captured = capsys.readouterr()
    message = one_error(captured.err)
    assert message.startswith("line 3: prev does not match the hash of line 2 (line 2 was edited")
    assert str(solo.copy) in message


def test_a_pull_refuses_an_agent_log_rewritten_since_the_last_pull(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    solo.run_job()
    assert solo.cli("audit", "pull", AGENT) == 0
    held = solo.copy.read_bytes()
    last = held.count(b"\n")
    agent_bytes = solo.agent_log.read_bytes()
    solo.agent_log.write_bytes(agent_bytes.replace(b'"from_seq":1', b'"from_seq":7'))
    capsys.readouterr()

    assert solo.cli("audit", "pull", AGENT) == 9
    message = one_error(capsys.readouterr().err)
    assert message.startswith(f"line {last}: the agent's line differs from the stored copy")
    assert solo.copy.read_bytes() == held  # nothing stored


def test_a_job_only_the_coordinator_recorded_is_missing_on_the_agent(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    solo.run_job()
    with sqlite3.connect(solo.state.registry) as con:
        con.execute(
            "INSERT INTO jobs (job_id, model, version, digest, campaign, params, started_at,"
            " finished_at, status, agents) VALUES ('fakejob01', 'audit_probe', '1.0.0', 'x',"
            " 'audit_probe', '{}', '2030-01-01T00:00:00+00:00', '2030-01-01T00:00:01+00:00',"
            f" 'succeeded', '{{\"{AGENT}\": {{}}}}')"
        )
    assert solo.cli("audit", "pull", AGENT) == 0
    capsys.readouterr()

    assert solo.cli("audit", "verify", AGENT) == 9
    captured = capsys.readouterr()
    assert "missing on the agent: job fakejob01 (audit_probe 1.0.0, succeeded" in captured.out
    assert "missing at the coordinator" not in captured.out
    assert f"jobs: 2 dispatched to {AGENT} per the registry, 1 screened" in captured.out
    assert one_error(captured.err) == (
        f"{AGENT}'s audit log and the coordinator's records disagree:"
        " 1 missing on the agent, 0 missing at the coordinator"
    )


def test_a_screen_the_registry_never_saw_is_missing_at_the_coordinator(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    solo.run_job()
    # A raw client holding the coordinator's certificate, bypassing `fedscreen run`.
    with AgentClient(solo.state, solo.state.agent(AGENT)) as client:
        client.screen(solo.bundle, Job("rawjob01", "audit_probe", {}, "someone"), 60)
    assert solo.cli("audit", "pull", AGENT) == 0
    capsys.readouterr()

    assert solo.cli("audit", "verify", AGENT) == 9
    captured = capsys.readouterr()
    found = re.search(
        r"missing at the coordinator: job rawjob01 \(agent line (\d+), ", captured.out
    )
    assert found, captured.out
    raw_line = solo.copy.read_bytes().split(b"\n")[int(found.group(1)) - 1]
    assert b'"job_id":"rawjob01"' in raw_line
    assert "missing on the agent" not in captured.out
    assert "0 missing on the agent, 1 missing at the coordinator" in one_error(captured.err)


def test_verify_without_a_pulled_copy_says_what_to_run(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert solo.cli("audit", "verify", AGENT) == 2
    assert one_error(capsys.readouterr().err) == (
        f"no copy of {AGENT}'s audit log (run: fedscreen audit pull {AGENT})"
    )
    assert solo.cli("audit", "pull", "t-nobody") == 2
    assert "unknown agent 't-nobody'" in one_error(capsys.readouterr().err)
    assert not (solo.state.root / "audit" / "t-nobody.jsonl").exists()


def test_a_caller_not_allowed_cannot_read_the_log(solo: Solo) -> None:
    ca = solo.state.ca_cert.read_bytes()
    other = pki.issue_cert(
        ca, solo.state.ca_key.read_bytes(), "nosy", server=False, client=True, now=datetime.now(UTC)
    )
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=other.key_pem, certificate_chain=other.cert_pem
    )
    entry = solo.state.agent(AGENT)
    options = [("grpc.ssl_target_name_override", entry.name)]
    with grpc.secure_channel(entry.address, creds, options=options) as channel:
        stub = agent_pb2_grpc.AgentStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Audit(agent_pb2.AuditRequest(from_seq=1), timeout=10))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The refusal is itself on the record, and no line was sent to build a copy from.
    last = solo.agent_log.read_bytes().splitlines()[-1]
    assert (
        b'"event":"denied"' in last and b'"method":"Audit"' in last and b'"caller":"nosy"' in last
    )


def test_a_refused_resolve_request_deleted_at_the_coordinator_is_reported(
    solo: Solo, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = solo.run_job()
    Registry(solo.state.registry).record_leads(
        job_id, "audit_probe", "1.0.0", "audit_probe", [Lead("Lprobe01", {"case": "c"}, {}, None)]
    )
    assert solo.cli("leads", "verify", "Lprobe01") == 0
    # The probe model discloses nothing, so the agent refuses — and logs the request.
    fake = Target("court", "case_no", "f" * 32)
    with pytest.raises(TokenNotIssued, match="NOT_FOUND: token was never issued here"):
        resolve_lead(solo.state, "Lprobe01", "案1", "核实", target=fake)
    (r,) = Resolutions(solo.state.registry).for_lead("Lprobe01")
    assert (r.status, r.agent) == ("refused", AGENT)
    assert solo.cli("audit", "pull", AGENT) == 0
    capsys.readouterr()
    assert solo.cli("audit", "verify", AGENT) == 0
    assert f"resolve requests: 1 per the registry, 1 in {AGENT}'s log" in capsys.readouterr().out

    with sqlite3.connect(solo.state.registry) as con:  # what the table's triggers are there for
        con.execute("DROP TRIGGER resolution_answers_not_deleted")
        con.execute("DELETE FROM resolution_answers WHERE request_id = ?", (r.request_id,))
        con.execute("DELETE FROM resolutions WHERE request_id = ?", (r.request_id,))
    assert solo.cli("audit", "verify", AGENT) == 9
    captured = capsys.readouterr()
    found = re.search(
        rf"missing at the coordinator: resolve request {r.request_id} \(agent line (\d+), .*,"
        r" outcome refused\)",
        captured.out,
    )
    assert found, captured.out
    assert b'"event":"resolve"' in solo.copy.read_bytes().split(b"\n")[int(found.group(1)) - 1]
    assert f"resolve requests: 0 per the registry, 1 in {AGENT}'s log" in captured.out
    assert "0 missing on the agent, 1 missing at the coordinator" in one_error(captured.err)

"""Helpers for tests that start their own agent or sign their own models: agent configs,
one-role probe models, approvals, raw Screen calls, audit entries and metrics scrapes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from prometheus_client.parser import text_string_to_metric_families

from agent.approvals import Approvals
from agent.audit import read_entries
from coordinator.client import AgentClient
from coordinator.federation import Federation, write_agent_config
from coordinator.state import AgentEntry, State
from fedscreen import keys, wire
from fedscreen.bundle import VerifiedBundle, sign_bundle, verify_bundle
from fedscreen.jobs import Job
from fedscreen.v1 import agent_pb2
from tests.toy_manifest import manifest_header

if TYPE_CHECKING:  # conftest imports this module (approve_at)
    from tests.integration.conftest import Fed

# Thousands of cases cubed: minutes of work, until something interrupts it.
SLOW_SQL = (
    "SELECT a.case_no, a.court_region AS region FROM labour_cases a, labour_cases b, "
    "labour_cases c WHERE strpos(a.case_no || b.case_no || c.case_no, 'zz') > 0"
)
# About a tenth of the cases: a small result, under the 20 % flag cap of the test agents.
# (By filing date, not by the case number's digits: how synth numbers cases is its own affair.)
SMALL_SQL = "SELECT case_no, court_region AS region FROM labour_cases WHERE day(filed_on) <= 3"
ONE_ROLE = """\
[roles.{role}]
sql = "{role}.sql"
reads = ["{dataset}"]
{when_missing}[roles.{role}.outputs]
{outputs}
[combine]
sql = "combine.sql"
lead_key = ["{lead_key}"]
"""
OUTPUTS = 'case_no = "case"\nregion = "region"'
Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


# --- models --------------------------------------------------------------------------------
def write_model(
    folder: Path,
    sql: str,
    *,
    name: str = "probe",
    version: str = "0.0.1",
    role: str = "court",
    dataset: str = "labour_cases",
    outputs: str = OUTPUTS,
    combine: str = "SELECT * FROM court",
    lead_key: str = "case_no",
    when_missing: str | None = None,
) -> Path:
    """A one-role model folder: `sql` for `role`, reading `dataset`."""
    folder.mkdir(parents=True)
    missing = f'when_missing = "{when_missing}"\n' if when_missing else ""
    manifest = manifest_header(name, version) + ONE_ROLE.format(
        role=role, dataset=dataset, when_missing=missing, outputs=outputs, lead_key=lead_key
    )
    (folder / "model.toml").write_text(manifest, "utf-8")
    (folder / f"{role}.sql").write_text(sql, "utf-8")
    (folder / "combine.sql").write_text(combine, "utf-8")
    return folder


def sign(state: State, folder: Path) -> tuple[bytes, VerifiedBundle]:
    """`folder` signed by the coordinator behind `state`, and verified as an agent would."""
    now = datetime.now(UTC)
    data = sign_bundle(folder, keys.load_private(state.signing_key), "test", now=now)
    return data, verify_bundle(data, keys.load_trusted([state.signing_pub]), now=now)


def approve_at(config: Path, verified: VerifiedBundle) -> None:
    """The agency operator's approval, in the approvals file of the agent behind `config`."""
    m = verified.manifest
    Approvals(config.parent / "state" / "approvals.json").approve(
        verified.digest, m.name, m.version, "test"
    )


def signed_model(fed: Fed, folder: Path, model: str, sql: str, config: Path) -> bytes:
    """Sign a one-role court model named `model` and approve it at the agent behind `config`."""
    data, verified = sign(fed.state, write_model(folder, sql, name=model))
    approve_at(config, verified)
    return data


# --- agents --------------------------------------------------------------------------------
def agent_config(
    fed: Fed,
    name: str,
    role: str = "court",
    *,
    port: int = 0,
    metrics: bool = False,
    max_flag_fraction: float = 0.2,
    **limits: int | float,
) -> Path:
    """An agent over the session's data and token secret; `limits` go to [limits], `metrics`
    turns on its Prometheus endpoint on a loopback port of its own."""
    return write_agent_config(
        fed.state, fed.root / "agents", name, role, fed.data, fed.secret, max_flag_fraction,
        limits=limits, metrics_listen="127.0.0.1:0" if metrics else None,
        listen=f"127.0.0.1:{port}",
    )  # fmt: skip


@contextmanager
def own_agent(
    fed: Fed, name: str, config: Path
) -> Iterator[tuple[AgentEntry, subprocess.Popen[str]]]:
    """A court agent of the test's own, stopped and unlisted afterwards: the shared state's
    other tests dispatch to every court agent it lists."""
    try:
        with Federation(fed.state) as federation:
            entry = federation.start_agent(name, "court", config)
            yield entry, federation.processes[-1].proc
    finally:
        fed.state.remove_agent(name)


def free_port() -> int:
    with socket.socket() as s:  # free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ghost(fed: Fed, name: str, role: str = "court") -> Iterator[int]:
    """An agent the coordinator knows of, at an address where nothing answers (yet): a test
    may start one there later. Unlisted afterwards."""
    port = free_port()
    fed.state.add_agent(name, f"127.0.0.1:{port}", role)
    try:
        yield port
    finally:
        fed.state.remove_agent(name)


# --- calls ---------------------------------------------------------------------------------
def start_screen(
    fed: Fed, entry: AgentEntry, bundle: bytes, job_id: str, timeout: float = 60
) -> tuple[AgentClient, grpc.Future]:
    """A raw streaming Screen call, so a test can cancel it or read its trailing metadata."""
    client = AgentClient(fed.state, entry)
    request = wire.screen_request(bundle, Job(job_id, "probe", {}, "test"))
    return client, client.stub.Screen(request, timeout=timeout)


def screen_replies(
    fed: Fed, entry: AgentEntry, bundle: bytes, job_id: str
) -> list[agent_pb2.ScreenReply]:
    """Every reply of one Screen call, run to its end (grpc.RpcError if it is refused)."""
    client, call = start_screen(fed, entry, bundle, job_id)
    with client:
        return list(call)


# --- what the agent recorded ---------------------------------------------------------------
def audit_entries(config: Path, job_id: str) -> list[dict[str, object]]:
    """The audit entries about `job_id` at the agent behind `config`, oldest first."""
    entries = read_entries(config.parent / "state" / "audit.jsonl")
    return [e for e in entries if e.get("job_id") == job_id]


def audit_outcomes(config: Path, job_id: str) -> list[str]:
    return [str(e["outcome"]) for e in audit_entries(config, job_id)]


def metrics_endpoint(config: Path) -> str:
    """host:port of the /metrics endpoint the agent behind `config` announced."""
    return (config.parent / "state" / "metrics-endpoint").read_text().strip()


def scrape(endpoint: str) -> tuple[str, Scrape]:
    """The exposition text and each sample's value by (name, labels)."""
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    values = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, values


def wait_in_flight(config: Path, jobs: int, timeout: float = 20) -> None:
    """Until the agent reports `jobs` admitted jobs holding a slot (its metrics gauge)."""
    endpoint = metrics_endpoint(config)
    deadline = time.monotonic() + timeout
    while (now := scrape(endpoint)[1][("fedscreen_agent_jobs_in_flight", frozenset())]) != jobs:
        assert time.monotonic() < deadline, f"{now} jobs in flight after {timeout} s, not {jobs}"
        time.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_query_running(config: Path, pid: int, timeout: float = 30) -> None:
    """Until the agent's one admitted job is inside its query, not merely admitted.

    The gauge counts a job from admission, before its bundle is verified and its engine
    opened; a stop that lands there is a different path from interrupting a query. So wait
    for the agent to burn a CPU-second after that: an idle agent burns none, and a whole small
    job takes 0.1-0.25 s, so only the query itself can have used it."""
    wait_in_flight(config, 1, timeout)
    start, deadline = cpu_seconds(pid), time.monotonic() + timeout
    while cpu_seconds(pid) - start < 1.0:
        assert time.monotonic() < deadline, f"the admitted job used no CPU for {timeout} s"
        time.sleep(0.02)

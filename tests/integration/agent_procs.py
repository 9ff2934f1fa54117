"""Helpers for tests that start their own agent: a config with [limits], a signed probe model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc

from agent.approvals import Approvals
from coordinator.client import AgentClient
from coordinator.federation import Federation, write_agent_config
from coordinator.state import AgentEntry
from fedscreen import keys, wire
from fedscreen.bundle import sign_bundle, verify_bundle
from fedscreen.jobs import Job
from tests.integration.conftest import Fed
from tests.integration.test_refusals import MANIFEST, OUTPUTS

# Thousands of cases cubed: minutes of work, until something interrupts it.
SLOW_SQL = (
    "SELECT a.case_no, a.court_region AS region FROM labour_cases a, labour_cases b, "
    "labour_cases c WHERE strpos(a.case_no || b.case_no || c.case_no, 'zz') > 0"
)
# About a tenth of the cases: a small result, under the 20 % flag cap of the test agents.
SMALL_SQL = (
    "SELECT case_no, court_region AS region FROM labour_cases WHERE ends_with(case_no, '7号')"
)


def court_config(fed: Fed, name: str, **limits: int | float) -> Path:
    return write_agent_config(
        fed.state, fed.root / "agents", name, "court", fed.data, fed.secret, limits=limits
    )


def signed_model(fed: Fed, folder: Path, model: str, sql: str, config: Path) -> bytes:
    """Sign a one-role model named `model` and approve it at the agent behind `config`."""
    folder.mkdir(parents=True)
    manifest = MANIFEST.format(version="0.0.1", outputs=OUTPUTS)
    manifest = manifest.replace('name = "probe"', f'name = "{model}"')
    (folder / "model.toml").write_text(manifest, "utf-8")
    (folder / "court.sql").write_text(sql, "utf-8")
    (folder / "combine.sql").write_text("SELECT * FROM court", "utf-8")
    now = datetime.now(UTC)
    data = sign_bundle(folder, keys.load_private(fed.state.signing_key), "test", now=now)
    verified = verify_bundle(data, keys.load_trusted([fed.state.signing_pub]), now=now)
    m = verified.manifest
    Approvals(config.parent / "state" / "approvals.json").approve(
        verified.digest, m.name, m.version, "test"
    )
    return data


def start_screen(
    fed: Fed, entry: AgentEntry, bundle: bytes, job_id: str, timeout: float = 60
) -> tuple[AgentClient, grpc.Future]:
    """A raw streaming Screen call, so a test can cancel it or read its trailing metadata."""
    client = AgentClient(fed.state, entry)
    request = wire.screen_request(bundle, Job(job_id, "probe", {}, "test"))
    return client, client.stub.Screen(request, timeout=timeout)


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

"""`fedscreen demo-layout`: the demo federation on disk, ready for containers, nothing started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import yaml
from cryptography import x509

from agent.approvals import Approvals
from agent.config import AgentSettings, load_settings
from coordinator import daemon
from coordinator.cli import main
from coordinator.schedules import load_schedules
from coordinator.state import State
from fedscreen import keys
from fedscreen.bundle import VerifiedBundle, verify_bundle
from fedscreen.tls import channel_credentials
from fedscreen.v1 import agent_pb2 as pb
from fedscreen.v1 import agent_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
PORT = 50999
PATTERN = "{name}.fed.test"  # not the bare name, so the SAN check can tell the two apart
PEOPLE = "1000"  # the CLI's floor: layout runs no model, so no disclosure cap is at stake


@dataclass(frozen=True)
class Laid:
    out: Path
    state: State
    agents: dict[str, AgentSettings]  # by agent name
    bundles: list[VerifiedBundle]


@pytest.fixture(scope="module")
def laid(tmp_path_factory: pytest.TempPathFactory) -> Laid:
    out = tmp_path_factory.mktemp("layout")
    # What a container engine leaves before setup runs: empty mount points for its volumes.
    for mount in ("data", "coordinator", "agents/demo-court/state"):
        (out / mount).mkdir(parents=True)
    argv = ["demo-layout", "--out", str(out), "--people", PEOPLE, "--seed", "3"]
    assert main([*argv, "--host-pattern", PATTERN, "--port", str(PORT)]) == 0
    configs = sorted((out / "agents").glob("*/agent.toml"))
    agents = {s.name: s for s in (load_settings(c) for c in configs)}
    state = State(out / "coordinator").require()
    trusted = keys.load_trusted([state.signing_pub])
    now = datetime.now(UTC)
    bundles = [verify_bundle(p.read_bytes(), trusted, now=now) for p in state.bundles.glob("*.fsb")]
    return Laid(out, state, agents, bundles)


def _sans(settings: AgentSettings) -> list[str]:
    assert settings.tls is not None
    cert = x509.load_pem_x509_certificate(settings.tls.cert.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return ext.value.get_values_for_type(x509.DNSName)


def test_every_agent_config_loads_and_listens_on_all_interfaces(laid: Laid) -> None:
    needed = {r.name for b in laid.bundles for r in b.manifest.roles}
    assert {s.role for s in laid.agents.values()} == needed
    for name, settings in laid.agents.items():
        assert settings.listen == f"0.0.0.0:{PORT}", name
        assert settings.tls is not None and settings.tls.allowed_clients == ("coordinator",)
        assert settings.sources, f"{name} maps no dataset"


def test_agent_certificates_carry_the_host_the_coordinator_dials(laid: Laid) -> None:
    for name, settings in laid.agents.items():
        sans = _sans(settings)
        assert PATTERN.format(name=name) in sans, sans
        assert name in sans  # the name the coordinator checks (grpc.ssl_target_name_override)
        assert "localhost" in sans  # the container health check dials localhost


def test_the_coordinator_has_every_agent_registered_at_its_host(laid: Laid) -> None:
    registered = {a.name: (a.address, a.role) for a in laid.state.agents()}
    expected = {
        name: (f"{PATTERN.format(name=name)}:{PORT}", s.role) for name, s in laid.agents.items()
    }
    assert registered == expected


def test_every_model_is_approved_at_every_agent_it_needs(laid: Laid) -> None:
    assert len(laid.bundles) == len(list((ROOT / "models").glob("*/model.toml")))
    for settings in laid.agents.values():
        approved = set(Approvals(settings.approvals_path).load())
        needed = {
            b.digest for b in laid.bundles if settings.role in {r.name for r in b.manifest.roles}
        }
        assert approved == needed, settings.name


def test_schedules_run_the_approved_bundle_of_every_model(laid: Laid) -> None:
    schedules = load_schedules(daemon.schedules_file(laid.state))
    assert sorted(s.model for s in schedules) == sorted(
        str(p.resolve()) for p in laid.state.bundles.glob("*.fsb")
    )
    assert {s.name for s in schedules} == {b.manifest.name for b in laid.bundles}
    assert {s.cron for s in schedules} == {"*/15 * * * *"}
    assert all(s.added_at is None for s in schedules)  # due at once when the daemon starts


def test_compose_runs_exactly_the_agents_the_layout_writes(laid: Laid) -> None:
    services = yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]
    agents = {n for n, s in services.items() if s["build"]["dockerfile"].endswith(".agent")}
    assert agents == set(laid.agents)


def test_a_folder_holding_files_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo-layout", "--out", str(tmp_path), "--people", PEOPLE]) != 0
    assert "was not made by fedscreen demo" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_bad_host_pattern_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main(["demo-layout", "--out", str(out), "--host-pattern", "{agent}"]) != 0
    assert "only {name} and {role}" in capsys.readouterr().err
    assert not out.exists()


# --- the compose health check, run against a real agent from the layout --------------------
_LISTENING = re.compile(r"listening on \S+:(\d+)")


@pytest.fixture
def court(laid: Laid) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """demo-court from the layout, on loopback port 0 instead of 0.0.0.0:PORT."""
    config = laid.agents["demo-court"].source
    copy = config.with_name("agent.loopback.toml")
    copy.write_text(
        config.read_text("utf-8").replace(f'"0.0.0.0:{PORT}"', '"127.0.0.1:0"'), "utf-8"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--config", str(copy)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")},
    )
    try:
        assert proc.stdout is not None
        match = _LISTENING.search(proc.stdout.readline())
        assert match, "the agent did not announce its port"
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def _healthcheck(laid: Laid, port: int) -> subprocess.CompletedProcess[str]:
    """The agents' compose health check, with the volume path pointed at the layout."""
    test = yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]["demo-court"]["healthcheck"]
    kind, program, flag, code, target = test["test"]
    assert (kind, program, flag, target) == ("CMD", "python", "-c", "localhost:50051")
    code = code.replace("'/fed/probe'", repr(str(laid.out / "probe")))
    return subprocess.run(
        [sys.executable, "-c", code, f"localhost:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_compose_health_check_passes_only_while_the_agent_serves(
    laid: Laid, court: tuple[subprocess.Popen[str], int]
) -> None:
    proc, port = court
    done = _healthcheck(laid, port)
    assert done.returncode == 0, done.stderr
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert _healthcheck(laid, port).returncode != 0


def test_the_health_probe_certificate_can_ask_nothing_but_health(
    laid: Laid, court: tuple[subprocess.Popen[str], int]
) -> None:
    _proc, port = court
    probe = laid.out / "probe"
    creds = channel_credentials(
        probe / "healthcheck.crt", probe / "healthcheck.key", probe / "ca.crt"
    )
    with grpc.secure_channel(f"localhost:{port}", creds) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.AgentStub(channel).Describe(pb.DescribeRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

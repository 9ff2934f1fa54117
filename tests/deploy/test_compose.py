"""deploy/compose.yaml: the demo federation in containers, checked for structure.

No container engine runs here; tests/coordinator/test_demo_layout.py runs the agents' health
check against a real agent and checks the service names against a real layout."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from coordinator.demo import agent_name, shipped_models
from fedscreen.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(doc["services"])


def _agents(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in _services(doc).items()
        if s["build"]["dockerfile"] == "deploy/container/Containerfile.agent"
    }


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(volume, path, mode) for each short-syntax volume entry."""
    out = []
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        out.append((source, target, mode[0] if mode else "rw"))
    return out


def _setup_args(doc: dict[str, Any]) -> list[str]:
    """The demo-layout command line in setup's shell script (continuation lines joined)."""
    (script,) = _services(doc)["setup"]["command"]
    found = re.search(r"fedscreen demo-layout(?:\\\n|[^\n])*", script)
    assert found, script
    return shlex.split(found.group(0).replace("\\\n", " "))


def test_one_agent_service_per_role_the_shipped_models_need(doc: dict[str, Any]) -> None:
    roles = {r.name for m in shipped_models(MODELS) for r in load_manifest(MODELS / m).roles}
    assert set(_agents(doc)) == {agent_name(role) for role in roles}
    assert set(_services(doc)) == {*_agents(doc), "setup", "coordinator"}


def test_each_agent_serves_its_own_layout_config(doc: dict[str, Any]) -> None:
    for name, service in _agents(doc).items():
        assert service["command"] == ["--config", f"/fed/agents/{name}/agent.toml"]


def test_setup_lays_out_the_federation_at_the_service_names(doc: dict[str, Any]) -> None:
    args = _setup_args(doc)
    assert args[:2] == ["fedscreen", "demo-layout"]
    options = dict(zip(args[2::2], args[3::2], strict=False))
    assert options["--out"] == "/fed"
    assert options["--host-pattern"] == "{name}"  # agents are registered at SERVICE:PORT
    port = options["--port"]
    for service in _agents(doc).values():
        assert service["healthcheck"]["test"][-1] == f"localhost:{port}"


def test_every_agent_starts_only_after_setup_succeeded(doc: dict[str, Any]) -> None:
    for name, service in _agents(doc).items():
        assert service["depends_on"] == {
            "setup": {"condition": "service_completed_successfully"}
        }, name


def test_the_coordinator_starts_only_once_every_agent_is_healthy(doc: dict[str, Any]) -> None:
    coordinator = _services(doc)["coordinator"]
    assert coordinator["depends_on"] == {
        name: {"condition": "service_healthy"} for name in _agents(doc)
    }
    for name, service in _agents(doc).items():
        check = service["healthcheck"]
        assert check["test"][:3] == ["CMD", "python", "-c"], name
        assert "HealthStub" in check["test"][3]
        assert re.fullmatch(r"\d+s", check["interval"]) and check["retries"] >= 1


def test_agents_read_data_and_config_read_only_and_write_only_their_state(
    doc: dict[str, Any],
) -> None:
    for name, service in _agents(doc).items():
        mounts = _mounts(service)
        assert ("data", "/fed/data", "ro") in mounts, name
        assert ("federation", "/fed", "ro") in mounts, name
        writable = [m for m in mounts if m[2] != "ro"]
        assert writable == [(f"{name}-state", f"/fed/agents/{name}/state", "rw")], name


def test_the_coordinator_holds_neither_the_token_secret_nor_agency_data(
    doc: dict[str, Any],
) -> None:
    coordinator = _services(doc)["coordinator"]
    assert _mounts(coordinator) == [("coordinator-state", "/fed/coordinator", "rw")]
    assert coordinator["command"] == ["--state", "/fed/coordinator", "serve"]
    for name, service in _agents(doc).items():  # nor do agents see the CA and signing keys
        assert "coordinator-state" not in {m[0] for m in _mounts(service)}, name


def test_setup_mounts_every_volume_where_the_services_will(doc: dict[str, Any]) -> None:
    setup = {(source, target) for source, target, _ in _mounts(_services(doc)["setup"])}
    used = {
        (source, target)
        for name, service in _services(doc).items()
        if name != "setup"
        for source, target, _ in _mounts(service)
    }
    assert used <= setup
    assert set(doc["volumes"]) == {source for source, _ in setup}


def test_images_are_built_from_the_two_containerfiles(doc: dict[str, Any]) -> None:
    for name, service in _services(doc).items():
        build = service["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).is_file(), name
        kind = "agent" if name in _agents(doc) else "coordinator"
        assert build["dockerfile"] == f"deploy/container/Containerfile.{kind}", name
        assert service["image"] == f"fedscreen-{kind}:demo", name


def test_long_running_services_are_locked_down(doc: dict[str, Any]) -> None:
    for name, service in _services(doc).items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        if name != "setup":  # setup runs once, as root, only to chown the fresh volumes
            assert service["read_only"] is True, name
            assert "user" not in service, name  # the images' uid 10001
    assert _services(doc)["setup"]["cap_add"] == ["CHOWN"]

"""A real federation for integration tests: synthetic data, agent subprocesses, mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator import synth
from coordinator.federation import Federation, write_agent_config, write_secret
from coordinator.run import load_bundle
from coordinator.state import State, init_state
from fedscreen.bundle import VerifiedBundle
from tests.integration.agent_procs import approve_at

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
MODEL = "fake_labour_litigation"
PEOPLE = 100_000


@dataclass
class Fed:
    root: Path
    state: State
    secret: Path
    data: Path
    bundle: bytes
    verified: VerifiedBundle
    federation: Federation
    configs: dict[str, Path]

    def approve(self, role: str, verified: VerifiedBundle) -> None:
        """Approve `verified` at the session's agent for `role`."""
        approve_at(self.configs[role], verified)


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    root = tmp_path_factory.mktemp("federation")
    synth.generate(root / "data", people=PEOPLE, seed=3)
    state = init_state(root / "coordinator", "test procuratorate")
    secret = write_secret(root / "shared" / "token.secret")
    data, verified = load_bundle(state, MODEL, MODELS)
    configs = {}
    with Federation(state) as federation:
        for role in verified.manifest.roles:
            name = f"t-{role.name.replace('_', '-')}"
            configs[role.name] = write_agent_config(
                state, root / "agents", name, role.name, root / "data", secret
            )
            federation.start_agent(name, role.name, configs[role.name])
        f = Fed(root, state, secret, root / "data", data, verified, federation, configs)
        for role in verified.manifest.roles:
            f.approve(role.name, verified)
        yield f

"""The coordinator's state dir: federation PKI, signing key, agent list, lead registry.

STATE/coordinator.toml     name of this procuratorate and of the signer
STATE/pki/ca.{crt,key}     the federation CA (issues agent and coordinator certs)
STATE/pki/coordinator.*    our client certificate for mutual TLS
STATE/keys/signing.*       the model-signing key (Ed25519)
STATE/agents.toml          known agents: address, role
STATE/registry.sqlite      jobs and leads
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fedscreen import dictionary, keys, pki
from fedscreen.errors import ConfigError, UsageError
from fedscreen.files import write_atomic

_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")
COORDINATOR_CN = "coordinator"


@dataclass(frozen=True)
class AgentEntry:
    name: str
    address: str
    role: str


@dataclass(frozen=True)
class State:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "pki" / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "pki" / "ca.key"

    @property
    def client_cert(self) -> Path:
        return self.root / "pki" / f"{COORDINATOR_CN}.crt"

    @property
    def client_key(self) -> Path:
        return self.root / "pki" / f"{COORDINATOR_CN}.key"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "signing.key"

    @property
    def signing_pub(self) -> Path:
        return self.root / "keys" / "signing.pub"

    @property
    def agents_file(self) -> Path:
        return self.root / "agents.toml"

    @property
    def registry(self) -> Path:
        return self.root / "registry.sqlite"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    def require(self) -> State:
        if not (self.root / "coordinator.toml").is_file():
            raise ConfigError(f"{self.root} is not a coordinator state dir (run: fedscreen init)")
        return self

    def signer_name(self) -> str:
        doc = tomllib.loads((self.root / "coordinator.toml").read_text(encoding="utf-8"))
        return str(doc.get("signer", doc.get("name", "coordinator")))

    # --- agents -------------------------------------------------------------------------
    def agents(self) -> list[AgentEntry]:
        if not self.agents_file.exists():
            return []
        try:
            doc = tomllib.loads(self.agents_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{self.agents_file}: not valid TOML ({exc})") from None
        out = []
        for name, spec in sorted(doc.get("agents", {}).items()):
            try:
                out.append(AgentEntry(name, str(spec["address"]), str(spec["role"])))
            except KeyError as exc:
                raise ConfigError(
                    f"{self.agents_file}: agents.{name}.{exc.args[0]} is missing"
                ) from None
        return out

    def remove_agent(self, name: str) -> None:
        entries = {a.name: a for a in self.agents()}
        if entries.pop(name, None) is None:
            raise UsageError(f"unknown agent {name!r} (see: fedscreen agents status)")
        self._write_agents(list(entries.values()))

    def _write_agents(self, entries: list[AgentEntry]) -> None:
        lines = []
        for a in entries:
            lines += [f'[agents."{a.name}"]', f'address = "{a.address}"', f'role = "{a.role}"', ""]
        write_atomic(self.agents_file, "\n".join(lines))  # `serve` may be reading it

    def add_agent(self, name: str, address: str, role: str) -> AgentEntry:
        if not _AGENT_NAME.match(name):
            raise UsageError(f"agent name {name!r} must be lower-case letters, digits and '-'")
        if role not in dictionary.roles():
            raise UsageError(f"unknown role {role!r} (known: {', '.join(dictionary.roles())})")
        if not _ADDRESS.match(address):
            raise UsageError(f"address {address!r} must be HOST:PORT (or [IPv6]:PORT)")
        entries = {a.name: a for a in self.agents()}
        entries[name] = AgentEntry(name, address, role)
        self._write_agents(list(entries.values()))
        return entries[name]

    def agent(self, name: str) -> AgentEntry:
        for a in self.agents():
            if a.name == name:
                return a
        raise UsageError(f"unknown agent {name!r} (see: fedscreen agents status)")


def init_state(root: Path, name: str, now: datetime | None = None) -> State:
    """Create the state dir: CA, our client certificate, a signing key. Refuses to overwrite."""
    now = now or datetime.now(UTC)
    state = State(root)
    if (root / "coordinator.toml").exists():
        raise ConfigError(f"{root} already holds a coordinator state; refusing to overwrite it")
    (root / "pki").mkdir(parents=True, exist_ok=True)
    (root / "keys").mkdir(exist_ok=True)
    state.bundles.mkdir(exist_ok=True)
    ca_cert, ca_key = pki.create_ca(f"{name} federation CA", now=now)
    state.ca_cert.write_bytes(ca_cert)
    state.ca_key.write_bytes(ca_key)
    state.ca_key.chmod(0o600)
    client = pki.issue_cert(ca_cert, ca_key, COORDINATOR_CN, server=False, client=True, now=now)
    pki.write_cert_bundle(client, root / "pki", COORDINATOR_CN)
    signing = keys.generate_signing_key()
    keys.save_private(signing, state.signing_key)
    keys.save_public(signing.public_key(), state.signing_pub)
    (root / "coordinator.toml").write_text(
        f'name = "{name}"\nsigner = "{name}"\n', encoding="utf-8"
    )
    return state


def issue_agent_cert(state: State, name: str, out: Path, hosts: tuple[str, ...]) -> Path:
    """Write NAME.crt, NAME.key and ca.crt for an agent into `out`."""
    if not _AGENT_NAME.match(name):
        raise UsageError(f"agent name {name!r} must be lower-case letters, digits and '-'")
    bundle = pki.issue_cert(
        state.ca_cert.read_bytes(),
        state.ca_key.read_bytes(),
        name,
        server=True,
        client=False,
        hosts=hosts,
        now=datetime.now(UTC),
    )
    out.mkdir(parents=True, exist_ok=True)
    pki.write_cert_bundle(bundle, out, name)
    return out

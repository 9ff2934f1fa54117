"""A local federation on loopback: agent configs, PKI, and agent processes.

Used by `fedscreen demo`, the integration tests and the benchmarks. Agents run as separate
processes (`python -m agent serve`), over mutual TLS, bound to port 0; readiness is read from
the agent's announcement line and confirmed by gRPC health, never by sleeping.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from coordinator import synth
from coordinator.client import wait_healthy
from coordinator.resolutions import add_analyst, list_analysts
from coordinator.state import AgentEntry, State, issue_agent_cert
from fedscreen import dictionary
from fedscreen.errors import AgentUnavailable, JobFailed

_LISTENING = re.compile(r"listening on (\S+:\d+)")


def write_secret(path: Path) -> Path:
    """The agency-shared token secret (the coordinator's state dir never holds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


def write_agent_config(
    state: State,
    root: Path,
    name: str,
    role: str,
    data: Path,
    secret: Path,
    max_flag_fraction: float = 0.2,
    *,
    require_approval: bool = False,
    revoked: tuple[str, ...] = (),
    max_requests_per_day: int = 20,
    limits: dict[str, int | float] | None = None,
    metrics_listen: str | None = None,
    listen: str = "127.0.0.1:0",
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> Path:
    """An agent.toml for `role`, mapping every synthetic dataset of that role that exists.

    The agent trusts every analyst key in the state dir for re-identification; a state without
    any gets one, "analyst", so a local federation can resolve leads out of the box.
    `limits` adds keys to [limits] (max_concurrent_jobs, min_interval_seconds, …);
    `metrics_listen` ("127.0.0.1:0") turns on the agent's Prometheus endpoint.
    `listen` is the agent's gRPC address; `hosts` the names and IPs its certificate is valid
    for (its name is always one).
    """
    root, data, secret = root.resolve(), data.resolve(), secret.resolve()
    agent_dir = root / name
    tls = issue_agent_cert(state, name, agent_dir / "tls", hosts)
    keys_dir = agent_dir / "trusted"
    keys_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(state.signing_pub, keys_dir / "procuratorate.pub")
    analyst_keys = _trust_analysts(state, keys_dir / "analysts")
    lines = [
        "[agent]",
        f'name = "{name}"',
        f'role = "{role}"',
        f'listen = "{listen}"',
        'state_dir = "state"',
        "",
        "[tls]",
        f'cert = "{tls / (name + ".crt")}"',
        f'key = "{tls / (name + ".key")}"',
        f'ca = "{tls / "ca.crt"}"',
        'allowed_clients = ["coordinator"]',
        "",
        "[trust]",
        'signer_keys = ["trusted/procuratorate.pub"]',
        f'token_secret_file = "{secret}"',
        "",
        "[limits]",
        f"max_flag_fraction = {max_flag_fraction}",
        "max_flag_rows = 1000000",
        "threads = 1",
        *(f"{key} = {value}" for key, value in (limits or {}).items()),
        "",
        "[reident]",
        f"analyst_keys = {json.dumps(analyst_keys)}",
        f"revoked = {json.dumps(list(revoked))}",
        f"require_approval = {'true' if require_approval else 'false'}",
        f"max_requests_per_day = {max_requests_per_day}",
        "",
    ]
    if metrics_listen is not None:
        lines += ["[metrics]", f'listen = "{metrics_listen}"', ""]
    for ds in dictionary.datasets(role):
        path = synth.dataset_path(data, role, ds)
        if path.exists():
            lines += [f"[datasets.{ds}]", 'format = "parquet"', f'path = "{path}"', ""]
    config = agent_dir / "agent.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def _trust_analysts(state: State, folder: Path) -> list[str]:
    """Copy the state's analyst public keys beside the agent; paths relative to its config."""
    if not list_analysts(state):
        add_analyst(state, "analyst")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, _key_id, pub in list_analysts(state):
        shutil.copy(pub, folder / f"{name}.pub")
        out.append(f"trusted/analysts/{name}.pub")
    return out


@dataclass
class AgentProcess:
    name: str
    role: str
    config: Path
    proc: subprocess.Popen[str]
    address: str
    log: Path


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set (Linux VmHWM), or None where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


@dataclass
class Federation:
    state: State
    processes: list[AgentProcess] = field(default_factory=list)
    peak_kib: dict[str, int] = field(default_factory=dict)  # per agent, read just before stop

    def start_agent(self, name: str, role: str, config: Path, timeout: float = 60.0) -> AgentEntry:
        return self.start_agents([(name, role, config)], timeout)[0]

    def start_agents(
        self, specs: list[tuple[str, str, Path]], timeout: float = 60.0
    ) -> list[AgentEntry]:
        """Launch all, then wait for each: start-up costs overlap instead of adding up."""
        launched = []
        for name, role, config in specs:
            log = config.parent / "agent.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "serve", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")},
            )
            launched.append((name, role, config, proc, log))
        entries = []
        for name, role, config, proc, log in launched:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the agent announces its bound port, then serves
            match = _LISTENING.search(line)
            if not match:
                proc.wait(timeout=10)
                detail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise AgentUnavailable(f"agent {name} failed to start: {detail[0]}")
            entry = self.state.add_agent(name, match.group(1), role)
            self.processes.append(AgentProcess(name, role, config, proc, match.group(1), log))
            entries.append(entry)
        for entry in entries:
            wait_healthy(self.state, entry, timeout=timeout)
        return entries

    def approve(self, config: Path, bundle: Path) -> None:
        """The agency operator's consent, via the agent's own CLI (the coordinator can't)."""
        argv = ["approve", "--config", str(config), "--yes", "--by", "demo-operator", str(bundle)]
        done = subprocess.run(
            [sys.executable, "-m", "agent", *argv], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["no output"]
            raise JobFailed(f"approving {bundle.name} at {config.parent.name}: {lines[-1]}")

    def stop(self) -> None:
        for p in self.processes:
            peak = peak_rss_kib(p.proc.pid) if p.proc.poll() is None else None
            if peak is not None:
                self.peak_kib[p.name] = peak
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()
            if p.proc.stdout:
                p.proc.stdout.close()
        self.processes.clear()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""`fedscreen demo`: the whole path, for real, on one machine.

Synthetic agency data → one agent process per agency role on loopback with mutual TLS →
every shipped model signed and approved by the agencies it needs → flags streamed back →
leads at the coordinator → precision and recall per model and lead kind against the ground
truth that no agent ever read.

lay_out_federation writes everything up to the point of starting agents; `fedscreen
demo-layout` (coordinator/cli_deploy.py) uses it to prepare a federation for containers.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coordinator import synth
from coordinator.evaluate import Quality, evaluate_model
from coordinator.federation import Federation, write_agent_config, write_secret
from coordinator.registry import Registry
from coordinator.run import JobReport, load_bundle, run_model
from coordinator.state import State, init_state
from fedscreen.bundle import VerifiedBundle
from fedscreen.errors import UsageError

_MARKER = ".fedscreen-demo"
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$")

Signed = dict[str, tuple[bytes, VerifiedBundle, Path]]  # model -> (bundle, verified, .fsb)


@dataclass(frozen=True)
class DemoResult:
    out: Path
    reports: list[JobReport]
    quality: list[Quality]
    seconds: dict[str, float]
    agent_peak_kib: dict[str, int]


@dataclass(frozen=True)
class AgentLayout:
    name: str
    role: str
    config: Path
    host: str  # the name the coordinator dials it by; a DNS name on its certificate


@dataclass(frozen=True)
class Layout:
    """A federation on disk, nothing started: OUT/data, OUT/coordinator (state), one
    OUT/agents/NAME/agent.toml per role with its certificate, and every bundle approved."""

    out: Path
    state: State
    secret: Path
    bundles: Signed
    agents: list[AgentLayout]
    seconds: dict[str, float]


def _fresh(out: Path) -> None:
    """Reuse OUT only if an earlier demo made it: never delete a folder we did not create.

    A folder holding nothing but empty folders is taken as empty: that is what a container
    engine leaves where it will mount volumes (deploy/compose.yaml)."""
    if (out / _MARKER).exists():
        shutil.rmtree(out)
    elif out.exists() and any(not p.is_dir() for p in out.rglob("*")):
        raise UsageError(f"{out} exists and was not made by fedscreen demo; pick --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("made by fedscreen demo\n")


def shipped_models(models_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in models_dir.glob("*/model.toml"))


def agent_name(role: str) -> str:
    """The demo's agent for `role`; also its compose service name (deploy/compose.yaml)."""
    return f"demo-{role.replace('_', '-')}"


def agent_host(pattern: str, name: str, role: str) -> str:
    """The host name the coordinator dials an agent at: `pattern` with {name} and {role}."""
    try:
        host = pattern.format(name=name, role=role)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"host pattern {pattern!r}: only {{name}} and {{role}} may be used ({exc})"
        ) from None
    if not _HOST.match(host):
        raise UsageError(f"host pattern {pattern!r} gives {host!r}, not a DNS name or IP")
    return host


def lay_out_federation(
    out: Path,
    people: int,
    seed: int,
    models_dir: Path,
    say: Callable[[str], None],
    models: list[str] | None = None,
    *,
    listen: str = "127.0.0.1:0",
    host_pattern: str = "localhost",
) -> Layout:
    """Synthesise data, create the coordinator state, sign every model, and write one agent
    config per role that a model needs, each bundle approved by that agent's operator.

    Starts nothing, registers no agent. Each agent listens on `listen`; its certificate is
    valid for its name, localhost, 127.0.0.1 and `host_pattern` (see agent_host)."""
    agent_host(host_pattern, "demo-x", "x")  # a bad pattern fails before minutes of work
    t0 = time.monotonic()
    _fresh(out)
    summary = synth.generate(out / "data", people=people, seed=seed)
    seconds = {"synth": time.monotonic() - t0}
    rows = sum(sum(d.values()) for d in summary.rows.values())
    say(
        f"synthesised {people} people: {rows} rows across {len(summary.rows)} agency roles "
        f"({seconds['synth']:.1f}s)"
    )

    state = init_state(out / "coordinator", "demo procuratorate")
    secret = write_secret(out / "agency-shared" / "token.secret")
    bundles: Signed = {}
    for name in models or shipped_models(models_dir):
        data, verified = load_bundle(state, name, models_dir)
        path = state.bundles / f"{name}-{verified.manifest.version}.fsb"
        path.write_bytes(data)
        bundles[name] = (data, verified, path)
        say(f"signed {name} {verified.manifest.version} ({verified.digest[:12]})")
    roles = sorted({r.name for _d, v, _p in bundles.values() for r in v.manifest.roles})

    t1 = time.monotonic()
    operator = Federation(state)  # approves through the agency's own CLI; starts nothing
    agents = []
    for role in roles:
        name = agent_name(role)
        host = agent_host(host_pattern, name, role)
        config = write_agent_config(
            state,
            out / "agents",
            name,
            role,
            out / "data",
            secret,
            listen=listen,
            hosts=tuple(dict.fromkeys((host, "localhost", "127.0.0.1"))),
        )
        approved = [
            path
            for _data, verified, path in bundles.values()
            if role in {r.name for r in verified.manifest.roles}
        ]
        for path in approved:
            operator.approve(config, path)
        say(f"agent {name} ({role}): {config}, {len(approved)} bundle(s) approved by its operator")
        agents.append(AgentLayout(name, role, config, host))
    seconds["agents"] = time.monotonic() - t1
    return Layout(out, state, secret, bundles, agents, seconds)


def run_demo(
    out: Path,
    people: int,
    seed: int,
    models_dir: Path,
    say: Callable[[str], None],
    models: list[str] | None = None,
    hold: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    t0 = time.monotonic()
    layout = lay_out_federation(out, people, seed, models_dir, say, models)
    timings = dict(layout.seconds)
    state, bundles = layout.state, layout.bundles

    reports: list[JobReport] = []
    with Federation(state) as fed:
        t1 = time.monotonic()
        fed.start_agents([(a.name, a.role, a.config) for a in layout.agents])
        for a in layout.agents:
            say(f"agent {a.name} ({a.role}) serving")
        timings["agents"] += time.monotonic() - t1
        t2 = time.monotonic()
        for name, (data, verified, _path) in bundles.items():
            say(f"running {name}: {verified.manifest.title_zh}")
            reports.append(
                run_model(state, data, verified, {}, progress=lambda a, m: say(f"  [{a}] {m}"))
            )
        timings["run"] = time.monotonic() - t2
        registry = Registry(state.registry)
        key = layout.secret.read_text().strip().encode()
        quality = [
            q
            for report in reports
            for q in evaluate_model(
                registry,
                out / "data" / synth.truth_file(report.model),
                key,
                report.model,
                report.campaign,
                job=report.job_id,
                manifest=bundles[report.model][1].manifest,
            )
        ]
        timings["total"] = time.monotonic() - t0
        result = DemoResult(out, reports, quality, timings, {})
        if hold is not None:  # e.g. keep the agents serving while someone works the leads
            hold(result)
    return dataclasses.replace(result, agent_peak_kib=dict(fed.peak_kib))

"""`fedscreen demo`: the whole path, for real, on one machine.

Synthetic agency data → one agent process per agency role on loopback with mutual TLS →
every shipped model signed and approved by the agencies it needs → flags streamed back →
leads at the coordinator → precision and recall per model and lead kind against the ground
truth that no agent ever read.
"""

from __future__ import annotations

import dataclasses
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
from coordinator.state import init_state
from fedscreen.bundle import VerifiedBundle
from fedscreen.errors import UsageError

_MARKER = ".fedscreen-demo"


@dataclass(frozen=True)
class DemoResult:
    out: Path
    reports: list[JobReport]
    quality: list[Quality]
    seconds: dict[str, float]
    agent_peak_kib: dict[str, int]


def _fresh(out: Path) -> None:
    """Reuse OUT only if an earlier demo made it: never delete a folder we did not create."""
    if out.exists() and any(out.iterdir()):
        if not (out / _MARKER).exists():
            raise UsageError(f"{out} exists and was not made by fedscreen demo; pick --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("made by fedscreen demo\n")


def shipped_models(models_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in models_dir.glob("*/model.toml"))


def run_demo(
    out: Path,
    people: int,
    seed: int,
    models_dir: Path,
    say: Callable[[str], None],
    models: list[str] | None = None,
    hold: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    _fresh(out)
    summary = synth.generate(out / "data", people=people, seed=seed)
    timings["synth"] = time.monotonic() - t0
    rows = sum(sum(d.values()) for d in summary.rows.values())
    say(
        f"synthesised {people} people: {rows} rows across {len(summary.rows)} agency roles "
        f"({timings['synth']:.1f}s)"
    )

    state = init_state(out / "coordinator", "demo procuratorate")
    secret = write_secret(out / "agency-shared" / "token.secret")
    bundles: dict[str, tuple[bytes, VerifiedBundle, Path]] = {}
    for name in models or shipped_models(models_dir):
        data, verified = load_bundle(state, name, models_dir)
        path = state.bundles / f"{name}-{verified.manifest.version}.fsb"
        path.write_bytes(data)
        bundles[name] = (data, verified, path)
        say(f"signed {name} {verified.manifest.version} ({verified.digest[:12]})")
    roles = sorted({r.name for _d, v, _p in bundles.values() for r in v.manifest.roles})

    reports: list[JobReport] = []
    with Federation(state) as fed:
        t1 = time.monotonic()
        specs = []
        for role in roles:
            name = f"demo-{role.replace('_', '-')}"
            config = write_agent_config(state, out / "agents", name, role, out / "data", secret)
            specs.append((name, role, config))
        fed.start_agents(specs)
        for name, role, config in specs:
            for _data, verified, path in bundles.values():
                if role in {r.name for r in verified.manifest.roles}:
                    fed.approve(config, path)
            say(f"agent {name} ({role}) serving, its models approved by its operator")
        timings["agents"] = time.monotonic() - t1
        t2 = time.monotonic()
        for name, (data, verified, _path) in bundles.items():
            say(f"running {name}: {verified.manifest.title_zh}")
            reports.append(
                run_model(state, data, verified, {}, progress=lambda a, m: say(f"  [{a}] {m}"))
            )
        timings["run"] = time.monotonic() - t2
        registry = Registry(state.registry)
        key = secret.read_text().strip().encode()
        quality = [
            q
            for report in reports
            for q in evaluate_model(
                registry,
                out / "data" / synth.truth_file(report.model),
                key,
                report.model,
                report.campaign,
            )
        ]
        timings["total"] = time.monotonic() - t0
        result = DemoResult(out, reports, quality, timings, {})
        if hold is not None:  # e.g. keep the agents serving while someone works the leads
            hold(result)
    return dataclasses.replace(result, agent_peak_kib=dict(fed.peak_kib))

"""`fedscreen demo`: the whole path, for real, on one machine.

Synthetic agency data → one agent process per role on loopback with mutual TLS → a signed,
agency-approved model → flags streamed back → leads at the coordinator → precision and recall
against the ground truth that no agent ever read.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coordinator import synth
from coordinator.evaluate import Quality, evaluate_people
from coordinator.federation import Federation, write_agent_config, write_secret
from coordinator.registry import Registry
from coordinator.run import JobReport, load_bundle, run_model
from coordinator.state import init_state
from fedscreen.errors import UsageError

MODEL = "fake_labour_litigation"
_MARKER = ".fedscreen-demo"


@dataclass(frozen=True)
class DemoResult:
    out: Path
    report: JobReport
    quality: Quality
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


def run_demo(
    out: Path, people: int, seed: int, models_dir: Path, say: Callable[[str], None]
) -> DemoResult:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    _fresh(out)
    summary = synth.generate(out / "data", people=people, seed=seed)
    timings["synth"] = time.monotonic() - t0
    rows = sum(sum(d.values()) for d in summary.rows.values())
    say(
        f"synthesised {people} people: {rows} agency rows, {summary.planted} planted plaintiffs "
        f"({timings['synth']:.1f}s)"
    )

    state = init_state(out / "coordinator", "demo procuratorate")
    secret = write_secret(out / "agency-shared" / "token.secret")
    data, verified = load_bundle(state, MODEL, models_dir)
    bundle_path = state.bundles / f"{MODEL}-{verified.manifest.version}.fsb"
    bundle_path.write_bytes(data)
    say(f"signed {MODEL} {verified.manifest.version} ({verified.digest[:12]})")

    with Federation(state) as fed:
        t1 = time.monotonic()
        for role in verified.manifest.roles:
            name = f"demo-{role.name.replace('_', '-')}"
            config = write_agent_config(
                state, out / "agents", name, role.name, out / "data", secret
            )
            entry = fed.start_agent(name, role.name, config)
            fed.approve(config, bundle_path)
            say(f"agent {name} ({role.name}) serving on {entry.address}, bundle approved")
        timings["agents"] = time.monotonic() - t1
        t2 = time.monotonic()
        report = run_model(state, data, verified, {}, progress=lambda a, m: say(f"  [{a}] {m}"))
        timings["run"] = time.monotonic() - t2
    quality = evaluate_people(
        Registry(state.registry),
        out / "data" / synth.TRUTH_FILE,
        secret.read_text().strip().encode(),
        MODEL,
        report.campaign,
    )
    timings["total"] = time.monotonic() - t0
    return DemoResult(out, report, quality, timings, dict(fed.peak_kib))

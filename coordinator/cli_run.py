"""`fedscreen run | synth | demo | eval | bench`: screening jobs and what they produce."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from coordinator.cli_common import agents_option, models_dir, parse_params, render_rows, state_of
from coordinator.cli_leads import lead_rows
from coordinator.evaluate import Quality
from coordinator.registry import Registry
from fedscreen.errors import JobPartial, UsageError
from fedscreen.signals import wait_for

if TYPE_CHECKING:
    from coordinator.demo import DemoResult
    from coordinator.run import JobReport


def progress_printer() -> Callable[[str, str], None]:
    lock = threading.Lock()

    def say(agent: str, message: str) -> None:
        with lock:
            click.echo(f"  [{agent}] {message}")

    return say


@click.command()
@click.argument("target")
@click.option("--param", "params", multiple=True, help="name=value, within the signed bounds")
@click.option("--campaign", help="token scope label (default: the model name)")
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    help="the job's deadline in seconds; agents that are down are retried until then",
)
@agents_option
@click.pass_context
def run(
    ctx: click.Context,
    target: str,
    params: tuple[str, ...],
    campaign: str | None,
    timeout: float,
    agents: tuple[str, ...],
) -> None:
    """Run MODEL (a name under models/, a folder, or a signed .fsb) at every agent it needs.

    Exits 0 when every agent answered, 13 when the job was partial (agents missing)."""
    from coordinator.run import load_bundle, run_model

    state = state_of(ctx)
    data, verified = load_bundle(state, target, models_dir())
    m, given = verified.manifest, parse_params(params)
    m.resolve_params(given)  # bad values fail before anything is printed
    click.echo(f"job: {m.name} {m.version} — {m.title_zh}")
    report = run_model(
        state,
        data,
        verified,
        given,
        campaign,
        timeout,
        progress=progress_printer(),
        targets=list(dict.fromkeys(agents)) or None,
    )
    print_report(report)


def print_report(report: JobReport) -> None:
    """The job's outcome; a partial job exits 13 so that scripts notice it."""
    click.echo(f"job {report.job_id}: {len(report.leads)} leads ({report.new_leads} new)")
    if report.status == "partial":
        raise JobPartial(f"job {report.job_id} is partial: {report.message}")


@click.command()
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--people", default=20_000, show_default=True, type=click.IntRange(1000))
@click.option("--seed", default=1, show_default=True)
def synth(out: Path, people: int, seed: int) -> None:
    """Synthesise agency datasets (Parquet per role) with planted fraud and look-alikes."""
    from coordinator import synth as synthesis

    summary = synthesis.generate(out, people=people, seed=seed)
    for role, datasets in sorted(summary.rows.items()):
        for ds, n in sorted(datasets.items()):
            click.echo(f"{role}/{ds}: {n} rows")
    click.echo(
        f"ground truth ({summary.planted} planted plaintiffs): {out / synthesis.TRUTH_FILE}"
        " — test bench only, no agent reads it"
    )
    click.echo(f"{summary.seconds:.1f}s")


DEMO_MIN_PEOPLE = 50_000


@click.command()
@click.option(
    "--people",
    default=100_000,
    show_default=True,
    # Synth plants a fixed minimum of cases per model; below this the planted rows exceed the
    # demo agencies' 20% flag cap and the agents (rightly) refuse.
    type=click.IntRange(DEMO_MIN_PEOPLE),
    help=f"population size, at least {DEMO_MIN_PEOPLE:,}",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--show", default=10, show_default=True, help="how many leads to print")
@click.option("--keep-agents", is_flag=True, help="keep the agents serving until Ctrl-C")
def demo(people: int, out: Path, seed: int, show: int, keep_agents: bool) -> None:
    """Synthesise, start one agent per role, sign, approve, run, and score the leads."""
    from coordinator.demo import run_demo

    hold = (lambda r: _serve_until_stopped(r, show)) if keep_agents else None
    result = run_demo(out, people, seed, models_dir(), click.echo, hold=hold)
    if not keep_agents:
        _print_demo(result, show)


def _serve_until_stopped(result: DemoResult, show: int) -> None:
    """Print the results, then keep the agents up so the leads can be worked (resolve, audit)."""
    _print_demo(result, show)
    click.echo("agents keep serving; press Ctrl-C (or send SIGTERM) to stop them")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    wait_for(stop)


def _print_demo(result: DemoResult, show: int) -> None:
    registry = Registry(result.out / "coordinator" / "registry.sqlite")
    rows = lead_rows(registry.leads())
    sample = _sample_per_kind(rows, show)
    click.echo(f"\nleads ({len(rows)}; a sample of {len(sample)} across models and kinds):")
    if sample:
        cols = ("lead", "region", "kind", "explanation")
        click.echo(render_rows([{k: r[k] for k in cols} for r in sample], "table"))
    click.echo("\nlead quality against the planted ground truth (test bench only):")
    click.echo(render_rows(quality_rows(result.quality), "table"))
    t = result.seconds
    click.echo(
        f"\ntimings: synth {t['synth']:.1f}s, agents up {t['agents']:.1f}s, "
        f"screen+combine {t['run']:.1f}s, total {t['total']:.1f}s on {os.cpu_count()} cores"
    )
    click.echo(f"state: FEDSCREEN_STATE={result.out / 'coordinator'} fedscreen leads list")


def _sample_per_kind(rows: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    """Up to n leads, taken round-robin across lead kinds so every model shows."""
    by_kind: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    out: list[dict[str, object]] = []
    while len(out) < n and any(by_kind.values()):
        for queue in by_kind.values():
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return out


def quality_rows(quality: list[Quality]) -> list[dict[str, object]]:
    return [
        {
            "model": q.model,
            "kind": q.kind,
            "leads": q.leads,
            "planted": q.truth,
            "true": q.true_positives,
            "precision": f"{q.precision:.3f}",
            "recall": f"{q.recall:.3f}",
        }
        for q in quality
    ]


@click.command("eval")
@click.option(
    "--truth",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="a model's truth file, or a synth output folder (truth/<model>.leads.csv per model)",
)
@click.option(
    "--secret",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="the agencies' token secret (test bench only: never on a real coordinator)",
)
@click.option("--model", "model_filter", help="only this model")
@click.option(
    "--job",
    "job_id",
    help="score the leads this job found (an id, or 8+ of its first characters; default: each"
    " model's most recently finished succeeded or partial job)",
)
@click.option("--campaign", help="only jobs of this campaign (default: any)")
@click.pass_context
def evaluate(
    ctx: click.Context,
    truth: Path,
    secret: Path,
    model_filter: str | None,
    job_id: str | None,
    campaign: str | None,
) -> None:
    """Precision, recall and lead counts per model and lead kind of each model's latest job
    (or --job) against synthetic truth; a model with truth but no job scores recall 0."""
    from coordinator import evaluate as ev

    state = state_of(ctx)
    key = ev.read_secret(secret)
    registry = _registry(state.registry)
    chosen: dict[str, object] | None = None
    if job_id is not None:
        chosen = ev.pick_job(registry, job_id, model_filter, campaign)
        assert chosen is not None  # pick_job returns a job when given an id, or raises
        model_filter = str(chosen["model"])
    files = ev.truth_files(truth, model_filter)
    jobs = {m: chosen or ev.pick_job(registry, None, m, campaign) for m in files}
    for m, job in jobs.items():
        if job is None and model_filter:
            raise UsageError(f"{m} has no succeeded or partial job to score (fedscreen run {m})")
    # Every truth file is read and checked against the model version its job ran (a model that
    # never ran: ./models) before any is scored.
    truths: dict[str, ev.Truth] = {}
    notes: list[str] = []
    for m, path in files.items():
        job = jobs[m]
        manifest = ev.truth_manifest(state, m, job, models_dir())
        truths[m] = ev.read_truth(path, manifest)
        if manifest is None:
            notes.append(
                f"{m}: no job, no manifest (not in {models_dir()}): its truth is checked for form"
                " only, and all its planted cases are missed"
            )
        elif job is None:
            notes.append(f"{m} has no succeeded or partial job: all its planted cases are missed")
        elif job["status"] == "partial":
            notes.append(f"job {job['job_id']} of {m} was partial: {job['message']}")
    rows: list[dict[str, object]] = []
    for m, checked in truths.items():
        job = jobs[m]
        name = str(job["job_id"]) if job else "none"
        for row in quality_rows(ev.score_job(registry, checked, key, m, job)):
            rows.append({"model": row.pop("model"), "job": name, **row})
    click.echo(render_rows(rows, "table") or "no ground truth to evaluate")
    for note in notes:
        click.echo(f"note: {note}")


def _registry(path: Path) -> Registry:
    """The lead registry, which eval only reads: a missing one is refused, not created."""
    if not path.is_file():
        raise UsageError(f"no lead registry at {path}: nothing has run (fedscreen run MODEL)")
    return Registry(path)


@click.group()
def bench() -> None:
    """Benchmarks (not tests): throughput printed with the machine's core count."""


@bench.command("tokens")
@click.option("--n", default=2_000_000, show_default=True)
@click.option("--repeat", default=3, show_default=True)
def bench_tokens_cmd(n: int, repeat: int) -> None:
    """Tokenisation throughput per core: HMAC alone, and normalise+checksum+HMAC."""
    from fedscreen import fasthmac
    from fedscreen.tokensql import bench_tokens

    runs = [bench_tokens(n, threads=1) for _ in range(repeat)]
    click.echo(f"cores: {os.cpu_count()}  ids: {n}  runs: {repeat}  (threads=1, median)")
    if not fasthmac.available():
        click.echo("  native extension not built (no C compiler at install): SQL tokeniser only")
    for key in sorted(runs[0]):
        values = sorted(r[key] for r in runs)
        click.echo(f"  {key}: {values[len(values) // 2]:,.0f}")


@bench.command("screen")
@click.option("--people", default=1_000_000, show_default=True)
@click.option("--baseline", default=100_000, show_default=True, help="smaller run for ratios")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-out"))
def bench_screen(people: int, baseline: int, out: Path) -> None:
    """End to end at BASELINE and PEOPLE in one run: stage times, agents' peak memory."""
    from coordinator.demo import run_demo

    click.echo(f"cores: {os.cpu_count()}")
    click.echo("people     rows_in   flags  leads  screen_s  total_s  agent_peak_MiB(max)")
    for n in (baseline, people):
        result = run_demo(out, n, 11, models_dir(), lambda _m: None)
        rows_in = sum(r.summary.rows_in for rep in result.reports for r in rep.results)
        flags = sum(r.summary.rows_out for rep in result.reports for r in rep.results)
        leads = sum(len(rep.leads) for rep in result.reports)
        peak = max(result.agent_peak_kib.values(), default=0) / 1024
        t = result.seconds
        click.echo(
            f"{n:<10} {rows_in:<9} {flags:<6} {leads:<6} "
            f"{t['run']:<9.2f} {t['total']:<8.2f} {peak:.0f}"
        )
    sys.stdout.flush()

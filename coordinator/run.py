"""Dispatch one model to every agent of each of its roles, in parallel, and record the leads.

Any agent failing or timing out fails the whole job, naming the agent (partial results are
a later capability); the job record says why.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from coordinator.client import AgentClient, ScreenResult
from coordinator.combine import Lead, combine, declared_schema
from coordinator.registry import Registry
from coordinator.state import AgentEntry, State
from fedscreen import keys
from fedscreen.bundle import VerifiedBundle, sign_bundle, verify_bundle
from fedscreen.candidates import candidate_sets
from fedscreen.errors import FedscreenError, JobFailed, UsageError
from fedscreen.jobs import Job
from fedscreen.manifest import Manifest

Progress = Callable[[str, str], None]  # (agent name, message)


@dataclass
class JobReport:
    job_id: str
    model: str
    version: str
    campaign: str
    results: list[ScreenResult] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    new_leads: int = 0
    params: dict[str, int | float] = field(default_factory=dict)


def load_bundle(state: State, target: str, models_dir: Path) -> tuple[bytes, VerifiedBundle]:
    """A .fsb file as given, or a model folder (path or name under models/) signed now."""
    path = Path(target)
    if not path.exists() and (models_dir / target).is_dir():
        path = models_dir / target
    now = datetime.now(UTC)
    if path.is_dir():
        data = sign_bundle(path, keys.load_private(state.signing_key), state.signer_name(), now=now)
    elif path.is_file():
        data = path.read_bytes()
    else:
        raise UsageError(f"{target}: neither a bundle file nor a model folder")
    trusted = keys.load_trusted([state.signing_pub])
    return data, verify_bundle(data, trusted, now=now)


def _agents_by_role(state: State, verified: VerifiedBundle) -> dict[str, list[AgentEntry]]:
    registered = state.agents()
    by_role: dict[str, list[AgentEntry]] = {}
    for role in verified.manifest.roles:
        found = [a for a in registered if a.role == role.name]
        if not found:
            raise UsageError(
                f"model {verified.manifest.name} needs role {role.name} but no agent of that "
                "role is registered (fedscreen agents add NAME ADDRESS --role ROLE)"
            )
        by_role[role.name] = found
    return by_role


def run_model(
    state: State,
    data: bytes,
    verified: VerifiedBundle,
    params: dict[str, str],
    campaign: str | None = None,
    timeout: float = 600.0,
    progress: Progress | None = None,
    requested_by: str = "analyst",
) -> JobReport:
    manifest = verified.manifest
    resolved = manifest.resolve_params(params)  # refuse bad values before contacting anyone
    campaign = campaign or manifest.name
    by_role = _agents_by_role(state, verified)
    job = Job(uuid.uuid4().hex, campaign, dict(params), requested_by)
    registry = Registry(state.registry)
    registry.start_job(
        job.job_id,
        manifest.name,
        manifest.version,
        verified.digest,
        campaign,
        resolved,
        (manifest.title_zh, manifest.title_en),
    )
    report = JobReport(job.job_id, manifest.name, manifest.version, campaign, params=resolved)
    say = progress or (lambda _agent, _msg: None)
    try:
        report.results, tables = _dispatch(state, data, job, manifest, by_role, timeout, say)
        report.leads = combine(
            manifest, verified.text(manifest.combine_sql_file), tables, resolved, campaign
        )
        report.new_leads = registry.record_leads(
            job.job_id, manifest.name, manifest.version, campaign, report.leads
        )
    except FedscreenError as exc:
        registry.finish_job(job.job_id, "failed", exc.message)
        raise
    registry.finish_job(
        job.job_id,
        "succeeded",
        agents=_agent_stats(report.results),
        leads=len(report.leads),
        new_leads=report.new_leads,
    )
    return report


def _dispatch(
    state: State,
    data: bytes,
    job: Job,
    manifest: Manifest,
    by_role: dict[str, list[AgentEntry]],
    timeout: float,
    say: Progress,
) -> tuple[list[ScreenResult], dict[str, pa.Table]]:
    """Run the roles stage by stage; a later stage gets the tokens its look-ups name."""
    results: list[ScreenResult] = []
    tables: dict[str, pa.Table] = {}
    for stage in manifest.stages():
        calls = []
        for role in stage:
            role_job = dataclasses.replace(job, candidates=candidate_sets(role, tables))
            calls += [(entry, role_job) for entry in by_role[role.name]]
        stage_results = _call_agents(state, data, calls, timeout, say)
        results += stage_results
        for role in stage:
            parts = [r.table for r in stage_results if r.role == role.name and r.table.num_columns]
            tables[role.name] = (
                pa.concat_tables(parts) if parts else declared_schema(role).empty_table()
            )
    return results, tables


def _call_agents(
    state: State,
    data: bytes,
    calls: list[tuple[AgentEntry, Job]],
    timeout: float,
    say: Progress,
) -> list[ScreenResult]:
    def one(entry: AgentEntry, job: Job) -> ScreenResult:
        received = 0

        def on_batch(rows: int) -> None:
            nonlocal received
            received += rows
            say(entry.name, f"{received} flags received")

        asked = sum(len(t) for t in job.candidates.values())
        say(entry.name, f"screening (asked about {asked} tokens)" if asked else "screening")
        with AgentClient(state, entry) as client:
            result = client.screen(data, job, timeout, on_batch)
        invalid = sum(result.summary.invalid_ids.values())
        say(
            entry.name,
            f"done: {result.summary.rows_out} flags from ~{result.summary.rows_in} rows in "
            f"{result.summary.seconds:.1f}s ({invalid} rows with invalid identifiers dropped)",
        )
        return result

    results: list[ScreenResult] = []
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = {pool.submit(one, entry, job): (entry, job) for entry, job in calls}
        for fut in as_completed(futures):
            entry, job = futures[fut]
            try:
                results.append(fut.result())
            except FedscreenError as exc:
                for other in futures:
                    other.cancel()
                raise JobFailed(
                    f"job {job.job_id[:8]} failed at agent {entry.name}: {exc.message}"
                ) from None
    return results


def _agent_stats(results: list[ScreenResult]) -> dict[str, dict[str, object]]:
    return {
        r.agent: {
            "role": r.role,
            "rows_in": r.summary.rows_in,
            "rows_out": r.summary.rows_out,
            "invalid_ids": r.summary.invalid_ids,
            "seconds": round(r.summary.seconds, 3),
        }
        for r in results
    }

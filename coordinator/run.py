"""Dispatch one model to every agent of each of its roles, in parallel, and record the leads.

Agents that are down, restarting or busy are retried with backoff (coordinator.retry) within
the job's deadline. The job then ends:
- `succeeded`: every agent answered;
- `partial`: some agents never answered (named in the job record); the leads are combined
  from the answers that came if every missing agent's role allows it (`when_missing =
  "combine"` in the manifest), and otherwise withheld — `fedscreen jobs retry` re-sends the
  same job later;
- `failed`: an agent refused the job, or no agent answered at all;
- `cancelled`: an analyst ran `fedscreen jobs cancel` (its calls are cancelled at once).
The job id is the idempotency key end to end: a resumed or retried job re-sends the same id,
agents that answered before reply from their record, and leads are upserted, never doubled.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from coordinator.client import AgentClient, LiveCalls, ScreenResult
from coordinator.combine import Lead, combine, declared_schema
from coordinator.registry import Registry, effective_status, job_field
from coordinator.retry import AgentMissing, Backoff, Retrier
from coordinator.state import AgentEntry, State
from fedscreen import keys
from fedscreen.bundle import VerifiedBundle, signed_bundle, verify_bundle
from fedscreen.candidates import candidate_sets
from fedscreen.errors import AgentUnavailable, FedscreenError, JobFailed, JobStopped, UsageError
from fedscreen.files import write_atomic
from fedscreen.jobs import Job
from fedscreen.manifest import Manifest

Progress = Callable[[str, str], None]  # (agent name, message)
HEARTBEAT_SECONDS = 1.0


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
    status: str = "succeeded"
    message: str = ""
    missing: dict[str, str] = field(default_factory=dict)  # agent -> why
    withheld: int = 0  # leads combined but not recorded (partial, model forbids it)
    attempt: int = 1  # of the job: 2 and up when it was resumed or retried
    attempts: dict[str, int] = field(default_factory=dict)  # agent -> calls made this time


def model_source(target: str, models_dir: Path) -> Path:
    """`target` as given if it exists, else the model folder of that name under models/."""
    path = Path(target)
    if not path.exists() and (models_dir / target).is_dir():
        return models_dir / target
    return path


def load_bundle(state: State, target: str, models_dir: Path) -> tuple[bytes, VerifiedBundle]:
    """A .fsb file as given, or a model folder (path or name under models/) as the bundle
    kept in STATE/bundles for its version: the one `fedscreen model sign` made (and the
    agencies approved) while it holds the folder's files and is valid, else signed now."""
    path = model_source(target, models_dir)
    now = datetime.now(UTC)
    if path.is_dir():
        key = keys.load_private(state.signing_key)
        stored = signed_bundle(path, state.bundles, key, state.signer_name(), now=now)
        return stored.data, stored.verified
    if not path.is_file():
        raise UsageError(f"{target}: neither a bundle file nor a model folder")
    data = path.read_bytes()
    return data, verify_bundle(data, keys.load_trusted([state.signing_pub]), now=now)


def job_bundle_file(state: State, job_id: str) -> Path:
    """The exact bundle a job sent, kept so that a resume re-sends the same signed bytes."""
    return state.root / "jobs" / f"{job_id}.fsb"


def _keep_bundle(state: State, job_id: str, data: bytes) -> None:
    path = job_bundle_file(state, job_id)
    if not path.exists():
        write_atomic(path, data)


def _agents_by_role(
    state: State, verified: VerifiedBundle, targets: list[str] | None = None
) -> dict[str, list[AgentEntry]]:
    registered = state.agents()
    model = verified.manifest
    if targets:
        known = {a.name: a for a in registered}
        unknown = sorted(set(targets) - set(known))
        if unknown:
            raise UsageError(f"unknown agent(s) {', '.join(unknown)} (see: fedscreen agents list)")
        roles = {r.name for r in model.roles}
        idle = sorted(f"{t} ({known[t].role})" for t in targets if known[t].role not in roles)
        if idle:
            raise UsageError(f"model {model.name} has no role for agent(s) {', '.join(idle)}")
        registered = [a for a in registered if a.name in targets]
    by_role: dict[str, list[AgentEntry]] = {}
    for role in model.roles:
        found = [a for a in registered if a.role == role.name]
        if not found:
            where = "the target agents include" if targets else "is registered"
            raise UsageError(
                f"model {model.name} needs role {role.name} but no agent of that role {where}"
                " (fedscreen agents add NAME ADDRESS --role ROLE)"
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
    *,
    targets: list[str] | None = None,
    job_id: str | None = None,
    backoff: Backoff | None = None,
) -> JobReport:
    """Run the job (a new one, or `job_id` again: resumed) within `timeout` seconds overall."""
    manifest = verified.manifest
    resolved = manifest.resolve_params(params)  # refuse bad values before contacting anyone
    campaign = campaign or manifest.name
    by_role = _agents_by_role(state, verified, targets)
    job = Job(job_id or uuid.uuid4().hex, campaign, dict(params), requested_by)
    registry = Registry(state.registry)
    attempt = registry.start_job(
        job.job_id,
        manifest.name,
        manifest.version,
        verified.digest,
        campaign,
        resolved,
        (manifest.title_zh, manifest.title_en),
        owner=f"{socket.gethostname()}:{os.getpid()}",
        requested_by=requested_by,
        targets=sorted(targets) if targets else None,
        deadline_seconds=timeout,
        request_params=dict(params),
    )
    _keep_bundle(state, job.job_id, data)
    report = JobReport(
        job.job_id, manifest.name, manifest.version, campaign, params=resolved, attempt=attempt
    )
    say = progress or (lambda _agent, _msg: None)
    if attempt > 1:
        say("job", f"attempt {attempt}: agents that answered before reply from their record")
    try:
        with JobControl(registry, job.job_id) as control:
            retrier = Retrier(backoff or Backoff(), control.stopped)
            dispatch = _Dispatch(state, data, job, say, control, retrier, report)
            tables = dispatch.run(manifest, by_role, timeout)
            control.check()
        report.status, report.message, record = _verdict(manifest, by_role, report)
        report.leads = combine(
            manifest, verified.text(manifest.combine_sql_file), tables, resolved, campaign
        )
        if record:
            report.new_leads = registry.record_leads(
                job.job_id, manifest.name, manifest.version, campaign, report.leads
            )
        else:
            report.withheld = len(report.leads)
            report.message += f" ({report.withheld} leads withheld)"
            report.leads = []
    except JobStopped as exc:
        registry.finish_job(job.job_id, "cancelled", exc.message)
        raise
    except FedscreenError as exc:
        registry.finish_job(
            job.job_id, "failed", exc.message, _agent_stats(report), missing=sorted(report.missing)
        )
        raise
    registry.finish_job(
        job.job_id,
        report.status,
        report.message,
        agents=_agent_stats(report),
        leads=len(report.leads),
        new_leads=report.new_leads,
        missing=sorted(report.missing),
    )
    return report


def resume_job(
    state: State, job_id: str, progress: Progress | None = None, timeout: float | None = None
) -> JobReport:
    """Run a recorded job (its id, or a prefix: Registry.find_job) again under its own id,
    with the bundle and request it sent."""
    job = Registry(state.registry).find_job(job_id)
    job_id = str(job["job_id"])
    status = effective_status(job, datetime.now(UTC))
    if status == "running":
        raise UsageError(f"job {job_id} is still running ({job['owner']}); cancel it first")
    if status == "succeeded":
        raise UsageError(f"job {job_id} succeeded; run the model again for a new job")
    path = job_bundle_file(state, job_id)
    if not path.exists():
        raise UsageError(f"job {job_id}: its bundle was not kept ({path}); run the model again")
    data = path.read_bytes()
    verified = verify_bundle(data, keys.load_trusted([state.signing_pub]), now=datetime.now(UTC))
    return run_model(
        state,
        data,
        verified,
        job_field(job, "request_params"),
        str(job["campaign"]),
        timeout if timeout is not None else float(str(job.get("deadline_seconds") or 600.0)),
        progress,
        str(job.get("requested_by") or "analyst"),
        targets=job_field(job, "targets"),
        job_id=job_id,
    )


class JobControl:
    """Keeps the job's heartbeat and watches for `jobs cancel`; cancels the live calls then."""

    def __init__(self, registry: Registry, job_id: str, every: float = HEARTBEAT_SECONDS) -> None:
        self.registry = registry
        self.job_id = job_id
        self.every = every
        self.calls = LiveCalls()
        self.cancelled_by_analyst = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id[:8]}", daemon=True)

    def __enter__(self) -> JobControl:
        self._thread.start()
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.every):
            if self.registry.heartbeat(self.job_id) and not self.cancelled_by_analyst:
                self.cancelled_by_analyst = True
                self.calls.cancel()

    def stopped(self, wait: float) -> bool:
        """Wait up to `wait` s; True as soon as the job's calls were cancelled."""
        return self.calls.cancelled.wait(wait) if wait > 0 else self.calls.cancelled.is_set()

    def check(self) -> None:
        if self.cancelled_by_analyst:
            raise JobStopped(f"job {self.job_id} was cancelled (fedscreen jobs cancel)")


@dataclass
class _Dispatch:
    state: State
    data: bytes
    job: Job
    say: Progress
    control: JobControl
    retrier: Retrier
    report: JobReport  # results, missing agents and attempts are filled in as they come

    def run(
        self, manifest: Manifest, by_role: dict[str, list[AgentEntry]], timeout: float
    ) -> dict[str, pa.Table]:
        """Run the roles stage by stage; a later stage gets the tokens its look-ups name.

        Each stage may start new attempts only within its share of the time left, so one
        agent that is down cannot starve the stages after it; an attempt may run to the end."""
        clock = self.retrier.clock
        deadline = clock() + timeout
        tables: dict[str, pa.Table] = {}
        stages = manifest.stages()
        for i, stage in enumerate(stages):
            retry_until = clock() + (deadline - clock()) / (len(stages) - i)
            calls = []
            for role in stage:
                role_job = dataclasses.replace(self.job, candidates=candidate_sets(role, tables))
                calls += [(entry, role_job) for entry in by_role[role.name]]
            stage_results = self._call_agents(calls, deadline, retry_until)
            self.report.results += stage_results
            for role in stage:
                parts = [
                    r.table for r in stage_results if r.role == role.name and r.table.num_columns
                ]
                tables[role.name] = (
                    pa.concat_tables(parts) if parts else declared_schema(role).empty_table()
                )
        return tables

    def _one(
        self, entry: AgentEntry, job: Job, deadline: float, retry_until: float
    ) -> ScreenResult:
        received = 0

        def on_batch(rows: int) -> None:
            nonlocal received
            received += rows
            self.say(entry.name, f"{received} flags received")

        def on_retry(attempt: int, wait: float, exc: AgentUnavailable) -> None:
            self.report.attempts[entry.name] = attempt + 1
            self.say(entry.name, f"attempt {attempt} failed ({exc.message}); retry in {wait:.1f}s")

        def attempt(left: float) -> ScreenResult:
            nonlocal received
            received = 0
            with AgentClient(self.state, entry) as client:
                return client.screen(self.data, job, left, on_batch, self.control.calls)

        asked = sum(len(t) for t in job.candidates.values())
        self.say(entry.name, f"screening (asked about {asked} tokens)" if asked else "screening")
        self.report.attempts[entry.name] = 1
        result = self.retrier.call(attempt, deadline, retry_until, on_retry)
        invalid = sum(result.summary.invalid_ids.values())
        self.say(
            entry.name,
            f"done: {result.summary.rows_out} flags from ~{result.summary.rows_in} rows in "
            f"{result.summary.seconds:.1f}s ({invalid} rows with invalid identifiers dropped)",
        )
        return result

    def _call_agents(
        self, calls: list[tuple[AgentEntry, Job]], deadline: float, retry_until: float
    ) -> list[ScreenResult]:
        """Every call of one stage; the first refusal cancels the others and fails the job."""
        results: list[ScreenResult] = []
        failure: JobFailed | None = None
        with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
            futures = {
                pool.submit(self._one, entry, job, deadline, retry_until): entry
                for entry, job in calls
            }
            for fut in as_completed(futures):
                entry = futures[fut]
                try:
                    results.append(fut.result())
                except AgentMissing as exc:
                    self.report.missing[entry.name] = exc.message
                    self.say(entry.name, f"missing: {exc.message}")
                except JobStopped:
                    pass  # cancelled: by the analyst (checked below) or by a failure here
                except FedscreenError as exc:
                    if failure is None and not self.control.cancelled_by_analyst:
                        failure = JobFailed(
                            f"job {self.job.job_id} failed at agent {entry.name}: {exc.message}"
                        )
                        self.control.calls.cancel()  # no point waiting for the others
        self.control.check()
        if failure is not None:
            raise failure
        return results


def _verdict(
    manifest: Manifest, by_role: dict[str, list[AgentEntry]], report: JobReport
) -> tuple[str, str, bool]:
    """(status, message, whether to record the leads) once every call has ended."""
    if not report.missing:
        return "succeeded", "", True
    role_of = {a.name: role for role, agents in by_role.items() for a in agents}
    named = ", ".join(f"{name} ({role_of[name]})" for name in sorted(report.missing))
    if not report.results:
        raise JobFailed(f"job {report.job_id}: no agent answered within the deadline: {named}")
    roles = sorted({role_of[name] for name in report.missing})
    withhold = [r for r in roles if manifest.role(r).when_missing == "withhold"]
    if withhold:
        return (
            "partial",
            f"agents missing: {named}; leads withheld: the model needs every "
            f"{', '.join(withhold)} agent's answer (fedscreen jobs retry {report.job_id})",
            False,
        )
    return "partial", f"agents missing: {named}; leads combined without them", True


def _agent_stats(report: JobReport) -> dict[str, dict[str, object]]:
    stats: dict[str, dict[str, object]] = {
        r.agent: {
            "role": r.role,
            "rows_in": r.summary.rows_in,
            "rows_out": r.summary.rows_out,
            "invalid_ids": r.summary.invalid_ids,
            "seconds": round(r.summary.seconds, 3),
        }
        for r in report.results
    }
    for name, why in report.missing.items():
        stats[name] = {"missing": why}
    for name, attempts in report.attempts.items():
        if name in stats:
            stats[name]["attempts"] = attempts
    return stats

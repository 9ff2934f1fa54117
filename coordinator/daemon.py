"""`fedscreen serve`: run the jobs in STATE/schedules.toml when they are due.

One daemon per state dir: it holds an exclusive flock on STATE/serve.lock for its lifetime
(the kernel drops it when the process dies, so a crash leaves no stale lock), and writes its
pid and start time there so a second start can say who holds it.

STATE/schedule_state.json records, per schedule, the tick it last ran for, when and how it
ended; it is replaced atomically after every job. A schedule whose ticks were missed while
the daemon was down runs once on restart (see schedules.due_tick). A failing job is recorded
(run_model records failed jobs in the registry; failures before that are logged and kept in
schedule_state.json) and the daemon goes on with the next one. SIGTERM/SIGINT stop the loop
between jobs. Logs name schedules, models and job ids only — never identifiers or flags.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from coordinator.registry import FINISHED, Registry
from coordinator.run import load_bundle, resume_job, run_model
from coordinator.schedules import Schedule, due_tick, load_schedules, next_tick
from coordinator.state import State
from fedscreen.errors import ConfigError, FedscreenError, JobStopped
from fedscreen.files import write_atomic
from fedscreen.signals import wait_for

log = logging.getLogger("fedscreen.coordinator.daemon")

Clock = Callable[[], datetime]
# (state, schedule, tick) -> (job id, status, message); raises FedscreenError when it fails
RunJob = Callable[[State, Schedule, datetime], tuple[str, str, str]]
MAX_SLEEP = 30.0  # re-read schedules.toml at least this often, so `schedule add` takes effect


class AlreadyRunning(ConfigError):
    """Another `fedscreen serve` holds this state dir."""


def schedules_file(state: State) -> Path:
    return state.root / "schedules.toml"


def schedule_state_file(state: State) -> Path:
    return state.root / "schedule_state.json"


def lock_file(state: State) -> Path:
    return state.root / "serve.lock"


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- the lock ----------------------------------------------------------------------------
@contextmanager
def serve_lock(state: State, now: Clock = utc_now) -> Iterator[None]:
    """Hold STATE/serve.lock, or raise AlreadyRunning naming the holder."""
    path = lock_file(state)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another fedscreen serve holds {path} ({_holder(path)}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "started_at": now().isoformat(timespec="seconds")}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']}, started {info['started_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown: it is still starting"


# --- per-schedule run records ------------------------------------------------------------
def load_runs(state: State) -> dict[str, dict[str, Any]]:
    path = schedule_state_file(state)
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); remove it to start afresh") from None
    return {str(k): dict(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


def _last_tick(record: dict[str, Any] | None) -> datetime | None:
    if not record or not record.get("tick"):
        return None
    return datetime.fromisoformat(str(record["tick"]))


# --- running ------------------------------------------------------------------------------
def tick_job_id(schedule: Schedule, tick: datetime) -> str:
    """One job id per schedule tick: a daemon killed mid-job resumes that job on restart."""
    return f"{schedule.name}-{tick.astimezone(UTC):%Y%m%dT%H%MZ}"


def model_runner(models_dir: Path) -> RunJob:
    """The real job: sign (or load) the bundle and run it on the federation.

    The tick's job may already be recorded: the daemon was killed while it ran, or after it
    ended but before schedule_state.json said so. An ended job is taken as it ended (an
    analyst's cancel stands). Otherwise it is resumed under the same id with the bundle it
    sent; agents that answered before reply from their record, and its leads are upserted,
    so none is doubled or lost."""

    def run(state: State, schedule: Schedule, tick: datetime) -> tuple[str, str, str]:
        job_id = tick_job_id(schedule, tick)
        job = Registry(state.registry).job(job_id)
        if job is not None and job["status"] in FINISHED:
            log.info("job %s had already ended: %s", job_id, job["status"])
            return job_id, str(job["status"]), str(job["message"] or "")
        try:
            if job is not None:
                log.info("job %s was interrupted: resuming it", job_id)
                report = resume_job(state, job_id, timeout=schedule.deadline_seconds)
            else:
                data, verified = load_bundle(state, schedule.model, models_dir)
                report = run_model(
                    state,
                    data,
                    verified,
                    schedule.run_params(),
                    campaign=schedule.campaign,
                    timeout=schedule.deadline_seconds,
                    requested_by=f"schedule:{schedule.name}",
                    targets=list(schedule.agents) or None,
                    job_id=job_id,
                )
        except JobStopped as exc:  # `fedscreen jobs cancel`: the job is recorded as cancelled
            return job_id, "cancelled", exc.message
        return report.job_id, report.status, report.message

    return run


@dataclass
class Outcome:
    schedule: str
    tick: datetime
    status: str  # succeeded | partial | failed | cancelled
    job_id: str | None
    message: str = ""


class Daemon:
    def __init__(self, state: State, run: RunJob, clock: Clock = utc_now) -> None:
        self.state = state
        self.run = run
        self.clock = clock
        self.stopping = threading.Event()
        self.last_outcomes: list[Outcome] = []

    def run_due(self) -> list[Outcome]:
        """Run every schedule due now, one after another; stop early if asked to."""
        outcomes: list[Outcome] = []
        runs = load_runs(self.state)
        for schedule in load_schedules(schedules_file(self.state)):
            if self.stopping.is_set():
                break
            tick = due_tick(schedule, _last_tick(runs.get(schedule.name)), self.clock())
            if tick is None:
                continue
            outcome = self._run_one(schedule, tick)
            outcomes.append(outcome)
            runs = load_runs(self.state)  # the CLI may have removed schedules meanwhile
            runs[schedule.name] = {
                "tick": tick.isoformat(),
                "last_run": self.clock().isoformat(timespec="seconds"),
                "status": outcome.status,
                "job_id": outcome.job_id,
                "message": outcome.message,
            }
            write_atomic(schedule_state_file(self.state), json.dumps(runs, indent=2) + "\n")
        return outcomes

    def _run_one(self, schedule: Schedule, tick: datetime) -> Outcome:
        log.info(
            "job starting: schedule %s, model %s, tick %s",
            schedule.name,
            schedule.model,
            tick.isoformat(),
        )
        try:
            job_id, status, message = self.run(self.state, schedule, tick)
        except FedscreenError as exc:
            log.error("job failed: schedule %s: %s", schedule.name, exc.message)
            return Outcome(schedule.name, tick, "failed", None, exc.message)
        except Exception as exc:  # a bug in one job must not take the service down
            log.exception("job crashed: schedule %s", schedule.name)
            return Outcome(schedule.name, tick, "failed", None, f"internal error: {exc!r}")
        if status != "succeeded":
            log.warning("job %s: schedule %s, job %s: %s", status, schedule.name, job_id, message)
        else:
            log.info("job succeeded: schedule %s, job %s", schedule.name, job_id)
        return Outcome(schedule.name, tick, status, job_id, message)

    def seconds_to_next(self) -> float:
        now = self.clock()
        ticks = [next_tick(s, now) for s in load_schedules(schedules_file(self.state))]
        wait = min([(t - now).total_seconds() for t in ticks], default=MAX_SLEEP)
        return max(0.5, min(wait + 0.5, MAX_SLEEP))

    def serve(self, once: bool = False) -> None:
        log.info("serving %s (pid %d)", self.state.root, os.getpid())
        while not self.stopping.is_set():
            self.last_outcomes = self.run_due()
            if once:
                break
            wait_for(self.stopping, self.seconds_to_next())
        log.info("stopped")

    def stop(self, signum: int = 0, _frame: FrameType | None = None) -> None:
        if signum:
            log.info("signal %d: stopping after the current job", signum)
        self.stopping.set()


def serve(
    state: State,
    run: RunJob,
    once: bool = False,
    clock: Clock = utc_now,
) -> Daemon:
    """Lock the state dir and run the loop until SIGTERM (or one pass with `once`)."""
    daemon = Daemon(state, run, clock)
    with serve_lock(state, clock):
        load_schedules(schedules_file(state))  # a broken file is refused before we settle in
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, daemon.stop)
        try:
            daemon.serve(once=once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return daemon


def next_ticks(state: State, now: datetime) -> list[tuple[Schedule, datetime]]:
    return [(s, next_tick(s, now)) for s in load_schedules(schedules_file(state))]

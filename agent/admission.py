"""Which Screen calls the agent takes on, and how running ones are stopped. No gRPC here.

The agency's brakes: at most `max_concurrent_jobs` at once (excess calls are refused at once
with a retry hint, so a busy agent never queues work nobody may wait for), and a minimum
interval between two runs of the same model. A running job can be stopped from another
thread — the caller went away, or the agent is shutting down — by interrupting its query.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from agent.config import ServiceLimits
from fedscreen.engine import Engine
from fedscreen.errors import (
    AgentBusy,
    AgentDraining,
    JobAborted,
    JobCancelled,
    JobInFlight,
    TooSoon,
)


class JobHandle:
    """One admitted job: the engine it runs on (while it runs) and why it was stopped, if."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.stopped: type[JobCancelled] | None = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()  # attach/detach/stop: never interrupt a closed engine

    def attach(self, engine: Engine) -> None:
        with self._lock:
            self._engine = engine
            if self.stopped is not None:
                engine.cancel()

    def detach(self) -> None:
        with self._lock:
            self._engine = None

    def stop(self, why: type[JobCancelled] = JobCancelled) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = why
            if self._engine is not None:
                self._engine.cancel()

    def check(self) -> None:
        """Raise if the job was stopped: an interrupt between two statements is otherwise lost."""
        if self.stopped is JobAborted:
            raise JobAborted("the agent shut down before the job finished; run it again")
        if self.stopped is not None:
            raise JobCancelled("the caller went away; the job was stopped and nothing was sent")


class Gate:
    def __init__(self, limits: ServiceLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._cond = threading.Condition()
        self._running: set[JobHandle] = set()
        # model name -> when its last run was admitted, and for which job id
        self._last_run: dict[str, tuple[float, str]] = {}
        self._typical = 5.0  # seconds a job takes, smoothed; the retry hint when full
        self.draining = False

    def admit(self, job_id: str) -> JobHandle:
        with self._cond:
            if self.draining:
                raise AgentDraining("agent is draining (shutting down); retry on another start")
            if any(h.job_id == job_id for h in self._running):
                raise JobInFlight(
                    f"job {job_id} is still running here", max(1, math.ceil(self._typical))
                )
            if len(self._running) >= self.limits.max_concurrent_jobs:
                raise AgentBusy(
                    f"agent is running its limit of {self.limits.max_concurrent_jobs} jobs",
                    max(1, math.ceil(self._typical)),
                )
            handle = JobHandle(job_id)
            self._running.add(handle)
            return handle

    def release(self, handle: JobHandle, seconds: float | None = None) -> None:
        with self._cond:
            self._running.discard(handle)
            if seconds is not None:
                self._typical = 0.8 * self._typical + 0.2 * seconds
            self._cond.notify_all()

    def start_model(self, model: str, job_id: str) -> None:
        """Record a run of `model` now, or refuse it if the last one was too recent.

        A re-send of the job that ran last (its stream was cut before it was recorded) is the
        same screening, not a more frequent one: it is let through."""
        interval = self.limits.min_interval_seconds
        with self._cond:
            now = self._clock()
            last, last_job = self._last_run.get(model, (None, None))
            if last is not None and last_job != job_id and now - last < interval:
                wait = max(1, math.ceil(interval - (now - last)))
                raise TooSoon(
                    f"model {model} ran less than {interval:g} s ago (the agency's minimum "
                    "interval)",
                    wait,
                )
            self._last_run[model] = (now, job_id)

    def running(self) -> list[str]:
        with self._cond:
            return sorted(h.job_id for h in self._running)

    def drain(self, grace: float, unwind: float = 10.0) -> tuple[list[str], list[str]]:
        """Refuse new jobs, wait up to `grace` s for those in flight, abort the rest.

        Returns the job ids that finished and those that were aborted."""
        with self._cond:
            self.draining = True
            in_flight = set(self._running)
            self._cond.wait_for(lambda: not self._running, timeout=grace)
            late = set(self._running)
            for handle in late:
                handle.stop(JobAborted)
            # Give the aborted jobs a moment to unwind and write their audit entries.
            self._cond.wait_for(lambda: not self._running, timeout=unwind)
        finished = sorted(h.job_id for h in in_flight - late)
        return finished, sorted(h.job_id for h in late)

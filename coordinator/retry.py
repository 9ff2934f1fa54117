"""Retrying an agent call within a job's deadline: exponential backoff with full jitter.

An agent that is down, restarting, draining or busy answers AgentUnavailable; another
attempt may succeed. Attempt n waits a random time in [0, min(cap, base·2ⁿ)] ("full
jitter", so many jobs retrying one agent do not arrive in step), but at least the agent's
own retry hint. No attempt starts after `retry_until`; each attempt may run until the job's
deadline. Any other error is final at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fedscreen.errors import AgentUnavailable, JobStopped

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


class AgentMissing(AgentUnavailable):
    """Every attempt failed and the job's time for retries is up."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass
class Retrier:
    backoff: Backoff
    stopped: Callable[[float], bool]  # waits up to n s; True once the job is cancelled
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def call(
        self,
        attempt_fn: Callable[[float], T],
        deadline: float,
        retry_until: float,
        on_retry: Callable[[int, float, AgentUnavailable], None] = lambda *_: None,
    ) -> T:
        """attempt_fn(seconds left) until it succeeds, fails for good, or time is up."""
        attempt = 0
        while True:
            left = deadline - self.clock()
            if left <= 0:
                raise AgentMissing("the job's deadline passed before an attempt", attempt)
            try:
                return attempt_fn(left)
            except AgentUnavailable as exc:
                if self.stopped(0):
                    raise JobStopped("the job was cancelled") from None
                wait = max(self.backoff.delay(attempt, self.rng), exc.retry_after or 0.0)
                attempt += 1
                if self.clock() + wait >= min(retry_until, deadline):
                    raise AgentMissing(
                        f"no answer after {attempt} attempts: {exc.message}", attempt
                    ) from None
                on_retry(attempt, wait, exc)
                if self.stopped(wait):
                    raise JobStopped("the job was cancelled") from None

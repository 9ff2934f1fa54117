"""Retries within a job's deadline: backoff bounds, the agent's hint, giving up, cancelling."""

from __future__ import annotations

import random

import pytest

from coordinator.retry import AgentMissing, Backoff, Retrier
from fedscreen.errors import AgentUnavailable, JobFailed, JobStopped


class FakeTime:
    """A clock that only moves when the retrier waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.cancel_at: float | None = None

    def clock(self) -> float:
        return self.now

    def stopped(self, wait: float) -> bool:
        if wait > 0:
            self.waits.append(wait)
            self.now += wait
        return self.cancel_at is not None and self.now >= self.cancel_at


def flaky(failures: int, hint: float | None = None, result: str = "ok"):  # type: ignore[no-untyped-def]
    calls: list[float] = []

    def attempt(left: float) -> str:
        calls.append(left)
        if len(calls) <= failures:
            raise AgentUnavailable("agent a: UNAVAILABLE", retry_after=hint)
        return result

    return attempt, calls


def retrier(t: FakeTime, seed: int = 1) -> Retrier:
    return Retrier(Backoff(base=0.5, cap=8.0), t.stopped, t.clock, random.Random(seed))


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    backoff, rng = Backoff(base=0.5, cap=8.0), random.Random(7)
    for attempt in range(8):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # jitter spans the whole range, not a fixed step


def test_an_agent_that_comes_back_is_retried_until_it_answers() -> None:
    t = FakeTime()
    attempt, calls = flaky(3)
    assert retrier(t).call(attempt, deadline=100, retry_until=100) == "ok"
    assert len(calls) == 4 and len(t.waits) == 3
    # each attempt gets the time left until the job's deadline
    assert calls == [pytest.approx(100 - sum(t.waits[:i])) for i in range(4)]


def test_the_agents_retry_hint_is_a_floor_on_the_wait() -> None:
    t = FakeTime()
    attempt, _calls = flaky(2, hint=5.0)
    retrier(t).call(attempt, deadline=100, retry_until=100)
    assert all(w >= 5.0 for w in t.waits)


def test_no_attempt_starts_after_retry_until_and_the_agent_is_then_missing() -> None:
    t = FakeTime()
    attempt, calls = flaky(1000)
    with pytest.raises(AgentMissing, match="no answer after") as exc:
        retrier(t).call(attempt, deadline=100, retry_until=20)
    assert t.now < 20  # it gave up instead of sleeping past its share of the time
    assert exc.value.attempts == len(calls) > 3


def test_a_refusal_is_final_at_once() -> None:
    t = FakeTime()

    def refused(_left: float) -> str:
        raise JobFailed("agent a refused job: PERMISSION_DENIED")

    with pytest.raises(JobFailed):
        retrier(t).call(refused, deadline=100, retry_until=100)
    assert t.waits == []


def test_cancelling_the_job_ends_the_wait() -> None:
    t = FakeTime()
    t.cancel_at = 3.0
    attempt, _calls = flaky(1000)
    with pytest.raises(JobStopped):
        retrier(t).call(attempt, deadline=100, retry_until=100)
    assert t.now < 3.0 + 8.0  # at most one wait beyond the cancel

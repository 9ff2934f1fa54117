"""The agent's brakes without gRPC: the job limit, the per-model interval, stopping, draining."""

from __future__ import annotations

import threading

import pytest

from agent.admission import Gate, JobHandle
from agent.config import ServiceLimits
from fedscreen.errors import (
    AgentBusy,
    AgentDraining,
    JobAborted,
    JobCancelled,
    JobInFlight,
    TooSoon,
)


class FakeEngine:
    def __init__(self) -> None:
        self.cancelled = 0

    def cancel(self) -> None:
        self.cancelled += 1


def test_a_job_beyond_the_limit_is_refused_with_a_retry_hint() -> None:
    gate = Gate(ServiceLimits(max_concurrent_jobs=2))
    first, _second = gate.admit("j1"), gate.admit("j2")
    with pytest.raises(AgentBusy, match=r"limit of 2 jobs; retry after \d+ s") as exc:
        gate.admit("j3")
    assert exc.value.retry_after >= 1
    assert exc.value.grpc_status == "RESOURCE_EXHAUSTED"
    gate.release(first, 0.5)
    assert gate.admit("j3").job_id == "j3"
    assert gate.running() == ["j2", "j3"]


def test_a_second_run_of_a_model_inside_the_interval_is_refused() -> None:
    now = [100.0]
    gate = Gate(ServiceLimits(min_interval_seconds=60), clock=lambda: now[0])
    gate.start_model("probe", "j1")
    now[0] += 20
    with pytest.raises(TooSoon, match="retry after 40 s") as exc:
        gate.start_model("probe", "j2")
    assert exc.value.retry_after == 40
    gate.start_model("other", "j3")  # per model: another model is not held back
    now[0] += 40
    gate.start_model("probe", "j2")


def test_a_resent_job_is_the_same_screening_and_not_held_back_by_the_interval() -> None:
    now = [100.0]
    gate = Gate(ServiceLimits(min_interval_seconds=60), clock=lambda: now[0])
    gate.start_model("probe", "j1")
    now[0] += 5
    gate.start_model("probe", "j1")  # its stream was cut before it was recorded
    with pytest.raises(TooSoon):
        gate.start_model("probe", "j2")


def test_a_job_id_already_running_is_refused_with_a_retry_hint() -> None:
    gate = Gate(ServiceLimits(max_concurrent_jobs=4))
    first = gate.admit("j1")
    with pytest.raises(JobInFlight, match=r"job j1 is still running here; retry after \d+ s"):
        gate.admit("j1")
    gate.release(first, 0.5)
    assert gate.admit("j1").job_id == "j1"


def test_no_interval_lets_runs_follow_each_other() -> None:
    gate = Gate(ServiceLimits(min_interval_seconds=0))
    gate.start_model("probe", "j1")
    gate.start_model("probe", "j2")


def test_stopping_a_job_interrupts_its_engine_and_is_reported_once_checked() -> None:
    handle = JobHandle("j1")
    engine = FakeEngine()
    handle.attach(engine)  # type: ignore[arg-type]
    handle.stop()
    assert engine.cancelled == 1
    with pytest.raises(JobCancelled, match="caller went away"):
        handle.check()
    handle.detach()
    handle.stop(JobAborted)  # a later stop neither touches the engine nor changes the reason
    assert engine.cancelled == 1
    assert handle.stopped is JobCancelled


def test_a_job_stopped_before_its_engine_opens_is_interrupted_on_attach() -> None:
    handle = JobHandle("j1")
    handle.stop(JobAborted)
    engine = FakeEngine()
    handle.attach(engine)  # type: ignore[arg-type]
    assert engine.cancelled == 1
    with pytest.raises(JobAborted, match="shut down"):
        handle.check()


def test_draining_refuses_new_jobs_waits_for_quick_ones_and_aborts_the_rest() -> None:
    gate = Gate(ServiceLimits(max_concurrent_jobs=3))
    quick, slow = gate.admit("quick"), gate.admit("slow")
    engine = FakeEngine()
    slow.attach(engine)  # type: ignore[arg-type]

    def finish_quick() -> None:
        gate.release(quick, 0.1)

    def unwind_slow() -> None:
        while slow.stopped is None:
            threading.Event().wait(0.01)
        gate.release(slow)

    threads = [threading.Timer(0.1, finish_quick), threading.Thread(target=unwind_slow)]
    for t in threads:
        t.start()
    finished, aborted = gate.drain(grace=0.5, unwind=5)
    for t in threads:
        t.join()
    assert (finished, aborted) == (["quick"], ["slow"])
    assert engine.cancelled == 1 and slow.stopped is JobAborted
    with pytest.raises(AgentDraining, match="draining"):
        gate.admit("late")

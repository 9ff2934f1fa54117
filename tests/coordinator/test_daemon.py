"""`fedscreen serve`: the state-dir lock, due jobs run once with an injected clock and a fake
job, failures recorded without stopping the loop, SIGTERM honoured between jobs."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator import daemon
from coordinator.cli import main
from coordinator.registry import Registry
from coordinator.run import JobReport
from coordinator.schedules import Schedule, add_schedule
from coordinator.state import State
from fedscreen.errors import JobFailed, JobStopped

T0 = datetime(2026, 3, 5, 2, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeJobs:
    """Stands in for run_model: records calls, fails for the names in `failing`."""

    def __init__(self, failing: dict[str, Exception] | None = None) -> None:
        self.calls: list[str] = []
        self.failing = failing or {}

    def __call__(self, state: State, schedule: Schedule, tick: datetime) -> tuple[str, str, str]:
        self.calls.append(schedule.name)
        if schedule.name in self.failing:
            raise self.failing[schedule.name]
        return daemon.tick_job_id(schedule, tick), "succeeded", ""


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> State:
    (tmp_path / "coordinator.toml").write_text('name = "t"\n', encoding="utf-8")
    return State(tmp_path)


def _add(state: State, *names: str, cron: str = "0 2 * * *") -> None:
    for name in names:
        add_schedule(daemon.schedules_file(state), Schedule(name, cron, "fake_labour_litigation"))


def _runs(state: State) -> dict[str, dict[str, object]]:
    return json.loads(daemon.schedule_state_file(state).read_text(encoding="utf-8"))


def test_a_second_instance_is_refused_naming_the_holder(
    state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    with daemon.serve_lock(state, Clock(T0)):
        with pytest.raises(daemon.AlreadyRunning) as info:
            with daemon.serve_lock(state):
                pass
        assert f"pid {os.getpid()}, started 2026-03-05T02:00:30+00:00" in info.value.message
        # the command line says the same in one line, exit code 3, without running anything
        assert main(["--state", str(state.root), "serve", "--once"]) == 3
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: another fedscreen serve holds")
        assert f"pid {os.getpid()}" in err and "\n" not in err
    with daemon.serve_lock(state):  # released on exit
        pass


def test_once_runs_due_jobs_and_records_the_tick(state: State) -> None:
    _add(state, "a", "b")
    jobs, clock = FakeJobs(), Clock(T0)
    result = daemon.serve(state, jobs, once=True, clock=clock)
    assert jobs.calls == ["a", "b"]
    assert [o.status for o in result.last_outcomes] == ["succeeded", "succeeded"]
    runs = _runs(state)
    assert runs["a"]["tick"] == "2026-03-05T02:00:00+00:00"
    assert runs["a"]["last_run"] == "2026-03-05T02:00:30+00:00"
    assert runs["a"]["status"] == "succeeded" and runs["a"]["job_id"] == "a-20260305T0200Z"
    clock.now += timedelta(minutes=5)
    daemon.serve(state, jobs, once=True, clock=clock)
    assert jobs.calls == ["a", "b"]  # same tick: nothing runs again


def test_ticks_missed_while_down_run_once_on_restart(state: State) -> None:
    _add(state, "a")
    jobs, clock = FakeJobs(), Clock(T0)
    daemon.serve(state, jobs, once=True, clock=clock)
    clock.now += timedelta(days=4, hours=3)  # down for four nightly ticks
    daemon.serve(state, jobs, once=True, clock=clock)
    assert jobs.calls == ["a", "a"]
    assert _runs(state)["a"]["tick"] == "2026-03-09T02:00:00+00:00"
    daemon.serve(state, jobs, once=True, clock=clock)
    assert jobs.calls == ["a", "a"]


def test_a_failing_job_is_recorded_and_the_next_still_runs(state: State) -> None:
    _add(state, "a", "b", "c")
    jobs = FakeJobs({"a": JobFailed("agent t-court is down"), "b": RuntimeError("bug")})
    result = daemon.serve(state, jobs, once=True, clock=Clock(T0))
    assert jobs.calls == ["a", "b", "c"]
    assert [o.status for o in result.last_outcomes] == ["failed", "failed", "succeeded"]
    runs = _runs(state)
    assert runs["a"]["status"] == "failed" and runs["a"]["message"] == "agent t-court is down"
    assert runs["b"]["message"] == "internal error: RuntimeError('bug')"
    assert runs["c"]["status"] == "succeeded"
    # a failed tick is not retried in a hot loop: it waits for the next tick
    again = daemon.serve(state, jobs, once=True, clock=Clock(T0 + timedelta(minutes=1)))
    assert again.last_outcomes == []


def test_sigterm_stops_the_loop_between_jobs(state: State) -> None:
    _add(state, "a", "b")
    calls: list[str] = []

    def job_that_gets_terminated(
        st: State, schedule: Schedule, tick: datetime
    ) -> tuple[str, str, str]:
        calls.append(schedule.name)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-job
        return "job-1", "succeeded", ""

    before = signal.getsignal(signal.SIGTERM)
    result = daemon.serve(state, job_that_gets_terminated, once=False, clock=Clock(T0))
    assert calls == ["a"]  # the running job finished; the next one did not start
    assert result.stopping.is_set()
    assert _runs(state)["a"]["status"] == "succeeded" and "b" not in _runs(state)
    assert signal.getsignal(signal.SIGTERM) == before


def test_sleep_is_until_the_next_tick_capped(state: State) -> None:
    _add(state, "a", cron="*/10 * * * *")
    d = daemon.Daemon(state, FakeJobs(), Clock(datetime(2026, 3, 5, 2, 9, 50, tzinfo=UTC)))
    assert d.seconds_to_next() == pytest.approx(10.5)
    d.clock = Clock(datetime(2026, 3, 5, 2, 0, 1, tzinfo=UTC))
    assert d.seconds_to_next() == daemon.MAX_SLEEP


def test_serve_takes_the_state_dir_as_its_own_option_too(
    state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--state", str(state.root), "--once"]) == 0
    assert "ran 0 scheduled job(s), 0 failed, 0 partial" in capsys.readouterr().out
    assert daemon.lock_file(state).exists()  # it locked this state dir, not another


# --- the real runner against the registry, with the federation faked out --------------------
def _record(state: State, job_id: str, owner: str = "") -> Registry:
    registry = Registry(state.registry)
    registry.start_job(job_id, "m", "1.0", "d" * 64, "c", {}, ("题", "title"), owner=owner)
    return registry


def _must_not_run(*_args: object, **_kwargs: object) -> JobReport:
    raise AssertionError("the job ran again")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("succeeded", ""),
        ("partial", "agents missing: t-court (court); leads combined without them"),
        ("cancelled", "job a-20260305T0200Z was cancelled (fedscreen jobs cancel)"),
    ],
)
def test_a_tick_whose_job_had_ended_is_recorded_as_it_ended_not_run_again(
    state: State, monkeypatch: pytest.MonkeyPatch, status: str, message: str
) -> None:
    # killed after the registry recorded the end, before schedule_state.json did
    _add(state, "a")
    _record(state, "a-20260305T0200Z").finish_job("a-20260305T0200Z", status, message)
    for name in ("load_bundle", "run_model", "resume_job"):
        monkeypatch.setattr(daemon, name, _must_not_run)
    result = daemon.serve(state, daemon.model_runner(Path("models")), once=True, clock=Clock(T0))
    [outcome] = result.last_outcomes
    assert (outcome.status, outcome.job_id, outcome.message) == (
        status, "a-20260305T0200Z", message,
    )  # fmt: skip
    assert _runs(state)["a"]["status"] == status


def test_a_tick_whose_job_was_interrupted_is_resumed_under_its_id(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(state, "a")
    _record(state, "a-20260305T0200Z", owner="elsewhere:1")  # still "running": killed mid-job
    resumed: list[tuple[str, float | None]] = []

    def resume(st: State, job_id: str, timeout: float | None = None) -> JobReport:
        resumed.append((job_id, timeout))
        return JobReport(job_id, "m", "1.0", "c", status="succeeded")

    monkeypatch.setattr(daemon, "resume_job", resume)
    monkeypatch.setattr(daemon, "run_model", _must_not_run)
    result = daemon.serve(state, daemon.model_runner(Path("models")), once=True, clock=Clock(T0))
    assert resumed == [("a-20260305T0200Z", 600.0)]  # the schedule's deadline
    assert [(o.status, o.job_id) for o in result.last_outcomes] == [
        ("succeeded", "a-20260305T0200Z")
    ]


def test_a_job_cancelled_while_it_runs_is_recorded_as_cancelled(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(state, "a")

    def cancelled(*_args: object, **_kwargs: object) -> JobReport:
        raise JobStopped("job a-20260305T0200Z was cancelled (fedscreen jobs cancel)")

    monkeypatch.setattr(daemon, "load_bundle", lambda *_a: (b"", None))
    monkeypatch.setattr(daemon, "run_model", cancelled)
    result = daemon.serve(state, daemon.model_runner(Path("models")), once=True, clock=Clock(T0))
    [outcome] = result.last_outcomes
    assert (outcome.status, outcome.job_id) == ("cancelled", "a-20260305T0200Z")
    assert _runs(state)["a"]["message"] == (
        "job a-20260305T0200Z was cancelled (fedscreen jobs cancel)"
    )

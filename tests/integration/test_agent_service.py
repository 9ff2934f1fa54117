"""A real agent's brakes: per-model interval, cancellation when the caller goes away, draining."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from agent.audit import read_entries
from coordinator.state import AgentEntry
from tests.integration.agent_procs import (
    SLOW_SQL,
    SMALL_SQL,
    agent_config,
    audit_entries,
    own_agent,
    screen_replies,
    signed_model,
    start_screen,
    wait_in_flight,
    wait_query_running,
)
from tests.integration.conftest import Fed


@dataclass
class Brakes:
    entry: AgentEntry
    config: Path
    pid: int


@pytest.fixture(scope="module")
def brakes(fed: Fed) -> Iterator[Brakes]:
    config = agent_config(
        fed, "t-brakes", metrics=True, max_concurrent_jobs=2, min_interval_seconds=60
    )
    with own_agent(fed, "t-brakes", config) as (entry, proc):
        yield Brakes(entry, config, proc.pid)


def wait_for_entry(config: Path, job_id: str, timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = audit_entries(config, job_id)
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no audit entry for {job_id} within {timeout} s")


def test_a_second_run_of_a_model_inside_the_interval_is_refused_with_a_hint(
    fed: Fed, brakes: Brakes, tmp_path: Path
) -> None:
    entry, config = brakes.entry, brakes.config
    bundle = signed_model(fed, tmp_path / "m", "interval_probe", SMALL_SQL, config)
    assert screen_replies(fed, entry, bundle, "j-interval-1")[-1].HasField("summary")
    with pytest.raises(grpc.RpcError) as exc:
        screen_replies(fed, entry, bundle, "j-interval-2")
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "minimum interval" in exc.value.details()
    hint = dict(exc.value.trailing_metadata())["retry-after-seconds"]
    assert 55 <= int(hint) <= 60
    assert f"retry after {hint} s" in exc.value.details()
    refused = audit_entries(config, "j-interval-2")[-1]
    assert (refused["outcome"], refused["error"]) == ("refused", "TooSoon")
    assert refused["model"] == "interval_probe"


def test_a_caller_that_goes_away_cancels_its_query_and_the_agent_stays_healthy(
    fed: Fed, brakes: Brakes, tmp_path: Path
) -> None:
    entry, config = brakes.entry, brakes.config
    bundle = signed_model(fed, tmp_path / "slow", "cancel_probe", SLOW_SQL, config)
    client, call = start_screen(fed, entry, bundle, "j-cancel")
    with client:
        wait_query_running(config, brakes.pid)
        call.cancel()
        started = time.monotonic()
        cancelled = wait_for_entry(config, "j-cancel")
        assert time.monotonic() - started < 10  # interrupted, not left to run for minutes
        assert (cancelled["outcome"], cancelled["error"]) == ("cancelled", "JobCancelled")
        assert client.health() == "SERVING"
    quick = signed_model(fed, tmp_path / "quick", "after_cancel", SMALL_SQL, config)
    assert screen_replies(fed, entry, quick, "j-after-cancel")[-1].summary.rows_out > 0


def test_sigterm_drains_refuses_new_jobs_and_aborts_what_outlives_the_grace(
    fed: Fed, tmp_path: Path
) -> None:
    config = agent_config(fed, "t-drain", metrics=True, shutdown_grace_seconds=1)
    slow = signed_model(fed, tmp_path / "slow", "drain_slow", SLOW_SQL, config)
    small = signed_model(fed, tmp_path / "small", "drain_small", SMALL_SQL, config)
    with own_agent(fed, "t-drain", config) as (entry, proc):
        client, call = start_screen(fed, entry, slow, "j-drain-slow")
        with client:
            wait_query_running(config, proc.pid)  # so it is the query that outlives the grace
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while client.health() == "SERVING":
                assert time.monotonic() < deadline, "health never left SERVING"
                time.sleep(0.02)
            late_client, late = start_screen(fed, entry, small, "j-drain-late")
            with late_client, pytest.raises(grpc.RpcError) as refused:
                list(late)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "agent is draining" in refused.value.details()
            with pytest.raises(grpc.RpcError) as aborted:
                list(call)
            assert aborted.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.wait(timeout=15) == 0
    log = (config.parent / "agent.log").read_text()
    assert "drained: finished []; aborted ['j-drain-slow']" in log
    audit = read_entries(config.parent / "state" / "audit.jsonl")
    assert [e["outcome"] for e in audit if e.get("job_id") == "j-drain-slow"] == ["aborted"]
    stop = [e for e in audit if e["event"] == "stop"][-1]
    assert (stop["finished"], stop["aborted"]) == ([], ["j-drain-slow"])


def test_a_caller_that_goes_away_right_after_admission_stops_the_job_too(
    fed: Fed, tmp_path: Path
) -> None:
    config = agent_config(fed, "t-early", metrics=True, shutdown_grace_seconds=1)
    bundle = signed_model(fed, tmp_path / "slow", "early_cancel", SLOW_SQL, config)
    with own_agent(fed, "t-early", config) as (entry, _proc):
        client, call = start_screen(fed, entry, bundle, "j-early", timeout=30)
        with client:
            wait_in_flight(config, 1)  # admitted; its query starts some 0.1 s later
            call.cancel()
            cancelled = wait_for_entry(config, "j-early", timeout=10)
    assert (cancelled["outcome"], cancelled["error"]) == ("cancelled", "JobCancelled")

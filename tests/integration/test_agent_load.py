"""Load on loopback: 50 concurrent Screen calls against one agent limited to 2 jobs at once.

None may be lost: each call either completes with a summary or is refused at once with
RESOURCE_EXHAUSTED and a retry hint. The agent's peak RSS stays bounded because only the
admitted jobs open a DuckDB engine; a refused call costs a request message and nothing more.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from coordinator.client import AgentClient
from coordinator.federation import peak_rss_kib
from fedscreen import wire
from fedscreen.jobs import Job
from tests.integration.agent_procs import SMALL_SQL, agent_config, own_agent, signed_model
from tests.integration.conftest import Fed

CALLS = 50
JOBS = 2
# Budget over the agent's own peak before the load (Python, gRPC, DuckDB, pyarrow loaded, one
# Describe-free start): each admitted job opens one in-memory DuckDB over a court table of a
# few hundred KB and holds a result of ~100 rows; 128 MiB per job is ample for that and far
# below what 50 unbounded engines would take. Refused calls hold only their request.
PER_JOB_MIB = 128


def test_fifty_concurrent_screens_are_all_answered_and_memory_stays_bounded(
    fed: Fed, tmp_path: Path
) -> None:
    config = agent_config(fed, "t-load", max_concurrent_jobs=JOBS)
    bundle = signed_model(fed, tmp_path / "m", "load_probe", SMALL_SQL, config)
    with own_agent(fed, "t-load", config) as (entry, proc):
        pid = proc.pid
        baseline_kib = peak_rss_kib(pid)
        assert baseline_kib is not None, "needs Linux /proc to read VmHWM"
        start = threading.Barrier(CALLS)

        def call(n: int, client: AgentClient) -> str:
            request = wire.screen_request(bundle, Job(f"j-load-{n}", "load", {}, "test"))
            start.wait()
            try:
                replies = list(client.stub.Screen(request, timeout=45))
            except grpc.RpcError as exc:
                hint = dict(exc.trailing_metadata() or ()).get("retry-after-seconds")
                ok = exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                if ok and hint and f"retry after {hint} s" in (exc.details() or ""):
                    return "refused"
                return f"lost: {exc.code().name}: {exc.details()}"
            return (
                "completed" if replies and replies[-1].HasField("summary") else "lost: no summary"
            )

        with AgentClient(fed.state, entry) as client, ThreadPoolExecutor(CALLS) as pool:
            began = time.monotonic()
            results = list(pool.map(lambda n: call(n, client), range(CALLS)))
            wall = time.monotonic() - began
        peak_kib = peak_rss_kib(pid)
        assert peak_kib is not None
    completed, refused = results.count("completed"), results.count("refused")
    peak_mib, base_mib = peak_kib / 1024, baseline_kib / 1024
    print(
        f"\nload: {CALLS} calls, limit {JOBS}: completed={completed} refused={refused} "
        f"wall={wall:.2f}s peak_rss={peak_mib:.0f}MiB (baseline {base_mib:.0f}MiB)"
    )
    assert [r for r in results if r.startswith("lost")] == []
    assert completed + refused == CALLS
    assert completed >= JOBS
    assert peak_mib < base_mib + JOBS * PER_JOB_MIB

"""The coordinator's gRPC client for one agent. Deadlines on every call; mutual TLS only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pyarrow as pa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordinator.state import AgentEntry, State
from fedscreen import wire
from fedscreen.errors import (
    AgentUnavailable,
    FedscreenError,
    JobFailed,
    RateLimited,
    ResolveError,
    ResolveRefused,
    TokenNotIssued,
)
from fedscreen.jobs import Description, Job, Summary
from fedscreen.resolve import Answer, rows_from_pairs
from fedscreen.tls import channel_credentials, channel_options
from fedscreen.v1 import agent_pb2 as pb
from fedscreen.v1 import agent_pb2_grpc as pb_grpc


@dataclass(frozen=True)
class ScreenResult:
    agent: str
    role: str
    table: pa.Table
    summary: Summary


class AgentClient:
    def __init__(self, state: State, entry: AgentEntry) -> None:
        self.entry = entry
        creds = channel_credentials(state.client_cert, state.client_key, state.ca_cert)
        self.channel = grpc.secure_channel(
            entry.address, creds, options=channel_options(entry.name)
        )
        self.stub = pb_grpc.AgentStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: grpc.RpcError, what: str) -> FedscreenError:
        """AgentUnavailable when another attempt may succeed, JobFailed when it cannot."""
        code = exc.code()
        detail = exc.details() or code.name
        hint = _retry_after(exc)
        if code in _TRANSIENT or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and hint):
            return AgentUnavailable(
                f"agent {self.entry.name}: {what}: {code.name}: {detail}", retry_after=hint
            )
        return JobFailed(f"agent {self.entry.name} refused {what}: {code.name}: {detail}")

    def health(self, timeout: float = 5.0) -> str:
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc, "health check") from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))

    def describe(self, timeout: float = 30.0) -> tuple[Description, float]:
        started = time.monotonic()
        try:
            resp = self.stub.Describe(pb.DescribeRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc, "Describe") from None
        return wire.description_from_pb(resp), time.monotonic() - started

    def screen(
        self,
        bundle: bytes,
        job: Job,
        timeout: float,
        on_batch: Callable[[int], None] | None = None,
        calls: LiveCalls | None = None,
    ) -> ScreenResult:
        """Stream one job's flags; the deadline covers the whole stream. With `calls`, another
        thread can cancel the stream (the job was cancelled, or another agent failed it)."""
        request = wire.screen_request(bundle, job)
        chunks: list[bytes] = []
        summary: Summary | None = None
        stream = self.stub.Screen(request, timeout=timeout)
        if calls is not None:
            calls.add(stream)
        try:
            for reply in stream:
                if reply.HasField("batch"):
                    chunks.append(reply.batch.arrow_ipc)
                    if on_batch:
                        on_batch(reply.batch.rows)
                else:
                    summary = wire.summary_from_pb(reply.summary)
        except grpc.RpcError as exc:
            raise self._error(exc, f"job {job.job_id}") from None
        finally:
            if calls is not None:
                calls.discard(stream)
        if summary is None:  # the stream was cut: the agent answers a re-send from its record
            raise AgentUnavailable(f"agent {self.entry.name}: stream ended without a summary")
        table = wire.concat_ipc(chunks) if chunks else pa.table({})
        if table.num_rows != summary.rows_out:
            raise JobFailed(
                f"agent {self.entry.name}: received {table.num_rows} rows, summary says "
                f"{summary.rows_out}"
            )
        return ScreenResult(self.entry.name, self.entry.role, table, summary)

    def resolve(self, request: bytes, signature: bytes, timeout: float = 60.0) -> Answer:
        """One signed re-identification request (必要关联查询); refusals raise a ResolveError
        carrying the agent's one-line reason."""
        try:
            resp = self.stub.Resolve(
                pb.ResolveRequest(request=request, signature=signature), timeout=timeout
            )
        except grpc.RpcError as exc:
            code, detail = exc.code(), exc.details() or exc.code().name
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise self._error(exc, "Resolve") from None
            cls = _RESOLVE_ERRORS.get(code, ResolveRefused)
            raise cls(f"agent {self.entry.name} refused: {code.name}: {detail}") from None
        pairs = [(f.name, f.value) for f in resp.fields]
        return Answer(resp.request_id, resp.status, rows_from_pairs(pairs), resp.message)

    def audit(self, from_seq: int, timeout: float = 60.0) -> list[tuple[int, bytes]]:
        """The audit lines (seq, exact bytes) from `from_seq` on; the deadline covers all."""
        try:
            return [
                (entry.seq, entry.line)
                for entry in self.stub.Audit(pb.AuditRequest(from_seq=from_seq), timeout=timeout)
            ]
        except grpc.RpcError as exc:
            raise self._error(exc, "Audit") from None


_TRANSIENT = (
    grpc.StatusCode.UNAVAILABLE,  # down, restarting, draining, connection cut
    grpc.StatusCode.DEADLINE_EXCEEDED,  # slow: worth another try while the job has time
    grpc.StatusCode.ABORTED,
)


def _retry_after(exc: grpc.RpcError) -> float | None:
    """The agent's retry hint (RESOURCE_EXHAUSTED for load or its minimum interval)."""
    try:
        metadata = dict(exc.trailing_metadata() or ())  # type: ignore[attr-defined]
        return float(metadata["retry-after-seconds"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


class LiveCalls:
    """The streams of one job that are in flight, so they can be cancelled together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: set[grpc.Future] = set()
        self.cancelled = threading.Event()

    def add(self, call: grpc.Future) -> None:
        with self._lock:
            self._calls.add(call)
            late = self.cancelled.is_set()
        if late:
            call.cancel()

    def discard(self, call: grpc.Future) -> None:
        with self._lock:
            self._calls.discard(call)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
            calls = list(self._calls)
        for call in calls:
            call.cancel()


_RESOLVE_ERRORS: dict[grpc.StatusCode, type[ResolveError]] = {
    grpc.StatusCode.NOT_FOUND: TokenNotIssued,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
}


def wait_healthy(state: State, entry: AgentEntry, timeout: float = 30.0) -> None:
    """Block until the agent reports SERVING (readiness by health, never by sleeping blind)."""
    deadline = time.monotonic() + timeout
    with AgentClient(state, entry) as client:
        try:
            grpc.channel_ready_future(client.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise AgentUnavailable(f"agent {entry.name} at {entry.address} not reachable") from None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentUnavailable(f"agent {entry.name} did not become SERVING in {timeout}s")
            if client.health(timeout=remaining) == "SERVING":
                return
            time.sleep(0.05)

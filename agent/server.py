"""The agent's gRPC edge: a thin servicer over agent.screening, health checking, mutual TLS.

Servicers only convert protobuf to domain objects, call the core, and map FedscreenErrors to
status codes with the error's one-line message.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from importlib.metadata import version

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from agent import clock
from agent.audit import AuditLog, read_lines
from agent.config import AgentSettings, read_tls
from agent.metrics import Metrics
from agent.screening import Screener
from fedscreen import wire
from fedscreen.engine import Engine
from fedscreen.errors import (
    AgentBusy,
    ConfigError,
    FedscreenError,
    InternalError,
    JobCancelled,
    SchemaMismatch,
)
from fedscreen.jobs import DatasetShape, Description, round_2sig
from fedscreen.signals import wait_for
from fedscreen.tls import server_credentials
from fedscreen.v1 import agent_pb2 as pb
from fedscreen.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger("fedscreen.agent")
PROTOCOL_VERSION = "fedscreen.v1"
SERVICE_NAME = "fedscreen.v1.Agent"


def _abort(context: grpc.ServicerContext, exc: FedscreenError) -> None:
    if isinstance(exc, AgentBusy):  # the hint, machine-readable, beside the one-line message
        context.set_trailing_metadata((("retry-after-seconds", str(exc.retry_after)),))
    context.abort(getattr(grpc.StatusCode, exc.grpc_status), exc.message)


class AgentServicer(pb_grpc.AgentServicer):
    def __init__(self, settings: AgentSettings, screener: Screener, audit: AuditLog) -> None:
        self.settings = settings
        self.screener = screener
        self.audit = audit

    def _caller(self, context: grpc.ServicerContext, method: str) -> str:
        """The authenticated caller's certificate name; anyone not allowed is refused."""
        if self.settings.tls is None:
            return "insecure-dev"
        names = context.auth_context().get("x509_common_name", [])
        caller = names[0].decode() if names else ""
        if caller not in self.settings.tls.allowed_clients:
            self.audit.append("denied", method=method, caller=caller or "(none)")
            log.warning("refused %s from a caller not in tls.allowed_clients", method)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "caller is not an allowed client")
        return caller

    def Describe(
        self, request: pb.DescribeRequest, context: grpc.ServicerContext
    ) -> pb.DescribeResponse:
        self._caller(context, "Describe")
        try:
            with Engine(self.settings.role, self.settings.sources, self.settings.engine) as eng:
                shapes = eng.describe()
        except FedscreenError as exc:
            _abort(context, exc)
            raise
        except Exception as exc:  # never grpc's default "Exception calling application: …"
            log.error("Describe failed: %s", type(exc).__name__)
            _abort(context, InternalError.withholding(exc))
            raise
        approved = self.screener.approvals.load()
        desc = Description(
            agency=self.settings.name,
            role=self.settings.role,
            datasets=tuple(
                DatasetShape(name, tuple(cols), round_2sig(rows))
                for name, (cols, rows) in sorted(shapes.items())
            ),
            trusted_key_ids=tuple(sorted(self.screener.trusted)),
            approved_digests=tuple(sorted(approved)),
            agent_version=version("fedscreen"),
            protocol_version=PROTOCOL_VERSION,
        )
        return wire.description_to_pb(desc)

    def Resolve(
        self, request: pb.ResolveRequest, context: grpc.ServicerContext
    ) -> pb.ResolveResponse:
        """必要关联查询: one signed request for one token; see agent.reident."""
        caller = self._caller(context, "Resolve")
        try:
            answer = self.screener.resolver.resolve(request.request, request.signature, caller)
        except FedscreenError as exc:
            log.info("resolve refused: %s", type(exc).__name__)
            _abort(context, exc)
            raise
        log.info("resolve %s: %s", answer.request_id, answer.status)  # never the fields
        return pb.ResolveResponse(
            request_id=answer.request_id,
            status=answer.status,
            fields=[pb.ResolvedField(name=n, value=v) for n, v in answer.pairs()],
            message=answer.message,
        )

    def Screen(
        self, request: pb.ScreenRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ScreenReply]:
        received_at = time.time()
        caller = self._caller(context, "Screen")
        job = wire.job_from_request(request)
        # After authentication only; for `fedscreen-agent doctor`. Never fails the job.
        clock.observe(self.settings.state_dir, wire.sent_at(request), received_at)
        if not job.job_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job.job_id is required")
        remaining = context.time_remaining()
        try:
            handle = self.screener.admit(job, caller)
        except FedscreenError as exc:
            log.info("job %s refused: %s", job.job_id, type(exc).__name__)
            _abort(context, exc)
            raise
        # The slot is held until the last batch is sent: the result table lives until then.
        seconds: float | None = None
        try:
            context.add_callback(handle.stop)  # also fires after a normal end; harmless then
            try:
                outcome = self.screener.screen(
                    request.bundle, job, caller, deadline_s=remaining, handle=handle
                )
            except FedscreenError as exc:
                level = logging.WARNING if isinstance(exc, JobCancelled) else logging.INFO
                log.log(level, "job %s stopped: %s", job.job_id, type(exc).__name__)
                _abort(context, exc)
                raise
            seconds = outcome.summary.seconds
            count = 0
            for data, rows in wire.table_to_ipc_batches(outcome.table):
                count += 1
                yield pb.ScreenReply(batch=pb.FlagBatch(arrow_ipc=data, rows=rows))
            # rows_in leaves rounded like Describe's counts (shape, not size); the audit log
            # keeps it exact.
            rows_in = round_2sig(outcome.summary.rows_in)
            summary = dataclasses.replace(outcome.summary, batches=count, rows_in=rows_in)
            log.info("job %s sent %d rows in %d batches", job.job_id, summary.rows_out, count)
            yield pb.ScreenReply(summary=wire.summary_to_pb(summary))
        finally:
            self.screener.gate.release(handle, seconds)

    def Audit(
        self, request: pb.AuditRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.AuditEntry]:
        """Stream the log's exact lines from `from_seq` on, so the caller can check the chain.

        The read is itself logged first, so a pull always shows up in what it pulls.
        """
        caller = self._caller(context, "Audit")
        if request.from_seq < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "from_seq must be 0 or more")
        self.audit.append("audit_read", caller=caller, from_seq=request.from_seq)
        count = 0
        for seq, line in read_lines(self.audit.path, max(request.from_seq, 1)):
            count += 1
            yield pb.AuditEntry(seq=seq, line=line)
        log.info("sent %d audit lines from seq %d", count, request.from_seq)


@dataclasses.dataclass
class RunningAgent:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    screener: Screener
    audit: AuditLog
    metrics: Metrics = dataclasses.field(default_factory=Metrics)
    metrics_port: int | None = None  # the bound /metrics port; None when [metrics] is off

    def shutdown(self, grace: float) -> tuple[list[str], list[str]]:
        """NOT_SERVING first, refuse new jobs, wait up to `grace` s, abort the rest.

        Returns the job ids that finished and those that were aborted (and logs them)."""
        self.health.enter_graceful_shutdown()  # every service NOT_SERVING, and it stays so
        running = self.screener.gate.running()
        log.info("draining: %d jobs in flight %s, grace %g s", len(running), running, grace)
        finished, aborted = self.screener.gate.drain(grace)
        # WARNING: an operator must see it even where no log level is configured.
        log.warning("drained: finished %s; aborted %s", finished, aborted)
        self.audit.append("stop", finished=finished, aborted=aborted)
        self.server.stop(grace=2).wait()
        self.metrics.close()  # last: the drain itself stays visible to a scrape
        return finished, aborted


def create_server(
    settings: AgentSettings, *, insecure_dev: bool = False, address: str | None = None
) -> RunningAgent:
    """Build and start the server (address may end in :0); SERVING only once it is ready."""
    health_servicer = health.HealthServicer()
    for name in ("", SERVICE_NAME):  # explicit: not serving while the servicer loads
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    metrics = Metrics()
    audit = AuditLog(settings.audit_path, observers=(metrics.observe,))
    screener = Screener(settings, audit)
    metrics.watch(screener.gate.running)
    # Workers beyond the job limit, so refusals, health and Describe never wait behind jobs.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.service.max_concurrent_jobs + 8),
        options=[("grpc.max_receive_message_length", 32 << 20)],
    )
    pb_grpc.add_AgentServicer_to_server(AgentServicer(settings, screener, audit), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = _bind(server, settings, address or settings.listen, insecure_dev)
    metrics_port = _serve_metrics(settings, metrics)
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    audit.append("start", agency=settings.name, role=settings.role, port=port)
    return RunningAgent(server, port, health_servicer, screener, audit, metrics, metrics_port)


def _bind(server: grpc.Server, settings: AgentSettings, address: str, insecure_dev: bool) -> int:
    """The bound port; a credential or bind failure is one line naming the address, not
    grpc's RuntimeError (it says only "Failed to bind", whichever it was)."""
    if settings.tls is None and not insecure_dev:
        # load_settings already refuses this; belt and braces for programmatic callers
        raise FedscreenError("refusing to serve without TLS (use --insecure-dev for development)")
    try:
        if settings.tls is None:
            port = server.add_insecure_port(address)
        else:
            creds = server_credentials(settings.tls.cert, settings.tls.key, settings.tls.ca)
            port = server.add_secure_port(address, creds)
    except RuntimeError:
        port = 0
    if port == 0:
        tls = ", or grpc refused the [tls] certificate and key (doctor checks them)"
        raise ConfigError(
            f"{settings.source}: cannot serve on agent.listen {address}: it is in use or not "
            f"an address of this host{tls if settings.tls else ''}"
        )
    return port


def preflight(settings: AgentSettings) -> None:
    """What must hold before the agent serves, checked before it binds or writes anything:
    the TLS files load and match, and every mapped source has the logical dictionary's columns
    and types (as `fedscreen-agent check`, schema only: no scan, so start-up stays quick)."""
    if settings.tls is not None:
        read_tls(settings)
    with Engine(settings.role, settings.sources, settings.engine) as engine:
        try:
            engine.check()
        except SchemaMismatch as exc:
            raise SchemaMismatch(
                f"{settings.source}: refusing to serve, a mapped source does not match the "
                f"logical dictionary: {exc.message} (fedscreen-agent check lists every problem)"
            ) from None


def _serve_metrics(settings: AgentSettings, metrics: Metrics) -> int | None:
    """Start the /metrics endpoint when [metrics] is configured; its bound port."""
    if settings.metrics is None:
        return None
    try:
        return metrics.serve(settings.metrics.host, settings.metrics.port)
    except OSError as exc:
        raise FedscreenError(
            f"{settings.source}: cannot bind metrics.listen {settings.metrics.listen}"
            f" ({exc.strerror or type(exc).__name__})"
        ) from None


def serve(settings: AgentSettings, *, insecure_dev: bool = False) -> int:
    """Check, then run until SIGTERM/SIGINT; announce the bound address on stdout for
    supervisors. Nothing is written before the checks pass."""
    preflight(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    # Handlers go in before the announcement: a supervisor may signal as soon as it reads it.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent = create_server(settings, insecure_dev=insecure_dev)
    port = agent.port
    host = settings.listen.rsplit(":", 1)[0]
    (settings.state_dir / "endpoint").write_text(f"{host}:{port}\n")
    metrics_file = settings.state_dir / "metrics-endpoint"  # never a stale one from a past run
    if settings.metrics is not None and agent.metrics_port is not None:
        metrics_host = settings.metrics.listen.rsplit(":", 1)[0]
        metrics_file.write_text(f"{metrics_host}:{agent.metrics_port}\n")
    else:
        metrics_file.unlink(missing_ok=True)
    print(
        f"fedscreen-agent {settings.name} ({settings.role}) listening on {host}:{port}", flush=True
    )
    wait_for(stop)
    agent.shutdown(settings.service.shutdown_grace_seconds)
    log.info("agent stopped")
    return 0

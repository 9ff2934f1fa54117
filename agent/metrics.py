"""Prometheus metrics for one agent: counts of jobs, rows and flags, job durations.

The counters are fed from the audit log (`AuditLog(..., observers=(metrics.observe,))`), so
they count exactly what the log records and no code path can bump one without auditing.
Each agent owns its registry: several agents in one process (the tests) never share counts.

Labels are `outcome` (a fixed set) and `model` (a signed manifest's name); nothing else, and
never a value from a request: an unknown outcome counts as "other", a model name that does
not look like one (or one past the first MAX_MODELS) as "other", a job refused before its
bundle was read as "unknown". The endpoint shows counts only — no identifier, token, job id,
caller or parameter — but it is plain HTTP: bind it to loopback or an operations network.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("fedscreen.agent.metrics")

# As written by agent.screening (and "replayed": a re-sent job id answered from its record).
JOB_OUTCOMES = ("ok", "refused", "cancelled", "aborted", "error", "replayed")
# As written by agent.reident.Resolver (status of the answer, or the refusal).
RESOLVE_OUTCOMES = ("resolved", "pending_approval", "denied", "refused", "error")
OTHER, UNKNOWN = "other", "unknown"
MAX_MODELS = 64
# A manifest name: letters first, no long digit run (nothing that could be an ID number).
_MODEL = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}")
_DIGIT_RUN = re.compile(r"\d{6}")
# Jobs run from under a second to the engine's query timeout (600 s by default).
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Counter(
            "fedscreen_agent_jobs",
            "Screen calls by how they ended, as audited",
            ("outcome", "model"),
            registry=r,
        )
        self.rows_scanned = Counter(
            "fedscreen_agent_rows_scanned",
            "Input rows read by jobs that finished (rows_in)",
            ("model",),
            registry=r,
        )
        self.flags_sent = Counter(
            "fedscreen_agent_flags_sent",
            "Flag rows sent to the coordinator, re-sends included (rows_out)",
            ("model",),
            registry=r,
        )
        self.duration = Histogram(
            "fedscreen_agent_job_duration_seconds",
            "Seconds from receipt to a guarded result, jobs that finished",
            ("model",),
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "fedscreen_agent_jobs_in_flight", "Jobs holding a slot now", registry=r
        )
        self.resolves = Counter(
            "fedscreen_agent_resolve_requests",
            "Re-identification requests by how they were answered",
            ("outcome",),
            registry=r,
        )
        for outcome in RESOLVE_OUTCOMES:  # present at 0, so rate() works from the first scrape
            self.resolves.labels(outcome)
        self._models: set[str] = set()
        self._lock = threading.Lock()
        self._http: tuple[WSGIServer, threading.Thread] | None = None

    def watch(self, running: Callable[[], list[str]]) -> None:
        """Report len(running()) as jobs in flight, read at each scrape (Gate.running)."""
        self.in_flight.set_function(lambda: len(running()))

    def observe(self, event: str, fields: Mapping[str, Any]) -> None:
        """An AuditLog observer: count one "screen" or "resolve" entry."""
        if event == "screen":
            self._screen(fields)
        elif event == "resolve":
            self.resolves.labels(_known(fields.get("outcome"), RESOLVE_OUTCOMES)).inc()

    def _screen(self, fields: Mapping[str, Any]) -> None:
        outcome = _known(fields.get("outcome"), JOB_OUTCOMES)
        model = self._model(fields.get("model"))
        self.jobs.labels(outcome, model).inc()
        # A replay scanned nothing and took no engine time, but it did send its flags again.
        if outcome == "ok":
            self.rows_scanned.labels(model).inc(_count(fields.get("rows_in")))
            seconds = fields.get("seconds")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                self.duration.labels(model).observe(max(float(seconds), 0.0))
        if outcome in ("ok", "replayed"):
            self.flags_sent.labels(model).inc(_count(fields.get("rows_out")))

    def _model(self, name: object) -> str:
        if name is None:
            return UNKNOWN  # refused before the bundle was verified (e.g. the agent was busy)
        if not isinstance(name, str) or not _MODEL.fullmatch(name) or _DIGIT_RUN.search(name):
            return OTHER
        with self._lock:
            if name not in self._models:
                if len(self._models) >= MAX_MODELS:
                    return OTHER
                self._models.add(name)
        return name

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP endpoint on host:port (0 picks one); the bound port."""
        server, thread = start_http_server(port, host, registry=self.registry)
        self._http = (server, thread)
        bound: int = server.server_address[1]
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        """Stop the endpoint and release its port (no-op when it was never started)."""
        if self._http is None:
            return
        server, thread = self._http
        self._http = None
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _known(value: object, allowed: tuple[str, ...]) -> str:
    return value if isinstance(value, str) and value in allowed else OTHER


def _count(value: object) -> int:
    """A non-negative row count from an audit field; anything else counts as 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0

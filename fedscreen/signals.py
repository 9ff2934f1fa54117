"""Waiting in the main thread so that SIGTERM/SIGINT handlers actually run.

A process-directed signal may be delivered to any thread (a gRPC poller, a DuckDB worker).
CPython's C handler then only marks the signal pending for the main thread, and a main thread
blocked in an untimed `Event.wait()` never wakes to run the Python handler — the process
ignores SIGTERM until something else wakes it. Waiting in short slices lets it notice.
"""

from __future__ import annotations

import threading
import time

POLL_SECONDS = 0.2


def wait_for(event: threading.Event, timeout: float | None = None) -> bool:
    """Like `event.wait(timeout)`, but wakes every POLL_SECONDS so pending handlers run."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
        if left <= 0:
            return event.is_set()
        if event.wait(left):
            return True

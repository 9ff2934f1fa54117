"""The latest clock skew observed against the coordinator, kept in STATE/clock.json.

The coordinator serves nothing an agent could ask the time of, so it stamps every Screen
request with its wall clock instead; the agent subtracts that from its own on receipt. The
difference includes the request's network latency, which is small against minutes of skew.
Only numbers and a time are stored: no caller, job or other identifier.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fedscreen.files import write_atomic

FILENAME = "clock.json"
LOG_WARNING_SECONDS = 30.0  # beyond this every request logs a WARNING; doctor fails beyond 5 s
log = logging.getLogger("fedscreen.agent")


@dataclass(frozen=True)
class Observation:
    skew_seconds: float  # the agent's clock minus the coordinator's: > 0 means the agent is ahead
    observed_at: datetime  # by the agent's clock


def record_skew(state_dir: Path, sent_at: float, received_at: float) -> Observation:
    """Replace the stored observation; concurrent jobs may record at once: the last one wins."""
    obs = Observation(round(received_at - sent_at, 3), datetime.fromtimestamp(received_at, UTC))
    doc = {"skew_seconds": obs.skew_seconds, "observed_at": obs.observed_at.isoformat()}
    write_atomic(state_dir / FILENAME, json.dumps(doc))
    return obs


def observe(state_dir: Path, sent_at: float | None, received_at: float) -> None:
    """Record one request's skew; never raises, so the clock can never fail a job."""
    if sent_at is None:  # a coordinator older than the stamp
        return
    try:
        obs = record_skew(state_dir, sent_at, received_at)
    except Exception as exc:
        log.error("cannot record clock skew: %s", type(exc).__name__)
        return
    if abs(obs.skew_seconds) > LOG_WARNING_SECONDS:
        log.warning(
            "clock skew against the coordinator: %+.3f s (this host minus the coordinator); "
            "keep NTP on both hosts",
            obs.skew_seconds,
        )


def read_skew(state_dir: Path) -> Observation | None:
    """The stored observation; None when there is none yet. ValueError when it is unreadable."""
    path = state_dir / FILENAME
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    try:
        doc = json.loads(text)
        observed = datetime.fromisoformat(doc["observed_at"])
        return Observation(float(doc["skew_seconds"]), observed)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not a clock observation") from None

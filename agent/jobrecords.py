"""Finished jobs kept by id, so a re-sent job is answered from the record, not run again.

Job ids are idempotency keys: a coordinator that lost the reply (the stream was cut, it was
restarted mid-job) sends the same job again. The agent keeps each successful job's guarded
result — tokens and buckets only, exactly what it already sent — in STATE/jobs/ for
`[limits] job_record_hours`, with a fingerprint of the request. The same id with the same
request is replayed; the same id with a different request is refused, never mixed up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from fedscreen.files import write_atomic
from fedscreen.jobs import Job, Summary

_META = b"fedscreen.job_record"


def fingerprint(bundle_digest: str, job: Job) -> str:
    """What makes two requests the same job: the signed model, campaign, params, candidates."""
    candidates = {
        column: hashlib.sha256("\n".join(sorted(tokens)).encode()).hexdigest()
        for column, tokens in job.candidates.items()
    }
    canonical = json.dumps(
        {
            "digest": bundle_digest,
            "campaign": job.campaign,
            "params": job.params,
            "requested_by": job.requested_by,
            "candidates": candidates,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """A finished, guarded result ready to stream, and what a record keeps of a job."""

    table: pa.Table
    summary: Summary
    params: dict[str, int | float]


@dataclass(frozen=True)
class Recorded:
    fingerprint: str
    recorded_at: datetime
    outcome: Outcome


class JobRecords:
    def __init__(self, directory: Path, keep_hours: float) -> None:
        self.directory = directory
        self.keep = timedelta(hours=keep_hours)

    def _file(self, job_id: str) -> Path:
        # Job ids come from the caller: never let one choose a path.
        return self.directory / f"{hashlib.sha256(job_id.encode()).hexdigest()[:40]}.arrow"

    def get(self, job_id: str, now: datetime) -> Recorded | None:
        file = self._file(job_id)
        try:
            with ipc.open_file(file) as reader:
                table = reader.read_all()
        except FileNotFoundError:
            return None
        meta = json.loads((table.schema.metadata or {})[_META])
        if meta["job_id"] != job_id:  # a hash prefix clash: treat as unknown, never replay it
            return None
        recorded_at = datetime.fromisoformat(meta["recorded_at"])
        if now - recorded_at > self.keep:
            file.unlink(missing_ok=True)
            return None
        outcome = Outcome(
            table.replace_schema_metadata(None), Summary(**meta["summary"]), meta["params"]
        )
        return Recorded(meta["fingerprint"], recorded_at, outcome)

    def put(self, fingerprint: str, outcome: Outcome, now: datetime) -> None:
        """Write atomically: a crash leaves the old state or the whole record, never half."""
        meta = {
            "job_id": outcome.summary.job_id,
            "fingerprint": fingerprint,
            "recorded_at": now.isoformat(),
            "summary": asdict(outcome.summary),
            "params": outcome.params,
        }
        stamped = outcome.table.replace_schema_metadata({_META: json.dumps(meta)})
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, stamped.schema) as writer:
            writer.write_table(stamped)
        write_atomic(self._file(outcome.summary.job_id), sink.getvalue().to_pybytes())

    def purge(self, now: datetime) -> int:
        """Delete records older than the retention; returns how many went."""
        gone = 0
        for file in self.directory.glob("*.arrow"):
            age = now - datetime.fromtimestamp(file.stat().st_mtime, UTC)
            if age > self.keep:
                file.unlink(missing_ok=True)
                gone += 1
        return gone

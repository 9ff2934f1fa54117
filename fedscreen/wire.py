"""All protobuf <-> domain conversion in one place (the wire stays at the edge).

Flag tables travel as Arrow IPC streams, sliced so that every message stays under the cap.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import pyarrow as pa

from fedscreen.jobs import DatasetShape, Description, Job, Summary
from fedscreen.v1 import agent_pb2 as pb

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: the contract's ceiling on one streamed message
_HEADROOM = 16 << 10  # protobuf framing and the other fields of the message


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ipc_to_table(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def table_to_ipc_batches(
    table: pa.Table, max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Yield (ipc_bytes, rows) slices each at most `max_bytes - headroom` long.

    Rows per slice start from the average row width and halve until the encoding fits, so a
    skewed table still never produces an oversized message.
    """
    limit = max_bytes - _HEADROOM
    total = table.num_rows
    if total == 0:
        return
    per_row = max(1, table.nbytes // total)
    step = max(1, limit // (per_row * 2))
    offset = 0
    while offset < total:
        rows = min(step, total - offset)
        while True:
            data = table_to_ipc(table.slice(offset, rows))
            if len(data) <= limit or rows == 1:
                break
            rows //= 2
        if len(data) > limit:
            raise ValueError("a single row does not fit in one message")
        yield data, rows
        offset += rows


def concat_ipc(chunks: Iterable[bytes], schema: pa.Schema | None = None) -> pa.Table:
    tables = [ipc_to_table(c) for c in chunks]
    if not tables:
        if schema is None:
            raise ValueError("no batches and no schema")
        return schema.empty_table()
    return pa.concat_tables(tables)


# --- protobuf <-> domain ---------------------------------------------------------------------
def screen_request(bundle: bytes, job: Job, *, now: float | None = None) -> pb.ScreenRequest:
    """The request for `job`, stamped with the sender's wall clock (`now`, Unix seconds; default
    the clock) so the agent can measure clock skew. The stamp is not part of the job."""
    envelope = job_to_pb(job)
    envelope.sent_at_unix_ms = round((time.time() if now is None else now) * 1000)
    return pb.ScreenRequest(
        bundle=bundle,
        job=envelope,
        candidates=[
            pb.CandidateSet(column=c, tokens=list(t)) for c, t in sorted(job.candidates.items())
        ],
    )


def sent_at(request: pb.ScreenRequest) -> float | None:
    """When the coordinator sent `request` by its own clock (Unix seconds); None when unstamped
    (a coordinator older than the field)."""
    ms = request.job.sent_at_unix_ms
    return ms / 1000 if ms else None


def job_from_request(request: pb.ScreenRequest) -> Job:
    job = job_from_pb(request.job)
    candidates = {c.column: tuple(c.tokens) for c in request.candidates}
    return Job(job.job_id, job.campaign, job.params, job.requested_by, candidates)


def job_to_pb(job: Job) -> pb.JobEnvelope:
    return pb.JobEnvelope(
        job_id=job.job_id,
        campaign=job.campaign,
        params=dict(job.params),
        requested_by=job.requested_by,
    )


def job_from_pb(msg: pb.JobEnvelope) -> Job:
    # sent_at_unix_ms stays out: a re-sent job must keep its identity (agent.jobrecords).
    return Job(
        job_id=msg.job_id,
        campaign=msg.campaign,
        params=dict(msg.params),
        requested_by=msg.requested_by,
    )


def summary_to_pb(summary: Summary) -> pb.ScreenSummary:
    return pb.ScreenSummary(
        job_id=summary.job_id,
        bundle_digest=summary.bundle_digest,
        role=summary.role,
        rows_in=summary.rows_in,
        rows_out=summary.rows_out,
        batches=summary.batches,
        invalid_ids=[pb.IdCount(kind=k, invalid=v) for k, v in sorted(summary.invalid_ids.items())],
        seconds=summary.seconds,
    )


def summary_from_pb(msg: pb.ScreenSummary) -> Summary:
    return Summary(
        job_id=msg.job_id,
        bundle_digest=msg.bundle_digest,
        role=msg.role,
        rows_in=msg.rows_in,
        rows_out=msg.rows_out,
        batches=msg.batches,
        invalid_ids={c.kind: c.invalid for c in msg.invalid_ids},
        seconds=msg.seconds,
    )


def description_to_pb(d: Description) -> pb.DescribeResponse:
    return pb.DescribeResponse(
        agency=d.agency,
        role=d.role,
        datasets=[
            pb.Dataset(
                name=ds.name,
                columns=[pb.Column(name=n, type=t) for n, t in ds.columns],
                approx_rows=ds.approx_rows,
            )
            for ds in d.datasets
        ],
        trusted_key_ids=list(d.trusted_key_ids),
        approved_digests=list(d.approved_digests),
        agent_version=d.agent_version,
        protocol_version=d.protocol_version,
    )


def description_from_pb(msg: pb.DescribeResponse) -> Description:
    return Description(
        agency=msg.agency,
        role=msg.role,
        datasets=tuple(
            DatasetShape(
                name=ds.name,
                columns=tuple((c.name, c.type) for c in ds.columns),
                approx_rows=ds.approx_rows,
            )
            for ds in msg.datasets
        ),
        trusted_key_ids=tuple(msg.trusted_key_ids),
        approved_digests=tuple(msg.approved_digests),
        agent_version=msg.agent_version,
        protocol_version=msg.protocol_version,
    )

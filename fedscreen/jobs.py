"""Domain objects both sides of the wire share: a job envelope and a screening summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Job:
    job_id: str
    campaign: str
    params: dict[str, str]
    requested_by: str
    # column -> tokens an earlier role of this job returned (declared in the manifest)
    candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Summary:
    job_id: str
    bundle_digest: str
    role: str
    rows_in: int
    rows_out: int
    batches: int = 0
    invalid_ids: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class DatasetShape:
    name: str
    columns: tuple[tuple[str, str], ...]
    approx_rows: int


@dataclass(frozen=True)
class Description:
    agency: str
    role: str
    datasets: tuple[DatasetShape, ...]
    trusted_key_ids: tuple[str, ...]
    approved_digests: tuple[str, ...]
    agent_version: str
    protocol_version: str


def round_2sig(n: int) -> int:
    """Row counts leave the agency rounded to two significant digits (shape, not size)."""
    if n < 100:
        return n
    digits = len(str(n)) - 2
    return int(round(n, -digits))

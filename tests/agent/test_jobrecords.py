"""Job ids as idempotency keys at the agent: a re-sent job is answered from its record."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from agent.audit import read_entries
from agent.jobrecords import JobRecords, Outcome, fingerprint
from fedscreen.errors import JobIdReused, NotApproved
from fedscreen.jobs import Job, Summary
from tests.agent.test_reident import Rig, make_rig

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def screens(rig: Rig, job_id: str) -> list[dict[str, object]]:
    entries = read_entries(rig.screener.settings.audit_path)
    return [e for e in entries if e["event"] == "screen" and e.get("job_id") == job_id]


def test_the_same_job_sent_again_is_replayed_from_its_record_not_run(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)  # has run job-1 once
    first = screens(rig, "job-1")
    (tmp_path / "labour_cases.parquet").unlink()  # a real run could not read its data now
    again = rig.screener.screen(rig.bundle, rig.job, "coordinator")
    assert again.summary.rows_out == first[0]["rows_out"] == again.table.num_rows > 0
    entries = screens(rig, "job-1")
    assert [e["outcome"] for e in entries] == ["ok", "replayed"]
    assert entries[1]["rows_out"] == entries[0]["rows_out"]
    assert entries[1]["recorded_at"]


def test_the_replayed_table_is_exactly_what_was_sent_first(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    fresh = Job("job-2", "c1", {}, "test")
    sent = rig.screener.screen(rig.bundle, fresh, "coordinator")
    replayed = rig.screener.screen(rig.bundle, fresh, "coordinator")
    assert replayed.table.equals(sent.table)
    assert replayed.summary == sent.summary


@pytest.mark.parametrize(
    "change",
    [
        {"campaign": "c2"},
        {"params": {"anything": "1"}},
        {"candidates": {"plaintiff_id": ("t" * 64,)}},
    ],
)
def test_a_known_job_id_with_a_different_request_is_refused(
    tmp_path: Path, change: dict[str, object]
) -> None:
    rig = make_rig(tmp_path)
    other = dataclasses.replace(rig.job, **change)  # type: ignore[arg-type]
    with pytest.raises(JobIdReused, match="job id job-1 was already used here"):
        rig.screener.screen(rig.bundle, other, "coordinator")
    assert [e["outcome"] for e in screens(rig, "job-1")] == ["ok", "refused"]


def test_a_replay_still_needs_the_agencys_approval(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    verified = rig.screener.verify(rig.bundle)
    rig.screener.approvals.revoke(verified.digest)
    with pytest.raises(NotApproved):
        rig.screener.screen(rig.bundle, rig.job, "coordinator")


def outcome(job_id: str, params: dict[str, int | float] | None = None) -> Outcome:
    table = pa.table({"person": ["a" * 32, "b" * 32]})
    summary = Summary(job_id, "d" * 64, "court", rows_in=10, rows_out=2)
    return Outcome(table, summary, params or {})


def test_records_round_trip_and_expire_after_the_retention(tmp_path: Path) -> None:
    records = JobRecords(tmp_path / "jobs", keep_hours=2)
    sent = outcome("j/../../x", {"days": 30})  # an id is never a path
    records.put("f" * 64, sent, NOW)
    assert [p.parent for p in (tmp_path / "jobs").iterdir()] == [tmp_path / "jobs"]
    got = records.get("j/../../x", NOW + timedelta(hours=1))
    assert got is not None
    assert (got.fingerprint, got.recorded_at) == ("f" * 64, NOW)
    assert (got.outcome.summary, got.outcome.params) == (sent.summary, {"days": 30})
    assert got.outcome.table.equals(sent.table)
    assert records.get("other", NOW) is None
    assert records.get("j/../../x", NOW + timedelta(hours=3)) is None  # expired, and deleted
    assert list((tmp_path / "jobs").iterdir()) == []


def test_purge_removes_only_records_past_the_retention(tmp_path: Path) -> None:
    records = JobRecords(tmp_path / "jobs", keep_hours=1)
    for job_id in ("old", "new"):
        records.put("f" * 64, outcome(job_id), NOW)
    old = records._file("old")
    hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(old, (hours_ago, hours_ago))
    assert records.purge(datetime.now(UTC)) == 1
    assert not old.exists() and records._file("new").exists()


def test_the_fingerprint_ignores_candidate_order_but_not_content() -> None:
    base = Job("j", "c", {"a": "1"}, "x", {"col": ("t1", "t2")})
    same = dataclasses.replace(base, candidates={"col": ("t2", "t1")})
    other = dataclasses.replace(base, candidates={"col": ("t1", "t3")})
    assert fingerprint("d", base) == fingerprint("d", same) != fingerprint("d", other)
    assert fingerprint("d", base) != fingerprint("e", base)

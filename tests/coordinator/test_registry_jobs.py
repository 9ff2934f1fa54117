"""The registry's record of jobs: resuming under the same id, whether a job's runner is still
alive, cancelling, finding a job by a prefix of its id, and what a partial job tells the
analyst to run next."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from coordinator.client import ScreenResult
from coordinator.registry import Registry, effective_status, job_field
from coordinator.run import JobReport, _verdict
from coordinator.state import AgentEntry
from fedscreen.errors import UsageError
from fedscreen.jobs import Summary
from fedscreen.manifest import load_manifest

MODELS = Path(__file__).resolve().parents[2] / "models"
NOW = datetime(2026, 3, 5, 2, 0, 0, tzinfo=UTC)
HOST = socket.gethostname()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def start(registry: Registry, job_id: str, digest: str = "d" * 64, owner: str = "") -> int:
    return registry.start_job(
        job_id, "m", "1.0", digest, "c", {"k": 1}, ("题", "title"),
        owner=owner, targets=["t-court"], request_params={"k": "1"},
    )  # fmt: skip


def test_a_known_job_id_is_resumed_as_the_next_attempt_not_doubled(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite")
    assert start(registry, "j1") == 1
    registry.finish_job("j1", "partial", "agents missing: t-court", missing=["t-court"])
    assert start(registry, "j1") == 2
    [job] = registry.jobs()
    assert (job["status"], job["attempts"], job["finished_at"], job["message"]) == (
        "running", 2, None, None,
    )  # fmt: skip
    assert job_field(job, "missing") == [] and job_field(job, "targets") == ["t-court"]
    with pytest.raises(UsageError, match="ran another bundle"):
        start(registry, "j1", digest="e" * 64)


def test_empty_json_columns_decode_to_their_empty_values(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite")
    registry.start_job("j1", "m", "1.0", "d", "c", {"k": 1}, ("题", "title"))
    job = registry.job("j1")
    assert job is not None
    assert job_field(job, "params") == {"k": 1} and job_field(job, "request_params") == {}
    assert (job_field(job, "agents"), job_field(job, "missing"), job_field(job, "targets")) == (
        {}, [], None,
    )  # fmt: skip
    registry.finish_job("j1", "cancelled", "by 张三")  # agents stored as JSON null
    job = registry.job("j1")
    assert job is not None and job_field(job, "agents") == {}


def test_a_job_whose_runner_is_gone_is_interrupted() -> None:
    beat = (NOW - timedelta(seconds=10)).isoformat()
    job: dict[str, object] = {"status": "running", "heartbeat_at": beat, "started_at": beat}
    assert effective_status({**job, "owner": f"{HOST}:{dead_pid()}"}, NOW) == "interrupted"
    assert effective_status({**job, "owner": "elsewhere:1"}, NOW) == "running"
    stale = (NOW - timedelta(minutes=5)).isoformat()
    assert effective_status({**job, "owner": "elsewhere:1", "heartbeat_at": stale}, NOW) == (
        "interrupted"
    )
    assert effective_status({**job, "status": "failed", "heartbeat_at": stale}, NOW) == "failed"


def test_cancel_asks_a_live_runner_and_closes_an_interrupted_job_at_once(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite")
    start(registry, "live", owner=f"{HOST}:{os.getpid()}")
    start(registry, "gone", owner=f"{HOST}:{dead_pid()}")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # the clock it is given
    assert registry.heartbeat("live") is False
    assert registry.request_cancel("live", "张三", at) == "cancelling"
    assert registry.heartbeat("live") is True  # the runner learns of it at its next beat
    assert registry.request_cancel("gone", "张三", at) == "cancelled"
    gone = registry.job("gone")
    assert gone is not None
    assert (gone["status"], gone["finished_at"], gone["cancel_requested"]) == (
        "cancelled", at.isoformat(), f"张三 at {at.isoformat()}",
    )  # fmt: skip
    with pytest.raises(UsageError, match=r"has already ended \(cancelled\)"):
        registry.request_cancel("gone", "张三", at)
    with pytest.raises(UsageError, match="unknown job 'nope'"):
        registry.request_cancel("nope", "张三", at)


def test_a_job_is_found_by_its_id_or_an_unambiguous_prefix_of_eight(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.sqlite")
    for job_id in ("nightly-20260305T0200Z", "nightly-20260306T0200Z", "nightly-2"):
        start(registry, job_id)
    assert registry.find_job("nightly-20260305")["job_id"] == "nightly-20260305T0200Z"
    assert registry.find_job("nightly-2")["job_id"] == "nightly-2"  # exact beats prefix
    with pytest.raises(UsageError, match=r"'nightly-202' is ambiguous \(2 jobs\)"):
        registry.find_job("nightly-202")
    with pytest.raises(UsageError, match="unknown job 'nightly'"):
        registry.find_job("nightly")  # shorter than 8: no prefix match


def test_a_registry_from_before_job_retries_gets_the_new_job_columns(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT"
            " NULL, digest TEXT NOT NULL, campaign TEXT NOT NULL, params TEXT NOT NULL,"
            " started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, message TEXT,"
            " agents TEXT, leads INTEGER, new_leads INTEGER)"
        )
        con.execute(
            "INSERT INTO jobs (job_id, model, version, digest, campaign, params, started_at,"
            " status) VALUES ('old', 'm', '1.0', 'd', 'c', '{}', '2025-01-01T00:00:00+00:00',"
            " 'succeeded')"
        )
    con.close()
    registry = Registry(path)
    old = registry.job("old")
    assert old is not None and (old["attempts"], old["missing"], old["owner"]) == (1, None, None)
    assert start(registry, "old", digest="d") == 2


def _report(job_id: str, answered: str, missing: str) -> JobReport:
    summary = Summary(job_id, "d", "hrss", rows_in=10, rows_out=0)
    report = JobReport(job_id, "wage_arrears_support", "1", "c")
    report.results = [ScreenResult(answered, "hrss", pa.table({}), summary)]
    report.missing = {missing: "no answer after 3 attempts"}
    return report


def test_a_partial_job_names_the_missing_agents_and_the_full_id_to_retry() -> None:
    manifest = load_manifest(MODELS / "wage_arrears_support")
    by_role = {
        "hrss": [AgentEntry("a-hrss", "h:1", "hrss")],
        "court": [AgentEntry("a-court", "h:2", "court")],
        "housing_construction": [AgentEntry("a-hc", "h:3", "housing_construction")],
    }
    # a schedule's job ids share their first characters: only the whole id names one job
    withheld = _verdict(manifest, by_role, _report("wages-20260305T0200Z", "a-hrss", "a-court"))
    assert withheld == (
        "partial",
        "agents missing: a-court (court); leads withheld: the model needs every court agent's"
        " answer (fedscreen jobs retry wages-20260305T0200Z)",
        False,
    )
    combined = _verdict(manifest, by_role, _report("j", "a-hrss", "a-hc"))
    assert combined == (
        "partial",
        "agents missing: a-hc (housing_construction); leads combined without them",
        True,
    )

"""The audit cross-check's rules, on a crafted registry and log: who must appear where."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from coordinator.cli_audit import cross_check, verify_copy
from coordinator.state import COORDINATOR_CN, State
from fedscreen.auditchain import GENESIS, line_hash
from fedscreen.bundle import canonical_json
from fedscreen.errors import AuditChainBroken

JOBS = """CREATE TABLE jobs (job_id TEXT PRIMARY KEY, model TEXT, version TEXT, digest TEXT,
campaign TEXT, params TEXT, started_at TEXT, finished_at TEXT, status TEXT, message TEXT,
agents TEXT, leads INTEGER, new_leads INTEGER)"""
RESOLUTIONS = """CREATE TABLE resolutions (request_id TEXT PRIMARY KEY, lead_id TEXT, agent TEXT,
column TEXT, case_ref TEXT, reason TEXT, analyst TEXT, requested_at TEXT, status TEXT,
answered_at TEXT, fields TEXT)"""


def registry(tmp_path: Path, jobs: list[tuple[str, str, Any, Any]], resolutions: bool) -> State:
    state = State(tmp_path)
    with sqlite3.connect(state.registry) as con:
        con.execute(JOBS)
        for job_id, status, message, agents in jobs:
            con.execute(
                "INSERT INTO jobs (job_id, model, version, started_at, status, message, agents)"
                " VALUES (?, 'm', '1', '2025-01-01', ?, ?, ?)",
                (job_id, status, message, json.dumps(agents)),
            )
        if resolutions:
            con.execute(RESOLUTIONS)
            con.executemany(
                "INSERT INTO resolutions (request_id, agent, requested_at, status)"
                " VALUES (?, ?, '2025-01-02', ?)",
                [
                    ("r-ok", "a1", "resolved"),
                    ("r-lost", "a1", "pending_approval"),
                    ("r-err", "a1", "error"),
                    ("r-other", "a2", "resolved"),
                ],
            )
    return state


def screen(seq: int, job_id: str, caller: str = COORDINATOR_CN) -> dict[str, Any]:
    return {"seq": seq, "event": "screen", "job_id": job_id, "caller": caller, "outcome": "ok"}


def resolve(seq: int, request_id: str, outcome: str, **more: Any) -> dict[str, Any]:
    """An agent's log entry of a resolve request by the coordinator, with any more fields."""
    return {
        "seq": seq,
        "event": "resolve",
        "request_id": request_id,
        "caller": COORDINATOR_CN,
        "outcome": outcome,
        **more,
    }


def test_succeeded_and_refused_jobs_must_be_on_the_agent_unreached_ones_need_not(
    tmp_path: Path,
) -> None:
    state = registry(
        tmp_path,
        [
            ("j-ok", "succeeded", "", {"a1": {}, "a2": {}}),
            ("j-elsewhere", "succeeded", "", {"a2": {}}),
            ("j-refused", "failed", "job j-refused failed at agent a1: PERMISSION_DENIED", None),
            ("j-down", "failed", "job j-down failed at agent a1: agent a1: UNAVAILABLE", None),
            ("j-lost", "succeeded", "", {"a1": {}}),
            ("j-running", "running", None, None),
        ],
        resolutions=False,
    )
    entries = [screen(1, "j-ok"), screen(2, "j-refused"), screen(3, "j-running")]
    check = cross_check(state, "a1", entries)
    assert check.jobs_here == 3 and check.jobs_there == 3
    assert [m.split(" (")[0] for m in check.missing_on_agent] == ["job j-lost"]
    assert check.missing_at_coordinator == []
    assert check.notes == ["job j-down never reached a1 (agent unavailable)"]
    assert not check.ok


def test_screens_by_the_coordinator_must_be_known_other_callers_are_only_counted(
    tmp_path: Path,
) -> None:
    state = registry(tmp_path, [("j-ok", "succeeded", "", {"a1": {}})], resolutions=False)
    entries = [screen(1, "j-ok"), screen(2, "j-rogue"), screen(3, "j-dev", caller="insecure-dev")]
    check = cross_check(state, "a1", entries)
    assert [m.split(" (")[0] for m in check.missing_at_coordinator] == ["job j-rogue"]
    assert "agent line 2" in check.missing_at_coordinator[0]
    assert check.notes == [f"1 screens by other callers than {COORDINATOR_CN} (not compared)"]


def test_resolve_requests_are_compared_when_the_table_exists(tmp_path: Path) -> None:
    state = registry(tmp_path, [], resolutions=True)
    entries = [
        resolve(1, "r-ok", "resolved"),
        resolve(2, "r-forged", "resolved"),
        resolve(3, "r-bad-token", "refused"),
        {**resolve(4, "r-dev", "resolved"), "caller": "insecure-dev"},
    ]
    check = cross_check(state, "a1", entries)
    assert (check.resolves_here, check.resolves_there) == (2, 3)
    assert [m.split(" (")[0] for m in check.missing_on_agent] == ["resolve request r-lost"]
    # a refused request is compared too: the coordinator has no record of r-bad-token
    assert [m.split(" (")[0] for m in check.missing_at_coordinator] == [
        "resolve request r-forged",
        "resolve request r-bad-token",
    ]


def test_a_missing_registry_is_read_as_empty_and_not_created(tmp_path: Path) -> None:
    check = cross_check(State(tmp_path), "a1", [screen(1, "j-x")])
    assert len(check.missing_at_coordinator) == 1
    assert not (tmp_path / "registry.sqlite").exists()


def write_copy(path: Path, n: int) -> list[bytes]:
    lines, prev = [], GENESIS
    for seq in range(1, n + 1):
        line = canonical_json({"seq": seq, "at": "t", "prev": prev, "event": "start"})
        lines.append(line)
        prev = line_hash(line)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    head = {"seq": n, "sha256": prev}
    path.with_name(path.name + ".head").write_bytes(canonical_json(head) + b"\n")
    return lines


def test_a_copy_cut_short_after_the_pull_is_caught_by_its_head(tmp_path: Path) -> None:
    copy = tmp_path / "a1.jsonl"
    lines = write_copy(copy, 5)
    assert [e["seq"] for e in verify_copy(copy)] == [1, 2, 3, 4, 5]
    copy.write_bytes(b"".join(line + b"\n" for line in lines[:3]))
    with pytest.raises(AuditChainBroken, match=r"line 4: missing; the last pull stored 5 lines"):
        verify_copy(copy)


def test_a_removed_line_in_the_copy_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "a1.jsonl"
    lines = write_copy(copy, 5)
    copy.write_bytes(b"".join(line + b"\n" for line in lines[:2] + lines[3:]))
    with pytest.raises(AuditChainBroken, match=r"line 3: seq 4 where 3 was expected"):
        verify_copy(copy)

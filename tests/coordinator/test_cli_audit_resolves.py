"""The audit cross-check of resolve requests, on registries written by Resolutions itself:
every answer the agent gave — refusals included — must be in its log, and every request in
its log must be one the coordinator recorded at that agent."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from coordinator.cli_audit import cross_check
from coordinator.resolutions import Resolution, Resolutions
from coordinator.state import State
from tests.coordinator.test_audit_crosscheck import resolve as resolve_entry

REFUSED = "agent a1 refused: NOT_FOUND: token was never issued here"
DOWN = "agent a1: Resolve: UNAVAILABLE: connection refused"


def record(state: State, request_id: str, *answers: tuple[str, str, str], lead: str = "L1") -> None:
    """Store a request and its answers (agent, status, message) as resolve_lead would."""
    r = Resolution(
        request_id, lead, "", "court.plaintiff_id", "案1", "核实", "carol",
        "2025-04-02T00:00:00Z", "error", None, [], "", b"req", b"sig",
    )  # fmt: skip
    table = Resolutions(state.registry)
    for n, (agent, status, message) in enumerate(answers):
        at = f"2025-04-02T00:00:0{n + 1}Z"
        r = dataclasses.replace(r, agent=agent, status=status, message=message, answered_at=at)
        table.save(r)


def resolve(seq: int, request_id: str, outcome: str) -> dict[str, Any]:
    return resolve_entry(seq, request_id, outcome, at="2025-04-02T00:00:01Z")


def names(found: list[str]) -> list[str]:
    return [m.split(" (")[0] for m in found]


def test_a_refused_request_is_compared_both_ways(tmp_path: Path) -> None:
    state = State(tmp_path)
    record(state, "r-refused", ("a1", "refused", REFUSED))
    check = cross_check(state, "a1", [resolve(1, "r-refused", "refused")])
    assert (check.resolves_here, check.resolves_there, check.ok) == (1, 1, True)

    # The agent's log lacks it (deleted there, or forged here): missing on the agent.
    check = cross_check(state, "a1", [])
    assert check.missing_on_agent == ["resolve request r-refused (refused, 2025-04-02T00:00:00Z)"]
    assert check.missing_at_coordinator == []


def test_a_refusal_the_coordinator_has_no_record_of_is_missing_there(tmp_path: Path) -> None:
    state = State(tmp_path)
    record(state, "r-kept", ("a1", "resolved", ""))
    entries = [resolve(1, "r-kept", "resolved"), resolve(2, "r-deleted", "refused")]
    check = cross_check(state, "a1", entries)
    assert check.missing_at_coordinator == [
        "resolve request r-deleted (agent line 2, 2025-04-02T00:00:01Z, outcome refused)"
    ]
    assert check.missing_on_agent == []


def test_no_answer_need_not_be_on_the_agent_but_is_known_if_it_is(tmp_path: Path) -> None:
    state = State(tmp_path)
    record(state, "r-down", ("a1", "error", DOWN))
    assert cross_check(state, "a1", []).ok
    # The call ran out of time after the agent had logged it: still the coordinator's request.
    check = cross_check(state, "a1", [resolve(1, "r-down", "refused")])
    assert (check.resolves_here, check.ok) == (0, True)


def test_each_agent_that_answered_must_have_logged_it(tmp_path: Path) -> None:
    state = State(tmp_path)
    # Two agents of the role: a1 never issued the token, a2 resolved it.
    record(state, "r-two", ("a1", "refused", REFUSED), ("a2", "resolved", ""))
    assert names(cross_check(state, "a1", []).missing_on_agent) == ["resolve request r-two"]
    assert names(cross_check(state, "a2", []).missing_on_agent) == ["resolve request r-two"]
    # A request logged by an agent the coordinator never recorded it at was not sent there.
    check = cross_check(state, "a3", [resolve(1, "r-two", "resolved")])
    assert names(check.missing_at_coordinator) == ["resolve request r-two"]


def test_a_pending_request_answered_later_counts_once_with_its_last_answer(
    tmp_path: Path,
) -> None:
    state = State(tmp_path)
    record(state, "r-p", ("a1", "pending_approval", "waiting"), ("a1", "resolved", ""))
    check = cross_check(state, "a1", [])
    assert check.resolves_here == 1
    assert check.missing_on_agent == ["resolve request r-p (resolved, 2025-04-02T00:00:00Z)"]


def test_a_legacy_registry_counts_its_stored_refusals(tmp_path: Path) -> None:
    """Before refusals had their own status they were stored as "error" with the client's
    message, and only the last answer was kept; the registry is read as it is."""
    state = State(tmp_path)
    with sqlite3.connect(state.registry) as con:
        con.execute(
            "CREATE TABLE resolutions (request_id TEXT PRIMARY KEY, lead_id TEXT, agent TEXT,"
            ' "column" TEXT, case_ref TEXT, reason TEXT, analyst TEXT, requested_at TEXT,'
            " status TEXT, answered_at TEXT, fields TEXT, message TEXT, request BLOB,"
            " signature BLOB)"
        )
        con.executemany(
            "INSERT INTO resolutions (request_id, lead_id, agent, requested_at, status, message)"
            " VALUES (?, 'L1', 'a1', '2025-04-02', 'error', ?)",
            [("r-refused", REFUSED), ("r-down", DOWN)],
        )
    con.close()
    before = state.registry.read_bytes()
    check = cross_check(state, "a1", [])
    assert names(check.missing_on_agent) == ["resolve request r-refused"]
    assert state.registry.read_bytes() == before


# --- registries written when a request's row kept only its last answer ---------------------
def legacy_row(state: State, request_id: str, agent: str, status: str) -> None:
    """A request as the code before resolution_answers stored it: one row naming the agent of
    its last answer (a1's refusal, replaced when a2 resolved it, names a2 only)."""
    with sqlite3.connect(state.registry) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS resolutions (request_id TEXT PRIMARY KEY, lead_id TEXT,"
            ' agent TEXT, "column" TEXT, case_ref TEXT, reason TEXT, analyst TEXT,'
            " requested_at TEXT, status TEXT, answered_at TEXT, fields TEXT, message TEXT,"
            " request BLOB, signature BLOB)"
        )
        con.execute(
            "INSERT INTO resolutions (request_id, lead_id, agent, requested_at, status, message)"
            " VALUES (?, 'L1', ?, '2025-04-02', ?, '')",
            (request_id, agent, status),
        )
    con.close()


MATCHED_BY_ID = (
    "1 resolve request in a1's log from before every answer was kept, recorded at another"
    " agent: matched by id only"
)


def test_a_legacy_request_another_agent_answered_is_known_at_any_agent(tmp_path: Path) -> None:
    state = State(tmp_path)
    legacy_row(state, "r-two", "a2", "resolved")
    for migrated in (False, True):  # read as it is, then after Resolutions copied the row
        if migrated:
            Resolutions(state.registry)
        check = cross_check(state, "a1", [resolve(1, "r-two", "refused")])
        assert (check.ok, check.missing_at_coordinator) == (True, [])
        assert check.notes == [MATCHED_BY_ID]
        # The agent the row names still must have logged it; an unknown request is missing.
        assert names(cross_check(state, "a2", []).missing_on_agent) == ["resolve request r-two"]
        check = cross_check(state, "a1", [resolve(1, "r-two", "refused"), resolve(2, "r-x", "ok")])
        assert names(check.missing_at_coordinator) == ["resolve request r-x"]


def test_a_legacy_request_answered_again_since_is_still_known_at_any_agent(
    tmp_path: Path,
) -> None:
    """Pending at a2 in the old registry (a1 had refused it), approved after the migration:
    a1's refusal was lost before the answers were kept, whatever came after."""
    state = State(tmp_path)
    legacy_row(state, "r-p", "a2", "pending_approval")
    record(state, "r-p", ("a2", "resolved", ""))  # migrates, then appends the approval
    check = cross_check(state, "a1", [resolve(1, "r-p", "refused")])
    assert (check.ok, check.notes) == (True, [MATCHED_BY_ID])


def test_requests_answered_since_answers_were_kept_are_matched_per_agent(
    tmp_path: Path,
) -> None:
    state = State(tmp_path)
    legacy_row(state, "r-old", "a2", "resolved")
    record(state, "r-new", ("a2", "resolved", ""))  # in a migrated registry, but not copied
    check = cross_check(state, "a1", [resolve(1, "r-old", "refused"), resolve(2, "r-new", "ok")])
    assert names(check.missing_at_coordinator) == ["resolve request r-new"]


def test_answers_kept_before_the_legacy_marker_existed_are_compared_per_agent(
    tmp_path: Path,
) -> None:
    """An answers table from before the marker: verify reads it as it is, changing nothing."""
    state = State(tmp_path)
    record(state, "r-two", ("a1", "refused", REFUSED), ("a2", "resolved", ""))
    with sqlite3.connect(state.registry) as con:
        con.executescript(
            "CREATE TABLE old AS SELECT seq, request_id, agent, answered_at, status, message,"
            " rows FROM resolution_answers; DROP TABLE resolution_answers;"
            " ALTER TABLE old RENAME TO resolution_answers;"
        )
    con.close()
    before = state.registry.read_bytes()
    assert cross_check(state, "a1", [resolve(1, "r-two", "refused")]).ok
    assert names(cross_check(state, "a3", [resolve(1, "r-two", "ok")]).missing_at_coordinator) == [
        "resolve request r-two"
    ]
    assert state.registry.read_bytes() == before
    Resolutions(state.registry)  # adds the marker; the answers kept stay unmarked
    assert names(cross_check(state, "a3", [resolve(1, "r-two", "ok")]).missing_at_coordinator) == [
        "resolve request r-two"
    ]

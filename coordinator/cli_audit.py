"""`fedscreen audit pull | verify`: keep a copy of each agent's audit log and check it.

The agent's log is hash-chained (fedscreen/auditchain.py). `pull` fetches the lines the
coordinator has not seen yet and appends them to STATE/audit/AGENT.jsonl, but only if they
continue the stored copy: the agent resends the last line we hold and it must be
byte-identical, so an agent that rewrote its history since the last pull is caught here,
off-box, even if it recomputed every hash. `verify` checks the copy's chain and then compares
it with the coordinator's own records: each job the registry dispatched to the agent must be
a "screen" entry there, each screen the agent ran for this coordinator must be a job the
registry knows; likewise resolve requests, refused ones included, answer by answer.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from coordinator.cli_common import state_of
from coordinator.registry import unusable_as_error
from coordinator.state import COORDINATOR_CN, State
from fedscreen.auditchain import check_chain, line_hash, parse_line, split_lines
from fedscreen.bundle import canonical_json
from fedscreen.errors import AuditChainBroken, UsageError
from fedscreen.files import write_atomic

# A job that failed because the agent could not be reached never made it into its log.
_NOT_REACHED = "UNAVAILABLE"
# A resolve answer recorded as "error" means no answer came (the agent was down, or the call
# ran out of time): the agent may never have seen the request. Every other answer, refusals
# included, came from the agent named with it, which logged the request first.
_RESOLVE_NOT_REQUIRED = frozenset({"error"})


def copy_path(state: State, agent: str) -> Path:
    return state.root / "audit" / f"{agent}.jsonl"


def _head_path(copy: Path) -> Path:
    return copy.with_name(copy.name + ".head")


@contextmanager
def _locked(copy: Path) -> Iterator[None]:
    """One pull per agent at a time: two would both append the same new lines."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    with copy.with_name(copy.name + ".lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Pulled:
    path: Path
    new: int
    last_seq: int


def pull(state: State, agent: str, timeout: float = 60.0) -> Pulled:
    """Append the agent's new audit lines to the stored copy; refuse a broken continuation."""
    from coordinator.client import AgentClient  # grpc stays out of `verify`

    entry = state.agent(agent)
    copy = copy_path(state, agent)
    with _locked(copy):
        stored = list(split_lines(copy.read_bytes(), str(copy))) if copy.exists() else []
        held = len(stored)
        with AgentClient(state, entry) as client:
            # Ask from the last line we hold: the agent must send it back unchanged.
            lines = client.audit(from_seq=max(held, 1), timeout=timeout)
        if held:
            _check_overlap(agent, stored[-1], lines)
            lines = lines[1:]
        _check_continuation(agent, held, stored[-1][1] if held else None, lines)
        if lines:
            with copy.open("ab") as fh:
                fh.write(b"".join(line + b"\n" for _, line in lines))
                fh.flush()
                os.fsync(fh.fileno())
            last_seq, last = lines[-1]
            _write_head(copy, last_seq, line_hash(last))
    return Pulled(copy, len(lines), held + len(lines))


def _check_overlap(agent: str, last: tuple[int, bytes], lines: list[tuple[int, bytes]]) -> None:
    seq, line = last
    if not lines or lines[0][0] != seq:
        raise AuditChainBroken(
            f"agent {agent}'s audit log no longer has line {seq}, which the stored copy holds"
            " (its log was cut or replaced since the last pull)"
        )
    if lines[0][1] != line:
        raise AuditChainBroken(
            f"line {seq}: the agent's line differs from the stored copy"
            f" (agent {agent}'s log was rewritten since the last pull, or the copy was edited)"
        )


def _check_continuation(
    agent: str, held: int, last: bytes | None, lines: list[tuple[int, bytes]]
) -> None:
    for offset, (seq, line) in enumerate(lines, start=held + 1):
        if seq != offset:
            raise AuditChainBroken(
                f"agent {agent} sent audit line {seq} where {offset} was expected; nothing stored"
            )
        if b"\n" in line:
            raise AuditChainBroken(f"line {seq}: contains a newline; nothing stored")
    if lines and last is not None:
        first = parse_line(lines[0][1], lines[0][0], f"agent {agent}'s reply")
        if first["prev"] != line_hash(last):
            raise AuditChainBroken(
                f"line {held + 1}: prev does not match the stored copy's line {held}"
                f" (agent {agent}'s log was rewritten since the last pull); nothing stored"
            )


def _write_head(copy: Path, seq: int, digest: str) -> None:
    write_atomic(_head_path(copy), canonical_json({"seq": seq, "sha256": digest}) + b"\n")


def verify_copy(copy: Path) -> list[dict[str, Any]]:
    """The stored copy's entries, or AuditChainBroken naming the first line that fails."""
    data = copy.read_bytes()
    hashes = check_chain(split_lines(data, str(copy)), str(copy))
    count = len(hashes) - 1
    head = _head_path(copy)
    if head.exists():
        try:
            doc = json.loads(head.read_text(encoding="utf-8"))
            seq, digest = int(doc["seq"]), str(doc["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            raise AuditChainBroken(f"head file {head} is unreadable or garbled") from None
        if seq > count:
            raise AuditChainBroken(
                f"line {count + 1}: missing; the last pull stored {seq} lines but {copy}"
                f" ends after {count} (lines were cut from the copy)"
            )
        if seq > 0 and hashes[seq] != digest:
            raise AuditChainBroken(f"line {seq}: does not match the hash recorded at the pull")
    return [parse_line(line, n, str(copy)) for n, line in split_lines(data, str(copy))]


@dataclass
class CrossCheck:
    """What the coordinator's records and the agent's log say about each other."""

    jobs_here: int = 0
    jobs_there: int = 0
    resolves_here: int = 0
    resolves_there: int = 0
    missing_on_agent: list[str] = field(default_factory=list)
    missing_at_coordinator: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_on_agent or self.missing_at_coordinator)


def _rows(registry: Path, sql: str) -> list[sqlite3.Row]:
    """Read-only: verifying must never create or change the registry."""
    if not registry.exists():
        return []
    with unusable_as_error(registry):
        con = sqlite3.connect(f"file:{registry}?mode=ro", uri=True, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            con.close()


def _dispatched_to(job: sqlite3.Row, agent: str) -> bool | None:
    """True if the registry says the job ran at `agent`, None if it only failed to reach it."""
    try:
        agents = json.loads(job["agents"] or "null")
    except ValueError:
        agents = None
    if isinstance(agents, dict) and agent in agents:
        return True
    message = job["message"] or ""
    if job["status"] == "failed" and f"at agent {agent}:" in message:
        return None if _NOT_REACHED in message else True
    return False


def cross_check(state: State, agent: str, entries: list[dict[str, Any]]) -> CrossCheck:
    out = CrossCheck()
    screens = {
        str(e.get("job_id")): e
        for e in entries
        if e.get("event") == "screen" and e.get("caller") == COORDINATOR_CN
    }
    others = sum(1 for e in entries if e.get("event") == "screen") - len(screens)
    if others:
        out.notes.append(f"{others} screens by other callers than {COORDINATOR_CN} (not compared)")
    jobs = _rows(state.registry, "SELECT * FROM jobs ORDER BY started_at")
    known = {str(j["job_id"]) for j in jobs}
    for job in jobs:
        sent = _dispatched_to(job, agent)
        if sent is None:
            out.notes.append(f"job {job['job_id']} never reached {agent} (agent unavailable)")
        elif sent:
            out.jobs_here += 1
            if job["job_id"] not in screens:
                out.missing_on_agent.append(
                    f"job {job['job_id']} ({job['model']} {job['version']}, {job['status']},"
                    f" started {job['started_at']})"
                )
    out.jobs_there = len(screens)
    for job_id, e in screens.items():
        if job_id not in known:
            out.missing_at_coordinator.append(
                f"job {job_id} (agent line {e['seq']}, {e.get('at', '')},"
                f" outcome {e.get('outcome', '?')})"
            )
    _cross_check_resolves(state, agent, entries, out)
    return out


def _cross_check_resolves(
    state: State, agent: str, entries: list[dict[str, Any]], out: CrossCheck
) -> None:
    asked = {
        str(e["request_id"]): e
        for e in entries
        if e.get("event") == "resolve" and e.get("request_id") and e.get("caller") == COORDINATOR_CN
    }
    answers = _resolve_answers(state.registry, out)
    mine = [a for a in answers if a["agent"] == agent]
    required = {a["request_id"]: a for a in mine if _agent_answered(a, agent)}  # the last
    out.resolves_here = len(required)
    out.resolves_there = len(asked)
    for request_id, a in required.items():
        if request_id not in asked:
            out.missing_on_agent.append(
                f"resolve request {request_id} ({a['status']}, {a['requested_at']})"
            )
    # Refusals too: the coordinator records them with the agent that refused.
    known = {a["request_id"] for a in mine}
    # Before every answer was kept, a request's row showed only its last answer: an agent of
    # the role that refused it first (the token was not issued there) is named nowhere. Such a
    # request is matched by its id at any agent, as it was then.
    collapsed = {a["request_id"] for a in answers if a["legacy"]}
    matched_by_id = 0
    for request_id, e in asked.items():
        if request_id in known:
            continue
        if request_id in collapsed:
            matched_by_id += 1
            continue
        out.missing_at_coordinator.append(
            f"resolve request {request_id} (agent line {e['seq']}, {e.get('at', '')},"
            f" outcome {e.get('outcome', '?')})"
        )
    if matched_by_id:
        out.notes.append(
            f"{matched_by_id} resolve request{'' if matched_by_id == 1 else 's'} in {agent}'s log"
            " from before every answer was kept, recorded at another agent: matched by id only"
        )


def _resolve_answers(registry: Path, out: CrossCheck) -> list[dict[str, Any]]:
    """Every answer the coordinator recorded (request id, agent, status, message, requested
    at, and whether it is `legacy`: the one answer a registry written before every answer was
    kept still had, the request row's last), oldest first. A request with no row in
    resolution_answers (such a registry, not migrated yet) counts its row's answer, legacy."""
    rows = [dict(r) for r in _rows(registry, "SELECT * FROM resolutions")]
    if rows and not {"request_id", "agent", "status"} <= set(rows[0]):
        out.notes.append("the registry's resolutions table has an unknown shape (not compared)")
        return []
    kept = [
        dict(a)
        for a in _rows(
            registry,
            # a.*: an answers table from before the legacy marker has no such column.
            "SELECT a.*, r.requested_at FROM resolution_answers AS a"
            " LEFT JOIN resolutions AS r USING (request_id) ORDER BY a.seq",
        )
    ]
    seen = {a["request_id"] for a in kept}
    kept += [{**r, "legacy": 1} for r in rows if r["request_id"] not in seen]
    return [
        {
            "request_id": str(a["request_id"]),
            "agent": str(a["agent"]),
            "status": str(a["status"]),
            "message": str(a.get("message") or ""),
            "requested_at": str(a.get("requested_at") or "?"),
            "legacy": bool(a.get("legacy")),
        }
        for a in kept
    ]


def _agent_answered(answer: dict[str, Any], agent: str) -> bool:
    if answer["status"] not in _RESOLVE_NOT_REQUIRED:
        return True
    # Before refusals had their own status they were stored as "error" with the client's
    # message, which says the agent refused.
    return answer["message"].startswith(f"agent {agent} refused: ")


@click.group()
def audit() -> None:
    """Agents' audit logs: pull a copy, check its chain against the coordinator's records."""


@audit.command("pull")
@click.argument("agent")
@click.option("--timeout", default=60.0, show_default=True, help="seconds for the whole pull")
@click.pass_context
def audit_pull(ctx: click.Context, agent: str, timeout: float) -> None:
    """Fetch AGENT's new audit lines into STATE/audit/AGENT.jsonl."""
    pulled = pull(state_of(ctx), agent, timeout)
    click.echo(
        f"pulled {pulled.new} new lines from {agent} ({pulled.last_seq} in all) into"
        f" {pulled.path}; check them with: fedscreen audit verify {agent}"
    )


@audit.command("verify")
@click.argument("agent")
@click.pass_context
def audit_verify(ctx: click.Context, agent: str) -> None:
    """Check the pulled copy's chain, then compare it with the registry's jobs and resolves."""
    state = state_of(ctx)
    copy = copy_path(state, agent)
    if not copy.exists():
        raise UsageError(f"no copy of {agent}'s audit log (run: fedscreen audit pull {agent})")
    entries = verify_copy(copy)
    last = entries[-1]["seq"] if entries else 0
    click.echo(f"{agent}: chain intact, {len(entries)} entries (last seq {last}) in {copy}")
    check = cross_check(state, agent, entries)
    click.echo(
        f"jobs: {check.jobs_here} dispatched to {agent} per the registry,"
        f" {check.jobs_there} screened by {agent} for {COORDINATOR_CN}"
    )
    click.echo(
        f"resolve requests: {check.resolves_here} per the registry, {check.resolves_there}"
        f" in {agent}'s log"
    )
    for note in check.notes:
        click.echo(f"note: {note}")
    for item in check.missing_on_agent:
        click.echo(f"missing on the agent: {item}")
    for item in check.missing_at_coordinator:
        click.echo(f"missing at the coordinator: {item}")
    if not check.ok:
        raise AuditChainBroken(
            f"{agent}'s audit log and the coordinator's records disagree:"
            f" {len(check.missing_on_agent)} missing on the agent,"
            f" {len(check.missing_at_coordinator)} missing at the coordinator"
        )
    click.echo(f"{agent}: every job and resolve request is on both sides")

"""Re-identification on request (必要关联查询), coordinator side: analyst keys, the signed
request for one lead, and the `resolutions` table — the only place an identity is stored.

An analyst names a lead, a case reference and a reason; the request is signed with the
analyst's own Ed25519 key (STATE/analysts/NAME.key) and sent to the agent of the role that
flagged the lead's token in the job that found it, chosen by the manifest's
`[roles.<role>.disclose]` (its `lead_key` and `when`) in the signed bundle that job ran.
Every request that reached an agent is recorded here whatever the answer, and every answer is
kept in `resolution_answers` (append-only), so the agency's audit log and these tables can be
matched entry for entry; only a resolved answer carries fields, stored with the request.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.client import AgentClient
from coordinator.registry import unusable_as_error
from coordinator.run import job_bundle_file
from coordinator.state import AgentEntry, State
from fedscreen import keys
from fedscreen.bundle import bundle_digest, bundle_filename, verify_bundle
from fedscreen.errors import (
    BundleError,
    ConfigError,
    FedscreenError,
    ResolveError,
    ResolveRefused,
    TokenNotIssued,
    UsageError,
)
from fedscreen.manifest import Disclosure, Manifest
from fedscreen.resolve import DEFAULT_TTL, build_request, sign_request, utc_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS resolutions (
    request_id TEXT PRIMARY KEY, lead_id TEXT NOT NULL, agent TEXT NOT NULL,
    "column" TEXT NOT NULL, case_ref TEXT NOT NULL, reason TEXT NOT NULL, analyst TEXT NOT NULL,
    requested_at TEXT NOT NULL, status TEXT NOT NULL, answered_at TEXT, fields TEXT,
    message TEXT, request BLOB, signature BLOB
);
CREATE INDEX IF NOT EXISTS resolutions_lead ON resolutions (lead_id);
CREATE TABLE IF NOT EXISTS resolution_answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, agent TEXT NOT NULL,
    answered_at TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL, rows INTEGER NOT NULL,
    legacy INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS resolution_answers_request ON resolution_answers (request_id);
CREATE TRIGGER IF NOT EXISTS resolution_answers_kept BEFORE UPDATE ON resolution_answers
BEGIN SELECT RAISE(ABORT, 'resolution answers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS resolution_answers_not_deleted BEFORE DELETE ON resolution_answers
BEGIN SELECT RAISE(ABORT, 'resolution answers are append-only'); END;
"""
# MISSION: analysts "request identities only for leads under verification" (核实中).
RESOLVABLE_STATES = ("verifying",)
_ANALYST = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")


# --- analyst keys --------------------------------------------------------------------------
def analysts_dir(state: State) -> Path:
    return state.root / "analysts"


def add_analyst(state: State, name: str) -> tuple[Path, str]:
    """Create STATE/analysts/NAME.key and .pub; returns the public key's path and key id."""
    if not _ANALYST.match(name):
        raise UsageError(f"analyst name {name!r} must be lower-case letters, digits and '-'")
    key = keys.generate_signing_key()
    folder = analysts_dir(state)
    keys.save_private(key, folder / f"{name}.key")  # refuses to overwrite
    keys.save_public(key.public_key(), folder / f"{name}.pub")
    return folder / f"{name}.pub", keys.key_id(key.public_key())


def list_analysts(state: State) -> list[tuple[str, str, Path]]:
    """(name, key id, public key path) of every analyst key in the state dir."""
    folder = analysts_dir(state)
    pubs = sorted(folder.glob("*.pub")) if folder.is_dir() else []
    return [(p.stem, keys.key_id(keys.load_public(p)), p) for p in pubs]


def analyst_key(state: State, name: str | None) -> tuple[str, Ed25519PrivateKey]:
    """The named analyst's private key, or the only one there is."""
    known = [n for n, _, _ in list_analysts(state)]
    if name is None:
        if len(known) != 1:
            listed = ", ".join(known) or "none (fedscreen analysts add NAME)"
            raise UsageError(f"say which analyst signs with --as (analysts: {listed})")
        name = known[0]
    if name not in known:
        raise UsageError(f"unknown analyst {name!r} (analysts: {', '.join(known) or 'none'})")
    return name, keys.load_private(analysts_dir(state) / f"{name}.key")


# --- the resolutions table -------------------------------------------------------------------
@dataclass(frozen=True)
class Answered:
    """One answer to a request, as it came (the identities stay with the request's row)."""

    agent: str
    answered_at: str
    status: str
    message: str
    rows: int


@dataclass(frozen=True)
class Resolution:
    request_id: str
    lead_id: str
    agent: str
    column: str  # role.column
    case_ref: str
    reason: str
    analyst: str
    requested_at: str
    status: str  # resolved | pending_approval | denied | refused | error
    answered_at: str | None
    fields: list[dict[str, str]]
    message: str
    request: bytes
    signature: bytes
    history: tuple[Answered, ...] = ()  # every answer, oldest first; the row shows the last


class Resolutions:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._conn() as con:
            con.executescript(SCHEMA)
            _add_legacy_column(con)
            # Registries written before every answer was kept: each request's one answer,
            # marked as copied — the row kept only the last, so answers by other agents of the
            # role (a refusal before another agency resolved it) are lost.
            con.execute(
                "INSERT INTO resolution_answers (request_id, agent, answered_at, status, message,"
                " rows, legacy) SELECT request_id, agent, COALESCE(answered_at, requested_at),"
                " status, COALESCE(message, ''), json_array_length(COALESCE(fields, '[]')), 1"
                " FROM resolutions WHERE request_id NOT IN"
                " (SELECT request_id FROM resolution_answers) ORDER BY requested_at"
            )

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        with unusable_as_error(self.path):
            con = sqlite3.connect(self.path, timeout=30)
            try:
                with con:
                    yield con
            finally:
                con.close()

    def save(self, r: Resolution) -> None:
        """Append r's answer to the request's history and show it on the request's row —
        unless no answer came ("error") after one did: the agency still holds the request as
        it last said (a pending request stays pending and can be fetched again)."""
        with self._conn() as con:
            con.execute(
                "INSERT INTO resolutions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (request_id) DO UPDATE SET agent = excluded.agent,"
                " status = excluded.status, answered_at = excluded.answered_at,"
                " fields = excluded.fields, message = excluded.message"
                " WHERE excluded.status != 'error' OR resolutions.status = 'error'",
                (
                    r.request_id, r.lead_id, r.agent, r.column, r.case_ref, r.reason, r.analyst,
                    r.requested_at, r.status, r.answered_at,
                    json.dumps(r.fields, ensure_ascii=False), r.message, r.request, r.signature,
                ),
            )  # fmt: skip
            con.execute(
                "INSERT INTO resolution_answers (request_id, agent, answered_at, status, message,"
                " rows) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    r.request_id, r.agent, r.answered_at or r.requested_at, r.status, r.message,
                    len(r.fields),
                ),
            )  # fmt: skip

    def for_lead(self, lead_id: str) -> list[Resolution]:
        with self._conn() as con:
            return _read(con, "WHERE lead_id = ?", (lead_id,))

    def all(self) -> list[Resolution]:
        with self._conn() as con:
            return _read(con, "", ())


def _read(con: sqlite3.Connection, where: str, args: tuple[str, ...]) -> list[Resolution]:
    """Requests with their answers; a registry without the answers table (written before
    every answer was kept, read without migrating it) shows each row's answer as its history."""
    rows = con.execute(
        f"SELECT * FROM resolutions {where} ORDER BY requested_at, request_id", args
    ).fetchall()
    history: dict[str, list[Answered]] = {}
    if _has_table(con, "resolution_answers"):
        found = con.execute(
            "SELECT request_id, agent, answered_at, status, message, rows FROM resolution_answers"
            f" WHERE request_id IN (SELECT request_id FROM resolutions {where}) ORDER BY seq",
            args,
        ).fetchall()
        for a in found:
            history.setdefault(a[0], []).append(Answered(*a[1:]))
    return [_row(r, history.get(r[0])) for r in rows]


def _add_legacy_column(con: sqlite3.Connection) -> None:
    """The copied-answer marker, on an answers table created before it existed (a schema
    change, not a changed answer: the rows stay as they were, unmarked)."""
    columns = {c[1] for c in con.execute("PRAGMA table_info(resolution_answers)")}
    if "legacy" in columns:
        return
    try:
        con.execute("ALTER TABLE resolution_answers ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0")
    except sqlite3.OperationalError as exc:  # another process added it meanwhile
        if "duplicate column" not in str(exc):
            raise


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    found = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def _row(r: tuple[Any, ...], history: list[Answered] | None) -> Resolution:
    names = [f.name for f in dataclasses.fields(Resolution)][: len(r)]
    values = dict(zip(names, r, strict=True))
    values.update(fields=json.loads(r[10] or "[]"), message=r[11] or "")
    if history is None:  # one answer, the row's own
        answered = values["answered_at"] or values["requested_at"]
        history = [
            Answered(values["agent"], answered, values["status"], values["message"],
                     len(values["fields"]))
        ]  # fmt: skip
    return Resolution(**values, history=tuple(history))


def resolutions_of(path: Path, lead_id: str) -> list[Resolution]:
    """A lead's requests, read without creating or migrating anything: a registry that never
    resolved anything has no resolutions table, and showing a lead must not change the file."""
    if not path.exists():
        return []
    with unusable_as_error(path):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            if not _has_table(con, "resolutions"):
                return []
            return _read(con, "WHERE lead_id = ?", (lead_id,))
        finally:
            con.close()


def shown(r: Resolution) -> dict[str, object]:
    """A request as text: the signed bytes stay in the table."""
    return {k: v for k, v in dataclasses.asdict(r).items() if not isinstance(v, bytes)}


def format_resolutions(found: list[Resolution]) -> list[str]:
    """Lines for `leads show`: each request, its outcome and, when resolved, the fields; and
    when it was answered more than once (pending, then approved), every answer in turn."""
    lines = []
    for r in found:
        lines.append(
            f"{r.requested_at}  {r.status:16} {r.column} at {r.agent}  by {r.analyst}  "
            f"case {r.case_ref}  (request {r.request_id})"
        )
        if r.message:
            lines.append(f"    {r.message}")
        lines += ["    " + ", ".join(f"{k}={v}" for k, v in row.items()) for row in r.fields]
        if len(r.history) > 1:
            for a in r.history:
                rows = (
                    f"  {a.rows} row{'' if a.rows == 1 else 's'}" if a.status == "resolved" else ""
                )
                said = f"  {a.message}" if a.message else ""
                lines.append(f"    answer {a.answered_at}  {a.status:16} at {a.agent}{rows}{said}")
    return lines


# --- one lead's request ----------------------------------------------------------------------
@dataclass(frozen=True)
class LeadContext:
    lead_id: str
    model: str
    version: str
    campaign: str
    key: dict[str, str]
    flags: dict[str, object]
    state: str
    job_id: str
    job_agents: dict[str, dict[str, object]]
    job_digest: str  # of the signed bundle the job ran
    job_started: str


@dataclass(frozen=True)
class Target:
    role: str
    column: str
    token: str

    @property
    def label(self) -> str:
        return f"{self.role}.{self.column}"


def load_lead(registry: Path, lead_id: str) -> LeadContext:
    with unusable_as_error(registry):
        return _load_lead(registry, lead_id)


def _load_lead(registry: Path, lead_id: str) -> LeadContext:
    con = sqlite3.connect(registry, timeout=30)
    try:
        lead = con.execute(
            "SELECT lead_id, model, campaign, key, flags, state, last_job FROM leads"
            " WHERE lead_id = ?",
            (lead_id,),
        ).fetchone()
        if lead is None:
            raise UsageError(f"unknown lead {lead_id!r} (see: fedscreen leads list)")
        job = con.execute(
            "SELECT version, agents, digest, started_at FROM jobs WHERE job_id = ?", (lead[6],)
        ).fetchone()
    except sqlite3.OperationalError:  # no registry tables yet: nothing has run
        raise UsageError(f"unknown lead {lead_id!r} (no jobs have run)") from None
    finally:
        con.close()
    if job is None:
        raise UsageError(f"lead {lead_id}: its job {lead[6]} is not in the registry")
    return LeadContext(
        lead[0], lead[1], job[0], lead[2], json.loads(lead[3]), json.loads(lead[4]), lead[5],
        lead[6], json.loads(job[1] or "null") or {}, job[2], job[3],
    )  # fmt: skip


def job_manifest(state: State, lead: LeadContext) -> Manifest:
    """The manifest of the signed bundle the lead's job ran: it says what may be disclosed."""
    return ran_manifest(
        state, lead.job_id, lead.model, lead.version, lead.job_digest, lead.job_started,
        during=f"lead {lead.lead_id}",
    )  # fmt: skip


def ran_manifest(
    state: State,
    job_id: str,
    model: str,
    version: str,
    digest: str,
    started: str,
    *,
    during: str,
) -> Manifest:
    """The manifest of the signed bundle job `job_id` ran (the job row's model, version,
    digest and started_at); `during` names what needs it in the error when it is not kept.

    Read from the state dir — the job's own copy, else the signed bundle of that model version
    if it is the same signing — and verified with the coordinator's key as of the job's start
    (it may have expired since), never from a models/ folder where the command happens to run,
    which may hold another version or none."""
    kept = [job_bundle_file(state, job_id), state.bundles / bundle_filename(model, version)]
    trusted = keys.load_trusted([state.signing_pub])
    at = datetime.fromisoformat(started)
    others = []
    for path in kept:
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            if bundle_digest(data) != digest:
                others.append(str(path))
                continue
            return verify_bundle(data, trusted, now=at).manifest
        except BundleError as exc:  # the same class (exit code), naming the file
            raise type(exc)(f"{path}: {exc.message}") from None
    other = f"; {' and '.join(others)} is another signing" if others else ""
    raise ConfigError(
        f"{during}: the signed bundle job {job_id} ran is not in the state dir"
        f" (looked for {kept[0]} and {kept[1]}{other}); put the bundle with digest"
        f" {digest[:16]}… at {kept[0]}"
    )


def choose_target(manifest: Manifest, lead: LeadContext, column: str | None) -> Target:
    """The disclosure to use: --column (ROLE.COLUMN or COLUMN), else the first whose lead key
    the lead has and whose `when` matches its flags (the agency that flagged it)."""
    options: list[tuple[str, Disclosure]] = [
        (role.name, d) for role in manifest.roles for d in role.disclose if d.lead_key in lead.key
    ]
    names = ", ".join(f"{r}.{d.column}" for r, d in options) or "none"
    if column:
        role, _, col = column.rpartition(".")
        picked = [(r, d) for r, d in options if d.column == col and role in ("", r)]
        if len(picked) != 1:
            what = "is ambiguous" if picked else "is not disclosable for this lead"
            raise UsageError(f"--column {column} {what} (disclosable: {names})")
    else:
        picked = [(r, d) for r, d in options if d.applies(lead.flags)]
        if not picked:
            raise UsageError(
                f"model {manifest.name} declares nothing disclosable for lead {lead.lead_id} "
                f"(disclosable: {names})"
            )
    role, d = picked[0]
    return Target(role, d.column, str(lead.key[d.lead_key]))


def _agents_for(state: State, lead: LeadContext, role: str) -> list[AgentEntry]:
    names = [n for n, info in sorted(lead.job_agents.items()) if info.get("role") == role]
    registered = {a.name: a for a in state.agents()}
    found = [registered[n] for n in names if n in registered]
    if not found:
        raise UsageError(
            f"no registered agent of role {role} ran job {lead.job_id} (ran: "
            f"{', '.join(names) or 'none'})"
        )
    return found


def resolve_lead(
    state: State,
    lead_id: str,
    case_ref: str | None,
    reason: str | None,
    analyst: str | None = None,
    column: str | None = None,
    *,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    timeout: float = 60.0,
    target: Target | None = None,
) -> tuple[Resolution, str]:
    """Ask, or re-ask a pending request; returns the stored outcome and how it was obtained:
    "sent" (a new request), "fetched" (a pending one re-sent) or "stored" (already resolved,
    nothing sent). A refusal is stored (status "refused", or "error" when the agent could not
    be reached) and re-raised; input refused before anything is sent stores nothing."""
    lead = load_lead(state.registry, lead_id)
    table = Resolutions(state.registry)
    earlier = [r for r in table.for_lead(lead_id) if column in (None, r.column, _col(r.column))]
    pending = [r for r in earlier if r.status == "pending_approval"]
    if pending:
        return _send(state, lead, table, pending[-1], timeout), "fetched"
    if lead.state not in RESOLVABLE_STATES:
        raise UsageError(
            f"lead {lead_id} is {lead.state}; identities are requested only for leads under "
            f"verification (start with: fedscreen leads verify {lead_id})"
        )
    if not case_ref or not reason:
        raise UsageError("--case-ref and --reason are required for a new request")
    target = target or choose_target(job_manifest(state, lead), lead, column)
    done = [r for r in earlier if r.status == "resolved" and r.column == target.label]
    if done:
        return done[-1], "stored"
    name, key = analyst_key(state, analyst)
    request = build_request(
        lead_id=lead.lead_id, model=lead.model, campaign=lead.campaign, job_id=lead.job_id,
        role=target.role, column=target.column, token=target.token, case_ref=case_ref,
        reason=reason, analyst=name, key=key, now=now, ttl=ttl,
    )  # fmt: skip
    data, signature = sign_request(request, key)
    record = Resolution(
        request.request_id, lead.lead_id, "", target.label, request.case_ref, request.reason,
        name, utc_text(datetime.now(UTC)), "error", None, [], "", data, signature,
    )  # fmt: skip
    return _send(state, lead, table, record, timeout), "sent"


def _col(label: str) -> str:
    return label.rpartition(".")[2]


def _send(
    state: State, lead: LeadContext, table: Resolutions, record: Resolution, timeout: float
) -> Resolution:
    """Send to the role's agent(s) of the job — usually one; with several, the first that
    issued the token answers — and store the outcome, refusals included."""
    role = record.column.partition(".")[0]
    agents = [a for a in _agents_for(state, lead, role) if record.agent in ("", a.name)]
    if not agents:
        raise UsageError(f"agent {record.agent} of request {record.request_id} is not registered")
    for i, entry in enumerate(agents):
        try:
            with AgentClient(state, entry) as client:
                answer = client.resolve(record.request, record.signature, timeout)
        except FedscreenError as exc:
            # The agent refused (and logged it), or no answer came (it may never have seen it).
            refused = isinstance(exc, ResolveError)
            table.save(_update(record, entry.name, "refused" if refused else "error", exc.message))
            if isinstance(exc, TokenNotIssued) and i + 1 < len(agents):
                continue  # another agency of this role may have issued it
            raise
        status = answer.status if answer.status in ANSWERS else "error"
        record = _update(record, entry.name, status, answer.message, answer.rows)
        table.save(record)
        if status == "denied":
            raise ResolveRefused(
                f"agency {entry.name} denied request {record.request_id}: {answer.message}"
            )
        return record
    raise AssertionError("unreachable: the loop returns or raises")


ANSWERS = ("resolved", "pending_approval", "denied")


def _update(
    r: Resolution,
    agent: str,
    status: str,
    message: str,
    rows: tuple[dict[str, str], ...] = (),
) -> Resolution:
    return dataclasses.replace(
        r,
        agent=agent,
        status=status,
        answered_at=utc_text(datetime.now(UTC)),
        fields=[dict(row) for row in rows],
        message=message,
    )

"""The lead registry: jobs, the leads they found and each lead's history, in SQLite.

A lead is keyed by lead_id (stable per model campaign), so re-running a model updates
`last_seen` (and the latest flags) instead of creating a duplicate, and never touches the
lead's state. Every change to a lead is a row in `lead_events` (who, when, what, why),
starting with "found"; a change and its history row are written in one `BEGIN IMMEDIATE`
transaction, so two analysts working the same lead cannot interleave, and a refused step
(an illegal transition, an unknown lead) leaves the file as it was.

`leads.version` is the last model version that found a lead; `lead_findings` keeps every
version that did (one row per lead and version), so a verdict still counts for the version
whose run it was made on after a newer version finds the lead again.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coordinator import lifecycle
from coordinator.combine import Lead
from fedscreen.errors import ConfigError, UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model TEXT NOT NULL, version TEXT NOT NULL, title_zh TEXT, title_en TEXT,
    PRIMARY KEY (model, version)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL,
    campaign TEXT NOT NULL, params TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL, message TEXT, agents TEXT, leads INTEGER, new_leads INTEGER
);
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    campaign TEXT NOT NULL, key TEXT NOT NULL, flags TEXT NOT NULL, region TEXT,
    first_job TEXT NOT NULL, last_job TEXT NOT NULL, found_at TEXT NOT NULL,
    last_seen TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'new',
    kind TEXT NOT NULL DEFAULT '', explanation_zh TEXT NOT NULL DEFAULT '',
    explanation_en TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS leads_model ON leads (model);
CREATE TABLE IF NOT EXISTS lead_events (
    id INTEGER PRIMARY KEY, lead_id TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, from_state TEXT, to_state TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS lead_events_lead ON lead_events (lead_id);
CREATE TABLE IF NOT EXISTS lead_findings (
    lead_id TEXT NOT NULL, version TEXT NOT NULL, first_job TEXT NOT NULL,
    last_job TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    PRIMARY KEY (lead_id, version)
);
"""

# Columns the lifecycle added to `leads`; registries written before it get them by ALTER TABLE.
LIFECYCLE_COLUMNS = ("unit", "assignee", "verdict", "verdict_reason", "disposition", "updated_at")
# Columns fault-tolerant jobs added to `jobs` (who runs it, retries, cancellation), likewise.
JOB_COLUMNS = {
    "owner": "TEXT",  # host:pid of the process running it
    "heartbeat_at": "TEXT",  # refreshed while it runs; a stale one means the runner died
    "attempts": "INTEGER NOT NULL DEFAULT 1",  # 1 + times it was resumed or retried
    "missing": "TEXT",  # JSON list of agents that never answered (a partial job)
    "cancel_requested": "TEXT",  # who asked, and when
    "requested_by": "TEXT",
    "request_params": "TEXT",  # the parameters as asked (agents fingerprint these), JSON
    "targets": "TEXT",  # JSON list of agent names, or NULL for every registered agent
    "deadline_seconds": "REAL",
}
STALE_SECONDS = 90  # a running job without a heartbeat for this long was interrupted
FINISHED = ("succeeded", "partial", "failed", "cancelled")

FOUND_BY = "fedscreen"  # the actor of "found" events: the screening job, not a person


class UnknownLead(UsageError):
    """No lead with that id in this registry."""


class RegistryUnusable(ConfigError):
    """registry.sqlite is not an SQLite database, is damaged, or cannot be opened."""


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    model: str
    version: str
    title_zh: str
    title_en: str
    key: dict[str, str]
    flags: dict[str, object]
    region: str | None
    found_at: str
    last_seen: str
    state: str
    kind: str = ""
    explanation_zh: str = ""
    explanation_en: str = ""
    unit: str | None = None
    assignee: str | None = None
    verdict: str | None = None  # 'true' | 'false' once verified
    verdict_reason: str | None = None
    disposition: str | None = None
    updated_at: str | None = None
    first_job: str = ""
    last_job: str = ""


@dataclass(frozen=True)
class Finding:
    """One model version finding one lead: when (and in which job) first and last."""

    lead_id: str
    model: str
    version: str
    title_zh: str  # this version's titles, which may differ from the lead's last version's
    title_en: str
    first_job: str
    last_job: str
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class Event:
    id: int
    lead_id: str
    at: str
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str


_LEAD_COLUMNS = (
    "l.lead_id, l.model, l.version, coalesce(m.title_zh, ''), coalesce(m.title_en, ''),"
    " l.key, l.flags, l.region, l.found_at, l.last_seen, l.state, l.kind, l.explanation_zh,"
    " l.explanation_en, l.unit, l.assignee, l.verdict, l.verdict_reason, l.disposition,"
    " l.updated_at, l.first_job, l.last_job FROM leads l"
    " LEFT JOIN models m ON m.model = l.model AND m.version = l.version"
)


def _lead_row(r: tuple[object, ...]) -> LeadRow:
    key, flags = json.loads(str(r[5])), json.loads(str(r[6]))
    return LeadRow(*r[:5], key, flags, *r[7:])  # type: ignore[arg-type, call-arg]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._migrate()

    # --- connections --------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are opened explicitly, so writes can take the lock
        # up front (BEGIN IMMEDIATE) instead of failing half-way on an upgrade to writer.
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading."""
        with unusable_as_error(self.path):
            con = self._connect()
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its first statement."""
        with unusable_as_error(self.path):
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    if con.in_transaction:  # a damaged file may have ended it already
                        con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    def _migrate(self) -> None:
        """Create the tables, or bring a registry written by an older fedscreen up to date."""
        with self._conn() as con:
            if not _needs_migration(con):
                return
        with self._write() as con:
            if not _needs_migration(con):  # another process got there first
                return
            had_events = _has_table(con, "lead_events")
            had_findings = _has_table(con, "lead_findings")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            present = {row[1] for row in con.execute("PRAGMA table_info(leads)")}
            for column in LIFECYCLE_COLUMNS:
                if column not in present:
                    con.execute(f"ALTER TABLE leads ADD COLUMN {column} TEXT")
            present = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
            for column, decl in JOB_COLUMNS.items():
                if column not in present:
                    con.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
            if not had_events:  # leads found before history existed get their "found" row
                con.execute(
                    "INSERT INTO lead_events (lead_id, at, actor, action, from_state, to_state,"
                    " detail) SELECT lead_id, found_at, ?, 'found', NULL, state,"
                    " 'job ' || first_job FROM leads ORDER BY found_at, lead_id",
                    (FOUND_BY,),
                )
            if not had_findings:
                _seed_findings(con)

    # --- jobs ---------------------------------------------------------------------------
    def start_job(
        self,
        job_id: str,
        model: str,
        version: str,
        digest: str,
        campaign: str,
        params: dict[str, int | float],
        titles: tuple[str, str],
        *,
        owner: str = "",
        requested_by: str = "",
        targets: list[str] | None = None,
        deadline_seconds: float | None = None,
        request_params: dict[str, str] | None = None,
    ) -> int:
        """Record a job as running; a known job id is resumed (attempts + 1), never doubled.

        Returns the attempt number."""
        now = _now()
        with self._write() as con:
            con.execute(
                "INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?)", (model, version, *titles)
            )
            found = con.execute(
                "SELECT attempts, digest FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if found is None:
                con.execute(
                    "INSERT INTO jobs (job_id, model, version, digest, campaign, params,"
                    " started_at, status, owner, heartbeat_at, attempts, requested_by, targets,"
                    " deadline_seconds, request_params)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, 1, ?, ?, ?, ?)",
                    (
                        job_id, model, version, digest, campaign, json.dumps(params), now,
                        owner, now, requested_by, json.dumps(targets), deadline_seconds,
                        json.dumps(request_params or {}),
                    ),
                )  # fmt: skip
                return 1
            if found[1] != digest:
                raise UsageError(f"job {job_id} ran another bundle; it cannot resume with this one")
            con.execute(
                "UPDATE jobs SET status='running', finished_at=NULL, message=NULL, owner=?,"
                " heartbeat_at=?, attempts=attempts+1, cancel_requested=NULL, missing=NULL"
                " WHERE job_id=?",
                (owner, now, job_id),
            )
            return int(found[0] or 1) + 1

    def job(self, job_id: str) -> dict[str, object] | None:
        with self._conn() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return dict(row) if row else None

    def find_job(self, job_id: str) -> dict[str, object]:
        """A job by its id or an unambiguous prefix of at least 8 characters."""
        with self._conn() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(
                "SELECT * FROM jobs WHERE job_id = ?1"
                " OR (length(?1) >= 8 AND substr(job_id, 1, length(?1)) = ?1)"
                " ORDER BY job_id = ?1 DESC, job_id",
                (job_id,),
            ).fetchall()
        if rows and (len(rows) == 1 or rows[0]["job_id"] == job_id):
            return dict(rows[0])
        if rows:
            raise UsageError(f"job id {job_id!r} is ambiguous ({len(rows)} jobs); give more of it")
        raise _unknown_job(job_id)

    def heartbeat(self, job_id: str) -> bool:
        """Mark the job alive; True if someone asked to cancel it."""
        with self._write() as con:
            con.execute("UPDATE jobs SET heartbeat_at=? WHERE job_id=?", (_now(), job_id))
            row = con.execute(
                "SELECT cancel_requested FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
        return bool(row and row[0])

    def request_cancel(self, job_id: str, who: str, now: datetime | None = None) -> str:
        """Ask the runner of a running job to stop it; an interrupted one is closed at once.

        Returns the job's status after the request."""
        now = now or datetime.now(UTC)
        with self._write() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                raise _unknown_job(job_id)
            status = effective_status(dict(row), now)
            if status in FINISHED:
                raise UsageError(f"job {job_id} has already ended ({status}); nothing to cancel")
            at = now.isoformat(timespec="seconds")
            stamp = f"{who} at {at}"
            if status == "interrupted":  # nobody runs it: close it here
                con.execute(
                    "UPDATE jobs SET status='cancelled', finished_at=?, cancel_requested=?,"
                    " message=? WHERE job_id=?",
                    (at, stamp, f"cancelled by {who} after it was interrupted", job_id),
                )
                return "cancelled"
            con.execute("UPDATE jobs SET cancel_requested=? WHERE job_id=?", (stamp, job_id))
            return "cancelling"

    def finish_job(
        self,
        job_id: str,
        status: str,
        message: str = "",
        agents: object = None,
        leads: int = 0,
        new_leads: int = 0,
        missing: list[str] | None = None,
    ) -> None:
        with self._write() as con:
            con.execute(
                "UPDATE jobs SET finished_at=?, status=?, message=?, agents=?, leads=?,"
                " new_leads=?, missing=? WHERE job_id=?",
                (
                    _now(), status, message, json.dumps(agents), leads, new_leads,
                    json.dumps(missing or []), job_id,
                ),
            )  # fmt: skip

    def jobs(self) -> list[dict[str, object]]:
        with self._conn() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM jobs ORDER BY started_at").fetchall()
        return [dict(r) for r in rows]

    # --- leads found ----------------------------------------------------------------------
    def record_leads(
        self, job_id: str, model: str, version: str, campaign: str, leads: Iterable[Lead]
    ) -> int:
        """Insert new leads (with their "found" event), refresh seen ones; returns how many
        were new. A lead seen again keeps its state, unit, assignee and history."""
        now, new = _now(), 0
        with self._write() as con:
            for lead in leads:
                con.execute(
                    "INSERT INTO lead_findings (lead_id, version, first_job, last_job,"
                    " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (lead_id, version)"
                    " DO UPDATE SET last_job = excluded.last_job, last_seen = excluded.last_seen",
                    (lead.lead_id, version, job_id, job_id, now, now),
                )
                flags = json.dumps(lead.flags, ensure_ascii=False)
                seen = (now, job_id, flags, version, lead.explanation_zh, lead.explanation_en)
                cur = con.execute(
                    "UPDATE leads SET last_seen=?, last_job=?, flags=?, version=?,"
                    " explanation_zh=?, explanation_en=? WHERE lead_id=?",
                    (*seen, lead.lead_id),
                )
                if cur.rowcount:
                    continue
                key = json.dumps(lead.key)
                con.execute(
                    "INSERT INTO leads (lead_id, model, version, campaign, key, flags, region,"
                    " first_job, last_job, found_at, last_seen, kind, explanation_zh,"
                    " explanation_en, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (lead.lead_id, model, version, campaign, key, flags, lead.region, job_id)
                    + (job_id, now, now, lead.kind, lead.explanation_zh, lead.explanation_en, now),
                )
                _insert_event(con, lead.lead_id, now, FOUND_BY, lifecycle.found(job_id))
                new += 1
        return new

    # --- reading leads --------------------------------------------------------------------
    def leads(
        self,
        model: str | None = None,
        *,
        state: str | None = None,
        region: str | None = None,
        since: str | None = None,
        campaign: str | None = None,
    ) -> list[LeadRow]:
        """Leads, optionally of one model, in one state, under a region-code prefix, or
        found at or after `since` (an ISO timestamp in UTC)."""
        where: list[str] = []
        args: list[str | int] = []
        if model:
            where.append("l.model = ?")
            args.append(model)
        if state:
            where.append("l.state = ?")
            args.append(state)
        if region:
            where.append("substr(coalesce(l.region, ''), 1, ?) = ?")
            args += [len(region), region]
        if campaign:
            where.append("l.campaign = ?")
            args.append(campaign)
        if since:
            where.append("l.found_at >= ?")
            args.append(since)
        sql = "SELECT " + _LEAD_COLUMNS
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY l.model, l.region, l.lead_id"
        with self._conn() as con:
            rows = con.execute(sql, args).fetchall()
        return [_lead_row(r) for r in rows]

    def lead(self, lead_id: str) -> LeadRow:
        with self._conn() as con:
            row = con.execute("SELECT " + _LEAD_COLUMNS + " WHERE l.lead_id = ?", (lead_id,))
            found = row.fetchone()
        if found is None:
            raise _unknown(lead_id)
        return _lead_row(found)

    def findings(self, model: str | None = None) -> list[Finding]:
        """Every (lead, model version that found it), optionally of one model."""
        sql = (
            "SELECT f.lead_id, l.model, f.version, coalesce(m.title_zh, ''),"
            " coalesce(m.title_en, ''), f.first_job, f.last_job, f.first_seen, f.last_seen"
            " FROM lead_findings f JOIN leads l ON l.lead_id = f.lead_id"
            " LEFT JOIN models m ON m.model = l.model AND m.version = f.version"
            + (" WHERE l.model = ?" if model else "")
            + " ORDER BY f.lead_id, f.first_seen, f.version"
        )
        with self._conn() as con:
            rows = con.execute(sql, (model,) if model else ()).fetchall()
        return [Finding(*r) for r in rows]

    def events(self, lead_id: str) -> list[Event]:
        with self._conn() as con:
            rows = con.execute(
                "SELECT id, lead_id, at, actor, action, from_state, to_state,"
                " coalesce(detail, '') FROM lead_events WHERE lead_id = ? ORDER BY id",
                (lead_id,),
            ).fetchall()
        return [Event(*r) for r in rows]

    def disposed_at(self) -> dict[str, str]:
        """lead_id → when it was disposed of, for leads that were."""
        with self._conn() as con:
            sql = "SELECT lead_id, max(at) FROM lead_events WHERE action = 'dispose' GROUP BY 1"
            rows = con.execute(sql).fetchall()
        return dict(rows)

    # --- changing leads -------------------------------------------------------------------
    def apply(
        self, lead_id: str, actor: str, step: Callable[[str], lifecycle.Change]
    ) -> lifecycle.Change:
        """Read the lead's state, ask `step` for the change, write it and its history row,
        all under the write lock. Whatever `step` raises leaves the registry untouched."""
        with self._write() as con:
            row = con.execute("SELECT state FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
            if row is None:
                raise _unknown(lead_id)
            change = step(str(row[0]))
            _write_change(con, lead_id, actor, change, _now())
        return change

    def route(
        self, actor: str, competent: Callable[[str | None], tuple[str, str] | None]
    ) -> tuple[dict[str, int], list[str | None]]:
        """Give every lead without a unit the unit `competent(region)` names, as
        (unit, prefix); returns leads routed per unit and the regions nobody covers."""
        routed: dict[str, int] = {}
        uncovered: list[str | None] = []
        now = _now()
        with self._write() as con:
            rows = con.execute(
                "SELECT lead_id, region, state FROM leads WHERE unit IS NULL ORDER BY lead_id"
            ).fetchall()
            for lead_id, region, state in rows:
                match = competent(region)
                if match is None:
                    uncovered.append(region)
                    continue
                unit, prefix = match
                _write_change(con, lead_id, actor, lifecycle.route(state, unit, prefix), now)
                routed[unit] = routed.get(unit, 0) + 1
        return routed, uncovered


def _unknown(lead_id: str) -> UnknownLead:
    return UnknownLead(f"unknown lead {lead_id[:40]!r} (see: fedscreen leads list)")


def _unknown_job(job_id: str) -> UsageError:
    return UsageError(f"unknown job {job_id!r} (see: fedscreen jobs list)")


# The JSON columns of `jobs`, and what an empty one (NULL, or JSON null) stands for.
_JOB_JSON = {
    "params": "{}",
    "agents": "{}",
    "missing": "[]",
    "targets": "null",
    "request_params": "{}",
}


def job_field(job: dict[str, object], column: str) -> Any:
    """A JSON column of a job row, decoded."""
    value = json.loads(str(job.get(column) or "null"))
    return json.loads(_JOB_JSON[column]) if value is None else value


def effective_status(job: dict[str, object], now: datetime) -> str:
    """A job's status, where a `running` job whose runner is gone is `interrupted`: its
    process no longer exists on this host, or (another host) it stopped beating."""
    status = str(job["status"])
    if status != "running":
        return status
    host, _, pid = str(job.get("owner") or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return "interrupted"
    beat = job.get("heartbeat_at") or job.get("started_at")
    age = (now - datetime.fromisoformat(str(beat))).total_seconds()
    return "interrupted" if age > STALE_SECONDS else status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


# SQLite's primary result codes for a file that is not a database, or is one no longer.
_DAMAGED = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


@contextmanager
def unusable_as_error(path: Path) -> Iterator[None]:
    """Turn SQLite's "file is not a database" (and kin) into one line naming the file.

    Other errors (a locked database, a bug in a statement) pass through unchanged."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
        if code in _DAMAGED:
            raise RegistryUnusable(
                f"lead registry {path} is not an SQLite database or is damaged ({exc});"
                " restore it from a backup, or move it aside to start an empty one"
            ) from None
        if code == sqlite3.SQLITE_CANTOPEN:
            raise RegistryUnusable(
                f"cannot open the lead registry {path} ({exc}); it must be a file you may"
                " read and write, in a folder you may write to"
            ) from None
        raise


def _seed_findings(con: sqlite3.Connection) -> None:
    """Findings for a registry written before `lead_findings`: the version of each lead's
    first job (when that job is on record) from `found_at`, and the lead's last version from
    `last_seen` (the earliest time that version is known to have found it)."""
    con.execute(
        "INSERT INTO lead_findings (lead_id, version, first_job, last_job, first_seen, last_seen)"
        " SELECT l.lead_id, j.version, l.first_job, l.first_job, l.found_at, l.found_at"
        " FROM leads l JOIN jobs j ON j.job_id = l.first_job"
    )
    con.execute(
        "INSERT INTO lead_findings (lead_id, version, first_job, last_job, first_seen, last_seen)"
        " SELECT lead_id, version, last_job, last_job, last_seen, last_seen FROM leads WHERE 1"
        " ON CONFLICT (lead_id, version)"
        " DO UPDATE SET last_job = excluded.last_job, last_seen = excluded.last_seen"
    )


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    return found.fetchone() is not None


def _needs_migration(con: sqlite3.Connection) -> bool:
    if not all(_has_table(con, t) for t in ("lead_events", "jobs", "lead_findings")):
        return True
    present = {row[1] for row in con.execute("PRAGMA table_info(leads)")}
    jobs = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
    return not present.issuperset(LIFECYCLE_COLUMNS) or not jobs.issuperset(JOB_COLUMNS)


def _insert_event(
    con: sqlite3.Connection, lead_id: str, at: str, actor: str, change: lifecycle.Change
) -> None:
    con.execute(
        "INSERT INTO lead_events (lead_id, at, actor, action, from_state, to_state, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (lead_id, at, actor, change.action, change.from_state, change.to_state, change.detail),
    )


def _write_change(
    con: sqlite3.Connection, lead_id: str, actor: str, change: lifecycle.Change, at: str
) -> None:
    fields = {"state": change.to_state, **change.fields}
    if set(fields) - {"state", *LIFECYCLE_COLUMNS}:
        raise ValueError(f"a lifecycle change may not set {sorted(fields)}")
    if change.fields or change.to_state != change.from_state:  # notes are not updates
        fields["updated_at"] = at
    assignments = ", ".join(f"{column} = ?" for column in fields)
    con.execute(f"UPDATE leads SET {assignments} WHERE lead_id = ?", (*fields.values(), lead_id))
    _insert_event(con, lead_id, at, actor, change)

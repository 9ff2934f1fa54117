"""Re-identification on request at the agency (必要关联查询), without any gRPC.

At Screen time the agent records, per job, the tokens it sent in the columns the model lets it
disclose (tokens only, never identities) in STATE/reident.sqlite, and purges what is older
than `[reident] retention_days`. A Resolve request, signed by an analyst, is answered only
for a token this agent issued in that job's column, with only the manifest's declared fields,
found by re-tokenising the source column in the sealed engine: the identity is read from the
source at answer time and never stored here.

Requests are remembered by request_id: a re-sent request (same bytes) is not counted twice
against the analyst's rate limit, and once an operator has decided on it (require_approval)
it can be fetched after its short validity window. Every request and answer is audited with
ids, names and outcome, never an identity value.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from agent.audit import AuditLog
from agent.config import AgentSettings, read_secret
from fedscreen import keys as signing_keys
from fedscreen.bundle import VerifiedBundle
from fedscreen.engine import Engine
from fedscreen.errors import (
    FedscreenError,
    InternalError,
    MalformedRequest,
    NotDisclosable,
    RateLimited,
    TokenNotIssued,
    UsageError,
)
from fedscreen.jobs import Job
from fedscreen.resolve import Answer, ResolveRequest, utc_text, verify_request
from fedscreen.tokens import TokenKeys

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL,
    campaign TEXT NOT NULL, disclose TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    job_id TEXT NOT NULL, column_name TEXT NOT NULL, token TEXT NOT NULL,
    PRIMARY KEY (job_id, column_name, token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, analyst TEXT NOT NULL,
    lead_id TEXT NOT NULL, model TEXT NOT NULL, job_id TEXT NOT NULL, column_name TEXT NOT NULL,
    case_ref TEXT NOT NULL, reason TEXT NOT NULL, received_at TEXT NOT NULL, status TEXT NOT NULL,
    request BLOB NOT NULL, signature BLOB NOT NULL, decided_by TEXT, decided_at TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_key ON requests (key_id, received_at);
"""
# A stored request is pending, approved or denied (an operator is involved), resolved, or
# refused (a check failed; the same request may be re-sent and is then checked again).
_SELECT_REQUESTS = (
    "SELECT request_id, analyst, key_id, lead_id, model, column_name, case_ref, reason,"
    " received_at, status, request, signature, decided_by, note FROM requests"
)


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    model: str
    version: str
    digest: str
    campaign: str
    disclose: dict[str, dict[str, object]]  # column -> dataset, source_column, kind, fields


@dataclass(frozen=True)
class StoredRequest:
    request_id: str
    analyst: str
    key_id: str
    lead_id: str
    model: str
    column: str
    case_ref: str
    reason: str
    received_at: str
    status: str
    request: bytes
    signature: bytes
    decided_by: str | None
    note: str | None


class Ledger:
    """STATE/reident.sqlite: issued tokens per job, and the requests received."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        try:
            with con:
                yield con
        finally:
            con.close()

    def record(self, verified: VerifiedBundle, role_name: str, job: Job, table: pa.Table) -> int:
        """Remember the tokens of the role's disclosable columns; returns how many."""
        manifest = verified.manifest
        role = manifest.role(role_name)
        disclose = {
            d.column: {
                "dataset": d.dataset,
                "source_column": d.source_column,
                "kind": role.output(d.column).kind,
                "fields": list(d.fields),
            }
            for d in role.disclose
        }
        if not disclose:
            return 0
        rows: list[tuple[str, str, str]] = []
        for column in disclose:
            if column in table.column_names:
                values = pc.unique(table[column].drop_null()).to_pylist()
                rows += [(job.job_id, column, str(v)) for v in values]
        with self._conn() as con:
            con.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    manifest.name,
                    manifest.version,
                    verified.digest,
                    job.campaign or manifest.name,
                    json.dumps(disclose),
                    utc_text(datetime.now(UTC)),
                ),
            )
            con.executemany("INSERT OR IGNORE INTO tokens VALUES (?, ?, ?)", rows)
        return len(rows)

    def purge(self, now: datetime, retention_days: int) -> None:
        cutoff = utc_text(now - timedelta(days=retention_days))
        with self._conn() as con:
            con.execute(
                "DELETE FROM tokens WHERE job_id IN (SELECT job_id FROM jobs WHERE at < ?)",
                (cutoff,),
            )
            con.execute("DELETE FROM jobs WHERE at < ?", (cutoff,))
            con.execute("DELETE FROM requests WHERE received_at < ?", (cutoff,))

    def job(self, job_id: str) -> JobRecord | None:
        with self._conn() as con:
            row = con.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return JobRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))

    def issued(self, job_id: str, column: str, token: str) -> bool:
        with self._conn() as con:
            return (
                con.execute(
                    "SELECT 1 FROM tokens WHERE job_id = ? AND column_name = ? AND token = ?",
                    (job_id, column, token),
                ).fetchone()
                is not None
            )

    def requests(self, status: str | None = None) -> list[StoredRequest]:
        sql = _SELECT_REQUESTS
        args: tuple[str, ...] = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        with self._conn() as con:
            rows = con.execute(sql + " ORDER BY received_at, request_id", args).fetchall()
        return [StoredRequest(*r) for r in rows]

    def request(self, request_id: str) -> StoredRequest | None:
        with self._conn() as con:
            row = con.execute(
                _SELECT_REQUESTS + " WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        return None if row is None else StoredRequest(*row)

    def count_since(self, key_id: str, since: datetime) -> int:
        with self._conn() as con:
            row = con.execute(
                "SELECT count(*) FROM requests WHERE key_id = ? AND received_at >= ?",
                (key_id, utc_text(since)),
            ).fetchone()
        return int(row[0])

    def store(
        self, req: ResolveRequest, data: bytes, signature: bytes, status: str, now: datetime
    ) -> None:
        """Insert on first receipt, else update the status (first receipt time is kept)."""
        with self._conn() as con:
            con.execute(
                "INSERT INTO requests (request_id, key_id, analyst, lead_id, model, job_id,"
                " column_name, case_ref, reason, received_at, status, request, signature)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (request_id)"
                " DO UPDATE SET status = excluded.status",
                (
                    req.request_id,
                    req.key_id,
                    req.analyst,
                    req.lead_id,
                    req.model,
                    req.job_id,
                    req.column,
                    req.case_ref,
                    req.reason,
                    utc_text(now),
                    status,
                    data,
                    signature,
                ),
            )

    def decide(self, prefix: str, decision: str, by: str, note: str = "") -> StoredRequest:
        """The operator's approve/deny of one pending request (request id prefix accepted)."""
        matches = [r for r in self.requests() if r.request_id.startswith(prefix)]
        if len(matches) != 1:
            raise UsageError(
                f"{len(matches)} requests match {prefix!r}; give a longer prefix "
                "(fedscreen-agent requests list)"
            )
        found = matches[0]
        if found.status != "pending":
            raise UsageError(f"request {found.request_id} is {found.status}, not pending")
        with self._conn() as con:
            con.execute(
                "UPDATE requests SET status = ?, decided_by = ?, decided_at = ?, note = ?"
                " WHERE request_id = ?",
                (decision, by, utc_text(datetime.now(UTC)), note, found.request_id),
            )
        return found


class Resolver:
    """The Resolve core: verify, check issuance and disclosability, rate-limit, look up."""

    def __init__(self, settings: AgentSettings, audit: AuditLog, ledger: Ledger) -> None:
        self.settings = settings
        self.config = settings.reident
        self.audit = audit
        self.ledger = ledger
        self.trusted = signing_keys.load_trusted(self.config.analyst_keys)
        self._secret = read_secret(settings)
        self._lock = threading.Lock()  # rate-limit count and insert must not interleave

    def resolve(
        self, data: bytes, signature: bytes, caller: str, now: datetime | None = None
    ) -> Answer:
        """Answer one request; raises a ResolveError (audited) when it is refused."""
        now = now or datetime.now(UTC)
        record: dict[str, object] = {"caller": caller}
        try:
            with self._lock:
                self.ledger.purge(now, self.config.retention_days)
                answer = self._resolve(data, signature, now, record)
        except FedscreenError as exc:
            record.update(outcome="refused", error=type(exc).__name__, reason=exc.message)
            self.audit.append("resolve", **record)
            raise
        except Exception as exc:  # audited on both sides even when it is our bug
            record.update(outcome="error", error=type(exc).__name__)
            self.audit.append("resolve", **record)
            raise InternalError.withholding(exc) from None
        record.update(outcome=answer.status, rows=len(answer.rows))
        self.audit.append("resolve", **record)
        return answer

    def _resolve(
        self, data: bytes, signature: bytes, now: datetime, record: dict[str, object]
    ) -> Answer:
        req = ResolveRequest.from_json(data)
        record.update(
            request_id=req.request_id,
            lead_id=req.lead_id,
            analyst=req.analyst,
            key_id=req.key_id,
            case_ref=req.case_ref,
            request_reason=req.reason,  # "reason" is the refusal's, as in screen entries
            model=req.model,
            job_id=req.job_id,
            column=req.column,
        )
        prior = self.ledger.request(req.request_id)
        if prior is not None and (prior.request != data or prior.signature != signature):
            raise MalformedRequest(f"request id {req.request_id} was already used for another")
        # Once an operator is involved the request may be fetched after its window: approval
        # takes longer than the minutes a request is valid for.
        fetch = prior is not None and (prior.status == "pending" or prior.decided_by is not None)
        max_ttl = timedelta(minutes=self.config.max_request_minutes)
        verify_request(
            data, signature, self.trusted, self.config.revoked, now,
            max_ttl=max_ttl, check_time=not fetch,
        )  # fmt: skip
        if prior is None:
            self._rate_limit(req, now)
        try:
            job, disclosure = self._check(req)
        except FedscreenError:
            self.ledger.store(req, data, signature, prior.status if prior else "refused", now)
            raise
        if prior is not None and prior.status == "denied":
            return Answer(req.request_id, "denied", message=f"denied: {prior.note or 'no reason'}")
        if self.config.require_approval and (prior is None or prior.decided_by is None):
            self.ledger.store(req, data, signature, "pending", now)
            return Answer(
                req.request_id,
                "pending_approval",
                message="waiting for the agency's operator (fedscreen-agent requests approve)",
            )
        rows = self._lookup(req, job, disclosure)
        self.ledger.store(req, data, signature, "resolved", now)
        message = "" if rows else "no source row holds this identifier any more"
        return Answer(req.request_id, "resolved", tuple(rows), message)

    def _rate_limit(self, req: ResolveRequest, now: datetime) -> None:
        limit = self.config.max_requests_per_day
        if self.ledger.count_since(req.key_id, now - timedelta(days=1)) >= limit:
            raise RateLimited(
                f"analyst {req.analyst} (key {req.key_id}) has made {limit} requests in the "
                "last 24 hours, this agency's limit; try again later"
            )

    def _check(self, req: ResolveRequest) -> tuple[JobRecord, dict[str, object]]:
        days = self.config.retention_days
        if req.role != self.settings.role:
            raise NotDisclosable(f"this agency holds role {self.settings.role}, not {req.role}")
        job = self.ledger.job(req.job_id)
        if job is None or (job.model, job.campaign) != (req.model, req.campaign):
            raise TokenNotIssued(
                f"token was never issued here: no job {req.job_id} of model {req.model} ran at "
                f"this agency in the last {days} days"
            )
        disclosure = job.disclose.get(req.column)
        if disclosure is None:
            raise NotDisclosable(
                f"model {req.model} declares no disclosure of {req.role}.{req.column} on resolution"
            )
        if not self.ledger.issued(req.job_id, req.column, req.token):
            raise TokenNotIssued(
                f"token was never issued here in column {req.column} of job {req.job_id} "
                f"(or its record was purged after {days} days)"
            )
        return job, disclosure

    def _lookup(
        self, req: ResolveRequest, job: JobRecord, disclosure: dict[str, object]
    ) -> list[dict[str, str]]:
        keys = TokenKeys.derive(self._secret, job.model, job.campaign)
        fields = disclosure["fields"]
        assert isinstance(fields, list)
        with Engine(self.settings.role, self.settings.sources, self.settings.engine) as engine:
            return engine.lookup(
                str(disclosure["dataset"]),
                str(disclosure["source_column"]),
                str(disclosure["kind"]),
                req.token,
                keys,
                tuple(str(f) for f in fields),
            )

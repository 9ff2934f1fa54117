"""One Screen call, end to end, without any gRPC: verify, check consent, run, guard, audit.

Every refusal happens before the first batch is produced, so a refused job sends nothing.
Audit entries carry counts, digests and parameters — never identifiers or flag values. Every
entry records the job's parameters (as resolved once the manifest is known); a refusal that
knew the job's row counts (a flag cap, a refused output) records them too, exact: only the
wire rounds them.
A job id is an idempotency key: a finished job is recorded before its first batch leaves, and
the same job sent again is answered from that record ("replayed" in the audit log).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from agent.admission import Gate, JobHandle
from agent.approvals import Approvals
from agent.audit import AuditLog
from agent.config import AgentSettings, read_secret
from agent.guard import enforce_caps
from agent.jobrecords import JobRecords, Outcome, fingerprint
from agent.reident import Ledger, Resolver
from fedscreen import keys as signing_keys
from fedscreen.bundle import VerifiedBundle, verify_bundle
from fedscreen.candidates import check_candidates, filter_candidates
from fedscreen.engine import Engine
from fedscreen.errors import (
    AgentBusy,
    DisclosureLimit,
    FedscreenError,
    InternalError,
    JobCancelled,
    JobIdReused,
    ManifestError,
    QueryTimeout,
    WrongRole,
)
from fedscreen.jobs import Job, Summary
from fedscreen.manifest import NAME
from fedscreen.tokens import TokenKeys

_NUMBER = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,6})?")  # never as long as an ID


def as_asked(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters a caller sent, for the audit log before the manifest has vouched for
    them: well-formed names only, and a value that is not a plain short number recorded as
    such rather than copied (parameters are numbers; anything else must not land in the log)."""
    return {
        name: value if _NUMBER.fullmatch(value) else "<not a number>"
        for name, value in sorted(params.items())
        if NAME.fullmatch(name)
    }


class Screener:
    def __init__(self, settings: AgentSettings, audit: AuditLog) -> None:
        self.settings = settings
        self.audit = audit
        self.approvals = Approvals(settings.approvals_path)
        self.trusted = signing_keys.load_trusted(settings.signer_keys)
        self._secret = read_secret(settings)
        # Re-identification on request: the ledger of tokens issued here, and the Resolve core.
        self.ledger = Ledger(settings.reident_path)
        self.resolver = Resolver(settings, audit, self.ledger)
        self.gate = Gate(settings.service)
        self.records = JobRecords(settings.state_dir / "jobs", settings.service.job_record_hours)

    def admit(self, job: Job, caller: str) -> JobHandle:
        """A slot for `job`, or AgentBusy/AgentDraining; a refusal for load is audited too."""
        try:
            return self.gate.admit(job.job_id)
        except AgentBusy as exc:
            self.audit.append(
                "screen",
                job_id=job.job_id,
                caller=caller,
                params=as_asked(job.params),
                outcome="refused",
                error=type(exc).__name__,
                reason=exc.message,
            )
            raise

    def verify(self, bundle: bytes) -> VerifiedBundle:
        return verify_bundle(bundle, self.trusted, now=datetime.now(UTC))

    def screen(
        self,
        bundle: bytes,
        job: Job,
        caller: str,
        deadline_s: float | None = None,
        handle: JobHandle | None = None,
    ) -> Outcome:
        """Run `bundle` for `job`; raises a FedscreenError (logged) when anything is refused.

        `handle` (from admit) lets another thread stop the job; it is then audited as
        "cancelled" (the caller went away) or "aborted" (the agent shut down)."""
        handle = handle or JobHandle(job.job_id)
        started = time.monotonic()
        record: dict[str, object] = {
            "job_id": job.job_id,
            "caller": caller,
            "campaign": job.campaign,
            "requested_by": job.requested_by,
            "candidates": {c: len(t) for c, t in sorted(job.candidates.items())},
            "params": as_asked(job.params),  # _run replaces them with the resolved values
        }
        try:
            verified = self.verify(bundle)
            record.update(
                bundle_digest=verified.digest,
                model=verified.manifest.name,
                version=verified.manifest.version,
            )
            self.approvals.require(verified.digest, verified.manifest.name)
            asked = fingerprint(verified.digest, job)
            now = datetime.now(UTC)
            replay = self._replay(job, asked, now, record)
            if replay is not None:
                return replay
            self.gate.start_model(verified.manifest.name, job.job_id)
            outcome = self._run(verified, job, deadline_s, handle, record)
            record["reident_tokens"] = self.ledger.record(
                verified, self.settings.role, job, outcome.table
            )
            self.ledger.purge(now, self.settings.reident.retention_days)
            outcome.summary.seconds = time.monotonic() - started
            self.records.put(asked, outcome, now)
            self.records.purge(now)
        except FedscreenError as exc:
            stopped = exc.outcome if isinstance(exc, JobCancelled) else "refused"
            record.update(exc.counts())
            record.update(outcome=stopped, error=type(exc).__name__, reason=exc.message)
            self.audit.append("screen", **record)
            raise
        except Exception as exc:  # the job still gets its audit entry; the text stays here
            record.update(outcome="error", error=type(exc).__name__)
            self.audit.append("screen", **record)
            raise InternalError.withholding(exc) from None
        record.update(
            outcome="ok",
            params=outcome.params,
            rows_in=outcome.summary.rows_in,
            rows_out=outcome.summary.rows_out,
            invalid_ids=outcome.summary.invalid_ids,
            seconds=round(outcome.summary.seconds, 3),
        )
        self.audit.append("screen", **record)
        return outcome

    def _replay(
        self, job: Job, asked: str, now: datetime, record: dict[str, object]
    ) -> Outcome | None:
        """The recorded answer to a re-sent job, or None if this job id is new here."""
        recorded = self.records.get(job.job_id, now)
        if recorded is None:
            return None
        if recorded.fingerprint != asked:
            raise JobIdReused(
                f"job id {job.job_id} was already used here for a different request "
                "(model, campaign, parameters or candidates differ); use a new job id"
            )
        outcome = recorded.outcome
        record.update(
            outcome="replayed",
            recorded_at=recorded.recorded_at.isoformat(timespec="seconds"),
            params=outcome.params,
            rows_in=outcome.summary.rows_in,
            rows_out=outcome.summary.rows_out,
        )
        self.audit.append("screen", **record)
        return outcome

    def _run(
        self,
        verified: VerifiedBundle,
        job: Job,
        deadline_s: float | None,
        handle: JobHandle,
        record: dict[str, object],
    ) -> Outcome:
        manifest = verified.manifest
        try:
            role = manifest.role(self.settings.role)
        except ManifestError as exc:
            raise WrongRole(exc.message) from None
        params = manifest.resolve_params(job.params)
        record["params"] = params
        keys = TokenKeys.derive(self._secret, manifest.name, job.campaign or manifest.name)
        limits = self.settings.engine
        if deadline_s is not None and deadline_s < limits.timeout_seconds:
            # The caller's deadline bounds the query: no point computing what nobody will read.
            limits = dataclasses.replace(limits, timeout_seconds=max(deadline_s - 0.5, 0.1))
        candidates = check_candidates(role, job.candidates)
        with Engine(self.settings.role, self.settings.sources, limits) as engine:
            handle.attach(engine)
            try:
                result = engine.run(role, verified.text(role.sql_file), params, keys)
            except QueryTimeout:
                handle.check()  # interrupted because the job was stopped, not by the deadline
                raise
            finally:
                handle.detach()
        handle.check()
        table = filter_candidates(result.table, candidates)
        try:
            enforce_caps(table.num_rows, result.rows_in, self.settings.disclosure)
        except DisclosureLimit as exc:
            exc.count(rows_in=result.rows_in, rows_out=table.num_rows)
            raise
        summary = Summary(
            job_id=job.job_id,
            bundle_digest=verified.digest,
            role=self.settings.role,
            rows_in=result.rows_in,
            rows_out=table.num_rows,
            invalid_ids=dict(result.invalid_ids),
        )
        return Outcome(table, summary, params)

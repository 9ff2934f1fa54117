"""Every user-facing error of fedscreen: one class per cause, a one-line message, an exit code.

Verification and validation *raise* these; nothing returns a bool for "ok". CLIs print
`error: <message>` and exit with `exit_code`; the gRPC edge maps `grpc_status` names to codes.
"""

from __future__ import annotations


class FedscreenError(Exception):
    """Base: a one-line message that says what is wrong and, where possible, what to do."""

    exit_code = 1
    grpc_status = "INTERNAL"
    # The input and output rows of a refused job, where the refusal knew them: for the
    # agency's audit log (agent.screening); the wire carries only the message.
    rows_in: int | None = None
    rows_out: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\n", " "))

    @property
    def message(self) -> str:
        return str(self.args[0])

    def count(self, *, rows_in: int | None = None, rows_out: int | None = None) -> None:
        """Record the row counts known where the error passes; counts recorded closer to the
        data (earlier) are kept."""
        if self.rows_in is None:
            self.rows_in = rows_in
        if self.rows_out is None:
            self.rows_out = rows_out

    def counts(self) -> dict[str, int]:
        """The known counts, as audit-log fields."""
        known = {"rows_in": self.rows_in, "rows_out": self.rows_out}
        return {k: v for k, v in known.items() if v is not None}


# --- configuration and input -------------------------------------------------------------
class ConfigError(FedscreenError):
    exit_code = 3
    grpc_status = "FAILED_PRECONDITION"


class UsageError(FedscreenError):
    exit_code = 2
    grpc_status = "INVALID_ARGUMENT"


class SchemaMismatch(FedscreenError):
    """A mapped source does not match the logical data dictionary."""

    exit_code = 4
    grpc_status = "FAILED_PRECONDITION"


class ManifestError(FedscreenError):
    """A model folder's model.toml is malformed."""

    exit_code = 5
    grpc_status = "INVALID_ARGUMENT"


class WrongRole(FedscreenError):
    """The model has no SQL for this agency's role."""

    exit_code = 5
    grpc_status = "FAILED_PRECONDITION"


class ParameterError(FedscreenError):
    """A parameter value is unknown or outside the signed bounds."""

    exit_code = 2
    grpc_status = "INVALID_ARGUMENT"


# --- bundles (verification, numbered checks in fedscreen.bundle) --------------------------
class BundleError(FedscreenError):
    exit_code = 6
    grpc_status = "PERMISSION_DENIED"


class MalformedBundle(BundleError):
    grpc_status = "INVALID_ARGUMENT"


class UnknownSigningKey(BundleError):
    pass


class BadSignature(BundleError):
    pass


class BundleExpired(BundleError):
    pass


class BundleNotYetValid(BundleError):
    pass


class FileMissing(BundleError):
    pass


class FileExtra(BundleError):
    pass


class DigestMismatch(BundleError):
    pass


class NotApproved(BundleError):
    """Signed by a trusted key but not approved by this agency."""


# --- screening ------------------------------------------------------------------------------
class ForbiddenSQL(FedscreenError):
    exit_code = 7
    grpc_status = "PERMISSION_DENIED"


class OutputRefused(FedscreenError):
    """The result does not match the declared outputs; nothing is sent."""

    exit_code = 7
    grpc_status = "PERMISSION_DENIED"


class DisclosureLimit(FedscreenError):
    """The result flags more rows than the agency allows; nothing is sent."""

    exit_code = 7
    grpc_status = "RESOURCE_EXHAUSTED"


class QueryTimeout(FedscreenError):
    exit_code = 8
    grpc_status = "DEADLINE_EXCEEDED"


class QueryFailed(FedscreenError):
    exit_code = 8
    grpc_status = "FAILED_PRECONDITION"


# --- the agent service: admission, cancellation, shutdown (agent.admission) -----------------
class AgentBusy(FedscreenError):
    """The agent is at its job limit, or this model ran too recently; the message ends with a
    retry hint, and `retry_after` carries it for the trailing metadata."""

    exit_code = 10
    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(f"{message}; retry after {retry_after} s")
        self.retry_after = retry_after


class TooSoon(AgentBusy):
    """The agency's minimum interval between two runs of the same model has not passed."""


class JobInFlight(AgentBusy):
    """A job with this id is still running here (the caller re-sent it before it ended)."""


class JobIdReused(FedscreenError):
    """A job id this agent has a record of arrived with a different request."""

    exit_code = 11
    grpc_status = "FAILED_PRECONDITION"


class AgentDraining(FedscreenError):
    exit_code = 10
    grpc_status = "UNAVAILABLE"


class JobCancelled(FedscreenError):
    """The caller went away; the running query was interrupted and nothing was sent."""

    exit_code = 11
    grpc_status = "CANCELLED"
    outcome = "cancelled"


class JobAborted(JobCancelled):
    """The agent shut down before the job finished (the grace period ran out)."""

    grpc_status = "UNAVAILABLE"
    outcome = "aborted"


class InternalError(FedscreenError):
    """A bug or a library error. Its own text may quote data, so only its class leaves."""

    exit_code = 1
    grpc_status = "INTERNAL"

    @classmethod
    def withholding(cls, exc: BaseException) -> InternalError:
        return cls(f"internal error ({type(exc).__name__}); details withheld")


# --- audit and federation -----------------------------------------------------------------
class AuditChainBroken(FedscreenError):
    exit_code = 9
    grpc_status = "DATA_LOSS"


class AgentUnavailable(FedscreenError):
    """An agent did not answer this time (down, restarting, busy, or the stream was cut):
    worth another attempt. `retry_after` is the agent's own hint in seconds, if it gave one."""

    exit_code = 10
    grpc_status = "UNAVAILABLE"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobPartial(FedscreenError):
    """The job ended with agents missing (its leads recorded or withheld, as its model says)."""

    exit_code = 13


class JobStopped(FedscreenError):
    """An analyst cancelled the job (fedscreen jobs cancel); its calls were cancelled too."""

    exit_code = 11
    grpc_status = "CANCELLED"


class JobFailed(FedscreenError):
    exit_code = 11


# --- re-identification on request (必要关联查询, fedscreen.resolve) ----------------------------
class ResolveError(FedscreenError):
    """A re-identification request was refused; nothing about the person was disclosed."""

    exit_code = 12
    grpc_status = "PERMISSION_DENIED"


class MalformedRequest(ResolveError):
    grpc_status = "INVALID_ARGUMENT"


class BadRequestSignature(ResolveError):
    pass


class UnknownAnalystKey(ResolveError):
    pass


class AnalystKeyRevoked(ResolveError):
    pass


class RequestExpired(ResolveError):
    """Outside its validity window; FAILED_PRECONDITION, not DEADLINE_EXCEEDED, because it is
    the request that is stale, not the call: retrying the same bytes can never succeed."""

    grpc_status = "FAILED_PRECONDITION"


class TokenNotIssued(ResolveError):
    grpc_status = "NOT_FOUND"


class NotDisclosable(ResolveError):
    pass


class RateLimited(ResolveError):
    grpc_status = "RESOURCE_EXHAUSTED"


class ResolveRefused(ResolveError):
    """The agent refused for another reason (its message says which)."""


# --- signing model folders (fedscreen.bundle.signed_bundle) --------------------------------
class BundleVersionTaken(FedscreenError):
    """A bundle of this model name and version exists with other files. Agencies approved
    that one by digest: changed files must be signed under a new version."""

    exit_code = 5
    grpc_status = "FAILED_PRECONDITION"

"""Re-identification requests (必要关联查询): what an analyst signs and what an agent verifies.

A request names one lead, the job that found it, one of the agency's token output columns and
the token, plus the case reference and the reason, the analyst and their key id, and a short
validity window. It travels as canonical JSON (sorted keys, compact, UTF-8) and an Ed25519
signature over `DOMAIN + bytes`: the domain prefix keeps a resolve signature from ever being
accepted as anything else (a bundle signature, say), and vice versa.

`verify_request` *raises* a specific ResolveError; its checks are numbered:
  1. the bytes are canonical JSON of exactly the declared fields, each well-formed;
  2. the key id is not revoked by the agency;
  3. the key id is one the agency trusts;
  4. the signature verifies under that key;
  5. now lies within [issued_at - skew, expires_at], and the window is not longer than the
     agency allows.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedscreen.errors import (
    AnalystKeyRevoked,
    BadRequestSignature,
    MalformedRequest,
    RequestExpired,
    UnknownAnalystKey,
)
from fedscreen.keys import key_id

DOMAIN = b"fedscreen-resolve-v1\x00"
DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(hours=1)  # an agent's default cap on a request's validity window
CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 500  # case reference and reason: a line, not a file
_TOKEN = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedRequest(f"request field {name} is not an ISO time") from None
    if moment.tzinfo is None:
        raise MalformedRequest(f"request field {name} has no time zone")
    return moment


@dataclass(frozen=True)
class ResolveRequest:
    request_id: str
    lead_id: str
    model: str
    campaign: str
    job_id: str
    role: str
    column: str
    token: str
    case_ref: str
    reason: str
    analyst: str
    key_id: str
    issued_at: str
    expires_at: str

    def to_json(self) -> bytes:
        return canonical(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> ResolveRequest:
        """Check 1: canonical JSON holding exactly the declared fields, each well-formed."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeError, ValueError):
            raise MalformedRequest("the request is not UTF-8 JSON") from None
        names = {f.name for f in fields(cls)}
        if not isinstance(doc, dict) or set(doc) != names:
            raise MalformedRequest(f"the request must hold exactly: {', '.join(sorted(names))}")
        if not all(isinstance(v, str) for v in doc.values()):
            raise MalformedRequest("every request field must be a string")
        if canonical(doc) != data:
            raise MalformedRequest("the request is not canonical JSON (re-encoded in transit?)")
        request = cls(**doc)
        request.check()
        return request

    def check(self) -> None:
        """Well-formedness: ids, names, token, one-line texts of bounded length, times."""
        try:
            uuid.UUID(self.request_id)
        except ValueError:
            raise MalformedRequest("request_id is not a UUID") from None
        if not _TOKEN.fullmatch(self.token):
            raise MalformedRequest("token must be 32 lower-case hex digits")
        if not _KEY_ID.fullmatch(self.key_id):
            raise MalformedRequest("key_id must be 16 lower-case hex digits")
        for name in ("model", "role", "column"):
            if not _NAME.fullmatch(getattr(self, name)):
                raise MalformedRequest(f"request field {name} must be lower_snake_case")
        for name in ("lead_id", "job_id", "campaign", "analyst", "case_ref", "reason"):
            value = getattr(self, name)
            if not value.strip() or len(value) > MAX_TEXT or any(c in value for c in "\r\n\0"):
                raise MalformedRequest(
                    f"request field {name} must be one non-empty line of at most {MAX_TEXT} "
                    "characters"
                )
        issued = parse_time(self.issued_at, "issued_at")
        if parse_time(self.expires_at, "expires_at") <= issued:
            raise MalformedRequest("expires_at must be after issued_at")


def canonical(doc: Mapping[str, object]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_request(
    *,
    lead_id: str,
    model: str,
    campaign: str,
    job_id: str,
    role: str,
    column: str,
    token: str,
    case_ref: str,
    reason: str,
    analyst: str,
    key: Ed25519PrivateKey,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> ResolveRequest:
    issued = now or datetime.now(UTC)
    request = ResolveRequest(
        request_id=str(uuid.uuid4()),
        lead_id=lead_id,
        model=model,
        campaign=campaign,
        job_id=job_id,
        role=role,
        column=column,
        token=token,
        case_ref=case_ref.strip(),
        reason=reason.strip(),
        analyst=analyst,
        key_id=key_id(key.public_key()),
        issued_at=utc_text(issued),
        expires_at=utc_text(issued + ttl),
    )
    request.check()
    return request


def sign_request(request: ResolveRequest, key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(request bytes, signature) exactly as they go on the wire."""
    if key_id(key.public_key()) != request.key_id:
        raise MalformedRequest("the request names another key than the one signing it")
    data = request.to_json()
    return data, key.sign(DOMAIN + data)


def verify_request(
    data: bytes,
    signature: bytes,
    trusted: Mapping[str, Ed25519PublicKey],
    revoked: Collection[str],
    now: datetime,
    *,
    max_ttl: timedelta = MAX_TTL,
    check_time: bool = True,
) -> ResolveRequest:
    """The request, or a ResolveError naming the first failed check (see the module doc).

    `check_time=False` skips check 5 only: an agent uses it to answer a re-sent request an
    operator has already decided, which by then is usually past its window.
    """
    request = ResolveRequest.from_json(data)  # 1
    if request.key_id in revoked:  # 2
        raise AnalystKeyRevoked(
            f"analyst key {request.key_id} ({request.analyst}) is revoked by this agency"
        )
    public = trusted.get(request.key_id)  # 3
    if public is None:
        raise UnknownAnalystKey(
            f"analyst key {request.key_id} ({request.analyst}) is not trusted by this agency "
            "([reident] analyst_keys)"
        )
    try:  # 4
        public.verify(signature, DOMAIN + data)
    except InvalidSignature:
        raise BadRequestSignature(
            f"request {request.request_id}: the signature does not verify under analyst key "
            f"{request.key_id}"
        ) from None
    if check_time:  # 5
        issued = parse_time(request.issued_at, "issued_at")
        expires = parse_time(request.expires_at, "expires_at")
        if expires - issued > max_ttl:
            raise RequestExpired(
                f"request {request.request_id} is valid for {expires - issued}, longer than "
                f"this agency accepts ({max_ttl}); sign a new one"
            )
        if now < issued - CLOCK_SKEW:
            raise RequestExpired(
                f"request {request.request_id} is issued in the future ({request.issued_at}); "
                "check the clocks"
            )
        if now > expires:
            raise RequestExpired(
                f"request {request.request_id} expired at {request.expires_at}; sign a new one "
                "(run fedscreen resolve again)"
            )
    return request


# --- answers -----------------------------------------------------------------------------------
STATUSES = ("resolved", "pending_approval", "denied")


@dataclass(frozen=True)
class Answer:
    """What an agent answers: rows of declared fields (values as text) only when resolved."""

    request_id: str
    status: str
    rows: tuple[dict[str, str], ...] = ()
    message: str = ""

    def pairs(self) -> list[tuple[str, str]]:
        """Rows flattened to (name, value) pairs, every row listing its fields in one order:
        the wire's repeated ResolvedField. `rows_from_pairs` undoes it."""
        return [(name, value) for row in self.rows for name, value in row.items()]


def rows_from_pairs(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], ...]:
    """A new row starts where a field name repeats."""
    rows: list[dict[str, str]] = []
    for name, value in pairs:
        if not rows or name in rows[-1]:
            rows.append({})
        rows[-1][name] = value
    return tuple(rows)

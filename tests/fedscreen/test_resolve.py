"""Signed re-identification requests: what verifies, and each way one is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedscreen import keys
from fedscreen.errors import (
    AnalystKeyRevoked,
    BadRequestSignature,
    MalformedRequest,
    ManifestError,
    RequestExpired,
    UnknownAnalystKey,
)
from fedscreen.manifest import load_manifest, parse_manifest
from fedscreen.resolve import (
    DOMAIN,
    Answer,
    ResolveRequest,
    build_request,
    canonical,
    rows_from_pairs,
    sign_request,
    verify_request,
)
from tests.toy_manifest import manifest_header

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TOKEN = "0123456789abcdef0123456789abcdef"


def request(key: Ed25519PrivateKey, **overrides: object) -> ResolveRequest:
    args: dict[str, object] = dict(
        lead_id="L0123456789ab",
        model="fake_labour_litigation",
        campaign="fake_labour_litigation",
        job_id="job-1",
        role="court",
        column="plaintiff_id",
        token=TOKEN,
        case_ref="（2025）某检民监1号",
        reason="核实虚假诉讼线索",
        analyst="zhang-san",
        key=key,
        now=NOW,
    )
    args.update(overrides)
    return build_request(**args)  # type: ignore[arg-type]


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return keys.generate_signing_key()


def trusted(*ks: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    return {keys.key_id(k.public_key()): k.public_key() for k in ks}


def test_a_signed_request_verifies_and_round_trips(key: Ed25519PrivateKey) -> None:
    req = request(key)
    data, sig = sign_request(req, key)
    got = verify_request(data, sig, trusted(key), (), NOW + timedelta(minutes=1))
    assert got == req
    assert got.expires_at == "2025-03-01T09:15:00Z"
    assert json.loads(data)["case_ref"] == "（2025）某检民监1号"  # UTF-8, not \\u escapes
    assert data == canonical(json.loads(data))


def test_the_signature_is_domain_separated(key: Ed25519PrivateKey) -> None:
    data, _ = sign_request(request(key), key)
    bare = key.sign(data)  # a signature over the bytes alone is not a resolve signature
    with pytest.raises(BadRequestSignature, match="does not verify"):
        verify_request(data, bare, trusted(key), (), NOW)
    data, sig = sign_request(request(key), key)
    key.public_key().verify(sig, DOMAIN + data)  # what a resolve signature covers


@pytest.mark.parametrize("field", ["token", "reason", "column", "job_id", "expires_at"])
def test_a_tampered_field_breaks_the_signature(key: Ed25519PrivateKey, field: str) -> None:
    req = request(key)
    data, sig = sign_request(req, key)
    doc = json.loads(data)
    doc[field] = {
        "token": "f" * 32,
        "reason": "其他理由",
        "column": "defendant_uscc",
        "job_id": "job-2",
        "expires_at": "2025-03-01T09:30:00Z",
    }[field]
    with pytest.raises(BadRequestSignature, match=req.request_id):
        verify_request(canonical(doc), sig, trusted(key), (), NOW)


def test_a_request_signed_by_an_unknown_key_is_refused(key: Ed25519PrivateKey) -> None:
    other = keys.generate_signing_key()
    data, sig = sign_request(request(other), other)
    with pytest.raises(UnknownAnalystKey, match="not trusted by this agency"):
        verify_request(data, sig, trusted(key), (), NOW)


def test_a_revoked_key_is_refused_even_with_a_valid_signature(key: Ed25519PrivateKey) -> None:
    data, sig = sign_request(request(key), key)
    kid = keys.key_id(key.public_key())
    with pytest.raises(AnalystKeyRevoked, match=f"analyst key {kid} \\(zhang-san\\) is revoked"):
        verify_request(data, sig, trusted(key), {kid}, NOW)


def test_an_expired_request_is_refused(key: Ed25519PrivateKey) -> None:
    data, sig = sign_request(request(key), key)
    late = NOW + timedelta(minutes=15, seconds=1)
    with pytest.raises(RequestExpired, match="expired at 2025-03-01T09:15:00Z"):
        verify_request(data, sig, trusted(key), (), late)
    # ... unless the agent skips the window for a request its operator already decided on
    got = verify_request(data, sig, trusted(key), (), late, check_time=False)
    assert got.token == TOKEN


def test_a_request_from_the_future_or_valid_too_long_is_refused(key: Ed25519PrivateKey) -> None:
    data, sig = sign_request(request(key), key)
    with pytest.raises(RequestExpired, match="issued in the future"):
        verify_request(data, sig, trusted(key), (), NOW - timedelta(minutes=6))
    long = request(key, ttl=timedelta(days=2))
    data, sig = sign_request(long, key)
    with pytest.raises(RequestExpired, match="longer than this agency accepts"):
        verify_request(data, sig, trusted(key), (), NOW)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("reason"), "must hold exactly"),
        (lambda d: d.update(extra="x"), "must hold exactly"),
        (lambda d: d.update(token="NOT-A-TOKEN"), "token must be 32"),
        (lambda d: d.update(reason="two\nlines"), "reason must be one non-empty line"),
        (lambda d: d.update(case_ref="   "), "case_ref must be one non-empty line"),
        (lambda d: d.update(expires_at=d["issued_at"]), "expires_at must be after"),
        (lambda d: d.update(request_id="42"), "not a UUID"),
    ],
)
def test_malformed_requests_are_refused_before_any_key_is_looked_up(
    key: Ed25519PrivateKey, mutate: object, message: str
) -> None:
    doc = json.loads(sign_request(request(key), key)[0])
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(MalformedRequest, match=message):
        verify_request(canonical(doc), b"", {}, (), NOW)


def test_non_canonical_bytes_are_refused(key: Ed25519PrivateKey) -> None:
    data, sig = sign_request(request(key), key)
    spaced = json.dumps(json.loads(data), sort_keys=True, ensure_ascii=False).encode()
    with pytest.raises(MalformedRequest, match="not canonical"):
        verify_request(spaced, sig, trusted(key), (), NOW)


def test_signing_with_another_key_than_named_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(MalformedRequest, match="names another key"):
        sign_request(request(key), keys.generate_signing_key())


def test_answer_rows_survive_the_flat_wire_form() -> None:
    rows = (
        {"plaintiff_id": "110101195001011234", "case_no": "（2024）京0101民初1号"},
        {"plaintiff_id": "110101195001011234", "case_no": "（2024）京0101民初2号"},
    )
    answer = Answer("r", "resolved", rows)
    assert answer.pairs()[2] == ("plaintiff_id", "110101195001011234")
    assert rows_from_pairs(answer.pairs()) == rows
    assert rows_from_pairs([]) == ()


# --- what a manifest may declare disclosable ---------------------------------------------------
MANIFEST_ROLES = """\
[roles.court]
sql = "court.sql"
reads = ["labour_cases"]
[roles.court.outputs]
plaintiff_id = "person"
region = "region"
[roles.court.disclose.{column}]
dataset = "{dataset}"
column = "{source}"
fields = {fields}
lead_key = "{lead_key}"
when = {{ via = "court" }}
[combine]
sql = "combine.sql"
lead_key = ["person"]
"""
MANIFEST = "\n" + manifest_header("probe") + MANIFEST_ROLES
GOOD = dict(
    column="plaintiff_id",
    dataset="labour_cases",
    source="plaintiff_id",
    fields='["plaintiff_id", "case_no", "filed_on"]',
    lead_key="person",
)


def test_a_disclosure_parses_with_its_routing() -> None:
    (role,) = parse_manifest(MANIFEST.format(**GOOD)).roles
    (d,) = role.disclose
    assert (d.column, d.dataset, d.source_column, d.fields, d.lead_key, d.when) == (
        "plaintiff_id",
        "labour_cases",
        "plaintiff_id",
        ("plaintiff_id", "case_no", "filed_on"),
        "person",
        (("via", "court"),),
    )
    assert d.applies({"via": "court"}) and not d.applies({"via": "arbitration"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"column": "defendant_uscc"}, "'defendant_uscc' is not an output"),
        ({"column": "region"}, "only token outputs can be resolved"),
        ({"dataset": "enforcement_cases"}, "'enforcement_cases' is not one the role reads"),
        ({"source": "defendant_uscc"}, "'defendant_uscc' is not a person identifier"),
        ({"source": "court_region"}, "'court_region' is not a person identifier"),
        ({"fields": '["plaintiff_id", "salary"]'}, "labour_cases has no column 'salary'"),
        ({"fields": "[]"}, "fields must list at least one column"),
        ({"lead_key": "suit"}, "lead_key 'suit' is not in combine.lead_key"),
    ],
)
def test_a_bad_disclosure_is_refused_naming_the_key(change: dict[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=f"roles.court.disclose.*{message}"):
        parse_manifest(MANIFEST.format(**{**GOOD, **change}))


def test_the_shipped_model_declares_what_each_agency_may_disclose() -> None:
    m = load_manifest(Path(__file__).resolve().parents[2] / "models" / "fake_labour_litigation")
    declared = {(r.name, d.column, d.source_column) for r in m.roles for d in r.disclose}
    assert declared == {
        ("court", "plaintiff_id", "plaintiff_id"),
        ("hrss", "plaintiff_id", "applicant_id"),
        ("social_security", "person_id", "person_id"),
    }

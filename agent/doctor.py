"""`fedscreen-agent doctor`: everything an agency operator tends to get wrong, checked at once.

Each check yields findings: OK, WARN (works, but look at it) or FAIL (the agent will not serve,
or will refuse work). Every WARN and FAIL carries a one-line fix. The command exits 0 when no
finding is FAIL and 1 otherwise, so it can gate a deployment (`ExecStartPre=` in systemd, a
container health check, a CI job).

Checks run independently: one broken source does not hide a bad certificate. Nothing is changed
on disk except one temporary file created and removed in the state dir to prove it is writable.

Clock skew is measured from the coordinator's side of the wire: it stamps every Screen request
with its wall clock and the agent keeps the latest difference in STATE/clock.json (agent.clock).
Doctor reads that; it dials nobody, so before the first job the skew is unknown (a WARN).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.approvals import Approvals
from agent.audit import verify_chain
from agent.clock import read_skew
from agent.config import AgentSettings, TlsSettings, load_settings, read_secret
from fedscreen import dictionary
from fedscreen import keys as signing_keys
from fedscreen.engine import Engine
from fedscreen.errors import FedscreenError

Status = Literal["OK", "WARN", "FAIL"]
EXPIRY_WARNING = timedelta(days=30)
MAX_SKEW_SECONDS = 5.0
STALE_SKEW = timedelta(days=7)
EXAMPLE = "deploy/agent.example.toml"


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    message: str
    fix: str = ""

    def lines(self) -> list[str]:
        first = f"{self.status:<4} {self.check}: {self.message}"
        return [first, f"     fix: {self.fix}"] if self.fix else [first]


def _ok(check: str, message: str) -> Finding:
    return Finding("OK", check, message)


def _warn(check: str, message: str, fix: str) -> Finding:
    return Finding("WARN", check, message, fix)


def _fail(check: str, message: str, fix: str) -> Finding:
    return Finding("FAIL", check, message, fix)


def run_doctor(config: Path, *, now: datetime | None = None) -> list[Finding]:
    """All findings for `config`, in a stable order. `now` is for tests (default: the clock).

    Clock skew is measured from the coordinator's own requests, not by dialling it."""
    now = now or datetime.now(UTC)
    try:
        settings = load_settings(config)
    except FedscreenError as exc:
        return [_fail("config", exc.message, f"edit {config}; every key is explained in {EXAMPLE}")]
    findings = [_ok("config", f"{config} parses ({settings.name}, role {settings.role})")]
    checks: list[Callable[[], Iterator[Finding]]] = [
        lambda: _tls(settings, now),
        lambda: _signers(settings),
        lambda: _secret(settings),
        lambda: _state_dir(settings),
        lambda: _sources(settings),
        lambda: _approvals(settings),
        lambda: _audit(settings),
        lambda: _clock(settings, now),
    ]
    for check in checks:
        findings.extend(check())
    return findings


def report(findings: list[Finding]) -> str:
    """The printed report: each finding (fix indented below it), then one summary line."""
    lines = [line for f in findings for line in f.lines()]
    counts = {s: sum(f.status == s for f in findings) for s in ("FAIL", "WARN", "OK")}
    lines.append(f"doctor: {counts['FAIL']} FAIL, {counts['WARN']} WARN, {counts['OK']} OK")
    return "\n".join(lines)


def failed(findings: list[Finding]) -> bool:
    return any(f.status == "FAIL" for f in findings)


# --- TLS --------------------------------------------------------------------------------------


def _read(path: Path) -> bytes | str:
    """The file's bytes, or why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)


def _tls(settings: AgentSettings, now: datetime) -> Iterator[Finding]:
    tls = settings.tls
    assert tls is not None  # load_settings without insecure_dev requires [tls]
    issue = f"fedscreen pki issue-agent {settings.name} --host <this host's name or IP>"
    raw: dict[str, bytes] = {}
    for label, path in (("cert", tls.cert), ("key", tls.key), ("ca", tls.ca)):
        data = _read(path)
        if isinstance(data, str):
            yield _fail(
                f"tls.{label}",
                f"{path} is not readable ({data})",
                f"copy it from the coordinator's `{issue}` output, readable by the agent's user",
            )
        else:
            raw[label] = data
    if len(raw) < 3:
        return
    yield from _tls_contents(settings, tls, raw, now, issue)


def _tls_contents(
    settings: AgentSettings, tls: TlsSettings, raw: dict[str, bytes], now: datetime, issue: str
) -> Iterator[Finding]:
    try:
        cert = x509.load_pem_x509_certificate(raw["cert"])
    except ValueError:
        yield _fail("tls.cert", f"{tls.cert} is not a PEM certificate", f"re-issue: {issue}")
        return
    try:
        ca = x509.load_pem_x509_certificate(raw["ca"])
    except ValueError:
        yield _fail("tls.ca", f"{tls.ca} is not a PEM certificate", "copy the federation's ca.crt")
        return
    try:
        key = serialization.load_pem_private_key(raw["key"], password=None)
    except (ValueError, TypeError):
        yield _fail(
            "tls.key", f"{tls.key} is not an unencrypted PEM private key", f"re-issue: {issue}"
        )
        return
    mode = stat.S_IMODE(tls.key.stat().st_mode)
    if mode & 0o077:
        yield _warn(
            "tls.key",
            f"{tls.key} is readable by group or others (mode {mode:o})",
            f"chmod 600 {tls.key}",
        )
    if _spki(key.public_key()) != _spki(cert.public_key()):
        yield _fail(
            "tls.key",
            f"{tls.key} does not belong to {tls.cert} (public keys differ)",
            "install the key issued together with this certificate, or re-issue both: " + issue,
        )
    else:
        yield _ok("tls.key", "private key matches the certificate")
    try:
        cert.verify_directly_issued_by(ca)
        yield _ok("tls.chain", f"certificate is signed by {_cn(ca) or 'the CA'}")
    except (ValueError, TypeError, InvalidSignature):
        yield _fail(
            "tls.chain",
            f"{tls.cert} is not signed by the CA in {tls.ca}",
            f"use the federation's ca.crt, or re-issue from this federation's CA: {issue}",
        )
    yield _expiry("tls.cert", cert, now, f"re-issue before then: {issue}")
    yield _expiry("tls.ca", ca, now, "the federation CA must be renewed (deploy/PKI.md)")
    yield _name(settings, cert, issue)


def _spki(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cn(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _expiry(check: str, cert: x509.Certificate, now: datetime, fix: str) -> Finding:
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    stamp = after.strftime("%Y-%m-%d %H:%M UTC")
    if now >= after:
        return _fail(check, f"expired on {stamp}", fix.replace("before then", "now"))
    if now < before:
        return _fail(
            check,
            f"not valid before {before.strftime('%Y-%m-%d %H:%M UTC')} (is this clock right?)",
            "check the system clock (timedatectl; keep NTP on)",
        )
    left = after - now
    if left < EXPIRY_WARNING:
        return _warn(check, f"expires on {stamp}, in {left.days} day(s)", fix)
    return _ok(check, f"valid until {stamp}")


def _name(settings: AgentSettings, cert: x509.Certificate, issue: str) -> Finding:
    cn = _cn(cert)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = ext.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        server = ExtendedKeyUsageOID.SERVER_AUTH in eku
    except x509.ExtensionNotFound:
        server = True  # no EKU restricts nothing
    if cn != settings.name or settings.name not in dns:
        return _fail(
            "tls.name",
            f"certificate is for {cn!r} (DNS names {dns}), agent.name is {settings.name!r}; "
            "the coordinator checks it",
            f"set agent.name to the certificate's name, or re-issue: {issue}",
        )
    if not server:
        return _fail("tls.name", "certificate is not a server certificate", f"re-issue: {issue}")
    return _ok("tls.name", f"certificate names {settings.name!r} (DNS: {', '.join(dns)})")


# --- keys, secret, state ------------------------------------------------------------------------


def _signers(settings: AgentSettings) -> Iterator[Finding]:
    try:
        trusted = signing_keys.load_trusted(settings.signer_keys)
    except FedscreenError as exc:
        yield _fail(
            "trust.signer_keys",
            exc.message,
            "copy the procuratorate's signing.pub (from `fedscreen init` or `fedscreen keys new`)",
        )
        return
    yield _ok("trust.signer_keys", f"{len(trusted)} trusted key(s): {', '.join(sorted(trusted))}")
    if settings.reident.analyst_keys:
        try:
            analysts = signing_keys.load_trusted(settings.reident.analyst_keys)
        except FedscreenError as exc:
            yield _fail(
                "reident.analyst_keys",
                exc.message,
                "copy the analyst's .pub from `fedscreen analysts add NAME`, or remove the entry",
            )
            return
        yield _ok("reident.analyst_keys", f"{len(analysts)} analyst key(s) load")


def _secret(settings: AgentSettings) -> Iterator[Finding]:
    path = settings.token_secret_file
    try:
        read_secret(settings)
    except FedscreenError as exc:
        yield _fail(
            "trust.token_secret_file",
            exc.message,
            "install the agency-shared secret (32+ bytes) readable by the agent's user only; "
            "every agency must hold the same one",
        )
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        yield _warn(
            "trust.token_secret_file",
            f"{path} is readable by group or others (mode {mode:o})",
            f"chmod 600 {path}",
        )
    else:
        yield _ok("trust.token_secret_file", f"{path} readable, 32+ bytes")


def _state_dir(settings: AgentSettings) -> Iterator[Finding]:
    state = settings.state_dir
    fix = (
        f"create it for the agent's user: install -d -m 700 -o fedscreen {state} "
        "(systemd: StateDirectory=)"
    )
    if state.exists():
        if not state.is_dir():
            yield _fail("agent.state_dir", f"{state} is not a directory", fix)
            return
        try:
            with tempfile.NamedTemporaryFile(dir=state, prefix=".doctor-"):
                pass
        except OSError as exc:
            yield _fail("agent.state_dir", f"{state} is not writable ({exc.strerror})", fix)
            return
        yield _ok("agent.state_dir", f"{state} is writable")
        return
    parent = state.parent
    while not parent.exists():
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        yield _ok("agent.state_dir", f"{state} does not exist yet; serve will create it")
    else:
        yield _fail("agent.state_dir", f"{state} does not exist and {parent} is not writable", fix)


# --- data, approvals, audit, clock --------------------------------------------------------------


def _sources(settings: AgentSettings) -> Iterator[Finding]:
    book = f"fedscreen/dictionary/{settings.role}.toml"
    for name, spec in sorted(settings.sources.items()):
        check = f"datasets.{name}"
        try:
            with Engine(settings.role, {name: spec}, settings.engine) as engine:
                problems = engine.validate()
                rows = engine.describe()[name][1]
        except FedscreenError as exc:
            yield _fail(
                check,
                exc.message,
                f"fix format/path{'/table' if spec.format == 'duckdb' else ''} "
                f"in [datasets.{name}], and make the files readable by the agent's user",
            )
            continue
        for problem in problems:
            yield _fail(
                check,
                problem,
                f"export the source with the columns and types of {book}, or map a view that does",
            )
        if not problems:
            yield _ok(check, f"{rows} rows, matches the logical dictionary")
    unmapped = sorted(set(dictionary.datasets(settings.role)) - set(settings.sources))
    if unmapped:
        yield _warn(
            "datasets",
            f"role {settings.role} datasets not mapped: {', '.join(unmapped)}",
            "map them under [datasets.NAME] if models for this role read them",
        )


def _approvals(settings: AgentSettings) -> Iterator[Finding]:
    try:
        approved = Approvals(settings.approvals_path).load()
    except FedscreenError as exc:
        yield _fail(
            "approvals",
            exc.message,
            "move the file aside, then fedscreen-agent inspect and approve each bundle again",
        )
        return
    if not approved:
        yield _warn(
            "approvals",
            "no model approved yet",
            "fedscreen-agent inspect, then approve",
        )
        return
    names = sorted({f"{a.model} {a.version}" for a in approved.values()})
    yield _ok("approvals", f"{len(approved)} bundle(s) approved: {', '.join(names)}")


def _audit(settings: AgentSettings) -> Iterator[Finding]:
    try:
        n = verify_chain(settings.audit_path)
    except FedscreenError as exc:
        yield _fail(
            "audit",
            exc.message,
            "do not repair it: keep the log as evidence and report it to the procuratorate",
        )
        return
    yield _ok("audit", f"chain intact, {n} entries")


def _clock(settings: AgentSettings, now: datetime) -> Iterator[Finding]:
    """The last skew seen on a Screen request (agent.clock). It includes that request's network
    latency, milliseconds against a threshold of seconds, and says "agent ahead" when positive."""
    rerun = "run a job from the coordinator, then doctor again"
    try:
        obs = read_skew(settings.state_dir)
    except ValueError as exc:
        yield _warn("clock", str(exc), f"the next job rewrites it; or delete it and {rerun}")
        return
    if obs is None:
        yield _warn("clock", "no job received from the coordinator yet; skew unknown", rerun)
        return
    side = "ahead of" if obs.skew_seconds >= 0 else "behind"
    seen = obs.observed_at.strftime("%Y-%m-%d %H:%M UTC")
    skew = f"this host is {abs(obs.skew_seconds):.3f} s {side} the coordinator"
    age = now - obs.observed_at
    if age > STALE_SKEW:
        yield _warn("clock", f"{skew} as last observed on {seen}, {age.days} days ago", rerun)
    elif abs(obs.skew_seconds) > MAX_SKEW_SECONDS:
        yield _fail(
            "clock",
            f"{skew} (observed {seen}; more than {MAX_SKEW_SECONDS:g} s)",
            "enable time sync on both hosts: timedatectl set-ntp true, or configure "
            f"chrony/ntpd to the same NTP source; then {rerun}",
        )
    else:
        yield _ok("clock", f"{skew} (observed {seen})")

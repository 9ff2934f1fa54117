"""`fedscreen-agent doctor`: one deliberate fault per test, asserting the exact finding lines."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.audit import AuditLog
from agent.cli import main
from agent.doctor import Finding, failed, report, run_doctor
from coordinator import synth
from coordinator.federation import write_agent_config, write_secret
from coordinator.state import State, init_state
from fedscreen import pki

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    state: State
    data: Path
    secret: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("doctor")
    state = init_state(root / "coordinator", "测试检察院")
    synth.generate(root / "data", people=2000, seed=1)
    return World(state, root / "data", write_secret(root / "shared" / "token.secret"))


@pytest.fixture()
def config(world: World, tmp_path: Path) -> Path:
    return write_agent_config(world.state, tmp_path, "court-a", "court", world.data, world.secret)


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text("utf-8")
    assert old in text, old
    config.write_text(text.replace(old, new, 1), "utf-8")


def by_check(findings: list[Finding], check: str) -> list[str]:
    return [line for f in findings if f.check == check for line in f.lines()]


def statuses(findings: list[Finding]) -> set[str]:
    return {f.status for f in findings}


def tls_dir(config: Path) -> Path:
    return config.parent / "tls"


def test_healthy_config_has_no_failure_and_warns_only_about_approvals_and_the_clock(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = run_doctor(config)
    assert [f for f in findings if f.status != "OK"] == [
        Finding(
            "WARN", "approvals", "no model approved yet", "fedscreen-agent inspect, then approve"
        ),
        Finding(
            "WARN",
            "clock",
            "no job received from the coordinator yet; skew unknown",
            "run a job from the coordinator, then doctor again",
        ),
    ]
    assert [f.check for f in findings] == [
        "config",
        "tls.key",
        "tls.chain",
        "tls.cert",
        "tls.ca",
        "tls.name",
        "trust.signer_keys",
        "reident.analyst_keys",
        "trust.token_secret_file",
        "agent.state_dir",
        "datasets.civil_judgments",
        "datasets.enforcement_cases",
        "datasets.labour_cases",
        "approvals",
        "audit",
        "clock",
    ]
    assert by_check(findings, "approvals") == [
        "WARN approvals: no model approved yet",
        "     fix: fedscreen-agent inspect, then approve",
    ]
    assert main(["doctor", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("doctor: 0 FAIL, 2 WARN, 14 OK\n")


def test_config_error_is_the_finding_and_exit_is_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(config, 'role = "court"', 'role = "bakery"')
    findings = run_doctor(config)
    assert len(findings) == 1
    expected = f"FAIL config: {config}: agent.role 'bakery' is unknown"
    assert findings[0].lines()[0].startswith(expected)
    assert findings[0].fix == f"edit {config}; every key is explained in deploy/agent.example.toml"
    assert main(["doctor", "--config", str(config)]) == 1
    assert capsys.readouterr().out.endswith("doctor: 1 FAIL, 0 WARN, 0 OK\n")


def test_mismatched_key(config: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    key = tls_dir(config) / "court-a.key"
    key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert by_check(run_doctor(config), "tls.key") == [
        f"FAIL tls.key: {key} does not belong to {tls_dir(config) / 'court-a.crt'} "
        "(public keys differ)",
        "     fix: install the key issued together with this certificate, or re-issue both: "
        "fedscreen pki issue-agent court-a --host <this host's name or IP>",
    ]


def _install_cert(world: World, config: Path, *, now: datetime, name: str = "court-a") -> Path:
    bundle = pki.issue_cert(
        world.state.ca_cert.read_bytes(),
        world.state.ca_key.read_bytes(),
        name,
        server=True,
        client=False,
        now=now,
        valid_for=timedelta(days=365),
    )
    cert = tls_dir(config) / "court-a.crt"
    cert.write_bytes(bundle.cert_pem)
    (tls_dir(config) / "court-a.key").write_bytes(bundle.key_pem)
    return cert


def test_expired_certificate(world: World, config: Path) -> None:
    _install_cert(world, config, now=datetime(2024, 1, 1, tzinfo=UTC))
    findings = run_doctor(config, now=NOW)
    assert by_check(findings, "tls.cert") == [
        "FAIL tls.cert: expired on 2024-12-31 00:00 UTC",
        "     fix: re-issue now: fedscreen pki issue-agent court-a --host <this host's name or IP>",
    ]
    assert by_check(findings, "tls.key") == ["OK   tls.key: private key matches the certificate"]


def test_certificate_expiring_within_30_days_warns(world: World, config: Path) -> None:
    _install_cert(world, config, now=NOW - timedelta(days=350))
    assert by_check(run_doctor(config, now=NOW), "tls.cert") == [
        "WARN tls.cert: expires on 2026-06-16 12:00 UTC, in 15 day(s)",
        "     fix: re-issue before then: "
        "fedscreen pki issue-agent court-a --host <this host's name or IP>",
    ]


def test_certificate_from_another_ca(world: World, config: Path) -> None:
    ca_cert, ca_key = pki.create_ca("mallory CA", now=NOW)
    bundle = pki.issue_cert(ca_cert, ca_key, "court-a", server=True, client=False, now=NOW)
    pki.write_cert_bundle(bundle, tls_dir(config), "court-a")  # writes mallory's ca.crt too
    findings = run_doctor(config, now=NOW)
    assert by_check(findings, "tls.chain") == [
        "OK   tls.chain: certificate is signed by mallory CA"
    ]
    (tls_dir(config) / "ca.crt").write_bytes(world.state.ca_cert.read_bytes())
    assert by_check(run_doctor(config, now=NOW), "tls.chain") == [
        f"FAIL tls.chain: {tls_dir(config) / 'court-a.crt'} is not signed by the CA in "
        f"{tls_dir(config) / 'ca.crt'}",
        "     fix: use the federation's ca.crt, or re-issue from this federation's CA: "
        "fedscreen pki issue-agent court-a --host <this host's name or IP>",
    ]


def test_certificate_for_another_agent(world: World, config: Path) -> None:
    _install_cert(world, config, now=NOW, name="court-b")
    assert by_check(run_doctor(config, now=NOW), "tls.name") == [
        "FAIL tls.name: certificate is for 'court-b' (DNS names ['localhost', 'court-b']), "
        "agent.name is 'court-a'; the coordinator checks it",
        "     fix: set agent.name to the certificate's name, or re-issue: "
        "fedscreen pki issue-agent court-a --host <this host's name or IP>",
    ]


def test_unreadable_tls_file_skips_the_rest_of_tls(config: Path) -> None:
    ca = tls_dir(config) / "ca.crt"
    ca.unlink()
    findings = run_doctor(config)
    assert [f.check for f in findings if f.check.startswith("tls.")] == ["tls.ca"]
    assert by_check(findings, "tls.ca") == [
        f"FAIL tls.ca: {ca} is not readable (No such file or directory)",
        "     fix: copy it from the coordinator's `fedscreen pki issue-agent court-a --host "
        "<this host's name or IP>` output, readable by the agent's user",
    ]


def test_unreadable_and_short_secret(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "token.secret"
    edit(config, "token_secret_file = ", f'token_secret_file = "{missing}"\n# was: ')
    fix = (
        "     fix: install the agency-shared secret (32+ bytes) readable by the agent's user "
        "only; every agency must hold the same one"
    )
    assert by_check(run_doctor(config), "trust.token_secret_file") == [
        f"FAIL trust.token_secret_file: {config}: trust.token_secret_file {missing} "
        "is not readable",
        fix,
    ]
    missing.parent.mkdir()
    missing.write_text("too short\n")
    missing.chmod(0o600)
    assert by_check(run_doctor(config), "trust.token_secret_file") == [
        f"FAIL trust.token_secret_file: {config}: the token secret in {missing} is shorter "
        "than 32 bytes",
        fix,
    ]
    missing.write_text("x" * 40)
    missing.chmod(0o644)
    assert by_check(run_doctor(config), "trust.token_secret_file") == [
        f"WARN trust.token_secret_file: {missing} is readable by group or others (mode 644)",
        f"     fix: chmod 600 {missing}",
    ]


def test_missing_signer_key(config: Path) -> None:
    pub = config.parent / "trusted" / "procuratorate.pub"
    pub.unlink()
    lines = by_check(run_doctor(config), "trust.signer_keys")
    assert lines == [
        f"FAIL trust.signer_keys: {pub}: cannot read the public key (No such file or directory)",
        "     fix: copy the procuratorate's signing.pub (from `fedscreen init` or "
        "`fedscreen keys new`)",
    ]


def test_missing_column_in_parquet(world: World, config: Path, tmp_path: Path) -> None:
    source = world.data / "court" / "labour_cases.parquet"
    broken = tmp_path / "labour_cases.parquet"
    pl.read_parquet(source).drop("outcome").write_parquet(broken)
    edit(config, f'path = "{source}"', f'path = "{broken}"')
    findings = run_doctor(config)
    assert by_check(findings, "datasets.labour_cases") == [
        "FAIL datasets.labour_cases: court.labour_cases: column outcome is missing "
        "(expected VARCHAR)",
        "     fix: export the source with the columns and types of "
        "fedscreen/dictionary/court.toml, or map a view that does",
    ]
    # the other sources are still checked
    assert by_check(findings, "datasets.enforcement_cases")[0].startswith(
        "OK   datasets.enforcement_cases: "
    )


def test_missing_source_file(world: World, config: Path, tmp_path: Path) -> None:
    source = world.data / "court" / "labour_cases.parquet"
    edit(config, f'path = "{source}"', f'path = "{tmp_path / "gone.parquet"}"')
    lines = by_check(run_doctor(config), "datasets.labour_cases")
    assert lines[0].startswith("FAIL datasets.labour_cases: ")
    assert str(tmp_path / "gone.parquet") in lines[0]
    assert lines[1] == (
        "     fix: fix format/path in [datasets.labour_cases], and make the files readable "
        "by the agent's user"
    )


def test_unmapped_dataset_warns(world: World, config: Path) -> None:
    text = config.read_text("utf-8")
    start = text.index("[datasets.civil_judgments]")
    config.write_text(text[:start], "utf-8")
    assert by_check(run_doctor(config), "datasets") == [
        "WARN datasets: role court datasets not mapped: civil_judgments",
        "     fix: map them under [datasets.NAME] if models for this role read them",
    ]


def test_state_dir_is_a_file(config: Path) -> None:
    state = config.parent / "state"
    state.write_text("oops")
    assert by_check(run_doctor(config), "agent.state_dir") == [
        f"FAIL agent.state_dir: {state} is not a directory",
        f"     fix: create it for the agent's user: install -d -m 700 -o fedscreen {state} "
        "(systemd: StateDirectory=)",
    ]
    assert by_check(run_doctor(config), "clock")[0] == (  # one broken dir, no crash
        f"WARN clock: cannot read {state / 'clock.json'} (Not a directory)"
    )


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: file permissions do not stop root, so a read-only state dir "
    "cannot be simulated",
)
def test_read_only_state_dir(config: Path) -> None:
    state = config.parent / "state"
    state.mkdir()
    state.chmod(0o500)
    try:
        assert by_check(run_doctor(config), "agent.state_dir")[0] == (
            f"FAIL agent.state_dir: {state} is not writable (Permission denied)"
        )
    finally:
        state.chmod(0o700)


def test_approvals_and_audit(config: Path) -> None:
    state = config.parent / "state"
    state.mkdir()
    (state / "approvals.json").write_text(
        '{"ab12": {"model": "m", "version": "1.0.0", "approved_at": "x", "approved_by": "op"}}'
    )
    log = AuditLog(state / "audit.jsonl")
    log.append("approve", bundle_digest="ab12")
    log.append("revoke", bundle_digest="ab12")
    findings = run_doctor(config)
    assert by_check(findings, "approvals") == ["OK   approvals: 1 bundle(s) approved: m 1.0.0"]
    assert by_check(findings, "audit") == ["OK   audit: chain intact, 2 entries"]
    lines = (state / "audit.jsonl").read_text("utf-8").splitlines()
    (state / "audit.jsonl").write_text(lines[0].replace("ab12", "cd34") + "\n" + lines[1] + "\n")
    audit = by_check(run_doctor(config), "audit")
    assert audit[0] == (
        "FAIL audit: line 2: prev does not match the hash of line 1 (line 1 was edited, or lines "
        f"were removed or reordered) in {state / 'audit.jsonl'}"
    )
    assert audit[1] == (
        "     fix: do not repair it: keep the log as evidence and report it to the procuratorate"
    )
    (state / "approvals.json").write_text("{not json")
    assert by_check(run_doctor(config), "approvals") == [
        f"FAIL approvals: {state / 'approvals.json'}: approvals file is corrupt; "
        "re-approve bundles",
        "     fix: move the file aside, then fedscreen-agent inspect and approve each bundle again",
    ]


def write_clock(config: Path, skew: float, observed_at: datetime) -> None:
    state = config.parent / "state"
    state.mkdir(exist_ok=True)
    doc = {"skew_seconds": skew, "observed_at": observed_at.isoformat()}
    (state / "clock.json").write_text(json.dumps(doc), "utf-8")


TIME_SYNC = (
    "     fix: enable time sync on both hosts: timedatectl set-ntp true, or configure "
    "chrony/ntpd to the same NTP source; then run a job from the coordinator, then doctor again"
)


def test_clock_skew_within_5_seconds_is_ok(config: Path) -> None:
    write_clock(config, -4.25, NOW - timedelta(hours=2))
    assert by_check(run_doctor(config, now=NOW), "clock") == [
        "OK   clock: this host is 4.250 s behind the coordinator (observed 2026-06-01 10:00 UTC)"
    ]
    write_clock(config, 5.0, datetime.now(UTC))
    assert not failed(run_doctor(config))  # by the real clock, the certificates are valid


def test_clock_skew_beyond_5_seconds_fails_with_the_time_sync_fix(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_clock(config, 120.0, NOW - timedelta(minutes=5))
    assert by_check(run_doctor(config, now=NOW), "clock") == [
        "FAIL clock: this host is 120.000 s ahead of the coordinator (observed 2026-06-01 "
        "11:55 UTC; more than 5 s)",
        TIME_SYNC,
    ]
    write_clock(config, -5.5, NOW)
    assert by_check(run_doctor(config, now=NOW), "clock")[0] == (
        "FAIL clock: this host is 5.500 s behind the coordinator (observed 2026-06-01 "
        "12:00 UTC; more than 5 s)"
    )
    write_clock(config, -5.5, datetime.now(UTC))
    assert main(["doctor", "--config", str(config)]) == 1  # a real FAIL, not just a report
    assert "FAIL clock: " in capsys.readouterr().out


def test_a_week_old_clock_observation_is_a_stale_warning(config: Path) -> None:
    write_clock(config, 0.5, NOW - timedelta(days=9))
    assert by_check(run_doctor(config, now=NOW), "clock") == [
        "WARN clock: this host is 0.500 s ahead of the coordinator as last observed on "
        "2026-05-23 12:00 UTC, 9 days ago",
        "     fix: run a job from the coordinator, then doctor again",
    ]
    write_clock(config, 0.5, NOW - timedelta(days=6))
    assert by_check(run_doctor(config, now=NOW), "clock")[0].startswith("OK   clock: ")


def test_no_or_corrupt_clock_observation_warns_without_failing(config: Path) -> None:
    findings = run_doctor(config)
    assert by_check(findings, "clock") == [
        "WARN clock: no job received from the coordinator yet; skew unknown",
        "     fix: run a job from the coordinator, then doctor again",
    ]
    assert not failed(findings)
    state = config.parent / "state"
    state.mkdir()
    (state / "clock.json").write_text("{half", "utf-8")
    assert by_check(run_doctor(config), "clock") == [
        f"WARN clock: {state / 'clock.json'} is not a clock observation",
        "     fix: the next job rewrites it; or delete it and run a job from the coordinator, "
        "then doctor again",
    ]


def test_report_summary() -> None:
    text = report([Finding("OK", "a", "fine"), Finding("FAIL", "b", "bad", "do x")])
    assert text == "OK   a: fine\nFAIL b: bad\n     fix: do x\ndoctor: 1 FAIL, 0 WARN, 1 OK"

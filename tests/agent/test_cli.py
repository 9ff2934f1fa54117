"""`fedscreen-agent` end to end: check, serve, inspect/approve, audit verify; one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from agent.cli import main
from coordinator import synth
from coordinator.federation import write_agent_config, write_secret
from coordinator.state import State, init_state
from fedscreen import keys
from fedscreen.bundle import sign_bundle

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fake_labour_litigation"


@dataclass(frozen=True)
class World:
    root: Path
    state: State
    data: Path
    secret: Path
    bundle: Path  # signed with the state's key, which the agent trusts
    untrusted: Path  # the same model signed with a key the agent does not trust


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("agent-cli")
    state = init_state(root / "coordinator", "测试检察院")
    synth.generate(root / "data", people=5000, seed=1)
    secret = write_secret(root / "shared" / "token.secret")
    now = datetime.now(UTC)
    bundle = root / "model.fsb"
    bundle.write_bytes(sign_bundle(MODEL, keys.load_private(state.signing_key), "测试", now=now))
    untrusted = root / "untrusted.fsb"
    untrusted.write_bytes(sign_bundle(MODEL, keys.generate_signing_key(), "mallory", now=now))
    return World(root, state, root / "data", secret, bundle, untrusted)


@pytest.fixture()
def config(world: World, tmp_path: Path) -> Path:
    """A fresh court agent (own state dir) over the synthetic court data, with mutual TLS."""
    return write_agent_config(world.state, tmp_path, "court-a", "court", world.data, world.secret)


@pytest.fixture()
def approved(config: Path, world: World, capsys: pytest.CaptureFixture[str]) -> Path:
    """The config after one approval (so the audit log holds one entry)."""
    assert main(["approve", "--config", str(config), "--yes", str(world.bundle)]) == 0
    capsys.readouterr()
    return config


def one_error_line(err: str) -> str:
    """stderr must be exactly one line `error: …`; returns the message after the prefix."""
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("error: "), repr(err)
    return err[len("error: ") : -1]


def without_tls(config: Path) -> Path:
    """The same config with its [tls] table removed (a sibling file, so paths still resolve)."""
    kept, skipping = [], False
    for line in config.read_text("utf-8").splitlines():
        if line.startswith("["):
            skipping = line == "[tls]"
        if not skipping:
            kept.append(line)
    path = config.with_name("notls.toml")
    path.write_text("\n".join(kept) + "\n", "utf-8")
    assert "[tls]" not in path.read_text("utf-8")
    return path


def state_dir(config: Path) -> Path:
    return config.parent / "state"  # write_agent_config sets state_dir = "state"


def with_labour_cases_lacking(config: Path, column: str, tmp_path: Path) -> Path:
    """Point the config's labour_cases at a copy of its Parquet file without `column`."""
    text = config.read_text("utf-8")
    mapped = re.search(r'path = "(.*labour_cases\.parquet)"', text)
    assert mapped is not None
    broken = tmp_path / f"labour_cases_without_{column}.parquet"
    pl.read_parquet(mapped.group(1)).drop(column).write_parquet(broken)
    config.write_text(text.replace(mapped.group(1), str(broken)), "utf-8")
    return config


# --- check -----------------------------------------------------------------------------------
def test_check_on_a_correct_mapping_prints_ok(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == f"config:  {config} ok (court-a, role court)"
    assert lines[1].startswith("signers: 1 trusted key(s): ")
    datasets = [line for line in lines[2:] if line.startswith("dataset: ")]
    assert any(re.fullmatch(r"dataset: labour_cases: [1-9]\d* rows, ok", d) for d in datasets)
    assert all(d.endswith(", ok") for d in datasets)
    assert "problem" not in captured.out


def test_check_names_the_dataset_and_the_missing_column(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = with_labour_cases_lacking(config, "plaintiff_id", tmp_path)
    code = main(["check", "--config", str(broken)])
    captured = capsys.readouterr()
    assert code == 4
    assert (
        "  problem: court.labour_cases: column plaintiff_id is missing (expected VARCHAR)"
        in captured.out.splitlines()
    )
    assert one_error_line(captured.err) == "1 schema problem(s) in mapped sources; see above"


def test_check_does_not_call_a_dataset_with_a_missing_column_ok(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = with_labour_cases_lacking(config, "plaintiff_id", tmp_path)
    assert main(["check", "--config", str(broken)]) == 4
    lines = capsys.readouterr().out.splitlines()
    status = [line for line in lines if line.startswith("dataset: labour_cases:")]
    assert status and status[0].endswith("1 problem(s)"), status


def test_check_with_a_missing_config_names_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope" / "agent.toml"
    assert main(["check", "--config", str(missing)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_error_line(captured.err) == f"{missing}: no such config file"


def test_check_with_an_unreadable_secret_names_it(
    config: Path, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "no.secret"
    config.write_text(config.read_text("utf-8").replace(str(world.secret), str(gone)), "utf-8")
    assert main(["check", "--config", str(config)]) == 3
    assert f"trust.token_secret_file {gone} is not readable" in one_error_line(
        capsys.readouterr().err
    )


# --- serve -----------------------------------------------------------------------------------
def test_serve_without_tls_refuses(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = without_tls(config)
    assert main(["serve", "--config", str(plain)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    message = one_error_line(captured.err)
    assert "mutual TLS is mandatory" in message and str(plain) in message
    assert not state_dir(config).exists()  # nothing started, nothing written


def test_serve_insecure_dev_warns_and_announces_its_address(config: Path) -> None:
    plain = without_tls(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--insecure-dev", "--config", str(plain)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the agent announces its bound port, then serves
        match = re.search(r"listening on (127\.0\.0\.1:(\d+))$", line.strip())
        assert match, line
        assert int(match.group(2)) > 0
        assert line.startswith("fedscreen-agent court-a (court) listening on ")
        endpoint = (state_dir(config) / "endpoint").read_text().strip()
        assert endpoint == match.group(1)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0  # SIGTERM is a clean shutdown
    warnings = [w for w in err.splitlines() if w.startswith("WARNING: --insecure-dev")]
    assert len(warnings) == 1
    assert "plaintext transport, no client authentication" in warnings[0]


# --- inspect / approve -----------------------------------------------------------------------
def test_inspect_then_approve_then_inspect(
    config: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "--config", str(config), str(world.bundle)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "approved here: no"
    assert "role court: reads labour_cases" in out
    assert "    plaintiff_id: token of a resident ID (keyed hash, never the ID)" in out
    assert "role hrss" not in out  # an agency sees its own role only
    digest = re.search(r"^digest:\s+([0-9a-f]{64})$", out, re.M)
    assert digest is not None

    assert main(["approve", "--config", str(config), "--yes", "--by", "张三",
                 str(world.bundle)]) == 0  # fmt: skip
    assert capsys.readouterr().out == (
        f"approved fake_labour_litigation 1.1.0 ({digest.group(1)[:12]})\n"
    )
    assert main(["inspect", "--config", str(config), str(world.bundle)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "approved here: yes"
    approvals = json.loads((state_dir(config) / "approvals.json").read_text("utf-8"))
    assert approvals[digest.group(1)]["approved_by"] == "张三"


def test_approve_of_an_untrusted_bundle_fails_and_records_nothing(
    config: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["approve", "--config", str(config), "--yes", str(world.untrusted)])
    captured = capsys.readouterr()
    assert code == 6
    assert captured.out == ""
    assert "unknown key" in one_error_line(captured.err)
    assert not (state_dir(config) / "approvals.json").exists()
    assert not (state_dir(config) / "audit.jsonl").exists()


def test_approve_of_an_untrusted_bundle_leaves_existing_approvals_unchanged(
    approved: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ("approvals.json", "audit.jsonl", "audit.jsonl.head")
    before = {f: (state_dir(approved) / f).read_bytes() for f in files}
    assert main(["approve", "--config", str(approved), "--yes", str(world.untrusted)]) == 6
    one_error_line(capsys.readouterr().err)
    assert {f: (state_dir(approved) / f).read_bytes() for f in files} == before


def test_inspect_of_a_missing_bundle_is_one_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.fsb"
    assert main(["inspect", "--config", str(config), str(missing)]) == 1
    assert one_error_line(capsys.readouterr().err) == f"cannot read bundle {missing}"


# --- audit -----------------------------------------------------------------------------------
def test_audit_verify_on_a_fresh_agent_counts_zero(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("audit log intact: 0 entries")


def test_audit_verify_counts_entries(
    approved: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--config", str(approved)]) == 0
    log = state_dir(approved) / "audit.jsonl"
    assert capsys.readouterr().out == f"audit log intact: 1 entries ({log})\n"
    assert main(["revoke", "--config", str(approved), _digest(approved)]) == 0
    assert main(["approve", "--config", str(approved), "--yes", str(world.bundle)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--config", str(approved)]) == 0
    assert capsys.readouterr().out == f"audit log intact: 3 entries ({log})\n"


def _digest(config: Path) -> str:
    text = (state_dir(config) / "approvals.json").read_text("utf-8")
    found = re.search(r'"([0-9a-f]{64})"', text)
    assert found is not None
    return found.group(1)[:16]


def test_audit_verify_names_the_line_after_a_byte_is_edited(
    approved: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke", "--config", str(approved), _digest(approved)]) == 0
    assert main(["approve", "--config", str(approved), "--yes", str(world.bundle)]) == 0
    capsys.readouterr()
    log = state_dir(approved) / "audit.jsonl"
    data = bytearray(log.read_bytes())
    assert data.count(b"\n") == 3
    mid = len(data) // 2
    edited_line = data[:mid].count(b"\n") + 1
    data[mid] = ord("#") if data[mid] != ord("#") else ord("!")
    log.write_bytes(bytes(data))

    assert main(["audit", "verify", "--config", str(approved)]) == 9
    captured = capsys.readouterr()
    assert captured.out == ""
    message = one_error_line(captured.err)
    named = re.match(r"line (\d+): ", message)
    assert named, message
    # The edited line itself if it no longer parses, else the next line, whose prev breaks.
    assert int(named.group(1)) in (edited_line, edited_line + 1)
    assert str(log) in message or "prev does not match" in message

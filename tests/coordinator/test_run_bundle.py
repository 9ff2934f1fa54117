"""`fedscreen run NAME|DIR` sends the bundle `model sign` made, so the digest the agencies
approved is the one they are asked to run (README, "A federation by hand")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.registry import Registry
from coordinator.run import job_bundle_file, load_bundle
from coordinator.state import State
from fedscreen.bundle import bundle_digest
from tests.coordinator.test_cli import MODEL, ROLES, dead_address, fs, one_error_line

NAME = "fake_labour_litigation"
BUNDLE = f"{NAME}-1.1.0.fsb"


@pytest.fixture()
def state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A state dir whose agents are all down, run from a folder with its own models/."""
    shutil.copytree(MODEL, tmp_path / "models" / NAME)
    monkeypatch.chdir(tmp_path)  # `run NAME` looks in ./models first
    root = tmp_path / "state"
    assert main(["init", str(root), "--name", "测试检察院"]) == 0
    address = dead_address()
    for role in ROLES:
        assert fs(root, "agents", "add", role.replace("_", "-"), address, "--role", role) == 0
    capsys.readouterr()
    return root


def sign(state: Path) -> bytes:
    """`model sign` for 30 days: a folder signed anew at run time (for the default 365 days)
    would differ even within the same second."""
    assert fs(state, "model", "sign", f"models/{NAME}", "--valid-days", "30") == 0
    return (state / "bundles" / BUNDLE).read_bytes()


def run(state: Path, target: str) -> tuple[str, bytes]:
    """Run `target` (every agent is down: the job fails); the digest the registry recorded for
    the job, and the bundle the job kept."""
    registry = state / "registry.sqlite"
    before = {j["job_id"] for j in Registry(registry).jobs()} if registry.exists() else set()
    assert fs(state, "run", target, "--timeout", "0.5") == 11  # no agent answered
    [job] = [j for j in Registry(registry).jobs() if j["job_id"] not in before]
    return str(job["digest"]), job_bundle_file(State(state), str(job["job_id"])).read_bytes()


def test_run_by_name_sends_the_bundle_model_sign_made(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = sign(state)
    digest, sent = run(state, NAME)
    assert digest == bundle_digest(signed)
    assert sent == signed


def test_run_by_folder_sends_the_same_bundle(state: Path) -> None:
    signed = sign(state)
    digest, sent = run(state, str(Path("models") / NAME))
    assert (digest, sent) == (bundle_digest(signed), signed)


def test_an_unsigned_model_is_signed_once_and_kept_for_the_next_runs(state: Path) -> None:
    first, sent = run(state, NAME)
    kept = (state / "bundles" / BUNDLE).read_bytes()
    assert (first, sent) == (bundle_digest(kept), kept)
    second, _ = run(state, NAME)
    assert second == first


def test_a_changed_folder_under_a_signed_version_is_refused_before_any_job(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign(state)
    with (Path("models") / NAME / "hrss.sql").open("a", encoding="utf-8") as fh:
        fh.write("-- changed after approval\n")
    capsys.readouterr()
    assert fs(state, "run", NAME, "--timeout", "0.5") == 5
    message = one_error_line(capsys.readouterr().err)
    assert "(hrss.sql differs)" in message and "bump version" in message
    assert not (state / "registry.sqlite").exists()


def test_a_bundle_file_is_sent_as_given(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere.fsb"
    assert fs(state, "model", "sign", f"models/{NAME}", "--out", str(out)) == 0
    data, verified = load_bundle(State(state), str(out), Path("models"))
    assert data == out.read_bytes() and verified.digest == bundle_digest(data)
    assert not (state / "bundles" / BUNDLE).exists()

"""A registry.sqlite that is not a database (or cannot be opened) is one line naming the file
and exit 3 from every command that reads it, never a traceback, and the file is left as is."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.cli_audit import cross_check
from coordinator.registry import Registry, RegistryUnusable
from coordinator.state import State

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fake_labour_litigation"
ROLES = ("court", "hrss", "market_regulation", "social_security")
JUNK = b"junk\n"  # what `echo junk > STATE/registry.sqlite` leaves


def dead_address() -> str:
    """A loopback port nobody listens on: bound by us, then closed at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture()
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A state dir whose registry is junk, with every role the model needs registered at an
    address where nothing listens (so `run` would fail with exit 11 if it got that far)."""
    root = tmp_path / "state"
    assert main(["init", str(root)]) == 0
    for role in ROLES:
        name = role.replace("_", "-")
        assert (
            main(["--state", str(root), "agents", "add", name, dead_address(), "--role", role]) == 0
        )
    (root / "registry.sqlite").write_bytes(JUNK)
    capsys.readouterr()
    return root


def expected(root: Path) -> str:
    path = root / "registry.sqlite"
    return (
        f"error: lead registry {path} is not an SQLite database or is damaged"
        " (file is not a database); restore it from a backup, or move it aside to start an"
        " empty one\n"
    )


def registry_files(root: Path) -> dict[str, bytes]:
    """registry.sqlite and any -wal, -shm or -journal beside it."""
    return {p.name: p.read_bytes() for p in sorted(root.glob("registry.sqlite*"))}


@pytest.mark.parametrize(
    "argv",
    [
        ["leads", "list"],
        ["run", str(MODEL), "--timeout", "5"],
        ["models", "stats"],
        ["jobs", "list"],
        ["report", "--out", "REPORT"],
        ["resolve", "L00000000000a", "--case-ref", "c", "--reason", "r"],
        ["resolutions"],
    ],
    ids=["leads-list", "run", "models-stats", "jobs-list", "report", "resolve", "resolutions"],
)
def test_a_junk_registry_is_one_line_naming_the_file_and_is_left_alone(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [str(tmp_path / "r.html") if a == "REPORT" else a for a in argv]
    code = main(["--state", str(state), *argv])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.err == expected(state)
    assert "Traceback" not in captured.out
    assert registry_files(state) == {"registry.sqlite": JUNK}
    assert not (tmp_path / "r.html").exists()


def test_the_installed_command_prints_one_line_and_no_traceback(state: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FEDSCREEN_STATE"}
    done = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "--state", str(state), "leads", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "", expected(state))
    assert registry_files(state) == {"registry.sqlite": JUNK}


def test_a_registry_path_that_is_a_folder_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(RegistryUnusable, match=r"^cannot open the lead registry .*\(unable to"):
        Registry(tmp_path)


def test_a_damaged_database_found_after_opening_is_the_same_one_line(tmp_path: Path) -> None:
    """A valid header over pages that are not: the damage shows on the first real read."""
    path = tmp_path / "registry.sqlite"
    registry = Registry(path)
    registry.start_job("j1", "m", "1.0.0", "d", "m", {}, ("模", "M"))
    registry.record_leads("j1", "m", "1.0.0", "m", [])
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xff" * (len(data) - page)  # every page after the first
    path.write_bytes(bytes(data))
    with pytest.raises(RegistryUnusable, match=r"is not an SQLite database or is damaged"):
        registry.jobs()


def test_audit_cross_check_against_a_junk_registry_is_the_same_one_line(state: Path) -> None:
    with pytest.raises(RegistryUnusable) as caught:
        cross_check(State(state), "court", [])
    assert f"error: {caught.value.message}\n" == expected(state)
    assert registry_files(state) == {"registry.sqlite": JUNK}

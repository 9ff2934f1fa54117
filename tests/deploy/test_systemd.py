"""deploy/systemd: both units are hardened alike, and systemd itself accepts them where
available."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
AGENT_UNIT = UNITS / "fedscreen-agent.service"
COORDINATOR_UNIT = UNITS / "fedscreen-coordinator.service"
SYSUSERS = UNITS / "fedscreen.sysusers.conf"
INSTALLED_BIN = "/opt/fedscreen/venv/bin/"
BOTH = pytest.mark.parametrize("unit", [AGENT_UNIT, COORDINATOR_UNIT], ids=lambda u: u.stem)

# What every fedscreen service gets: a fixed user, a read-only system, no privileges.
HARDENING = {
    "User": "fedscreen",
    "Group": "fedscreen",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "SystemCallArchitectures": "native",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "UMask": "0077",
    "StateDirectoryMode": "0700",
}


def directives(text: str) -> dict[str, list[str]]:
    """KEY -> every value it is given in [Service], in order (comments and blanks skipped)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@BOTH
def test_unit_is_hardened(unit: Path) -> None:
    d = directives(unit.read_text("utf-8"))
    for key, value in HARDENING.items():
        assert d.get(key) == [value], key
    assert d["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert "DynamicUser" not in d  # a fixed user owns the TLS keys and the state


@BOTH
def test_the_state_dir_is_the_only_writable_path(unit: Path) -> None:
    d = directives(unit.read_text("utf-8"))
    (state_dir,) = d["StateDirectory"]
    assert d["ReadWritePaths"] == [f"/var/lib/{state_dir}"]


def test_agent_unit_reads_data_and_config_read_only() -> None:
    d = directives(AGENT_UNIT.read_text("utf-8"))
    assert d["StateDirectory"] == ["fedscreen-agent"]
    assert d["ReadOnlyPaths"] == ["-/srv/fedscreen", "/etc/fedscreen"]
    assert d["ExecStart"] == [
        f"{INSTALLED_BIN}fedscreen-agent serve --config /etc/fedscreen/agent.toml"
    ]


def test_coordinator_unit_serves_its_state_and_waits_for_the_running_job() -> None:
    d = directives(COORDINATOR_UNIT.read_text("utf-8"))
    assert d["StateDirectory"] == ["fedscreen/coordinator"]
    state = "/var/lib/fedscreen/coordinator"
    assert d["ExecStart"] == [f"{INSTALLED_BIN}fedscreen --state {state} serve"]
    assert d["WorkingDirectory"] == [state]  # relative bundle paths in schedules.toml
    # SIGTERM ends the daemon after its current job; the default job deadline is 600 s.
    assert d["KillSignal"] == ["SIGTERM"]
    assert d["TimeoutStopSec"] == ["11min"]


def test_sysusers_declares_the_service_user() -> None:
    rows = [
        line.split()
        for line in SYSUSERS.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [(r[0], r[1]) for r in rows] == [("u", "fedscreen")]


def _runnable_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit with its installed venv path pointed at this venv: `verify` checks that
    ExecStart's binary exists, and /opt/fedscreen is not installed here. Nothing else changes."""
    venv_bin = Path(sys.executable).parent
    program = unit.stem.replace("-coordinator", "")  # fedscreen-agent, fedscreen
    if not (venv_bin / program).exists():
        pytest.skip(f"{program} is not installed in {venv_bin}")
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text("utf-8").replace(INSTALLED_BIN, f"{venv_bin}/"), "utf-8")
    return copy


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt package systemd); nothing is installed by tests",
)


@needs_analyze
@BOTH
def test_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    copy = _runnable_copy(unit, tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr


@needs_analyze
@BOTH
def test_systemd_analyze_security_exposure(unit: Path, tmp_path: Path) -> None:
    copy = _runnable_copy(unit, tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (needs systemd 252 or later)")
    # exit 0: overall exposure at most 2.0 of 10 ("OK"); the scale is 0-100 for --threshold
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr

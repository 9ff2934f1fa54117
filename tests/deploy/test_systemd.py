"""deploy/systemd: the agent unit is hardened, and systemd itself accepts it where available."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "fedscreen-agent.service"
SYSUSERS = ROOT / "deploy" / "systemd" / "fedscreen.sysusers.conf"
INSTALLED_BIN = "/opt/fedscreen/venv/bin/"


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


def test_agent_unit_is_hardened() -> None:
    d = directives(UNIT.read_text("utf-8"))
    expect_one = {
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
        "StateDirectory": "fedscreen-agent",
        "UMask": "0077",
    }
    for key, value in expect_one.items():
        assert d.get(key) == [value], key
    assert d["SystemCallFilter"] == ["@system-service", "~@privileged"]
    # The state dir is the only writable path; data and config are read-only.
    assert d["ReadWritePaths"] == ["/var/lib/fedscreen-agent"]
    assert d["ReadOnlyPaths"] == ["-/srv/fedscreen", "/etc/fedscreen"]
    assert "DynamicUser" not in d  # a fixed user owns the TLS key and the token secret
    assert d["ExecStart"] == [
        f"{INSTALLED_BIN}fedscreen-agent serve --config /etc/fedscreen/agent.toml"
    ]


def test_sysusers_declares_the_service_user() -> None:
    rows = [
        line.split()
        for line in SYSUSERS.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [(r[0], r[1]) for r in rows] == [("u", "fedscreen")]


def _runnable_copy(tmp_path: Path) -> Path:
    """The unit with its installed venv path pointed at this venv: `verify` checks that
    ExecStart's binary exists, and /opt/fedscreen is not installed here. Nothing else changes."""
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "fedscreen-agent").exists():
        pytest.skip(f"fedscreen-agent is not installed in {venv_bin}")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text("utf-8").replace(INSTALLED_BIN, f"{venv_bin}/"), "utf-8")
    return copy


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt package systemd); nothing is installed by tests",
)


@needs_analyze
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = _runnable_copy(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr


@needs_analyze
def test_systemd_analyze_security_exposure(tmp_path: Path) -> None:
    unit = _runnable_copy(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (needs systemd 252 or later)")
    # exit 0: overall exposure at most 2.0 of 10 ("OK"); the scale is 0-100 for --threshold
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr

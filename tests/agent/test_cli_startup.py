"""`fedscreen-agent check` and `serve` refuse what would fail later — TLS files, sources that do
not match the dictionary, an address they cannot bind — with one line and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tests.agent.test_cli import ROOT, one_error_line, state_dir, with_labour_cases_lacking
from tests.agent.test_cli import config as config  # noqa: F401 - fixtures
from tests.agent.test_cli import world as world  # noqa: F401


def tls_file(config: Path, name: str) -> Path:
    return config.parent / "tls" / name


def repoint(config: Path, key: str, to: Path) -> None:
    """Point [tls] `key` (cert, key or ca) of `config` at `to`."""
    lines = config.read_text("utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
    lines[index] = f'{key} = "{to}"'
    config.write_text("\n".join(lines) + "\n", "utf-8")


# --- check: TLS files ------------------------------------------------------------------------
def test_check_prints_the_tls_files_it_loaded(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config)]) == 0
    cert, ca = tls_file(config, "court-a.crt"), tls_file(config, "ca.crt")
    assert f"tls:     {cert} and its key load; CA {ca}" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    ("key", "target", "problem"),
    [
        ("cert", "missing.crt", "is not readable (No such file or directory)"),
        ("cert", "court-a.key", "is not a PEM certificate"),
        ("ca", "court-a.key", "is not a PEM certificate"),
        ("key", "court-a.crt", "is not an unencrypted PEM private key"),
        ("key", "missing.key", "is not readable (No such file or directory)"),
    ],
)
def test_check_refuses_unusable_tls_files_naming_key_and_file(
    config: Path, capsys: pytest.CaptureFixture[str], key: str, target: str, problem: str
) -> None:
    path = tls_file(config, target)
    repoint(config, key, path)
    assert main(["check", "--config", str(config)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_error_line(captured.err) == f"{config}: tls.{key} {path} {problem}"


def test_check_refuses_a_key_that_does_not_belong_to_the_certificate(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "other.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    repoint(config, "key", other)
    assert main(["check", "--config", str(config)]) == 3
    cert = tls_file(config, "court-a.crt")
    assert one_error_line(capsys.readouterr().err) == (
        f"{config}: tls.key {other} does not belong to tls.cert {cert} (public keys differ)"
    )


def test_check_with_zero_threads_is_one_line_not_a_duckdb_traceback(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(config.read_text("utf-8").replace("threads = 1", "threads = 0"), "utf-8")
    assert main(["check", "--config", str(config)]) == 3
    message = one_error_line(capsys.readouterr().err)
    assert message == f"{config}: limits.threads must be from 1 to 256, not 0"


# --- serve: refuses to start ------------------------------------------------------------------
def test_serve_refuses_a_source_that_does_not_match_the_dictionary(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = with_labour_cases_lacking(config, "plaintiff_id", tmp_path)
    assert main(["serve", "--config", str(broken)]) == 4
    captured = capsys.readouterr()
    assert captured.out == ""  # never announced a port
    assert one_error_line(captured.err) == (
        f"{config}: refusing to serve, a mapped source does not match the logical dictionary: "
        "court.labour_cases: column plaintiff_id is missing (expected VARCHAR) "
        "(fedscreen-agent check lists every problem)"
    )
    assert not state_dir(config).exists()  # nothing started, nothing written


def test_serve_with_a_key_file_as_its_certificate_is_one_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tls_file(config, "court-a.key")
    repoint(config, "cert", key)
    assert main(["serve", "--config", str(config)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_error_line(captured.err) == f"{config}: tls.cert {key} is not a PEM certificate"
    assert not state_dir(config).exists()


def test_serve_on_an_address_in_use_exits_with_one_error_line(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        text = config.read_text("utf-8").replace('listen = "127.0.0.1:0"', f'listen = "{address}"')
        config.write_text(text, "utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")}
        done = subprocess.run(
            [sys.executable, "-m", "agent", "serve", "--config", str(config)],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
        )  # fmt: skip
    assert done.returncode == 3 and done.stdout == ""
    # grpc's C core logs its own line first; ours is the last, and the only Python output
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: {config}: cannot serve on agent.listen {address}: it is in use or not an "
        "address of this host, or grpc refused the [tls] certificate and key (doctor checks them)"
    )

"""`fedscreen` (the coordinator CLI) end to end, in-process: exit codes, output, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.cli import main
from fedscreen import keys as signing_keys

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fake_labour_litigation"
ROLES = ("court", "hrss", "market_regulation", "social_security")


def fs(state: Path, *args: str) -> int:
    """`fedscreen --state STATE ARGS…`, in-process."""
    return main(["--state", str(state), *args])


def one_error_line(err: str) -> str:
    """stderr must be exactly one line `error: …`; returns the message after the prefix."""
    assert err.endswith("\n"), repr(err)
    assert err.count("\n") == 1, repr(err)
    assert err.startswith("error: "), repr(err)
    return err[len("error: ") : -1]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def dead_address() -> str:
    """A loopback port nobody listens on: bound by us, then closed at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(state dir, signed bundle) shared by the read-only model tests."""
    root = tmp_path_factory.mktemp("signed") / "state"
    assert main(["init", str(root)]) == 0
    assert fs(root, "model", "sign", str(MODEL)) == 0
    yield root, root / "bundles" / "fake_labour_litigation-1.1.0.fsb"


# --- init ------------------------------------------------------------------------------------
def test_init_creates_the_ca_the_client_cert_and_a_signing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "st"
    assert main(["init", str(root), "--name", "某区人民检察院"]) == 0
    out = capsys.readouterr().out
    for f in ("pki/ca.crt", "pki/ca.key", "pki/coordinator.crt", "pki/coordinator.key"):
        assert (root / f).is_file(), f
    assert (root / "keys/signing.key").is_file() and (root / "keys/signing.pub").is_file()
    kid = signing_keys.key_id(signing_keys.load_public(root / "keys/signing.pub"))
    assert f"signing key id:  {kid}" in out
    assert f"initialised {root}" in out
    assert (root / "pki/ca.key").stat().st_mode & 0o077 == 0
    assert (root / "keys/signing.key").stat().st_mode & 0o077 == 0


def test_a_second_init_refuses_and_leaves_every_file_untouched(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(state)
    assert main(["init", str(state), "--name", "other"]) == 3
    captured = capsys.readouterr()
    message = one_error_line(captured.err)
    assert "already holds" in message and str(state) in message
    assert captured.out == ""
    assert snapshot(state) == before


# --- keys ------------------------------------------------------------------------------------
def test_keys_new_writes_a_pair_and_prints_its_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "k"
    assert main(["keys", "new", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    public = signing_keys.load_public(out_dir / "signing.pub")
    private = signing_keys.load_private(out_dir / "signing.key")
    assert signing_keys.key_id(private.public_key()) == signing_keys.key_id(public)
    assert out == f"key id {signing_keys.key_id(public)}: {out_dir / 'signing.key'}\n"
    assert re.fullmatch(r"[0-9a-f]{16}", signing_keys.key_id(public))


def test_keys_new_into_the_same_folder_refuses_without_overwriting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "k"
    assert main(["keys", "new", "--out", str(out_dir)]) == 0
    before = snapshot(out_dir)
    capsys.readouterr()
    assert main(["keys", "new", "--out", str(out_dir)]) == 3
    message = one_error_line(capsys.readouterr().err)
    assert "signing.key" in message and "refusing to overwrite" in message
    assert snapshot(out_dir) == before


# --- pki -------------------------------------------------------------------------------------
def test_pki_issue_agent_writes_cert_key_and_ca(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "certs"
    assert fs(state, "pki", "issue-agent", "court-a", "--out", str(out_dir)) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["ca.crt", "court-a.crt", "court-a.key"]
    assert (out_dir / "ca.crt").read_bytes() == (state / "pki/ca.crt").read_bytes()
    assert "court-a.crt" in capsys.readouterr().out


def test_pki_issue_agent_defaults_to_the_state_dir(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "pki", "issue-agent", "tax-1") == 0
    assert (state / "agents/tax-1/tax-1.crt").is_file()


def test_pki_issue_agent_refuses_a_bad_name(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "certs"
    code = fs(state, "pki", "issue-agent", "Bad_Name", "--out", str(out_dir))
    assert code == 2
    assert "'Bad_Name'" in one_error_line(capsys.readouterr().err)
    assert not out_dir.exists()


# --- agents ----------------------------------------------------------------------------------
def test_agents_add_lists_the_agent_in_agents_toml(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "agents", "add", "court-a", "10.0.0.5:7443", "--role", "court") == 0
    assert capsys.readouterr().out == "agent court-a (court) at 10.0.0.5:7443\n"
    text = (state / "agents.toml").read_text("utf-8")
    assert '[agents."court-a"]' in text
    assert 'address = "10.0.0.5:7443"' in text and 'role = "court"' in text


def test_agents_add_refuses_an_unknown_role_and_lists_the_known_ones(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fs(state, "agents", "add", "x", "h:1", "--role", "courts")
    assert code == 2
    message = one_error_line(capsys.readouterr().err)
    assert "unknown role 'courts'" in message
    for role in ("court", "hrss", "social_security", "market_regulation", "tax"):
        assert role in message
    assert not (state / "agents.toml").exists()


def test_agents_add_refuses_an_address_that_would_corrupt_agents_toml(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "agents", "add", "ok", "h:1", "--role", "court") == 0
    before = (state / "agents.toml").read_bytes()
    code = fs(state, "agents", "add", "x", 'a"b:1', "--role", "court")
    assert code == 2
    assert (state / "agents.toml").read_bytes() == before


def test_a_malformed_agents_toml_is_a_one_line_error(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (state / "agents.toml").write_text('[agents."x"]\naddress = "a"b:1"\n', "utf-8")
    assert fs(state, "agents", "status") == 3
    assert "agents.toml" in one_error_line(capsys.readouterr().err)


def test_agents_status_without_agents_prints_the_hint(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "agents", "status") == 0
    assert capsys.readouterr().out == (
        "no agents registered (fedscreen agents add NAME ADDRESS --role ROLE)\n"
    )


def test_agents_status_reports_an_agent_nobody_answers_for_as_down(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    address = dead_address()
    assert fs(state, "agents", "add", "court-a", address, "--role", "court") == 0
    capsys.readouterr()
    code = fs(state, "agents", "status")
    captured = capsys.readouterr()
    assert code != 0
    line = captured.out.strip()
    assert "\n" not in line
    assert line.split()[:3] == ["court-a", "court", "DOWN"]
    assert one_error_line(captured.err) == "1 of 1 agents are down"


# --- model -----------------------------------------------------------------------------------
def test_model_sign_writes_a_bundle_and_prints_its_digest(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "model", "sign", str(MODEL)) == 0
    out = capsys.readouterr().out.splitlines()
    bundle = state / "bundles" / "fake_labour_litigation-1.1.0.fsb"
    assert bundle.is_file()
    assert out[0] == f"signed fake_labour_litigation 1.1.0 → {bundle}"
    assert re.fullmatch(r"digest [0-9a-f]{64}", out[1])


def test_model_verify_prints_ok_with_signer_and_digest(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state, bundle = signed
    assert fs(state, "model", "verify", str(bundle)) == 0
    out = capsys.readouterr().out
    kid = signing_keys.key_id(signing_keys.load_public(state / "keys/signing.pub"))
    assert out.startswith("ok: fake_labour_litigation 1.1.0 signed by procuratorate")
    assert f"(key {kid})" in out and re.search(r"digest [0-9a-f]{64}$", out.strip())


def test_model_verify_of_a_bundle_with_one_byte_flipped_fails(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, bundle = signed
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.fsb"
    tampered.write_bytes(bytes(data))
    assert fs(state, "model", "verify", str(tampered)) == 6
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_error_line(captured.err)


def test_model_verify_with_another_key_names_the_unknown_key(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, bundle = signed
    assert main(["keys", "new", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    code = fs(
        state, "model", "verify", "--key", str(tmp_path / "other" / "signing.pub"), str(bundle)
    )
    assert code == 6
    message = one_error_line(capsys.readouterr().err)
    kid = signing_keys.key_id(signing_keys.load_public(state / "keys/signing.pub"))
    assert f"unknown key {kid}" in message


def test_model_verify_of_a_missing_file_is_a_usage_error(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, _bundle = signed
    assert fs(state, "model", "verify", str(tmp_path / "nope.fsb")) == 2
    assert "cannot read bundle" in one_error_line(capsys.readouterr().err)


def test_model_inspect_shows_roles_outputs_and_sql(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state, bundle = signed
    assert fs(state, "model", "inspect", str(bundle)) == 0
    out = capsys.readouterr().out
    for role in ROLES:
        assert f"role {role}: reads" in out
        assert f"  SQL ({role}.sql):" in out
    assert out.count("leaves the agency (nothing else can):") == len(ROLES)
    assert "role court: reads labour_cases" in out
    assert "    plaintiff_id: token of a resident ID (keyed hash, never the ID)" in out
    assert "    suits_bucket: one of 3-4, 5-9, 10-19, 20+" in out
    assert "    small_employer: true/false flag" in out
    assert "    region: 6-digit administrative region code" in out
    assert "    min_suits = 4 (allowed 3..50)" in out
    assert "FROM labour_cases" in out  # the court SQL itself


def test_model_inspect_for_one_role_shows_only_that_role(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state, bundle = signed
    assert fs(state, "model", "inspect", "--role", "hrss", str(bundle)) == 0
    out = capsys.readouterr().out
    assert "role hrss: reads arbitration_awards" in out
    assert "role court:" not in out and "SQL (court.sql)" not in out
    assert out.count("leaves the agency") == 1


def test_model_test_passes_on_the_shipped_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "test", str(MODEL)]) == 0
    out = capsys.readouterr().out
    assert "PASS ring_and_lookalikes: expected 10 leads, found 10" in out
    assert out.endswith("1 fixture(s) passed\n")


def test_model_test_fails_when_expected_csv_drops_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "fake_labour_litigation"
    shutil.copytree(MODEL, copy)
    expected = copy / "fixtures" / "ring_and_lookalikes" / "expected.csv"
    lines = expected.read_text("utf-8").splitlines(keepends=True)
    expected.write_text("".join(lines[:-1]), "utf-8")
    code = main(["model", "test", str(copy)])
    captured = capsys.readouterr()
    assert code != 0
    assert "FAIL ring_and_lookalikes: expected 9 leads, found 10 (0 missing, 1 unexpected)" in (
        captured.out
    )
    assert "passed" not in captured.out
    assert one_error_line(captured.err) == "1 of 1 fixtures failed"


# --- run -------------------------------------------------------------------------------------
@pytest.fixture()
def all_roles_dead(state: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Every role the model needs is registered, at an address where nothing listens: if a
    command contacted an agent it would fail with JobFailed (exit 11), not a usage error."""
    address = dead_address()
    for role in ROLES:
        name = role.replace("_", "-")
        assert fs(state, "agents", "add", name, address, "--role", role) == 0
    capsys.readouterr()
    return state


def test_run_refuses_a_parameter_above_its_bound_before_contacting_agents(
    all_roles_dead: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fs(all_roles_dead, "run", str(MODEL), "--param", "min_suits=500")
    captured = capsys.readouterr()
    assert code == 2
    assert "above its maximum 50" in one_error_line(captured.err)
    assert "screening" not in captured.out
    assert not (all_roles_dead / "registry.sqlite").exists()  # no job was even started


def test_run_refuses_an_unknown_parameter(
    all_roles_dead: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fs(all_roles_dead, "run", str(MODEL), "--param", "nosuch=1")
    assert code == 2
    message = one_error_line(capsys.readouterr().err)
    assert "unknown parameter 'nosuch'" in message and "min_suits" in message


def test_run_refuses_a_param_without_a_value(
    all_roles_dead: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fs(all_roles_dead, "run", str(MODEL), "--param", "min_suits")
    assert code == 2
    assert "must look like name=value" in one_error_line(capsys.readouterr().err)


def test_run_names_a_role_no_registered_agent_has(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "agents", "add", "c", dead_address(), "--role", "court") == 0
    capsys.readouterr()
    assert fs(state, "run", str(MODEL)) == 2
    message = one_error_line(capsys.readouterr().err)
    assert "needs role hrss" in message and "no agent of that role is registered" in message


def test_run_of_something_that_is_neither_a_bundle_nor_a_model(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "run", "no_such_model") == 2
    assert "neither a bundle file nor a model folder" in one_error_line(capsys.readouterr().err)


# --- leads and the state dir -------------------------------------------------------------------
def test_leads_list_on_a_fresh_state_says_no_leads(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "list") == 0
    assert capsys.readouterr().out == "no leads\n"


def test_leads_list_as_json_is_a_parseable_list(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "list", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_state_dir_comes_from_environ(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leads", "list"], environ={"FEDSCREEN_STATE": str(state)}) == 0
    assert capsys.readouterr().out == "no leads\n"
    missing = tmp_path / "elsewhere"
    assert main(["leads", "list"], environ={"FEDSCREEN_STATE": str(missing)}) == 3
    message = one_error_line(capsys.readouterr().err)
    assert message == f"{missing} is not a coordinator state dir (run: fedscreen init)"


def test_an_explicit_state_flag_beats_environ(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"FEDSCREEN_STATE": str(tmp_path / "elsewhere")}
    assert main(["--state", str(state), "leads", "list"], environ=env) == 0
    assert capsys.readouterr().out == "no leads\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["leads", "list"],  # default state dir does not exist under tmp cwd
        ["model", "verify", "missing.fsb"],
        ["agents", "add", "x", "no-port", "--role", "court"],
        ["run", str(MODEL), "--param", "window_days=1"],
        ["leads", "list", "--format", "xml"],  # a click usage error
        ["pki", "issue-agent", "UPPER"],
        ["nosuchcommand"],
    ],
)
def test_errors_are_one_line_on_stderr(
    argv: list[str],
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    args = argv if argv == ["leads", "list"] else ["--state", str(state), *argv]
    code = main(args)
    assert code != 0
    one_error_line(capsys.readouterr().err)


def test_demo_below_its_minimum_population_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Below 50,000 people the planted cases exceed the demo agencies' 20% flag cap.
    out = tmp_path / "demo"
    assert main(["demo", "--people", "20000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "20000 is not in the range x>=50000" in err, err
    assert not out.exists()

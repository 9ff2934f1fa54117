"""`fedscreen model sign`: the SQL is checked first, and a version is signed once."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fedscreen import keys as signing_keys
from fedscreen.bundle import bundle_digest, sign_bundle
from tests.coordinator.test_cli import MODEL, fs, one_error_line

BUNDLE = "fake_labour_litigation-1.1.0.fsb"


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    """A copy of the shipped model that a test may change."""
    return Path(shutil.copytree(MODEL, tmp_path / "fake_labour_litigation"))


def test_sql_reading_a_file_is_refused_naming_the_file_and_nothing_is_signed(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (model / "court.sql").read_text(encoding="utf-8")
    (model / "court.sql").write_text(
        sql.replace("FROM labour_cases", "FROM read_csv('/etc/passwd')", 1), encoding="utf-8"
    )
    assert fs(state, "model", "sign", str(model)) == 7
    assert one_error_line(capsys.readouterr().err) == (
        f"{model / 'court.sql'}: table function read_csv(…) is not allowed;"
        " read the role's datasets"
    )
    assert list((state / "bundles").iterdir()) == []


def test_combine_sql_reading_a_url_is_refused_naming_combine_sql(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "combine.sql").write_text("SELECT * FROM 's3://bucket/leads.parquet'")
    assert fs(state, "model", "sign", str(model)) == 7
    message = one_error_line(capsys.readouterr().err)
    assert message.startswith(f"{model / 'combine.sql'}: a string literal (file path)")
    assert list((state / "bundles").iterdir()) == []


def test_signing_the_same_files_again_reports_the_bundle_already_signed(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "model", "sign", str(model)) == 0
    first = capsys.readouterr().out.splitlines()
    kept = (state / "bundles" / BUNDLE).read_bytes()
    assert fs(state, "model", "sign", str(model)) == 0
    again = capsys.readouterr().out.splitlines()
    bundle = state / "bundles" / BUNDLE
    assert first[0] == f"signed fake_labour_litigation 1.1.0 → {bundle}"
    assert again[0] == f"already signed fake_labour_litigation 1.1.0 from these files → {bundle}"
    assert again[1] == first[1] == f"digest {bundle_digest(kept)}"
    assert re.fullmatch(r"expires \d{4}-\d{2}-\d{2}", again[2])
    assert bundle.read_bytes() == kept


def test_changed_files_under_the_same_version_are_refused_telling_to_bump_it(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "model", "sign", str(model)) == 0
    kept = (state / "bundles" / BUNDLE).read_bytes()
    capsys.readouterr()
    with (model / "court.sql").open("a", encoding="utf-8") as fh:
        fh.write("-- a comment changes the digest too\n")
    assert fs(state, "model", "sign", str(model)) == 5
    assert one_error_line(capsys.readouterr().err) == (
        f"{state / 'bundles' / BUNDLE} was signed from other files (court.sql differs);"
        f" agencies approved it by digest, so bump version in {model / 'model.toml'} to sign"
        " the change"
    )
    assert (state / "bundles" / BUNDLE).read_bytes() == kept


def test_a_bumped_version_is_signed_beside_the_approved_one(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "model", "sign", str(model)) == 0
    with (model / "court.sql").open("a", encoding="utf-8") as fh:
        fh.write("-- changed\n")
    toml = (model / "model.toml").read_text(encoding="utf-8")
    (model / "model.toml").write_text(toml.replace('"1.1.0"', '"1.1.1"', 1), encoding="utf-8")
    capsys.readouterr()
    assert fs(state, "model", "sign", str(model)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"signed fake_labour_litigation 1.1.1 → {state / 'bundles'}"
        "/fake_labour_litigation-1.1.1.fsb"
    )
    assert sorted(p.name for p in (state / "bundles").iterdir()) == [
        BUNDLE,
        "fake_labour_litigation-1.1.1.fsb",
    ]


def test_an_expired_bundle_of_the_same_files_is_renewed_with_a_note(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = signing_keys.load_private(state / "keys" / "signing.key")
    old = sign_bundle(model, key, "x", now=datetime.now(UTC) - timedelta(days=400))
    (state / "bundles" / BUNDLE).write_bytes(old)
    assert fs(state, "model", "sign", str(model)) == 0
    out = capsys.readouterr().out.splitlines()
    renewed = (state / "bundles" / BUNDLE).read_bytes()
    assert renewed != old
    assert out == [
        f"signed fake_labour_litigation 1.1.0 → {state / 'bundles' / BUNDLE}",
        f"digest {bundle_digest(renewed)}",
        "note: replaced the bundle signed from the same files (it had expired);"
        " agencies must approve the new digest",
    ]


def test_a_model_toml_with_an_unknown_key_is_refused_naming_it(
    state: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = (model / "model.toml").read_text(encoding="utf-8")
    (model / "model.toml").write_text(toml.replace("legal_basis", "legal_basiss", 1), "utf-8")
    assert fs(state, "model", "sign", str(model)) == 5
    assert one_error_line(capsys.readouterr().err).startswith(
        f"{model / 'model.toml'}: unknown key 'legal_basiss' (allowed: "
    )

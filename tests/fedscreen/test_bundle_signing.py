"""fedscreen.bundle.signed_bundle: a model version is signed once, its SQL checked first, and a
bundle an agency may have approved is never replaced by other files under the same version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedscreen.bundle import StoredBundle, bundle_digest, sign_bundle, signed_bundle
from fedscreen.errors import BundleVersionTaken, ForbiddenSQL
from fedscreen.keys import generate_signing_key
from tests.fedscreen.test_bundle import MODEL_TOML, NOW, write_model

BUNDLE = "toy_model-1.0.0.fsb"


@dataclass
class Folder:
    model: Path
    bundles: Path
    key: Ed25519PrivateKey

    def sign(self, *, days: float = 0, key: Ed25519PrivateKey | None = None) -> StoredBundle:
        return signed_bundle(
            self.model, self.bundles, key or self.key, "张检察官", now=NOW + timedelta(days=days)
        )

    @property
    def kept(self) -> bytes:
        return (self.bundles / BUNDLE).read_bytes()


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(write_model(tmp_path), tmp_path / "state" / "bundles", generate_signing_key())


# --- the SQL is checked before anything is signed --------------------------------------------
@pytest.mark.parametrize(
    ("file", "sql", "message"),
    [
        ("court.sql", "select * from read_csv('/etc/passwd')", "table function read_csv"),
        ("court.sql", "select * from '/etc/passwd'", "string literal"),
        ("court.sql", "select * from 'https://example.org/x.parquet'", "string literal"),
        ("court.sql", "select getenv('HOME') as person from court_cases", r"getenv\(\)"),
        ("court.sql", "select * from other_cases", "not a dataset this role reads"),
        ("court.sql", "select * from court_cases where x > $nope", r"unknown parameter \$nope"),
        ("combine.sql", "select * from read_parquet('/tmp/x.parquet')", "table function"),
        ("combine.sql", "select * from court_cases", "'court_cases' is not a dataset"),
    ],
)
def test_forbidden_sql_is_refused_before_signing_naming_the_file(
    folder: Folder, file: str, sql: str, message: str
) -> None:
    (folder.model / file).write_text(sql, encoding="utf-8")
    with pytest.raises(ForbiddenSQL, match=f"^{folder.model / file}: .*{message}"):
        folder.sign()
    assert not folder.bundles.exists()


def test_declared_parameters_and_the_role_tables_pass_the_check(folder: Folder) -> None:
    (folder.model / "court.sql").write_text(
        "select person, true as dense from court_cases where d < $window_days", encoding="utf-8"
    )
    (folder.model / "combine.sql").write_text("select person from court", encoding="utf-8")
    assert folder.sign().verified.manifest.name == "toy_model"


def test_forbidden_sql_is_refused_even_when_a_matching_bundle_is_kept(folder: Folder) -> None:
    (folder.model / "court.sql").write_text("select * from read_text('/etc/passwd')")
    folder.bundles.mkdir(parents=True)
    (folder.bundles / BUNDLE).write_bytes(sign_bundle(folder.model, folder.key, "x", now=NOW))
    with pytest.raises(ForbiddenSQL, match=r"court\.sql: table function read_text"):
        folder.sign()


# --- one bundle per version ---------------------------------------------------------------------
def test_the_first_signing_writes_the_bundle_under_name_and_version(folder: Folder) -> None:
    stored = folder.sign()
    assert (stored.path, stored.reused, stored.replaced) == (folder.bundles / BUNDLE, False, None)
    assert folder.kept == stored.data
    assert stored.verified.digest == bundle_digest(stored.data)
    assert stored.verified.signed_at == NOW


def test_signing_the_same_files_again_reuses_the_bundle_and_its_digest(folder: Folder) -> None:
    first = folder.sign()
    again = folder.sign(days=30)
    assert again.reused and again.replaced is None
    assert again.data == first.data == folder.kept
    assert again.verified.digest == first.verified.digest
    assert again.verified.signed_at == NOW  # not re-signed 30 days later


@pytest.mark.parametrize(
    ("file", "change", "shown"),
    [
        ("court.sql", "select person, false as dense from court_cases\n", "court.sql differs"),
        ("fixtures/expected.csv", "person\nB\n", "fixtures/expected.csv differs"),
        ("fixtures/new.csv", "a\n", "fixtures/new.csv differs"),
        ("model.toml", MODEL_TOML.replace("Toy model", "Toy"), "model.toml differs"),
    ],
)
def test_other_files_under_the_same_version_are_refused_and_the_bundle_kept(
    folder: Folder, file: str, change: str, shown: str
) -> None:
    first = folder.sign()
    (folder.model / file).write_text(change, encoding="utf-8")
    with pytest.raises(BundleVersionTaken, match=rf"\({shown}\); .*bump version in .*model\.toml"):
        folder.sign(days=1)
    assert folder.kept == first.data


def test_a_removed_file_counts_as_a_change(folder: Folder) -> None:
    folder.sign()
    (folder.model / "fixtures" / "expected.csv").unlink()
    with pytest.raises(BundleVersionTaken, match=r"fixtures/expected\.csv differs"):
        folder.sign()


def test_a_new_version_is_signed_beside_the_old_one(folder: Folder) -> None:
    first = folder.sign()
    (folder.model / "court.sql").write_text("select person, false as dense from court_cases\n")
    toml = MODEL_TOML.replace('version = "1.0.0"', 'version = "1.0.1"')
    (folder.model / "model.toml").write_text(toml, encoding="utf-8")
    second = folder.sign()
    assert second.path == folder.bundles / "toy_model-1.0.1.fsb" and not second.reused
    assert folder.kept == first.data
    assert second.verified.digest != first.verified.digest


def test_an_expired_bundle_of_the_same_files_is_signed_anew(folder: Folder) -> None:
    first = folder.sign()
    renewed = folder.sign(days=400)
    assert (renewed.reused, renewed.replaced) == (False, "it had expired")
    assert renewed.verified.signed_at == NOW + timedelta(days=400)
    assert folder.kept == renewed.data != first.data


def test_a_bundle_signed_with_another_key_is_signed_anew_with_the_current_one(
    folder: Folder,
) -> None:
    folder.sign(key=generate_signing_key())
    renewed = folder.sign()
    assert (renewed.reused, renewed.replaced) == (False, "it was signed with another key")
    assert folder.sign().reused  # and from then on, kept


def test_a_file_in_the_way_that_is_no_bundle_is_left_alone(folder: Folder) -> None:
    folder.bundles.mkdir(parents=True)
    (folder.bundles / BUNDLE).write_bytes(b"not a bundle")
    with pytest.raises(BundleVersionTaken, match=r"toy_model-1\.0\.0\.fsb is in the way: not a"):
        folder.sign()
    assert folder.kept == b"not a bundle"


def test_out_names_another_file_kept_by_the_same_rules(folder: Folder, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "toy.fsb"
    first = signed_bundle(folder.model, folder.bundles, folder.key, "s", now=NOW, out=out)
    assert first.path == out and out.read_bytes() == first.data
    assert not folder.bundles.exists()
    assert signed_bundle(folder.model, folder.bundles, folder.key, "s", now=NOW, out=out).reused

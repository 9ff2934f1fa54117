"""Signed bundles: the happy path, and every attack as a named asset that must be refused."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from fedscreen.bundle import (
    DOMAIN,
    bundle_digest,
    canonical_json,
    collect_files,
    sign_bundle,
    verify_bundle,
)
from fedscreen.errors import (
    BadSignature,
    BundleError,
    BundleExpired,
    BundleNotYetValid,
    ConfigError,
    DigestMismatch,
    FileExtra,
    FileMissing,
    MalformedBundle,
    ManifestError,
    UnknownSigningKey,
)
from fedscreen.keys import (
    generate_signing_key,
    key_id,
    load_private,
    load_public,
    load_trusted,
    save_private,
    save_public,
)
from tests.toy_manifest import manifest_header

NOW = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)

MODEL_HEADER = manifest_header(
    "toy_model",
    title_zh="玩具模型",
    title_en="Toy model",
    rationale_zh="玩具",
    rationale_en="A toy",
    legal_basis=["《玩具法》"],
)
MODEL_ROLES = """
[roles.court]
sql = "court.sql"
reads = ["court_cases"]
outputs = { person = "person", dense = "bool" }

[combine]
sql = "combine.sql"
lead_key = ["person"]

[parameters.window_days]
default = 60
min = 1
max = 365
"""
MODEL_TOML = MODEL_HEADER + MODEL_ROLES


def write_model(root: Path, toml: str = MODEL_TOML) -> Path:
    model = root / "toy_model"
    (model / "fixtures").mkdir(parents=True)
    (model / "model.toml").write_text(toml, encoding="utf-8")
    (model / "court.sql").write_text("select person, true as dense from court_cases\n")
    (model / "combine.sql").write_text("select person from court\n")
    (model / "fixtures" / "expected.csv").write_text("person\nA\n")
    return model


@dataclass
class Signed:
    model: Path
    key: Ed25519PrivateKey
    data: bytes

    @property
    def trusted(self) -> dict[str, Any]:
        return {key_id(self.key.public_key()): self.key.public_key()}


@pytest.fixture
def signed(tmp_path: Path) -> Signed:
    model = write_model(tmp_path)
    key = generate_signing_key()
    return Signed(model, key, sign_bundle(model, key, "张检察官", now=NOW))


# --- happy path -------------------------------------------------------------------------------
def test_signed_bundle_verifies_with_its_contents(signed: Signed) -> None:
    bundle = verify_bundle(signed.data, signed.trusted, now=NOW + timedelta(days=1))
    assert bundle.manifest.name == "toy_model"
    assert bundle.manifest.version == "1.0.0"
    assert bundle.manifest.parameters[0].default == 60
    assert sorted(bundle.files) == [
        "combine.sql",
        "court.sql",
        "fixtures/expected.csv",
        "model.toml",
    ]
    assert bundle.text("combine.sql") == "select person from court\n"
    assert bundle.signer == "张检察官"
    assert bundle.key_id == key_id(signed.key.public_key())
    assert bundle.signed_at == NOW
    assert bundle.expires_at == NOW + timedelta(days=365)


def test_digest_is_stable_and_matches_the_unverified_digest(signed: Signed) -> None:
    first = verify_bundle(signed.data, signed.trusted, now=NOW)
    second = verify_bundle(signed.data, signed.trusted, now=NOW + timedelta(days=30))
    manifest = json.loads(signed.data)["manifest"]
    assert first.digest == second.digest == bundle_digest(signed.data)
    assert first.digest == hashlib.sha256(canonical_json(manifest)).hexdigest()


def test_signing_the_same_folder_at_the_same_time_gives_the_same_bytes(signed: Signed) -> None:
    again = sign_bundle(signed.model, signed.key, "张检察官", now=NOW + timedelta(microseconds=5))
    assert again == signed.data
    assert b"\xe5\xbc\xa0" in signed.data  # the signer's name is stored as UTF-8, not escaped


def test_collect_files_skips_dotfiles_pycache_and_other_top_level_files(tmp_path: Path) -> None:
    model = write_model(tmp_path)
    (model / ".court.sql.swp").write_bytes(b"junk")
    (model / "fixtures" / "__pycache__").mkdir()
    (model / "fixtures" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (model / "fixtures" / "sub").mkdir()
    (model / "fixtures" / "sub" / "t.csv").write_text("a\n")
    (model / "README.md").write_text("notes")
    assert sorted(collect_files(model)) == [
        "combine.sql",
        "court.sql",
        "fixtures/expected.csv",
        "fixtures/sub/t.csv",
        "model.toml",
    ]


def test_signing_a_folder_whose_sql_is_missing_fails_early(tmp_path: Path) -> None:
    model = write_model(tmp_path)
    (model / "combine.sql").unlink()
    with pytest.raises(ManifestError, match=r"combine.sql names 'combine.sql'"):
        sign_bundle(model, generate_signing_key(), "signer", now=NOW)


def test_signing_a_folder_without_model_toml_fails_early(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no model.toml"):
        sign_bundle(tmp_path, generate_signing_key(), "signer", now=NOW)


# --- helpers to build attack assets --------------------------------------------------------
def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def edit(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(data)
    change(doc)
    return canonical_json(doc)


def resign(doc: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """Re-list the files and sign properly: what a holder of a trusted key could produce."""
    files = {rel: base64.b64decode(text) for rel, text in doc["files"].items()}
    doc["manifest"]["files"] = [
        {"path": rel, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
        for rel, body in sorted(files.items())
    ]
    doc["manifest"]["key_id"] = key_id(key.public_key())
    doc["signature"] = b64(key.sign(DOMAIN + canonical_json(doc["manifest"])))


# --- attack assets: each returns tampered bundle bytes --------------------------------------
def bundle_file_content_changed(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["files"].update({"court.sql": b64(b"select * from all\n")}))


def bundle_manifest_edited(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["manifest"].update(signer="someone else"))


def bundle_files_swapped(s: Signed) -> bytes:
    def swap(d: dict[str, Any]) -> None:
        f = d["files"]
        f["court.sql"], f["combine.sql"] = f["combine.sql"], f["court.sql"]

    return edit(s.data, swap)


def bundle_file_removed(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["files"].pop("fixtures/expected.csv"))


def bundle_file_added(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["files"].update({"extra.sql": b64(b"select 1\n")}))


def bundle_expired(s: Signed) -> bytes:
    return sign_bundle(s.model, s.key, "signer", now=NOW - timedelta(days=400))


def bundle_signed_in_the_future(s: Signed) -> bytes:
    return sign_bundle(s.model, s.key, "signer", now=NOW + timedelta(hours=1))


def bundle_unknown_key(s: Signed) -> bytes:
    return sign_bundle(s.model, generate_signing_key(), "signer", now=NOW)


def bundle_impostor_claims_trusted_key_id(s: Signed) -> bytes:
    impostor = generate_signing_key()
    trusted_id = key_id(s.key.public_key())

    def forge(d: dict[str, Any]) -> None:
        d["manifest"]["signer"] = "impostor"
        d["signature"] = b64(impostor.sign(DOMAIN + canonical_json(d["manifest"])))
        assert d["manifest"]["key_id"] == trusted_id

    return edit(s.data, forge)


def bundle_non_canonical_whitespace(s: Signed) -> bytes:
    return s.data.replace(b'":', b'": ', 1)


def bundle_non_canonical_escape(s: Signed) -> bytes:
    return s.data.replace("张".encode(), b"\\u5f20", 1)


def bundle_trailing_newline(s: Signed) -> bytes:
    return s.data + b"\n"


def bundle_path_traversal(s: Signed) -> bytes:
    # Properly signed by the trusted key: the path rule must hold even for a trusted signer.
    def add(d: dict[str, Any]) -> None:
        d["files"]["../x.sql"] = b64(b"select 1\n")
        resign(d, s.key)

    return edit(s.data, add)


def bundle_absolute_path(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["files"].update({"/etc/x.sql": b64(b"x")}))


def bundle_backslash_path(s: Signed) -> bytes:
    return edit(s.data, lambda d: d["files"].update({"fixtures\\x.csv": b64(b"x")}))


def bundle_sloppy_base64(s: Signed) -> bytes:
    # "QQ==" is "A"; "QR==" decodes to the same byte with non-zero padding bits.
    return edit(s.data, lambda d: d["files"].update({"court.sql": "QR=="}))


def bundle_model_toml_names_another_model(s: Signed) -> bytes:
    def rename(d: dict[str, Any]) -> None:
        toml = MODEL_TOML.replace('name = "toy_model"', 'name = "other_model"')
        d["files"]["model.toml"] = b64(toml.encode())
        resign(d, s.key)

    return edit(s.data, rename)


def bundle_signed_without_combine_sql(s: Signed) -> bytes:
    def drop(d: dict[str, Any]) -> None:
        del d["files"]["combine.sql"]
        resign(d, s.key)

    return edit(s.data, drop)


def bundle_wrong_format(s: Signed) -> bytes:
    return edit(s.data, lambda d: d.update(format="fedscreen-bundle/2"))


ATTACKS = [
    (bundle_file_content_changed, DigestMismatch, r"'court.sql' does not match its signed digest"),
    (bundle_manifest_edited, BadSignature, r"signature does not verify"),
    (bundle_files_swapped, DigestMismatch, r"'combine.sql' does not match"),
    (bundle_file_removed, FileMissing, r"'fixtures/expected.csv' is listed .* but missing"),
    (bundle_file_added, FileExtra, r"'extra.sql' is not listed"),
    (bundle_expired, BundleExpired, r"expired on 2025-01-25T08:00:00Z"),
    (bundle_signed_in_the_future, BundleNotYetValid, r"signed at 2025-03-01T09:00:00Z"),
    (bundle_unknown_key, UnknownSigningKey, r"unknown key [0-9a-f]{16}"),
    (bundle_impostor_claims_trusted_key_id, BadSignature, r"signature does not verify"),
    (bundle_non_canonical_whitespace, MalformedBundle, r"not in canonical form"),
    (bundle_non_canonical_escape, MalformedBundle, r"not in canonical form"),
    (bundle_trailing_newline, MalformedBundle, r"not in canonical form"),
    (bundle_path_traversal, MalformedBundle, r"'\.\./x\.sql'"),
    (bundle_absolute_path, MalformedBundle, r"'/etc/x\.sql'"),
    (bundle_backslash_path, MalformedBundle, r"relative POSIX path"),
    (bundle_sloppy_base64, MalformedBundle, r"not canonical base64"),
    (bundle_model_toml_names_another_model, MalformedBundle, r"declares other_model 1\.0\.0"),
    (bundle_signed_without_combine_sql, MalformedBundle, r"'combine.sql', which is not in"),
    (bundle_wrong_format, MalformedBundle, r"fedscreen-bundle/2"),
]


@pytest.mark.parametrize(
    ("attack", "error", "match"), ATTACKS, ids=[a[0].__name__ for a in ATTACKS]
)
def test_tampered_bundle_is_rejected(
    signed: Signed, attack: Callable[[Signed], bytes], error: type[BundleError], match: str
) -> None:
    tampered = attack(signed)
    with pytest.raises(error, match=match):
        verify_bundle(tampered, signed.trusted, now=NOW)


def test_expiry_is_exclusive_and_skew_is_tolerated(signed: Signed) -> None:
    with pytest.raises(BundleExpired):
        verify_bundle(signed.data, signed.trusted, now=NOW + timedelta(days=365))
    # Signed four minutes "in the future" by a fast clock: tolerated.
    verify_bundle(signed.data, signed.trusted, now=NOW - timedelta(minutes=4))


def test_no_trusted_keys_means_nothing_verifies(signed: Signed) -> None:
    with pytest.raises(UnknownSigningKey):
        verify_bundle(signed.data, {}, now=NOW)


def test_every_single_bit_flip_is_rejected(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.toml").write_text(MODEL_TOML.replace("toy_model", "t"), encoding="utf-8")
    (model / "court.sql").write_text("select 1\n")
    (model / "combine.sql").write_text("select 2\n")
    key = generate_signing_key()
    data = sign_bundle(model, key, "s", now=NOW)
    trusted = {key_id(key.public_key()): key.public_key()}
    verify_bundle(data, trusted, now=NOW)
    for position in range(len(data)):
        for bit in (0x01, 0x02, 0x20, 0x80):
            tampered = bytearray(data)
            tampered[position] ^= bit
            try:
                verify_bundle(bytes(tampered), trusted, now=NOW)
            except (BundleError, ManifestError):
                continue
            pytest.fail(f"flipping bit {bit:#04x} of byte {position} went unnoticed")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_garbage_is_malformed_and_nothing_else(data: bytes) -> None:
    with pytest.raises(MalformedBundle):
        bundle_digest(data)


def test_oversized_bundle_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedBundle, match="limit"):
        bundle_digest(b" " * (16 * 1024 * 1024 + 1))


# --- keys as the procuratorate saves them and an agency loads them ----------------------------
def test_saved_keys_load_back_and_verify(tmp_path: Path, signed: Signed) -> None:
    save_private(signed.key, tmp_path / "keys" / "signing.pem")
    save_public(signed.key.public_key(), tmp_path / "keys" / "signing.pub")
    assert stat.S_IMODE((tmp_path / "keys" / "signing.pem").stat().st_mode) == 0o600
    loaded = load_private(tmp_path / "keys" / "signing.pem")
    assert key_id(loaded.public_key()) == key_id(signed.key.public_key())
    trusted = load_trusted([tmp_path / "keys" / "signing.pub"])
    assert list(trusted) == [key_id(signed.key.public_key())]
    assert verify_bundle(signed.data, trusted, now=NOW).signer == "张检察官"


def test_saving_over_an_existing_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    save_private(generate_signing_key(), path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        save_private(generate_signing_key(), path)
    assert path.read_bytes() == before


def test_unreadable_or_wrong_keys_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.pub: cannot read"):
        load_public(tmp_path / "missing.pub")
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(ConfigError, match=r"junk\.pub: not a PEM public key"):
        load_trusted([tmp_path / "junk.pub"])
    save_private(generate_signing_key(), tmp_path / "private.pem")
    with pytest.raises(ConfigError, match=r"private\.pem: not a PEM public key"):
        load_public(tmp_path / "private.pem")
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "ec.pub").write_bytes(
        ec_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(ConfigError, match=r"ec\.pub: not an Ed25519 public key"):
        load_public(tmp_path / "ec.pub")


def test_key_id_is_a_prefix_of_the_raw_key_hash() -> None:
    public = generate_signing_key().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(public) == hashlib.sha256(raw).hexdigest()[:16]


def test_inspection_shows_look_ups_and_what_resolution_may_reveal() -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from fedscreen import keys as k
    from fedscreen.bundle import sign_bundle, verify_bundle
    from fedscreen.describe import describe_bundle

    root = Path(__file__).resolve().parents[2] / "models"
    key = k.generate_signing_key()
    now = datetime.now(UTC)
    trusted = {k.key_id(key.public_key()): key.public_key()}
    labour = verify_bundle(
        sign_bundle(root / "fake_labour_litigation", key, "t", now=now), trusted, now=now
    )
    text = describe_bundle(labour, role="court")
    assert "may reveal from labour_cases" in text and "case_no" in text
    assert "role hrss" not in text
    assert "does not answer: leads are combined without it" in text
    arrears = verify_bundle(
        sign_bundle(root / "wage_arrears_support", key, "t", now=now), trusted, now=now
    )
    assert "does not answer: the job's leads are withheld" in describe_bundle(arrears, "court")
    staged = verify_bundle(
        sign_bundle(root / "housing_fund_feigned_poverty", key, "t", now=now), trusted, now=now
    )
    assert "answers only about" in describe_bundle(staged, role="tax")

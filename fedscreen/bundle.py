"""Signed model bundles: one file an agency can check byte for byte before running a model.

A bundle (`<name>-<version>.fsb`) is the canonical JSON of

    {"format": "fedscreen-bundle/1", "manifest": {...}, "files": {path: base64}, "signature": b64}

The manifest lists every file with its SHA-256 and size, the signing key id, the signer and the
validity window; the Ed25519 signature covers DOMAIN + canonical_json(manifest). Every other
byte is pinned by requiring the file to be *exactly* the canonical encoding of what it parses
to, so there is no slack (whitespace, key order, escapes, base64 padding) to hide anything in.
An agency approves the *digest*: SHA-256 of canonical_json(manifest).

`verify_bundle` raises a specific BundleError (or ManifestError) per failed check; the checks
are numbered below in the order they run. Nothing here returns a bool for "valid".

`signed_bundle` is how the coordinator signs a model folder: once per version. It checks the
SQL, then reuses the bundle already kept for that version while it holds the same files and
is valid, so that the digest an agency approved stays the one that is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedscreen.errors import (
    BadSignature,
    BundleError,
    BundleExpired,
    BundleNotYetValid,
    BundleVersionTaken,
    DigestMismatch,
    FedscreenError,
    FileExtra,
    FileMissing,
    ForbiddenSQL,
    MalformedBundle,
    ManifestError,
    UnknownSigningKey,
)
from fedscreen.files import write_atomic
from fedscreen.keys import KEY_ID_HEX, key_id
from fedscreen.manifest import Manifest, load_manifest, parse_manifest
from fedscreen.sqlcheck import check_sql

FORMAT = "fedscreen-bundle/1"
DOMAIN = b"fedscreen-bundle-v1\x00"
SUFFIX = ".fsb"
# Generous for SQL and small fixtures, small enough that parsing cannot exhaust an agent.
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
# Clocks at agencies drift; a signature a few minutes "from the future" is skew, not an attack.
CLOCK_SKEW = timedelta(minutes=5)

_TOP_KEYS = {"format", "manifest", "files", "signature"}
_MANIFEST_KEYS = {"model", "version", "files", "key_id", "signer", "signed_at", "expires_at"}
_ENTRY_KEYS = {"path", "sha256", "size"}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed every check: only ever built by `verify_bundle`."""

    manifest: Manifest
    files: dict[str, bytes]
    digest: str
    key_id: str
    signer: str
    signed_at: datetime
    expires_at: datetime

    def text(self, path: str) -> str:
        return _text(self.files, path)


def bundle_filename(model: str, version: str) -> str:
    return f"{model}-{version}{SUFFIX}"


# --- encoding helpers -----------------------------------------------------------------------
def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def format_time(when: datetime) -> str:
    return _utc_seconds(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_seconds(when: datetime) -> datetime:
    # A naive datetime is ambiguous across agencies' time zones: refuse rather than guess.
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware (use datetime.now(UTC))")
    return when.astimezone(UTC).replace(microsecond=0)


def _text(files: Mapping[str, bytes], path: str) -> str:
    if path not in files:
        raise MalformedBundle(f"bundle has no file {path!r}")
    try:
        return files[path].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBundle(f"bundle file {path!r} is not UTF-8 text") from None


def _path_problem(rel: str) -> str | None:
    """Why `rel` may not name a bundle file, or None. Agents may write files out by these."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        return "must be a relative POSIX path"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "must not contain empty, '.' or '..' segments"
    return None


# --- check (1): strict parse ------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    manifest: dict[str, Any]
    files: dict[str, bytes]
    signature: bytes


def _malformed(why: str) -> MalformedBundle:
    return MalformedBundle(f"not a valid fedscreen bundle: {why}")


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _malformed(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise _malformed(f"{what} is not valid base64") from None
    # Re-encoding pins the padding bits, so one content has exactly one spelling.
    if base64.b64encode(raw).decode("ascii") != text:
        raise _malformed(f"{what} is not canonical base64")
    return raw


def _parse_time(text: Any, what: str) -> datetime:
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise _malformed(f"manifest {what} must be an RFC 3339 UTC time like 2025-01-31T08:00:00Z")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _malformed(f"manifest {what} {text!r} is not a real date") from None


def _check_entries(entries: Any) -> None:
    if not isinstance(entries, list) or not entries:
        raise _malformed("manifest files must be a non-empty list")
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise _malformed(f"manifest file entries need exactly {sorted(_ENTRY_KEYS)}")
        path, sha, size = entry["path"], entry["sha256"], entry["size"]
        if not isinstance(path, str) or (problem := _path_problem(path)):
            raise _malformed(f"manifest path {path!r}: {problem or 'must be a string'}")
        if not isinstance(sha, str) or len(sha) != 64 or not _HEX.fullmatch(sha):
            raise _malformed(f"manifest sha256 of {path!r} must be 64 lower-case hex digits")
        if type(size) is not int or size < 0:
            raise _malformed(f"manifest size of {path!r} must be a non-negative integer")
    paths = [entry["path"] for entry in entries]
    if paths != sorted(set(paths)):
        raise _malformed("manifest files must be sorted by path without duplicates")


def _check_manifest(signed: Any) -> None:
    if not isinstance(signed, dict) or set(signed) != _MANIFEST_KEYS:
        raise _malformed(f"manifest needs exactly the keys {sorted(_MANIFEST_KEYS)}")
    for key in ("model", "version", "signer"):
        if not isinstance(signed[key], str) or not signed[key].strip():
            raise _malformed(f"manifest {key} must be a non-empty string")
    kid = signed["key_id"]
    if not isinstance(kid, str) or len(kid) != KEY_ID_HEX or not _HEX.fullmatch(kid):
        raise _malformed(f"manifest key_id must be {KEY_ID_HEX} lower-case hex digits")
    signed_at = _parse_time(signed["signed_at"], "signed_at")
    if _parse_time(signed["expires_at"], "expires_at") <= signed_at:
        raise _malformed("manifest expires_at must be after signed_at")
    _check_entries(signed["files"])


def _decode_files(files: Any) -> dict[str, bytes]:
    if not isinstance(files, dict):
        raise _malformed("files must be an object of path to base64")
    decoded = {}
    for rel, text in files.items():
        if problem := _path_problem(rel):
            raise _malformed(f"file path {rel!r}: {problem}")
        decoded[rel] = _b64decode(text, f"file {rel!r}")
    return decoded


def _parse(data: bytes) -> _Parsed:
    if not isinstance(data, bytes | bytearray):
        raise _malformed("expected bytes")
    if len(data) > MAX_BUNDLE_BYTES:
        raise _malformed(f"{len(data)} bytes is over the {MAX_BUNDLE_BYTES}-byte limit")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
        canonical = canonical_json(doc)
    except (UnicodeError, ValueError, RecursionError):
        raise _malformed("not UTF-8 JSON") from None
    # The one rule that leaves no unsigned slack: the bytes are their own canonical encoding.
    if canonical != data:
        raise _malformed("not in canonical form (re-encoded, it differs from the file)")
    if not isinstance(doc, dict) or set(doc) != _TOP_KEYS:
        raise _malformed(f"top level needs exactly the keys {sorted(_TOP_KEYS)}")
    if doc["format"] != FORMAT:
        raise _malformed(f"format {doc['format']!r} is not {FORMAT!r}")
    _check_manifest(doc["manifest"])
    signature = _b64decode(doc["signature"], "signature")
    if len(signature) != 64:
        raise _malformed("signature must be 64 bytes (Ed25519)")
    return _Parsed(doc["manifest"], _decode_files(doc["files"]), signature)


# --- inspecting without verifying ----------------------------------------------------------
def bundle_digest(data: bytes) -> str:
    """The digest an agency approves, computed without verifying (MalformedBundle on garbage)."""
    return hashlib.sha256(canonical_json(_parse(data).manifest)).hexdigest()


# --- verification ---------------------------------------------------------------------------
def verify_bundle(
    data: bytes, trusted: Mapping[str, Ed25519PublicKey], *, now: datetime
) -> VerifiedBundle:
    """Run checks 1-7 in order; return the verified bundle or raise the first failure."""
    # (1) Size, strict canonical parse, format, manifest fields and types, base64, paths.
    parsed = _parse(data)
    signed = parsed.manifest
    name = f"bundle {signed['model']} {signed['version']}"
    kid = signed["key_id"]
    # (2) The key id must name a key this agency trusts.
    if kid not in trusted:
        raise UnknownSigningKey(
            f"{name} is signed by unknown key {kid} (claims signer {signed['signer']!r});"
            " trust its public key only if the procuratorate confirms it"
        )
    # (3) The signature over the domain-separated canonical manifest.
    try:
        trusted[kid].verify(parsed.signature, DOMAIN + canonical_json(signed))
    except InvalidSignature:
        raise BadSignature(
            f"{name}: signature does not verify with trusted key {kid};"
            " the bundle was altered or signed by another key"
        ) from None
    # (4) The validity window, tolerating a little clock skew at signing time.
    signed_at = _parse_time(signed["signed_at"], "signed_at")
    expires_at = _parse_time(signed["expires_at"], "expires_at")
    if signed_at > _utc_seconds(now) + CLOCK_SKEW:
        raise BundleNotYetValid(
            f"{name} is signed at {signed['signed_at']}, in the future"
            f" (now {format_time(now)}); check this machine's clock"
        )
    if not now < expires_at:
        raise BundleExpired(
            f"{name} expired on {signed['expires_at']}; ask the procuratorate to re-sign it"
        )
    _check_files(signed["files"], parsed.files)
    manifest = _check_model(parsed.files, signed)
    return VerifiedBundle(
        manifest=manifest,
        files=parsed.files,
        digest=hashlib.sha256(canonical_json(signed)).hexdigest(),
        key_id=kid,
        signer=signed["signer"],
        signed_at=signed_at,
        expires_at=expires_at,
    )


def _check_files(listed: list[dict[str, Any]], files: Mapping[str, bytes]) -> None:
    # (5) The file set: exactly the files the signed manifest lists.
    names = [entry["path"] for entry in listed]
    for rel in names:
        if rel not in files:
            raise FileMissing(f"bundle file {rel!r} is listed in the signed manifest but missing")
    for rel in sorted(set(files) - set(names)):
        raise FileExtra(f"bundle file {rel!r} is not listed in the signed manifest")
    # (6) Each file's size and SHA-256 against the signed manifest.
    for entry in listed:
        body = files[entry["path"]]
        if len(body) != entry["size"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
            raise DigestMismatch(
                f"bundle file {entry['path']!r} does not match its signed digest"
                f" ({len(body)} bytes, signed {entry['size']})"
            )


def _check_model(files: Mapping[str, bytes], signed: dict[str, Any]) -> Manifest:
    # (7) model.toml parses, names the signed model and version, and its SQL files are present.
    where = f"{bundle_filename(signed['model'], signed['version'])}:model.toml"
    manifest = parse_manifest(_text(files, "model.toml"), where)
    if (manifest.name, manifest.version) != (signed["model"], signed["version"]):
        raise MalformedBundle(
            f"{where} declares {manifest.name} {manifest.version} but the bundle is signed as"
            f" {signed['model']} {signed['version']}"
        )
    _check_sql_present(manifest, files, where, MalformedBundle)
    return manifest


def _check_sql_present(
    manifest: Manifest, files: Mapping[str, bytes], where: str, error: type[FedscreenError]
) -> None:
    """Every SQL file model.toml names must be present, or the agent could not run it."""
    wanted = [(f"roles.{r.name}.sql", r.sql_file) for r in manifest.roles]
    wanted.append(("combine.sql", manifest.combine_sql_file))
    for key, rel in wanted:
        if rel not in files:
            raise error(f"{where}: {key} names {rel!r}, which is not in the model")


# --- signing --------------------------------------------------------------------------------
def collect_files(model_dir: Path) -> dict[str, bytes]:
    """model.toml, the top-level *.sql and everything under fixtures/, keyed by "/" relpath.

    Dotfiles and __pycache__ are skipped: editor and interpreter litter must not change what
    an agency approves. Other top-level files (README, notes) are not part of the model.
    """
    candidates = [model_dir / "model.toml", *sorted(model_dir.glob("*.sql"))]
    if (model_dir / "fixtures").is_dir():
        candidates += sorted((model_dir / "fixtures").rglob("*"))
    files: dict[str, bytes] = {}
    for path in candidates:
        rel = path.relative_to(model_dir)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if path.is_file():
            files[rel.as_posix()] = path.read_bytes()
    return files


def _model_files(model_dir: Path) -> tuple[Manifest, dict[str, bytes]]:
    """The folder's manifest and files, once they are known to make a bundle agents can run."""
    manifest = load_manifest(model_dir)
    files = collect_files(model_dir)
    _check_sql_present(manifest, files, str(model_dir / "model.toml"), ManifestError)
    for rel in files:
        if problem := _path_problem(rel):
            raise ManifestError(f"{model_dir}: file {rel!r} cannot be bundled: {problem}")
    return manifest, files


def sign_bundle(
    model_dir: Path,
    key: Ed25519PrivateKey,
    signer: str,
    *,
    now: datetime,
    valid_for: timedelta = timedelta(days=365),
) -> bytes:
    """The bundle bytes for the model folder; deterministic for a given folder, key and `now`.

    The folder is validated first (model.toml, the SQL it names, bundleable paths) so an
    author learns of a mistake here rather than from an agency's rejection. The SQL itself is
    not checked here but in signed_bundle, what the CLI signs with: an agent must refuse
    forbidden SQL whoever signed it, and its tests need such bundles.
    """
    manifest, files = _model_files(model_dir)
    return _sign(manifest, files, key, signer, now, valid_for, model_dir)


def _sign(
    manifest: Manifest,
    files: Mapping[str, bytes],
    key: Ed25519PrivateKey,
    signer: str,
    now: datetime,
    valid_for: timedelta,
    model_dir: Path,
) -> bytes:
    if not signer.strip():
        raise ManifestError("name the signer (who at the procuratorate signs this model)")
    if valid_for < timedelta(seconds=1):
        raise ManifestError(f"validity {valid_for} must be at least one second")
    signed_at = _utc_seconds(now)
    signed = {
        "model": manifest.name,
        "version": manifest.version,
        "files": [
            {"path": rel, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
            for rel, body in sorted(files.items())
        ],
        "key_id": key_id(key.public_key()),
        "signer": signer,
        "signed_at": format_time(signed_at),
        "expires_at": format_time(signed_at + valid_for),
    }
    signature = key.sign(DOMAIN + canonical_json(signed))
    data = canonical_json(
        {
            "format": FORMAT,
            "manifest": signed,
            "files": {rel: base64.b64encode(body).decode("ascii") for rel, body in files.items()},
            "signature": base64.b64encode(signature).decode("ascii"),
        }
    )
    if len(data) > MAX_BUNDLE_BYTES:
        raise ManifestError(
            f"{model_dir}: the bundle would be {len(data)} bytes, over the"
            f" {MAX_BUNDLE_BYTES}-byte limit; shrink the fixtures"
        )
    return data


def check_model_sql(manifest: Manifest, files: Mapping[str, bytes], model_dir: Path) -> None:
    """Every role's SQL against its datasets, and combine.sql against the role tables, as the
    agents and the coordinator will check them; ForbiddenSQL names the file."""
    params = {p.name for p in manifest.parameters}
    checks = [(r.sql_file, set(r.reads)) for r in manifest.roles]
    checks.append((manifest.combine_sql_file, {r.name for r in manifest.roles}))
    for rel, tables in checks:
        try:
            check_sql(files[rel].decode("utf-8"), tables, params)
        except UnicodeDecodeError:
            raise ManifestError(f"{model_dir / rel}: not UTF-8 text") from None
        except ForbiddenSQL as exc:
            raise ForbiddenSQL(f"{model_dir / rel}: {exc.message}") from None


# --- one signed bundle per model version ------------------------------------------------------
@dataclass(frozen=True)
class StoredBundle:
    """A model folder's bundle as kept at `path`, and whether it was there already."""

    data: bytes
    verified: VerifiedBundle
    path: Path
    reused: bool
    replaced: str | None = None  # why a bundle of the same files there was signed anew


def signed_bundle(
    model_dir: Path,
    bundles: Path,
    key: Ed25519PrivateKey,
    signer: str,
    *,
    now: datetime,
    valid_for: timedelta = timedelta(days=365),
    out: Path | None = None,
) -> StoredBundle:
    """The folder's bundle at `out` (default `bundles/<name>-<version>.fsb`), signed once.

    Agencies approve a bundle by digest, so the bundle there is reused as long as it holds
    exactly the folder's files, verifies with `key` and has not expired; only then is a
    new one signed (and written there). A bundle there with other files is refused:
    changed files need a new version. The SQL is checked first, whichever way it goes.
    """
    manifest, files = _model_files(model_dir)
    check_model_sql(manifest, files, model_dir)
    path = out or bundles / bundle_filename(manifest.name, manifest.version)
    trusted = {key_id(key.public_key()): key.public_key()}
    replaced = None
    if path.exists():
        existing = path.read_bytes()
        _require_same_files(existing, files, path, model_dir)
        try:
            return StoredBundle(existing, verify_bundle(existing, trusted, now=now), path, True)
        except BundleExpired:
            replaced = "it had expired"
        except UnknownSigningKey:
            replaced = "it was signed with another key"
        except BundleError as exc:
            replaced = exc.message
    data = _sign(manifest, files, key, signer, now, valid_for, model_dir)
    write_atomic(path, data)
    return StoredBundle(data, verify_bundle(data, trusted, now=now), path, False, replaced)


def _require_same_files(
    existing: bytes, files: Mapping[str, bytes], path: Path, model_dir: Path
) -> None:
    try:
        old = _parse(existing).files
    except MalformedBundle as exc:
        raise BundleVersionTaken(f"{path} is in the way: {exc.message}; move it away") from None
    changed = sorted(rel for rel in set(old) | set(files) if old.get(rel) != files.get(rel))
    if changed:
        shown = ", ".join(changed[:3]) + (", …" if len(changed) > 3 else "")
        verb = "differs" if len(changed) == 1 else "differ"
        raise BundleVersionTaken(
            f"{path} was signed from other files ({shown} {verb}); agencies approved it by"
            f" digest, so bump version in {model_dir / 'model.toml'} to sign the change"
        )

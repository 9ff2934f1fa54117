"""Ed25519 model-signing keys: the procuratorate signs bundles, agencies trust public keys.

A key is named by its *key id*: the first 16 hex digits of SHA-256 over the raw 32-byte public
key. The id travels in every bundle so an agent can pick the right trusted key; it is a name,
not a secret, and a bundle claiming a trusted id still has to carry a valid signature.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedscreen.errors import ConfigError

KEY_ID_HEX = 16


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX]


def save_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as unencrypted PKCS8 PEM, readable by the owner only.

    Refuses to overwrite: replacing a signing key silently would orphan every agency that
    trusts the old one. O_EXCL makes the check and the creation one step, and the mode is set
    at creation so the key is never world-readable, not even briefly.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path}: already exists; refusing to overwrite a signing key (move it away first)"
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def save_public(public: Ed25519PublicKey, path: Path) -> None:
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def load_private(path: Path) -> Ed25519PrivateKey:
    data = _read(path, "the signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path, "the public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return key


def load_trusted(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """The trusted public keys by key id; the same key listed twice is harmless."""
    trusted: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        public = load_public(Path(path))
        trusted[key_id(public)] = public
    return trusted

"""Token keys and the reference tokeniser.

token = HMAC-SHA256(kind_key, normalised identifier), hex, first 32 characters (128 bits).
kind_key is derived from the agency-shared secret, the job's scope (model + campaign) and the
identifier kind, so tokens of two scopes, or of two kinds, cannot be linked. The coordinator
never holds the secret; the agent computes tokens vectorised in DuckDB (fedscreen.tokensql),
checked against `reference_token` here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fedscreen.identifiers import ID_KINDS, normalise

TOKEN_HEX = 32
MIN_SECRET_BYTES = 32  # the agency-shared token secret
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SCOPE = b"fedscreen/v1/scope\x00"
_KIND = b"fedscreen/v1/kind\x00"


def scope_key(secret: bytes, model: str, campaign: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    msg = _SCOPE + model.encode() + b"\x00" + campaign.encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()


def kind_key(scope: bytes, kind: str) -> bytes:
    """A 64-byte HMAC key made of ASCII letters.

    64 bytes is SHA-256's block size, so HMAC uses the key as is; letters make key XOR ipad and
    key XOR opad valid, NUL-free ASCII, which lets DuckDB build the inner hash from strings.
    Entropy: 64 × log2(52) ≈ 364 bits.
    """
    if kind not in ID_KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    raw = b"".join(
        hmac.new(scope, _KIND + kind.encode() + bytes([i]), hashlib.sha256).digest() for i in (0, 1)
    )
    return bytes(_LETTERS[b % len(_LETTERS)] for b in raw)


@dataclass(frozen=True)
class TokenKeys:
    """The per-kind keys of one job scope."""

    keys: dict[str, bytes]

    @classmethod
    def derive(cls, secret: bytes, model: str, campaign: str) -> TokenKeys:
        scope = scope_key(secret, model, campaign)
        return cls({kind: kind_key(scope, kind) for kind in ID_KINDS})


def hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def reference_token(keys: TokenKeys, kind: str, raw: str | None) -> str | None:
    """The token the agent emits for `raw`, or None for an invalid identifier."""
    canonical = normalise(kind, raw)
    if canonical is None:
        return None
    return hmac_hex(keys.keys[kind], canonical.encode())[:TOKEN_HEX]

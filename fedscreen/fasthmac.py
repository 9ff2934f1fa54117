"""Tokens of whole Arrow string columns in native code (the fedscreen._hmac extension).

DuckDB's sha256() is software-only; the extension hashes with precomputed HMAC midstates and
the CPU's SHA extensions (portable C elsewhere), several times faster than HMAC in SQL.

For the two bulk identifier kinds, person and org (NATIVE_KINDS), the extension also normalises
(fedscreen.identifiers' rules, in C) in the same pass: the engine fetches the raw column as
Arrow and `normalise_tokens` gives the tokens and which rows held an invalid ID. Case and
project numbers (rare, free text) are normalised in SQL (fedscreen.tokensql) and only hashed
here (`tokenise_table`). When the extension cannot be imported (a source tree that was never
built, an unusual platform) `available()` is False and callers use the SQL tokeniser, which
gives the same tokens; tests check all paths against the Python reference.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from types import ModuleType

import numpy as np
import pyarrow as pa

from fedscreen.tokens import TOKEN_HEX


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("fedscreen._hmac")
    except ImportError:  # not built: a test hides the module to exercise this
        return None


_hmac = _load()

BLOCK = 64  # SHA-256's block; the native code takes keys of exactly this length
_MAX_ROWS = 1 << 24  # per native call: n × 64 hex digits stays inside int32 string offsets
NATIVE_KINDS = frozenset({"person", "org"})  # kinds the extension normalises itself
ID_LEN = 18  # both canonical forms are 18 ASCII characters


def available() -> bool:
    return _hmac is not None


def has_sha_ni() -> bool:
    """Whether the native code uses the CPU's SHA extensions (False without the extension)."""
    return _hmac is not None and bool(_hmac.has_sha_ni())


def normalises(kind: str) -> bool:
    """Whether raw IDs of `kind` can be normalised (and tokenised) here."""
    return _hmac is not None and kind in NATIVE_KINDS


def block_key(key: bytes) -> bytes:
    """The 64-byte key HMAC actually uses: hashed if longer than a block, then zero-padded.
    A fedscreen kind key is already 64 bytes and comes back unchanged."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    return key.ljust(BLOCK, b"\x00")


def hmac_hex_array(
    values: pa.Array | pa.ChunkedArray,
    key: bytes,
    *,
    digits: int = TOKEN_HEX,
    portable: bool = False,
) -> pa.ChunkedArray:
    """HMAC-SHA256(key, value) as lower-case hex (the first `digits` characters) of every value
    of a string column; NULL stays NULL. `portable` forces the C compression (for tests)."""
    if _hmac is None:
        raise RuntimeError("the fedscreen._hmac extension is not built")
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out = [
        _hex_chunk(chunk.slice(i, _MAX_ROWS), block_key(key), digits, portable)
        for chunk in chunks
        for i in range(0, len(chunk), _MAX_ROWS)
    ]
    return pa.chunked_array(out, pa.string())


def tokenise_table(table: pa.Table, keys: Mapping[str, bytes]) -> pa.Table:
    """`table` with each column named in `keys` (canonical IDs) replaced by its tokens."""
    for name, key in keys.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, hmac_hex_array(table.column(i), key))
    return table


def normalise_array(
    values: pa.Array | pa.ChunkedArray, kind: str
) -> tuple[pa.ChunkedArray, np.ndarray]:
    """(canonical IDs, bad) of a string column of raw `kind` IDs ('person' or 'org'), like
    fedscreen.identifiers.normalise: canonical is NULL where the raw value is NULL or invalid,
    and the boolean array `bad` is True where it was invalid (not NULL)."""
    return _normalise_chunks(values, kind, None, ID_LEN, False)


def normalise_tokens(
    values: pa.Array | pa.ChunkedArray,
    kind: str,
    key: bytes,
    *,
    digits: int = TOKEN_HEX,
    portable: bool = False,
) -> tuple[pa.ChunkedArray, np.ndarray]:
    """(tokens, bad) of a string column of raw `kind` IDs, in one native pass: the token (as
    hmac_hex_array) of each canonical ID, NULL where the raw value is NULL or invalid, and the
    boolean array `bad`, True where it was invalid."""
    return _normalise_chunks(values, kind, block_key(key), digits, portable)


def _normalise_chunks(
    values: pa.Array | pa.ChunkedArray, kind: str, key: bytes | None, width: int, portable: bool
) -> tuple[pa.ChunkedArray, np.ndarray]:
    if _hmac is None:
        raise RuntimeError("the fedscreen._hmac extension is not built")
    if kind not in NATIVE_KINDS:
        raise ValueError(f"kind {kind!r} is normalised in SQL, not natively")
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out, bads = [], [np.zeros(0, np.bool_)]
    for chunk in chunks:
        for i in range(0, len(chunk), _MAX_ROWS):
            arr, wide = _readable(chunk.slice(i, _MAX_ROWS))
            validity, offsets, data = _buffers(arr)
            text, valid_bits, bad, n_bad = _hmac.normalise(
                kind, data, offsets, validity, len(arr), key,
                start=arr.offset, wide=wide, digits=width, portable=portable,
            )  # fmt: skip
            nulls = arr.null_count + n_bad
            out.append(_fixed_width(len(arr), width, text, pa.py_buffer(valid_bits), nulls))
            bads.append(np.frombuffer(bad, np.bool_))
    return pa.chunked_array(out, pa.string()), np.concatenate(bads)


def _readable(arr: pa.Array) -> tuple[pa.Array, bool]:
    """`arr` in a layout the native code reads, and whether its offsets are 64-bit."""
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        return arr, False
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        return arr, True
    return arr.cast(pa.large_string()), True  # string_view and the like: one copy


def _buffers(arr: pa.Array) -> tuple[pa.Buffer | None, pa.Buffer, pa.Buffer | bytes]:
    """(validity or None when no row is NULL, offsets, data) of a string array."""
    validity, offsets, data = arr.buffers()[:3]
    return (validity if arr.null_count else None), offsets, (data if data is not None else b"")


def _fixed_width(
    n: int, width: int, text: bytes, validity: pa.Buffer | None, nulls: int
) -> pa.Array:
    """A string array of n values of `width` characters each, concatenated in `text`."""
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), n, [validity, offsets, pa.py_buffer(text)], nulls)


def _hex_chunk(arr: pa.Array, key: bytes, digits: int, portable: bool) -> pa.Array:
    assert _hmac is not None
    arr, wide = _readable(arr)
    n, start = len(arr), arr.offset
    if n == 0:
        return pa.array([], pa.string())
    validity, offsets, data = _buffers(arr)
    hexed = _hmac.tokens(
        data, offsets, validity, n, key,
        start=start, wide=wide, digits=digits, portable=portable,
    )  # fmt: skip
    out_validity = _bitmap_from(validity, start, n) if validity is not None else None
    return _fixed_width(n, digits, hexed, out_validity, arr.null_count)


def _bitmap_from(bitmap: pa.Buffer, start: int, n: int) -> pa.Buffer:
    """The validity bits start .. start+n-1 as a bitmap of their own (bit 0 = row 0)."""
    if start == 0:
        return bitmap
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), bitorder="little")[start : start + n]
    return pa.py_buffer(np.packbits(bits, bitorder="little"))

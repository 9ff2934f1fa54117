"""Tokens of whole Arrow string columns in native code (the fedscreen._hmac extension).

DuckDB's sha256() is software-only; the extension hashes with precomputed HMAC midstates and
the CPU's SHA extensions (portable C elsewhere), several times faster than HMAC in SQL. The
engine normalises in SQL as before, fetches the canonical columns as Arrow and tokenises them
here. When the extension cannot be imported (a source tree that was never built, an unusual
platform) `available()` is False and callers use the SQL tokeniser (fedscreen.tokensql), which
gives the same tokens; tests check both.
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


def available() -> bool:
    return _hmac is not None


def has_sha_ni() -> bool:
    """Whether the native code uses the CPU's SHA extensions (False without the extension)."""
    return _hmac is not None and bool(_hmac.has_sha_ni())


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


def _hex_chunk(arr: pa.Array, key: bytes, digits: int, portable: bool) -> pa.Array:
    assert _hmac is not None
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        wide = False
    elif pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        wide = True
    else:  # string_view and the like: one copy into the layout the native code reads
        arr, wide = arr.cast(pa.large_string()), True
    n, start = len(arr), arr.offset
    if n == 0:
        return pa.array([], pa.string())
    validity, offsets, data = arr.buffers()[:3]
    if arr.null_count == 0:
        validity = None
    hexed = _hmac.tokens(
        data if data is not None else b"", offsets, validity, n, key,
        start=start, wide=wide, digits=digits, portable=portable,
    )  # fmt: skip
    out_offsets = pa.py_buffer(np.arange(0, (n + 1) * digits, digits, dtype=np.int32))
    out_validity = _bitmap_from(validity, start, n) if validity is not None else None
    return pa.Array.from_buffers(
        pa.string(), n, [out_validity, out_offsets, pa.py_buffer(hexed)], arr.null_count
    )


def _bitmap_from(bitmap: pa.Buffer, start: int, n: int) -> pa.Buffer:
    """The validity bits start .. start+n-1 as a bitmap of their own (bit 0 = row 0)."""
    if start == 0:
        return bitmap
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), bitorder="little")[start : start + n]
    return pa.py_buffer(np.packbits(bits, bitorder="little"))

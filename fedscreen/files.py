"""Replacing a small state file in one step, for both daemons and their command lines."""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (str as UTF-8) so that a reader or a crash sees the old file
    or the whole new one, never half.

    The temporary file sits beside `path` under a unique name, so concurrent writers never
    share one (the last rename wins), and is created like any other file: its mode follows
    the umask (UMask=0077 in the shipped units), not mkstemp's fixed 0600, so a file written
    by an operator's command stays readable by the daemon as before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with tmp.open("xb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):  # never mask the error that got us here
            tmp.unlink()
        raise

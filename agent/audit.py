"""The agent's tamper-evident audit log: a hash chain of JSON lines, plus a head file.

Every line is the canonical JSON of `{"seq", "at", "prev", "event", ...fields}` where `prev` is
the SHA-256 of the previous line's exact bytes (64 zeros for the first). Editing, removing or
reordering any line breaks the chain at the line after it, and `verify_chain` names that line.

The chain alone cannot notice that the *last* lines were cut off: what remains is still a
valid chain. So after every append we also write `<log>.head` with the last seq and hash;
verification requires the log to reach the head. The head may lag the log (a crash between
the two writes) but never lead it.

What this does not do: someone who can rewrite the whole file can recompute every hash and
the head too. It makes edits *evident* to the agency reading its own log, and the head hash
is small enough to be reported off-box (to the coordinator, or printed) for a stronger check.

Fields must never carry raw identifiers, names or amounts: callers log tokens, digests,
counts and outcomes. This module cannot tell an ID from any other string; the caller must.

Observers (agent.metrics) see each entry after it is durably written; they count, they never
decide: an observer that fails is logged by its error's class name and auditing goes on.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedscreen.auditchain import GENESIS, check_chain, split_lines
from fedscreen.auditchain import line_hash as _sha
from fedscreen.auditchain import parse_line as _parse_shared
from fedscreen.bundle import canonical_json
from fedscreen.errors import AuditChainBroken
from fedscreen.files import write_atomic

__all__ = [
    "GENESIS",
    "AuditLog",
    "Observer",
    "head_path",
    "read_entries",
    "read_lines",
    "verify_chain",
]
log = logging.getLogger("fedscreen.agent.audit")
# Called with (event, fields) once the entry is on disk; must not keep or change `fields`.
Observer = Callable[[str, Mapping[str, Any]], None]
_RESERVED = frozenset({"seq", "at", "prev", "event"})
_TAIL_CHUNK = 64 * 1024


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


class AuditLog:
    """Append-only writer. Safe across threads (a lock) and processes (flock on the log)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._observers = tuple(observers)
        # Read the tail now so a garbled log is refused at start-up, not at the first event.
        if self.path.exists():
            with self.path.open("rb") as fh:
                _tail(fh, self.path)

    def append(self, event: str, **fields: object) -> dict[str, Any]:
        """Write one entry, fsync it, update the head file; return the entry as written."""
        clash = _RESERVED & fields.keys()
        if clash:
            raise ValueError(f"audit fields may not be named {sorted(clash)}")
        with self._lock, self.path.open("ab+") as fh:
            # Another process may have appended since we last looked: read the tail under flock.
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = _tail(fh, self.path)
                entry = {"seq": seq + 1, "at": _now_text(self._clock()), "prev": prev}
                entry.update(fields, event=event)
                line = canonical_json(entry) + b"\n"
                fh.seek(0, os.SEEK_END)
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
                _write_head(self.path, seq + 1, _sha(line[:-1]))
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        self._notify(event, fields)  # outside the lock: a slow observer never holds up writers
        return entry

    def _notify(self, event: str, fields: Mapping[str, Any]) -> None:
        for observer in self._observers:
            try:
                observer(event, fields)
            except Exception as exc:  # the entry is written; a counter must not undo that
                # The class name only: a message could quote a field's value.
                log.warning("audit observer failed on %s: %s", event, type(exc).__name__)


def _tail(fh: Any, path: Path) -> tuple[int, str]:
    """(seq, hash) of the last line, or (0, GENESIS) for an empty log."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return 0, GENESIS
    start = max(0, size - _TAIL_CHUNK)
    while True:
        fh.seek(start)
        chunk = fh.read(size - start)
        cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
        if cut >= 0 or start == 0:
            break
        start = max(0, start - _TAIL_CHUNK)
    if not chunk.endswith(b"\n"):
        raise AuditChainBroken(f"{path}: the last line is incomplete (truncated write?)")
    entry = _parse_line(chunk[cut + 1 : -1], -1, path)
    return entry["seq"], _sha(chunk[cut + 1 : -1])


def _write_head(path: Path, seq: int, digest: str) -> None:
    write_atomic(head_path(path), canonical_json({"seq": seq, "sha256": digest}) + b"\n")


def _parse_line(line: bytes, number: int, path: Path) -> dict[str, Any]:
    return _parse_shared(line, number, str(path))


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based number, line bytes without newline); a last line without newline is broken."""
    if not path.exists():
        return
    yield from split_lines(path.read_bytes(), str(path))


def read_lines(path: Path, from_seq: int = 1) -> Iterator[tuple[int, bytes]]:
    """(number, exact line bytes) from line `from_seq` on, for shipping the log off-box.

    Only complete lines present when the call starts are read: the size is taken under the
    writers' flock, then released, so a slow reader never holds up screening.
    """
    if not path.exists():
        return
    with path.open("rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            size = fh.seek(0, os.SEEK_END)
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.seek(0)
        number, done = 0, 0
        while done < size:
            line = fh.readline(size - done)
            done += len(line)
            if not line.endswith(b"\n"):
                return  # a write in progress at the snapshot's edge: the next pull gets it
            number += 1
            if number >= from_seq:
                yield number, line[:-1]


def read_entries(path: Path) -> list[dict[str, Any]]:
    """All entries as dicts, without checking the chain (use verify_chain for that)."""
    return [_parse_line(line, number, path) for number, line in _lines(path)]


def verify_chain(path: Path) -> int:
    """The number of entries, or AuditChainBroken("line N: ...") naming where the chain breaks.

    A missing or empty log with no head file is a valid log of 0 entries.
    """
    path = Path(path)
    hashes = check_chain(_lines(path), str(path))
    count = len(hashes) - 1
    _check_head(path, count, hashes)
    return count


def _check_head(path: Path, count: int, hashes: list[str]) -> None:
    head = head_path(path)
    if not head.exists():
        if count:
            raise AuditChainBroken(f"line {count}: head file {head} is missing")
        return
    try:
        doc = json.loads(head.read_text(encoding="utf-8"))
        seq, digest = int(doc["seq"]), str(doc["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        raise AuditChainBroken(f"head file {head} is unreadable or garbled") from None
    if seq < 0:
        raise AuditChainBroken(f"head file {head} records a negative seq")
    if seq > count:
        raise AuditChainBroken(
            f"line {count + 1}: missing; the head file records {seq} entries but the log ends"
            f" after {count} (lines were cut from the end)"
        )
    # A head behind the log is a crash between the two writes; it must still match that line.
    if hashes[seq] != digest:
        raise AuditChainBroken(
            f"line {seq}: does not match the hash in the head file (the line was edited)"
        )

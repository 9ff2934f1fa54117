"""The audit hash chain, as pure functions over line bytes: shared by agent and coordinator.

An audit log is a sequence of lines; each is the canonical JSON of
`{"seq", "at", "prev", "event", ...fields}` where `prev` is the SHA-256 of the previous line's
exact bytes (64 zeros for the first) and `seq` is the line's 1-based position. The agent
writes and checks its own file (agent/audit.py); the coordinator checks the copy it pulled
over gRPC (coordinator/cli_audit.py) with the same code, so both sides agree on what "intact"
means. Nothing here touches files, locks or the network.

Checking raises AuditChainBroken("line N: ...") naming the first line that does not hold;
it never returns a bool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from fedscreen.bundle import canonical_json
from fedscreen.errors import AuditChainBroken

GENESIS = "0" * 64


def line_hash(line: bytes) -> str:
    """The hash the next line's `prev` must carry: SHA-256 of the bytes, without newline."""
    return hashlib.sha256(line).hexdigest()


def parse_line(line: bytes, number: int, where: str) -> dict[str, Any]:
    """One entry as a dict; `number` <= 0 means "the last line" (read from the tail)."""
    place = f"line {number}" if number > 0 else "last line"
    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise AuditChainBroken(
            f"{place}: not valid JSON (garbled or truncated) in {where}"
        ) from None
    if not isinstance(entry, dict) or canonical_json(entry) != line:
        raise AuditChainBroken(f"{place}: not a canonical audit entry (edited by hand?) in {where}")
    if type(entry.get("seq")) is not int or not isinstance(entry.get("prev"), str):
        raise AuditChainBroken(f"{place}: missing seq or prev in {where}")
    return entry


def split_lines(data: bytes, where: str) -> Iterator[tuple[int, bytes]]:
    """(1-based number, line bytes without newline); a last line without newline is broken."""
    if data and not data.endswith(b"\n"):
        count = data.count(b"\n") + 1
        raise AuditChainBroken(f"line {count}: incomplete (truncated) in {where}")
    # Split on b"\n" only: splitlines() would also split on U+2028 inside a string value.
    yield from enumerate(data.split(b"\n")[:-1], start=1)


def check_chain(
    lines: Iterable[tuple[int, bytes]], where: str, *, prev: str = GENESIS
) -> list[str]:
    """Check every line links to the one before; return the hashes, `prev` first.

    `hashes[i]` is the hash of the i-th checked line, so for a whole log `hashes[seq]` is the
    hash of entry `seq`. Start mid-log by passing the previous line's hash as `prev` and
    numbering the lines from where they sit in the log.
    """
    hashes = [prev]
    for number, line in lines:
        entry = parse_line(line, number, where)
        if entry["seq"] != number:
            raise AuditChainBroken(
                f"line {number}: seq {entry['seq']} where {number} was expected"
                f" (a line was removed or the lines were reordered) in {where}"
            )
        if entry["prev"] != hashes[-1]:
            raise AuditChainBroken(
                f"line {number}: prev does not match the hash of line {number - 1}"
                f" (line {number - 1} was edited, or lines were removed or reordered) in {where}"
            )
        hashes.append(line_hash(line))
    return hashes

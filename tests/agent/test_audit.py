"""The agent's audit log: every edit, removal or reordering is evident and named."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.audit import GENESIS, AuditLog, head_path, read_entries, verify_chain
from fedscreen.errors import AuditChainBroken


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "agent.log"
    log = AuditLog(path)
    for n in range(1, 11):
        log.append("job_run", job=f"job-{n}", rows_flagged=n)
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, new: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in new))


def test_appended_entries_form_a_verifiable_chain(log_path: Path) -> None:
    assert verify_chain(log_path) == 10
    entries = read_entries(log_path)
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert entries[0]["prev"] == GENESIS
    assert entries[3]["event"] == "job_run"
    assert entries[3]["job"] == "job-4"
    assert entries[3]["at"].endswith("Z")


def test_missing_or_empty_log_has_no_entries(tmp_path: Path) -> None:
    assert verify_chain(tmp_path / "none.log") == 0
    (tmp_path / "empty.log").write_bytes(b"")
    assert verify_chain(tmp_path / "empty.log") == 0


def test_concurrent_appends_from_threads_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    log = AuditLog(path)

    def work(worker: int) -> None:
        for n in range(25):
            log.append("tick", worker=worker, n=n)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verify_chain(path) == 100
    seen = {(e["worker"], e["n"]) for e in read_entries(path)}
    assert seen == {(w, n) for w in range(4) for n in range(25)}


def test_two_writers_on_one_file_keep_the_chain(tmp_path: Path) -> None:
    # Two AuditLog objects stand in for two processes: each must re-read the tail under flock.
    path = tmp_path / "agent.log"
    first, second = AuditLog(path), AuditLog(path)
    for n in range(5):
        first.append("a", n=n)
        second.append("b", n=n)
    assert verify_chain(path) == 10


WRITER = """
import sys
from pathlib import Path
from agent.audit import AuditLog
log = AuditLog(Path(sys.argv[1]))
for n in range(40):
    log.append("tick", worker=sys.argv[2], n=n)
"""


def test_concurrent_appends_from_processes_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], cwd=root)
        for name in ("p1", "p2")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert verify_chain(path) == 80


def test_reopened_log_continues_the_chain(log_path: Path) -> None:
    entry = AuditLog(log_path).append("restart", version="0.1.0")
    assert entry["seq"] == 11
    assert verify_chain(log_path) == 11


def test_edited_middle_line_is_named(log_path: Path) -> None:
    rows = lines(log_path)
    entry = json.loads(rows[3])
    entry["rows_flagged"] = 0
    rows[3] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 5: .* hash of line 4 \(line 4 was edited"):
        verify_chain(log_path)


def test_hand_edited_line_that_is_not_canonical_is_named(log_path: Path) -> None:
    rows = lines(log_path)
    rows[6] = rows[6].replace(b'"rows_flagged":7', b'"rows_flagged": 7')
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 7: not a canonical audit entry"):
        verify_chain(log_path)


def test_deleted_middle_line_is_detected(log_path: Path) -> None:
    rows = lines(log_path)
    del rows[4]
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 5: seq 6 where 5 was expected"):
        verify_chain(log_path)


def test_deleted_last_line_is_detected_by_the_head_file(log_path: Path) -> None:
    write_lines(log_path, lines(log_path)[:-1])
    with pytest.raises(AuditChainBroken, match=r"line 10: missing; the head file records 10"):
        verify_chain(log_path)


def test_edited_last_line_is_detected_by_the_head_file(log_path: Path) -> None:
    rows = lines(log_path)
    rows[-1] = rows[-1].replace(b'"rows_flagged":10', b'"rows_flagged":11')
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 10: does not match the hash in the head"):
        verify_chain(log_path)


def test_deleted_head_file_is_detected(log_path: Path) -> None:
    head_path(log_path).unlink()
    with pytest.raises(AuditChainBroken, match=r"head file .* is missing"):
        verify_chain(log_path)


def test_emptied_log_is_detected_by_the_head_file(log_path: Path) -> None:
    log_path.write_bytes(b"")
    with pytest.raises(AuditChainBroken, match=r"line 1: missing"):
        verify_chain(log_path)


def test_reordered_lines_are_detected(log_path: Path) -> None:
    rows = lines(log_path)
    rows[2], rows[3] = rows[3], rows[2]
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 3: seq 4 where 3 was expected"):
        verify_chain(log_path)


def test_truncated_last_line_is_detected(log_path: Path) -> None:
    log_path.write_bytes(log_path.read_bytes()[:-20])
    with pytest.raises(AuditChainBroken, match=r"line 10: incomplete"):
        verify_chain(log_path)
    with pytest.raises(AuditChainBroken, match=r"incomplete"):
        AuditLog(log_path)


def test_garbled_middle_line_is_named(log_path: Path) -> None:
    rows = lines(log_path)
    rows[1] = rows[1][:15]
    write_lines(log_path, rows)
    with pytest.raises(AuditChainBroken, match=r"line 2: not valid JSON"):
        verify_chain(log_path)


def test_head_lagging_after_a_crash_is_accepted(log_path: Path) -> None:
    # A crash between writing the line and the head leaves the head one entry behind.
    head = head_path(log_path)
    before = head.read_bytes()
    AuditLog(log_path).append("late")
    head.write_bytes(before)
    assert verify_chain(log_path) == 11


def test_reserved_field_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seq"):
        AuditLog(tmp_path / "a.log").append("x", seq=5)

"""fedscreen.files.write_atomic: a state file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedscreen.files import write_atomic


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_text_and_bytes_replace_the_file_and_leave_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "state" / "approvals.json"  # the directory is created
    write_atomic(path, "第一")
    assert path.read_text("utf-8") == "第一"
    write_atomic(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert [p.name for p in path.parent.iterdir()] == ["approvals.json"]


def test_a_failed_replace_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "head"
    target.mkdir()  # os.replace cannot put a file over a directory
    (target / "kept").write_text("old")
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head"]
    assert (target / "kept").read_text() == "old"


def test_the_mode_follows_the_umask_like_any_other_file(tmp_path: Path, umask_022: None) -> None:
    # Not mkstemp's 0600: a file an operator's command writes stays readable by the daemon.
    path = tmp_path / "approvals.json"
    write_atomic(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

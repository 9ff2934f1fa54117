"""agent.clock: the latest skew observation in STATE/clock.json."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.clock import Observation, observe, read_skew, record_skew

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def test_record_then_read_round_trips(tmp_path: Path) -> None:
    state = tmp_path / "state"  # created on first record
    recorded = record_skew(state, sent_at=T, received_at=T + 1.23456)
    expected = Observation(1.235, datetime(2026, 6, 1, 12, 0, 1, 234560, tzinfo=UTC))
    assert recorded == expected
    assert read_skew(state) == expected
    assert json.loads((state / "clock.json").read_text("utf-8")) == {
        "skew_seconds": 1.235,
        "observed_at": "2026-06-01T12:00:01.234560+00:00",
    }


def test_a_new_observation_replaces_the_old_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    record_skew(tmp_path, sent_at=T, received_at=T + 100)
    record_skew(tmp_path, sent_at=T + 10, received_at=T + 9.5)
    assert read_skew(tmp_path) == Observation(-0.5, datetime.fromtimestamp(T + 9.5, UTC))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clock.json"]


def test_no_observation_yet_reads_as_none(tmp_path: Path) -> None:
    assert read_skew(tmp_path) is None


def test_a_corrupt_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "clock.json").write_text("{half", "utf-8")
    with pytest.raises(ValueError, match="clock.json is not a clock observation"):
        read_skew(tmp_path)


def test_observe_warns_beyond_30_seconds_and_skips_unstamped_requests(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fedscreen.agent")
    observe(tmp_path, None, T)
    assert not (tmp_path / "clock.json").exists()
    observe(tmp_path, T, T + 29)
    assert [r.levelname for r in caplog.records] == []
    observe(tmp_path, T, T - 120)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "clock skew against the coordinator: -120.000 s (this host minus the coordinator); "
            "keep NTP on both hosts",
        )
    ]
    assert read_skew(tmp_path) == Observation(-120.0, datetime.fromtimestamp(T - 120, UTC))


def test_observe_never_raises_when_the_state_dir_is_unusable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a directory")
    observe(blocker, T, T + 1)  # must not raise
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "cannot record clock skew: FileExistsError")
    ]

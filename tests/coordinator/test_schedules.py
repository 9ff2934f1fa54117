"""schedules.toml parsing (errors name the key) and tick arithmetic with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator.schedules import (
    Schedule,
    add_schedule,
    due_tick,
    dump_schedules,
    latest_tick,
    load_schedules,
    next_tick,
    parse_schedules,
    remove_schedule,
)
from fedscreen.errors import ConfigError, UsageError

NIGHTLY = Schedule("nightly", "0 2 * * *", "fake_labour_litigation")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_a_full_entry_parses() -> None:
    [s] = parse_schedules(
        """
        [schedules.nightly]
        cron = "0  2 * * *"
        model = "fake_labour_litigation"
        campaign = "2026-q1"
        deadline_seconds = 120
        [schedules.nightly.params]
        min_suits = 6
        """
    )
    assert s == Schedule(
        "nightly", "0 2 * * *", "fake_labour_litigation", {"min_suits": 6}, "2026-q1", 120.0
    )
    assert s.run_params() == {"min_suits": "6"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('model = "m"', r"schedules\.bad\.cron is missing"),
        ('cron = "0 2 * * *"', r"schedules\.bad\.model is missing"),
        ('cron = "0 2 * *"\nmodel = "m"', r"schedules\.bad\.cron: .* must have 5 fields"),
        ('cron = "0 25 * * *"\nmodel = "m"', r"schedules\.bad\.cron: .* not a valid cron"),
        ('cron = "0 2 * * *"\nmodel = "m"\ndeadline_seconds = 0', r"bad\.deadline_seconds"),
        ('cron = "0 2 * * *"\nmodel = "m"\nparams = 3', r"schedules\.bad\.params must be"),
        ('cron = "0 2 * * *"\nmodel = "m"\ncampaign = ""', r"schedules\.bad\.campaign"),
        ('cron = "0 2 * * *"\nmodel = "m"\ntarget = "x"', r"schedules\.bad\.target is not a"),
        ('cron = "0 2 * * *"\nmodel = "m"\nparams = {x = [1]}', r"bad\.params\.x must be"),
    ],
)
def test_bad_entries_are_refused_naming_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_schedules(f"[schedules.bad]\n{body}\n", "STATE/schedules.toml")
    assert info.value.message.startswith("STATE/schedules.toml: ")
    assert "\n" not in info.value.message


def test_bad_name_and_bad_toml_are_refused() -> None:
    with pytest.raises(ConfigError, match="schedule name 'Bad!'"):
        parse_schedules('[schedules."Bad!"]\ncron = "* * * * *"\nmodel = "m"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_schedules("[schedules.x\n")


def test_dump_reads_back_and_add_remove_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    entry = Schedule("a", "*/5 * * * *", "m", {"k": "v", "n": 1.5}, "c", 30.0, at(1, 0))
    add_schedule(path, entry)
    add_schedule(path, NIGHTLY)
    assert load_schedules(path) == [entry, NIGHTLY]
    assert parse_schedules(dump_schedules([entry])) == [entry]
    with pytest.raises(UsageError, match="schedule 'a' exists"):
        add_schedule(path, entry)
    remove_schedule(path, "a")
    assert load_schedules(path) == [NIGHTLY]
    with pytest.raises(UsageError, match="unknown schedule 'a'"):
        remove_schedule(path, "a")


def test_next_and_latest_tick() -> None:
    assert next_tick(NIGHTLY, at(5, 1, 59)) == at(5, 2)
    assert next_tick(NIGHTLY, at(5, 2)) == at(6, 2)  # strictly after
    assert latest_tick(NIGHTLY, at(5, 2)) == at(5, 2)
    assert latest_tick(NIGHTLY, at(5, 1)) == at(4, 2)


def test_due_once_per_tick() -> None:
    assert due_tick(NIGHTLY, at(4, 2), at(5, 2, 1)) == at(5, 2)
    assert due_tick(NIGHTLY, at(5, 2), at(5, 2, 1)) is None
    assert due_tick(NIGHTLY, at(5, 2), at(6, 1, 59)) is None


def test_missed_ticks_collapse_into_one_run() -> None:
    # last ran on the 1st; the daemon was down for four nightly ticks
    tick = due_tick(NIGHTLY, at(1, 2), at(5, 9))
    assert tick == at(5, 2)  # the latest missed tick, once
    assert due_tick(NIGHTLY, tick, at(5, 9, 1)) is None  # not again for the earlier ones


def test_a_new_schedule_waits_for_its_first_tick_after_being_added() -> None:
    added = Schedule("n", "0 2 * * *", "m", added_at=at(5, 3))
    assert due_tick(added, None, at(5, 23)) is None
    assert due_tick(added, None, at(6, 2)) == at(6, 2)
    # a hand-written entry without added_at is due at its latest tick
    assert due_tick(NIGHTLY, None, at(5, 3)) == at(5, 2)

from __future__ import annotations

import pyarrow as pa
import pytest

from fedscreen import wire
from fedscreen.jobs import Job, Summary, round_2sig


def big_table(rows: int) -> pa.Table:
    return pa.table(
        {
            "person": [f"{i:032x}" for i in range(rows)],
            "flag": [i % 3 == 0 for i in range(rows)],
            "bucket": ["10-19" if i % 2 else "20+" for i in range(rows)],
        }
    )


def test_batches_stay_under_the_message_ceiling_and_lose_nothing() -> None:
    table = big_table(120_000)  # ~5 MiB of IPC
    batches = list(wire.table_to_ipc_batches(table))
    assert len(batches) > 4
    assert all(len(data) <= wire.MAX_MESSAGE_BYTES - 16 * 1024 for data, _ in batches)
    assert sum(rows for _, rows in batches) == table.num_rows
    assert wire.concat_ipc(data for data, _ in batches).equals(table)


def test_a_skewed_table_is_split_further() -> None:
    table = pa.table({"v": ["x"] * 1000 + ["y" * 200_000] * 20})
    batches = list(wire.table_to_ipc_batches(table, max_bytes=512 * 1024))
    assert all(len(d) <= 512 * 1024 - 16 * 1024 for d, _ in batches)
    assert wire.concat_ipc(d for d, _ in batches).equals(table)


def test_an_empty_table_makes_no_batches() -> None:
    assert list(wire.table_to_ipc_batches(big_table(0))) == []


def test_job_and_summary_survive_the_round_trip() -> None:
    job = Job("j1", "camp", {"min_suits": "4"}, "analyst")
    assert wire.job_from_pb(wire.job_to_pb(job)) == job
    summary = Summary("j1", "d" * 64, "court", 1000, 12, 1, {"person": 3, "org": 0}, 0.5)
    assert wire.summary_from_pb(wire.summary_to_pb(summary)) == summary


def test_screen_request_is_stamped_with_the_senders_clock() -> None:
    job = Job("j1", "camp", {"min_suits": "4"}, "analyst", {"person": ("a" * 32,)})
    request = wire.screen_request(b"bundle", job, now=1_780_000_000.1234)
    assert request.job.sent_at_unix_ms == 1_780_000_000_123
    assert wire.sent_at(request) == 1_780_000_000.123


def test_the_stamp_is_not_part_of_the_job() -> None:
    job = Job("j1", "camp", {"min_suits": "4"}, "analyst", {"person": ("a" * 32,)})
    early = wire.screen_request(b"bundle", job, now=1_000.0)
    late = wire.screen_request(b"bundle", job, now=2_000.0)
    assert early.job.sent_at_unix_ms != late.job.sent_at_unix_ms
    assert wire.job_from_request(early) == wire.job_from_request(late) == job
    assert wire.job_from_pb(early.job) == Job("j1", "camp", {"min_suits": "4"}, "analyst")


def test_an_unstamped_request_has_no_sent_at() -> None:
    request = wire.screen_request(b"bundle", Job("j1", "camp", {}, "analyst"))
    assert request.job.sent_at_unix_ms > 0  # the default stamps with the clock
    request.job.ClearField("sent_at_unix_ms")  # as an older coordinator sends it
    assert wire.sent_at(request) is None


@pytest.mark.parametrize(
    ("n", "rounded"), [(0, 0), (99, 99), (1049, 1000), (1051, 1100), (65_666, 66_000)]
)
def test_row_counts_leave_rounded_to_two_significant_digits(n: int, rounded: int) -> None:
    assert round_2sig(n) == rounded

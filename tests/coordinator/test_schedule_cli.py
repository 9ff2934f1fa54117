"""`fedscreen schedule …` and `fedscreen jobs …` in-process: values written and shown, bad
input refused in one line with exit code 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from coordinator import daemon
from coordinator.cli import main
from coordinator.registry import Registry
from coordinator.schedules import load_schedules
from coordinator.state import State


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> State:
    (tmp_path / "coordinator.toml").write_text('name = "t"\n', encoding="utf-8")
    return State(tmp_path)


def run(state: State, *args: str) -> int:
    return main(["--state", str(state.root), *args])


def test_schedule_add_list_next_remove(state: State, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state, "schedule", "add", "nightly", "--cron", "0 2 * * *", "--model",
               "fake_labour_litigation", "--param", "min_suits=6", "--campaign", "q1",
               "--deadline-seconds", "90") == 0  # fmt: skip
    assert "next " in capsys.readouterr().out
    [s] = load_schedules(daemon.schedules_file(state))
    assert (s.cron, s.params, s.campaign, s.deadline_seconds) == ("0 2 * * *", {"min_suits": 6},
                                                                  "q1", 90.0)  # fmt: skip
    assert s.added_at is not None
    assert run(state, "schedule", "list", "--format", "json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["name"] == "nightly" and row["params"] == "min_suits=6"
    assert row["next_utc"].endswith("T02:00:00+00:00")
    assert run(state, "schedule", "next") == 0
    assert "T02:00:00+00:00  nightly  fake_labour_litigation" in capsys.readouterr().out
    assert run(state, "schedule", "remove", "nightly") == 0
    assert load_schedules(daemon.schedules_file(state)) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 2 * *"], "--cron: '0 2 * *' must have 5 fields"),
        (["--cron", "0 2 * * *", "--param", "min_suits=500"], "min_suits"),
        (["--cron", "0 2 * * *", "--deadline-seconds", "0"], "--deadline-seconds"),
    ],
)
def test_schedule_add_refuses_bad_input(
    state: State, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = run(state, "schedule", "add", "x", "--model", "fake_labour_litigation", *args)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not daemon.schedules_file(state).exists()


def test_jobs_list_and_show(state: State, capsys: pytest.CaptureFixture[str]) -> None:
    reg = Registry(state.registry)
    reg.start_job("a" * 32, "m", "1.0", "d" * 64, "c", {"k": 1}, ("题", "title"))
    agents = {"t-court": {"role": "court", "rows_in": 1000, "rows_out": 7, "seconds": 0.25}}
    reg.finish_job("a" * 32, "succeeded", agents=agents, leads=7, new_leads=3)
    reg.start_job("b" * 32, "m", "1.0", "d" * 64, "c", {}, ("题", "title"))
    reg.finish_job("b" * 32, "failed", "agent t-court is down")
    assert run(state, "jobs", "list", "--status", "succeeded", "--format", "json") == 0
    [job] = json.loads(capsys.readouterr().out)
    assert (job["job"], job["leads"], job["new_leads"]) == ("a" * 32, 7, 3)
    assert run(state, "jobs", "show", "a" * 10) == 0
    out = capsys.readouterr().out
    assert "leads     7 (3 new)" in out and "t-court" in out and "1000" in out and "0.25" in out
    assert run(state, "jobs", "show", "b" * 32) == 0
    assert "message   agent t-court is down" in capsys.readouterr().out


def test_jobs_show_unknown_id_exits_2(state: State, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state, "jobs", "show", "nosuchjob") == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown job 'nosuchjob' (see: fedscreen jobs list)"
    )


def test_schedule_add_keeps_the_target_agents_and_refuses_an_unknown_one(
    state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    state.add_agent("t-court", "h:1", "court")
    add = ["schedule", "add", "n", "--cron", "0 2 * * *", "--model", "fake_labour_litigation"]
    assert run(state, *add, "--agent", "t-nobody") == 2
    assert "--agent t-nobody: no such agent" in capsys.readouterr().err
    assert run(state, *add, "--agent", "t-court", "--agent", "t-court") == 0
    [s] = load_schedules(daemon.schedules_file(state))
    assert s.agents == ("t-court",)
    capsys.readouterr()
    assert run(state, "schedule", "list", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["agents"] == "t-court"


def test_jobs_show_json_decodes_the_record_and_list_names_missing_agents(
    state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = Registry(state.registry)
    reg.start_job("a" * 32, "m", "1.0", "d", "c", {"k": 1}, ("题", "t"), targets=["t-court"])
    reg.finish_job("a" * 32, "partial", "agents missing: t-court", missing=["t-court"])
    assert run(state, "jobs", "show", "a" * 8, "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["params"], shown["missing"], shown["targets"], shown["agents"]) == (
        {"k": 1}, ["t-court"], ["t-court"], {},
    )  # fmt: skip
    assert run(state, "jobs", "list", "--format", "json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["status"], row["missing"], row["attempts"]) == ("partial", "t-court", 1)


def test_jobs_cancel_closes_a_job_nobody_runs_and_retry_refuses_a_succeeded_one(
    state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = Registry(state.registry)
    reg.start_job("a" * 32, "m", "1.0", "d", "c", {}, ("题", "t"), owner="elsewhere:1")
    with sqlite3.connect(state.registry) as con:  # its runner stopped beating long ago
        con.execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00+00:00'")
    con.close()
    assert run(state, "jobs", "cancel", "a" * 8, "--by", "张三") == 0
    assert capsys.readouterr().out == f"job {'a' * 32}: cancelled (nothing was running it)\n"
    assert run(state, "jobs", "cancel", "a" * 8) == 2
    assert "has already ended (cancelled)" in capsys.readouterr().err
    reg.start_job("b" * 32, "m", "1.0", "d", "c", {}, ("题", "t"))
    reg.finish_job("b" * 32, "succeeded")
    assert run(state, "jobs", "retry", "b" * 32) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: job {'b' * 32} succeeded; run the model again for a new job"
    )

"""A lead's lifecycle: every legal step, illegal ones refused, the history the registry keeps."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from coordinator import lifecycle as lc
from coordinator.combine import Lead
from coordinator.registry import Registry, UnknownLead
from fedscreen.errors import UsageError

LEAD = "L0123456789ab"

# How to ask for each target state, from any state: the pure step the commands use.
STEPS: dict[str, Callable[[str], lc.Change]] = {
    lc.ASSIGNED: lambda s: lc.assign(LEAD, s, "张三"),
    lc.TRANSFERRED: lambda s: lc.transfer(LEAD, s, "安阳市人民检察院", "管辖"),
    lc.VERIFYING: lambda s: lc.start_verifying(LEAD, s),
    lc.VERIFIED_TRUE: lambda s: lc.verdict(LEAD, s, True, "判决书与社保记录一致"),
    lc.VERIFIED_FALSE: lambda s: lc.verdict(LEAD, s, False, "确有劳动关系"),
    lc.DISPOSED: lambda s: lc.dispose(LEAD, s, "closed", "结案"),
}

LEGAL = [(src, dst) for src, targets in lc.TRANSITIONS.items() for dst in targets]
ILLEGAL = [(src, dst) for src in lc.STATES for dst in STEPS if dst not in lc.TRANSITIONS[src]]


def test_the_documented_graph() -> None:
    assert lc.TRANSITIONS == {
        "new": ("assigned", "transferred", "verifying"),
        "assigned": ("assigned", "transferred", "verifying"),
        "transferred": ("assigned", "transferred", "verifying"),
        "verifying": ("assigned", "transferred", "verified_true", "verified_false"),
        "verified_true": ("disposed",),
        "verified_false": ("disposed",),
        "disposed": (),
    }
    assert len(LEGAL) == 15 and len(ILLEGAL) == 7 * 6 - 15


@pytest.mark.parametrize(("src", "dst"), LEGAL)
def test_every_legal_transition_is_allowed(src: str, dst: str) -> None:
    change = STEPS[dst](src)
    assert (change.from_state, change.to_state) == (src, dst)


@pytest.mark.parametrize(("src", "dst"), ILLEGAL)
def test_every_illegal_transition_is_refused_listing_the_legal_ones(src: str, dst: str) -> None:
    with pytest.raises(lc.IllegalTransition) as err:
        STEPS[dst](src)
    message = err.value.message
    assert "\n" not in message
    assert message.startswith(f"lead {LEAD} is {src}: cannot move it to {dst}; legal from {src}:")
    for legal in lc.TRANSITIONS[src]:
        assert legal in message.split("legal from", 1)[1]
    assert err.value.exit_code == 2


def test_the_message_names_the_commands_that_are_open() -> None:
    with pytest.raises(lc.IllegalTransition) as err:
        lc.dispose(LEAD, "new", "protest", "r")
    assert err.value.message == (
        f"lead {LEAD} is new: cannot move it to disposed; legal from new: "
        "assigned (leads assign), transferred (leads transfer), verifying (leads verify)"
    )
    assert lc.legal_next("disposed") == "none: the lead is final (leads note still works)"
    assert lc.legal_next("verified_false") == "disposed (leads dispose --action closed)"


@pytest.mark.parametrize("action", list(lc.ACTIONS))
def test_a_true_lead_can_be_disposed_of_with_every_action(action: str) -> None:
    change = lc.dispose(LEAD, "verified_true", action, "依法处理")
    assert change.fields == {"disposition": action}
    assert change.detail == f"{action} {lc.ACTIONS[action]}: 依法处理"


@pytest.mark.parametrize("action", [a for a in lc.ACTIONS if a != "closed"])
def test_a_false_lead_can_only_be_closed(action: str) -> None:
    with pytest.raises(lc.IllegalTransition, match="can only be disposed of with closed, not"):
        lc.dispose(LEAD, "verified_false", action, "r")
    assert lc.dispose(LEAD, "verified_false", "closed", "r").to_state == "disposed"


def test_an_unknown_action_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown disposal action 'pardon'"):
        lc.dispose(LEAD, "verified_true", "pardon", "r")


def test_a_verdict_needs_a_reason() -> None:
    for reason in (None, "", "   "):
        with pytest.raises(UsageError, match="a verdict needs --reason"):
            lc.verdict(LEAD, "verifying", False, reason)
    change = lc.verdict(LEAD, "verifying", False, "  确有\n劳动关系 ")
    assert change.fields == {"verdict": "false", "verdict_reason": "确有 劳动关系"}


def test_transfer_sets_the_unit_and_clears_the_assignee() -> None:
    change = lc.transfer(LEAD, "assigned", "文峰区人民检察院", "管辖")
    assert change.fields == {"unit": "文峰区人民检察院", "assignee": None}
    assert change.detail == "文峰区人民检察院: 管辖"


def test_empty_or_huge_text_is_refused() -> None:
    with pytest.raises(UsageError, match="the assignee"):
        lc.assign(LEAD, "new", "  ")
    with pytest.raises(UsageError, match="keep it under 500"):
        lc.note("new", "x" * 501)


def test_notes_and_routing_keep_the_state() -> None:
    assert lc.note("verifying", "电话联系法院").to_state == "verifying"
    routed = lc.route("new", "安阳市人民检察院", "4105")
    assert (routed.to_state, routed.fields) == ("new", {"unit": "安阳市人民检察院"})


# --- the registry keeps the history ------------------------------------------------------------
def registry_with(tmp_path: Path, *ids: str) -> Registry:
    registry = Registry(tmp_path / "registry.sqlite")
    registry.start_job("j1", "m", "1.0.0", "d", "m", {}, ("模型", "Model"))
    leads = [Lead(i, {"p": f"{n:032x}"}, {"f": "x"}, "410502") for n, i in enumerate(ids)]
    registry.record_leads("j1", "m", "1.0.0", "m", leads)
    return registry


def dump(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def test_a_new_lead_has_a_found_event(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, LEAD)
    (event,) = registry.events(LEAD)
    assert (event.actor, event.action, event.from_state, event.to_state, event.detail) == (
        "fedscreen",
        "found",
        None,
        "new",
        "job j1",
    )
    assert event.at == registry.lead(LEAD).found_at


def test_the_whole_life_of_a_lead_is_in_its_history(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, LEAD)
    registry.apply(LEAD, "王检察长", lambda s: lc.transfer(LEAD, s, "文峰区人民检察院", "管辖"))
    registry.apply(LEAD, "李科长", lambda s: lc.assign(LEAD, s, "张三"))
    registry.apply(LEAD, "张三", lambda s: lc.start_verifying(LEAD, s))
    registry.apply(LEAD, "张三", lambda s: lc.note(s, "调取卷宗"))
    registry.apply(LEAD, "张三", lambda s: lc.verdict(LEAD, s, True, "虚假诉讼属实"))
    registry.apply(LEAD, "张三", lambda s: lc.dispose(LEAD, s, "retrial_proposal", "判决依据虚假"))
    history = [
        (e.actor, e.action, e.from_state, e.to_state, e.detail) for e in registry.events(LEAD)
    ]
    assert history == [
        ("fedscreen", "found", None, "new", "job j1"),
        ("王检察长", "transfer", "new", "transferred", "文峰区人民检察院: 管辖"),
        ("李科长", "assign", "transferred", "assigned", "张三"),
        ("张三", "verify", "assigned", "verifying", "核实开始"),
        ("张三", "note", "verifying", "verifying", "调取卷宗"),
        ("张三", "verify", "verifying", "verified_true", "虚假诉讼属实"),
        (
            "张三",
            "dispose",
            "verified_true",
            "disposed",
            "retrial_proposal 再审检察建议: 判决依据虚假",
        ),
    ]
    lead = registry.lead(LEAD)
    assert (lead.state, lead.unit, lead.assignee) == ("disposed", "文峰区人民检察院", "张三")
    assert (lead.verdict, lead.verdict_reason, lead.disposition) == (
        "true",
        "虚假诉讼属实",
        "retrial_proposal",
    )
    assert registry.disposed_at() == {LEAD: registry.events(LEAD)[-1].at}


def test_a_refused_step_leaves_the_registry_untouched(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, LEAD)
    before = dump(registry.path)
    with pytest.raises(lc.IllegalTransition):
        registry.apply(LEAD, "张三", lambda s: lc.dispose(LEAD, s, "protest", "r"))
    with pytest.raises(UnknownLead, match="unknown lead 'Lnope'"):
        registry.apply("Lnope", "张三", lambda s: lc.note(s, "x"))
    assert dump(registry.path) == before


def test_a_rerun_keeps_the_state_and_updates_last_seen(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, LEAD)
    registry.apply(LEAD, "张三", lambda s: lc.assign(LEAD, s, "张三"))
    before = registry.lead(LEAD)
    time.sleep(1.1)  # timestamps have second resolution
    registry.start_job("j2", "m", "1.0.1", "d", "m", {}, ("模型", "Model"))
    again = [Lead(LEAD, {"p": f"{0:032x}"}, {"f": "y"}, "410502", "k", "新说明", "why")]
    assert registry.record_leads("j2", "m", "1.0.1", "m", again) == 0
    after = registry.lead(LEAD)
    assert (after.state, after.assignee, after.found_at) == ("assigned", "张三", before.found_at)
    assert after.last_seen > before.last_seen and after.last_job == "j2"
    assert after.flags == {"f": "y"} and after.explanation_zh == "新说明"
    assert [e.action for e in registry.events(LEAD)] == ["found", "assign"]
    assert len(registry.leads()) == 1


def test_two_analysts_deciding_at_once_cannot_both_win(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, LEAD)
    registry.apply(LEAD, "a", lambda s: lc.start_verifying(LEAD, s))
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(who: str, true: bool) -> None:
        def slow(state: str) -> lc.Change:
            time.sleep(0.3)  # hold the write lock while the other one waits for it
            return lc.verdict(LEAD, state, true, f"{who} says {true}")

        start.wait()
        try:
            registry.apply(LEAD, who, slow)
            outcomes[who] = "ok"
        except lc.IllegalTransition as exc:
            outcomes[who] = exc.message

    threads = [
        threading.Thread(target=decide, args=(w, t)) for w, t in (("甲", True), ("乙", False))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values())[-1] == "ok"
    refused = sorted(outcomes.values())[0]
    assert "cannot move it to verified_" in refused
    verdicts = [e for e in registry.events(LEAD) if e.to_state.startswith("verified_")]
    assert len(verdicts) == 1


OLD_SCHEMA = """
CREATE TABLE models (model TEXT NOT NULL, version TEXT NOT NULL, title_zh TEXT, title_en TEXT,
    PRIMARY KEY (model, version));
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    digest TEXT NOT NULL, campaign TEXT NOT NULL, params TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, message TEXT, agents TEXT, leads INTEGER,
    new_leads INTEGER);
CREATE TABLE leads (lead_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    campaign TEXT NOT NULL, key TEXT NOT NULL, flags TEXT NOT NULL, region TEXT,
    first_job TEXT NOT NULL, last_job TEXT NOT NULL, found_at TEXT NOT NULL,
    last_seen TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'new', kind TEXT NOT NULL DEFAULT '',
    explanation_zh TEXT NOT NULL DEFAULT '', explanation_en TEXT NOT NULL DEFAULT '');
INSERT INTO models VALUES ('m', '1.0.0', '模型', 'Model');
INSERT INTO leads (lead_id, model, version, campaign, key, flags, region, first_job, last_job,
    found_at, last_seen) VALUES ('L0123456789ab', 'm', '1.0.0', 'm', '{"p": "x"}', '{}',
    '410502', 'j0', 'j0', '2025-01-02T03:04:05+00:00', '2025-01-02T03:04:05+00:00');
"""


def test_a_registry_from_before_the_lifecycle_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.close()
    registry = Registry(path)
    lead = registry.lead(LEAD)
    assert (lead.state, lead.unit, lead.title_zh, lead.key) == ("new", None, "模型", {"p": "x"})
    (found,) = registry.events(LEAD)
    assert (found.at, found.action, found.to_state, found.detail) == (
        "2025-01-02T03:04:05+00:00",
        "found",
        "new",
        "job j0",
    )
    registry.apply(LEAD, "张三", lambda s: lc.assign(LEAD, s, "张三"))
    before = dump(path)
    Registry(path)  # opening again changes nothing
    assert dump(path) == before
    assert registry.lead(LEAD).assignee == "张三"

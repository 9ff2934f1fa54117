"""Re-identification on request (必要关联查询) over real agents: signed, scoped, declared fields
only, rate-limited, optionally approved by the agency's operator, audited without identities.

The shared federation's agents answer at once. A second court agent, started here for a copy
of the coordinator's state, requires approval, revokes one analyst key and allows three
requests a day; the copy's jobs run its court role there, so nothing here touches the shared
registry or the other tests' leads.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from agent import cli as agent_cli
from agent.audit import read_entries
from coordinator import cli as coordinator_cli
from coordinator.client import AgentClient
from coordinator.federation import Federation, write_agent_config
from coordinator.resolutions import Resolutions, Target, add_analyst, resolve_lead
from coordinator.run import run_model
from coordinator.state import State
from fedscreen import keys
from fedscreen.errors import RateLimited, ResolveRefused, TokenNotIssued
from fedscreen.resolve import ResolveRequest, build_request, sign_request
from fedscreen.tokens import TokenKeys, reference_token
from tests.integration.agent_procs import approve_at
from tests.integration.conftest import MODELS, Fed

CASE = "（2025）某检民监1号"
REASON = "核实虚假诉讼线索"


@dataclass
class Side:
    state: State
    config_b: Path  # the approval-requiring court agent
    analysts: dict[str, str]  # name -> key id
    leads: list[dict[str, Any]]  # this copy's leads from its own job
    keys: TokenKeys  # the test bench holds the agencies' secret; a coordinator never does


def cli(state: State, *argv: str) -> int:
    return coordinator_cli.main(["--state", str(state.root), *argv])


def resolve_argv(lead: dict[str, Any], analyst: str) -> tuple[str, ...]:
    """`fedscreen resolve` for `lead` as `analyst`, with the case reference and reason."""
    return ("resolve", lead["lead_id"], "--as", analyst, "--case-ref", CASE, "--reason", REASON)


@pytest.fixture(scope="module")
def side(fed: Fed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    root = tmp_path_factory.mktemp("reident")
    shutil.copytree(fed.state.root, root / "coordinator")
    state = State(root / "coordinator")
    analysts = {n: add_analyst(state, n)[1] for n in ("carol", "mallory", "rita")}
    config_b = write_agent_config(
        state, root / "agents", "t-court-b", "court", fed.data, fed.secret,
        require_approval=True, revoked=(analysts["mallory"],), max_requests_per_day=3,
    )  # fmt: skip
    approve_at(config_b, fed.verified)
    with Federation(state) as federation:
        federation.start_agent("t-court-b", "court", config_b)
        state.remove_agent("t-court")
        report = run_model(state, fed.bundle, fed.verified, {})
        with sqlite3.connect(state.registry) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(
                "SELECT * FROM leads WHERE last_job = ? ORDER BY lead_id", (report.job_id,)
            ).fetchall()
        leads = [dict(r) for r in rows]
        for lead in leads:  # identities only for leads under verification
            assert cli(state, "leads", "verify", lead["lead_id"]) == 0
        secret = fed.secret.read_text().strip().encode()
        model = fed.verified.manifest.name
        yield Side(state, config_b, analysts, leads, TokenKeys.derive(secret, model, model))


def leads_via(side: Side, via: str) -> list[dict[str, Any]]:
    return [lead for lead in side.leads if json.loads(lead["flags"])["via"] == via]


def source_rows(
    fed: Fed, side: Side, role: str, dataset: str, column: str, token: str, fields: list[str]
) -> list[dict[str, str]]:
    """What the agency holds for the person behind `token`: the test's own re-identification."""
    table = pq.read_table(fed.data / role / f"{dataset}.parquet").to_pylist()
    hits = [r for r in table if reference_token(side.keys, "person", r[column]) == token]
    return sorted(
        ({f: "" if r[f] is None else str(r[f]) for f in fields} for r in hits),
        key=lambda r: tuple(r.values()),
    )


def registry_snapshot(state: State) -> tuple[list[Any], list[Any]]:
    with sqlite3.connect(state.registry) as con:
        leads = con.execute("SELECT * FROM leads ORDER BY lead_id").fetchall()
        events = con.execute("SELECT * FROM lead_events ORDER BY id").fetchall()
    return leads, events


def hrss_issued(fed: Fed, side: Side) -> set[tuple[str, str]]:
    """(job, token) of every person the arbitration agency flagged, from its own ledger."""
    ledger = fed.configs["hrss"].parent / "state" / "reident.sqlite"
    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT job_id, token FROM tokens WHERE column_name = 'plaintiff_id'"
        ).fetchall()
    finally:
        con.close()
    return {(job, token) for job, token in rows}


def audit_text(config: Path) -> str:
    return (config.parent / "state" / "audit.jsonl").read_text(encoding="utf-8")


def test_an_arbitration_lead_resolves_to_the_applicants_awards(
    fed: Fed, side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = leads_via(side, "arbitration")[0]
    args = resolve_argv(lead, "analyst")
    assert cli(side.state, *args) == 0
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.agent, r.column, r.analyst) == (
        "resolved", "t-hrss", "hrss.plaintiff_id", "analyst",
    )  # fmt: skip
    person = json.loads(lead["key"])["person"]
    fields = ["applicant_id", "award_no", "region", "decided_on"]
    expected = source_rows(fed, side, "hrss", "arbitration_awards", "applicant_id", person, fields)
    assert expected and r.fields == expected
    suit = json.loads(lead["key"])["suit"]
    assert any(reference_token(side.keys, "case", row["award_no"]) == suit for row in r.fields)
    out = capsys.readouterr().out
    assert f"lead {lead['lead_id']}: resolved by hrss.plaintiff_id at agency t-hrss" in out
    assert expected[0]["award_no"] in out
    # The agency logged the request and its answer, never the identity.
    text = audit_text(fed.configs["hrss"])
    entry = next(e for e in read_entries(fed.configs["hrss"].parent / "state" / "audit.jsonl")
                 if e.get("request_id") == r.request_id)  # fmt: skip
    assert (entry["event"], entry["outcome"], entry["lead_id"], entry["case_ref"]) == (
        "resolve", "resolved", lead["lead_id"], CASE,
    )  # fmt: skip
    for row in r.fields:
        assert row["applicant_id"] not in text and row["award_no"] not in text
    log = (fed.configs["hrss"].parent / "agent.log").read_text(encoding="utf-8")
    assert r.request_id in log and all(row["applicant_id"] not in log for row in r.fields)
    # Asking again shows the stored answer and sends nothing.
    assert cli(side.state, *args) == 0
    assert "stored earlier; nothing was sent" in capsys.readouterr().out
    assert text == audit_text(fed.configs["hrss"])
    # The coordinator's record: every request; identities only when the lead is named.
    assert cli(side.state, "resolutions") == 0
    listing = capsys.readouterr().out
    assert r.request_id in listing and expected[0]["applicant_id"] not in listing
    assert cli(side.state, "resolutions", "--lead", lead["lead_id"]) == 0
    assert f"applicant_id={expected[0]['applicant_id']}" in capsys.readouterr().out


def test_resolve_reads_the_disclosure_from_the_jobs_bundle_wherever_it_runs(
    side: Side,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lead = leads_via(side, "arbitration")[3]
    args = resolve_argv(lead, "analyst")
    monkeypatch.chdir(tmp_path)  # no models/ folder here
    assert cli(side.state, *args) == 0
    assert f"lead {lead['lead_id']}: resolved by hrss.plaintiff_id at agency t-hrss" in (
        capsys.readouterr().out
    )
    # A models/ folder here with the same version but without the arbitration disclosure:
    # read from it, the lead would go to the social-security agency instead.
    decoy = tmp_path / "models" / lead["model"]
    shutil.copytree(MODELS / lead["model"], decoy)
    toml = (decoy / "model.toml").read_text("utf-8")
    cut = re.sub(r"(?m)^\[roles\.hrss\.disclose\]\n.*\n", "", toml)
    assert cut != toml and 'version = "1.1.0"' in cut
    (decoy / "model.toml").write_text(cut, "utf-8")
    assert cli(side.state, *args) == 0
    out = capsys.readouterr().out
    assert "resolved by hrss.plaintiff_id at agency t-hrss" in out
    assert "stored earlier; nothing was sent" in out
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.column) == ("resolved", "hrss.plaintiff_id")


def test_a_token_the_agent_never_issued_is_not_found_and_the_lead_is_untouched(side: Side) -> None:
    lead = leads_via(side, "arbitration")[1]
    before = registry_snapshot(side.state)
    fake = Target("hrss", "plaintiff_id", "f" * 32)
    with pytest.raises(TokenNotIssued, match="NOT_FOUND: token was never issued here"):
        resolve_lead(side.state, lead["lead_id"], CASE, REASON, "analyst", target=fake)
    assert registry_snapshot(side.state) == before
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.agent, r.fields) == ("refused", "t-hrss", [])
    assert [(a.agent, a.status) for a in r.history] == [("t-hrss", "refused")]


def test_a_token_the_agent_never_issued_is_refused_by_the_cli_with_one_line(
    fed: Fed, side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    # A lead the court flagged, asked of the arbitration agency, which never flagged the person.
    hrss = hrss_issued(fed, side)
    lead = next(
        lead
        for lead in leads_via(side, "court")[4:]
        if (lead["last_job"], json.loads(lead["key"])["person"]) not in hrss
    )
    before = registry_snapshot(side.state)
    code = cli(side.state, *resolve_argv(lead, "analyst"), "--column", "hrss.plaintiff_id")
    err = capsys.readouterr().err
    assert code == 12
    assert err.count("\n") == 1
    assert err.startswith("error: agent t-hrss refused: NOT_FOUND: token was never issued here")
    assert registry_snapshot(side.state) == before
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.agent, r.column, r.fields) == ("refused", "t-hrss", "hrss.plaintiff_id", [])


def test_an_expired_request_is_refused(side: Side) -> None:
    lead = leads_via(side, "arbitration")[2]
    before = registry_snapshot(side.state)
    past = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(ResolveRefused, match="FAILED_PRECONDITION: request .* expired at"):
        resolve_lead(side.state, lead["lead_id"], CASE, REASON, "analyst", now=past)
    assert registry_snapshot(side.state) == before
    assert [r.fields for r in Resolutions(side.state.registry).for_lead(lead["lead_id"])] == [[]]


def test_an_expired_request_is_refused_by_the_cli_with_one_line(
    side: Side, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = leads_via(side, "arbitration")[4]
    past = datetime.now(UTC) - timedelta(hours=1)

    def slow_clock(**kw: Any) -> ResolveRequest:  # the analyst's clock is an hour behind
        return build_request(**{**kw, "now": past})

    monkeypatch.setattr("coordinator.resolutions.build_request", slow_clock)
    before = registry_snapshot(side.state)
    code = cli(side.state, *resolve_argv(lead, "analyst"))
    err = capsys.readouterr().err
    assert code == 12
    assert err.count("\n") == 1
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.agent, r.fields) == ("refused", "t-hrss", [])
    assert err.startswith(
        f"error: agent t-hrss refused: FAILED_PRECONDITION: request {r.request_id} expired at "
    )
    assert registry_snapshot(side.state) == before


def test_a_revoked_analyst_key_is_refused_with_one_line(
    side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = leads_via(side, "court")[0]
    before = registry_snapshot(side.state)
    code = cli(side.state, *resolve_argv(lead, "mallory"))
    err = capsys.readouterr().err
    assert code == 12
    assert err.count("\n") == 1
    assert f"PERMISSION_DENIED: analyst key {side.analysts['mallory']} (mallory) is revoked" in err
    assert registry_snapshot(side.state) == before


def test_a_lead_not_under_verification_is_refused_before_anything_is_sent(
    side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = leads_via(side, "court")[1]
    with sqlite3.connect(side.state.registry) as con:
        con.execute("UPDATE leads SET state = 'new' WHERE lead_id = ?", (lead["lead_id"],))
    try:
        code = cli(side.state, "resolve", lead["lead_id"], "--case-ref", CASE, "--reason", REASON)
        assert code == 2
        assert "only for leads under verification" in capsys.readouterr().err
        assert Resolutions(side.state.registry).for_lead(lead["lead_id"]) == []
    finally:
        with sqlite3.connect(side.state.registry) as con:
            con.execute(
                "UPDATE leads SET state = 'verifying' WHERE lead_id = ?", (lead["lead_id"],)
            )


def test_approval_path_pending_then_approved_by_the_operator_then_resolved(
    fed: Fed, side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = leads_via(side, "court")[2]
    assert cli(side.state, *resolve_argv(lead, "carol")) == 0
    assert "pending approval at court.plaintiff_id at agency t-court-b" in capsys.readouterr().out
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.fields) == ("pending_approval", [])
    # Re-running before approval asks again and is still pending (the same request).
    assert cli(side.state, "resolve", lead["lead_id"]) == 0
    assert f"request {r.request_id}: pending approval" in capsys.readouterr().out
    config = ["--config", str(side.config_b)]
    assert agent_cli.main(["requests", "list", *config]) == 0
    listed = capsys.readouterr().out
    assert r.request_id in listed and "carol" in listed and CASE in listed
    assert agent_cli.main(["requests", "approve", r.request_id[:8], "--by", "op-li", *config]) == 0
    assert cli(side.state, "resolve", lead["lead_id"]) == 0
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert r.status == "resolved"
    person = json.loads(lead["key"])["person"]
    fields = ["plaintiff_id", "case_no", "court_region", "filed_on"]
    expected = source_rows(fed, side, "court", "labour_cases", "plaintiff_id", person, fields)
    assert expected and r.fields == expected
    text = audit_text(side.config_b)
    assert all(row["plaintiff_id"] not in text for row in r.fields)
    outcomes = [
        (e["event"], e.get("outcome") or e.get("decision"))
        for e in read_entries(side.config_b.parent / "state" / "audit.jsonl")
        if e.get("request_id") == r.request_id
    ]
    assert outcomes == [
        ("resolve", "pending_approval"),
        ("resolve", "pending_approval"),
        ("resolve_decision", "approved"),
        ("resolve", "resolved"),
    ]
    # The coordinator kept every answer too, and `leads show` lists them.
    answers = [(a.agent, a.status, a.rows) for a in r.history]
    assert answers == [
        ("t-court-b", "pending_approval", 0),
        ("t-court-b", "pending_approval", 0),
        ("t-court-b", "resolved", len(expected)),
    ]
    assert cli(side.state, "leads", "show", lead["lead_id"]) == 0
    shown = [
        line.split()[2:5]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("      answer ")
    ]
    assert shown == [
        ["pending_approval", "at", "t-court-b"],
        ["pending_approval", "at", "t-court-b"],
        ["resolved", "at", "t-court-b"],
    ]


def test_a_denied_request_tells_the_analyst_why(
    side: Side, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = leads_via(side, "court")[3]
    assert cli(side.state, *resolve_argv(lead, "carol")) == 0
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    config = ["--config", str(side.config_b)]
    assert agent_cli.main(["requests", "deny", r.request_id, "--reason", "理由不足", *config]) == 0
    assert cli(side.state, "resolve", lead["lead_id"]) == 12
    assert "denied request" in capsys.readouterr().err
    (r,) = Resolutions(side.state.registry).for_lead(lead["lead_id"])
    assert (r.status, r.message, r.fields) == ("denied", "denied: 理由不足", [])


def test_requests_beyond_the_daily_limit_are_resource_exhausted(side: Side) -> None:
    lead = leads_via(side, "court")[0]
    key = keys.load_private(side.state.root / "analysts" / "rita.key")
    token = json.loads(lead["key"])["person"]
    with AgentClient(side.state, side.state.agent("t-court-b")) as client:

        def ask() -> str:
            req = build_request(
                lead_id=lead["lead_id"], model=lead["model"], campaign=lead["campaign"],
                job_id=lead["last_job"], role="court", column="plaintiff_id", token=token,
                case_ref=CASE, reason=REASON, analyst="rita", key=key,
            )  # fmt: skip
            return client.resolve(*sign_request(req, key), timeout=30).status

        assert [ask() for _ in range(3)] == ["pending_approval"] * 3
        with pytest.raises(RateLimited, match="RESOURCE_EXHAUSTED: analyst rita .* 3 requests"):
            ask()

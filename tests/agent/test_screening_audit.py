"""What the agent records and sends about a Screen job: parameters on every audit entry, row
counts on a refusal that knew them, and rows_in rounded on the wire but exact in the log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent.audit import AuditLog, read_entries
from agent.config import load_settings
from agent.screening import Screener
from agent.server import AgentServicer
from fedscreen import keys, wire
from fedscreen.bundle import sign_bundle
from fedscreen.errors import AgentBusy, DisclosureLimit, ParameterError
from fedscreen.jobs import Job
from tests.agent.test_reident import MODEL, Rig, make_rig

# The probe model with a parameter, so a refusal after it is resolved can show its value.
PARAM_MODEL = MODEL.replace('name = "probe"', 'name = "param_probe"').replace(
    "[roles.court]\n",
    "[parameters.min_amount]\ndefault = 0\nmin = 0\nmax = 100000\n\n[roles.court]\n",
    1,
)
PARAM_SQL = (
    "SELECT plaintiff_id, case_no FROM labour_cases "
    "WHERE court_region = '110101' AND claim_amount >= $min_amount"
)


def screens(settings_audit: Path, job_id: str) -> list[dict[str, Any]]:
    entries = read_entries(settings_audit)
    return [e for e in entries if e["event"] == "screen" and e.get("job_id") == job_id]


def param_rig(tmp_path: Path, limits: str = "") -> tuple[Screener, bytes]:
    """A screener over make_rig's data and config (with `limits` added to [limits]) that
    trusts and approved the parameterised probe model."""
    rig: Rig = make_rig(tmp_path)
    folder = tmp_path / "param_model"
    folder.mkdir()
    (folder / "model.toml").write_text(PARAM_MODEL, "utf-8")
    (folder / "court.sql").write_text(PARAM_SQL, "utf-8")
    (folder / "combine.sql").write_text("SELECT plaintiff_id AS person FROM court", "utf-8")
    signer = keys.generate_signing_key()
    keys.save_public(signer.public_key(), tmp_path / "signer.pub")  # the agent's trusted key
    config = tmp_path / "agent.toml"
    text = config.read_text("utf-8").replace("[limits]\n", f"[limits]\n{limits}\n", 1)
    config.write_text(text, "utf-8")
    settings = load_settings(config, insecure_dev=True)
    screener = Screener(settings, AuditLog(settings.audit_path))
    bundle = sign_bundle(folder, signer, "test", now=datetime.now(UTC))
    verified = screener.verify(bundle)
    screener.approvals.approve(verified.digest, "param_probe", "1.0.0", "test")
    assert rig.screener.settings.audit_path == settings.audit_path
    return screener, bundle


def test_an_ok_entry_records_the_resolved_parameters(tmp_path: Path) -> None:
    screener, bundle = param_rig(tmp_path)
    screener.screen(bundle, Job("j-ok", "c1", {"min_amount": "2000"}, "t"), "coordinator")
    [entry] = screens(screener.settings.audit_path, "j-ok")
    assert entry["outcome"] == "ok" and entry["params"] == {"min_amount": 2000}


def test_a_flag_cap_refusal_records_parameters_and_both_row_counts(tmp_path: Path) -> None:
    screener, bundle = param_rig(tmp_path, "max_flag_rows = 1")
    job = Job("j-cap", "c1", {"min_amount": "2000"}, "t")
    with pytest.raises(DisclosureLimit, match="above this agency's cap of 1"):
        screener.screen(bundle, job, "coordinator")
    [entry] = screens(screener.settings.audit_path, "j-cap")
    assert (entry["outcome"], entry["error"]) == ("refused", "DisclosureLimit")
    assert entry["params"] == {"min_amount": 2000}
    # six cases in the file; from 110101 with at least 2000, B-1 and D-1, whose
    # "bad" plaintiff ID is dropped before the cap
    assert (entry["rows_in"], entry["rows_out"]) == (6, 3)


def test_a_refusal_before_parameters_resolve_records_them_as_asked(tmp_path: Path) -> None:
    screener, bundle = param_rig(tmp_path)
    job = Job("j-param", "c1", {"min_amount": "-5"}, "t")
    with pytest.raises(ParameterError):
        screener.screen(bundle, job, "coordinator")
    [entry] = screens(screener.settings.audit_path, "j-param")
    assert (entry["outcome"], entry["error"]) == ("refused", "ParameterError")
    assert entry["params"] == {"min_amount": "-5"}
    assert "rows_in" not in entry and "rows_out" not in entry  # nothing was read


def test_parameters_that_are_not_short_numbers_are_not_copied_into_the_log(
    tmp_path: Path,
) -> None:
    screener, bundle = param_rig(tmp_path)
    raw_id = "11010519491231002X"
    asked = {"min_amount": raw_id, "legacy": "110105491231002", "Bad Name": "1", "window": "90"}
    with pytest.raises(ParameterError):
        screener.screen(bundle, Job("j-odd", "c1", asked, "t"), "coordinator")
    [entry] = screens(screener.settings.audit_path, "j-odd")
    assert entry["params"] == {
        "legacy": "<not a number>",  # 15 digits: as long as a legacy ID
        "min_amount": "<not a number>",
        "window": "90",
    }
    assert raw_id not in screener.settings.audit_path.read_text("utf-8")


def test_a_refusal_for_load_records_the_parameters_too(tmp_path: Path) -> None:
    screener, _bundle = param_rig(tmp_path, "max_concurrent_jobs = 1")
    held = screener.admit(Job("j-first", "c1", {}, "t"), "coordinator")
    try:
        with pytest.raises(AgentBusy):
            screener.admit(Job("j-busy", "c1", {"min_amount": "7"}, "t"), "coordinator")
    finally:
        screener.gate.release(held, None)
    [entry] = screens(screener.settings.audit_path, "j-busy")
    assert (entry["outcome"], entry["params"]) == ("refused", {"min_amount": "7"})


# --- rows_in on the wire ---------------------------------------------------------------------
class FakeContext:
    """The parts of grpc.ServicerContext that Screen uses, for a call that is not refused."""

    def time_remaining(self) -> float:
        return 60.0

    def add_callback(self, _callback: object) -> bool:
        return True

    def abort(self, code: object, details: str) -> None:
        raise AssertionError(f"aborted: {code} {details}")


def test_rows_in_leaves_rounded_like_describe_but_the_audit_log_keeps_it_exact(
    tmp_path: Path,
) -> None:
    screener, bundle = param_rig(tmp_path)
    # 1234 cases, 2 of them flagged: rows_in is 1234 here, "1200" beyond the agency.
    n = 1234
    pq.write_table(
        pa.table({
            "plaintiff_id": ["11010119500101005X"] * 2 + [None] * (n - 2),
            "case_no": [f"A-{i}" for i in range(n)],
            "court_region": ["110101"] * 2 + ["110102"] * (n - 2),
            "filed_on": pa.nulls(n, pa.date32()),
            "claim_amount": pa.array([5000] * n, pa.decimal128(14, 2)),
            "cause": [""] * n, "decided_on": pa.nulls(n, pa.date32()),
            "defendant_uscc": pa.nulls(n, pa.string()), "outcome": [""] * n,
            "judgment_text": [""] * n,
        }),
        tmp_path / "labour_cases.parquet",
    )  # fmt: skip
    servicer = AgentServicer(screener.settings, screener, screener.audit)
    request = wire.screen_request(bundle, Job("j-wire", "c1", {}, "t"))
    replies = list(servicer.Screen(request, FakeContext()))  # type: ignore[arg-type]
    summary = wire.summary_from_pb(replies[-1].summary)
    assert (summary.rows_in, summary.rows_out) == (1200, 2)
    [entry] = screens(screener.settings.audit_path, "j-wire")
    assert (entry["rows_in"], entry["rows_out"]) == (1234, 2)

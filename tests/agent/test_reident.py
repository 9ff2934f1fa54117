"""The agent's re-identification core without gRPC: what a screen records, what a request
gets, and each refusal, over a real sealed engine on a small Parquet file."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.audit import AuditLog, read_entries
from agent.config import load_settings
from agent.screening import Screener
from fedscreen import fasthmac, keys
from fedscreen.bundle import sign_bundle
from fedscreen.errors import (
    ConfigError,
    InternalError,
    MalformedRequest,
    NotDisclosable,
    RateLimited,
    RequestExpired,
    TokenNotIssued,
)
from fedscreen.identifiers import person_check_char
from fedscreen.jobs import Job
from fedscreen.resolve import build_request, canonical, sign_request
from fedscreen.tokens import TokenKeys, reference_token
from tests.toy_manifest import manifest_header

P1 = "11010119500101005X"  # ends in X: the lower-case spelling is a dirty variant
P1_15 = P1[:6] + P1[8:17]  # the legacy 15-digit spelling of the same person
P2 = "11010119800202123" + person_check_char("11010119800202123")
SECRET = b"s" * 40
MODEL_ROLES = """\
[roles.court]
sql = "court.sql"
reads = ["labour_cases"]
[roles.court.outputs]
plaintiff_id = "person"
case_no = "case"
[roles.court.disclose.plaintiff_id]
dataset = "labour_cases"
column = "plaintiff_id"
fields = ["plaintiff_id", "case_no", "filed_on", "claim_amount"]
lead_key = "person"
[combine]
sql = "combine.sql"
lead_key = ["person"]
"""
MODEL = "\n" + manifest_header("probe") + MODEL_ROLES
CONFIG = """
[agent]
name = "court-a"
role = "court"
state_dir = "state"
[trust]
signer_keys = ["signer.pub"]
token_secret_file = "secret"
[limits]
max_flag_fraction = 1.0
[reident]
analyst_keys = ["analyst.pub"]
max_requests_per_day = 3
{extra}
[datasets.labour_cases]
format = "parquet"
path = "labour_cases.parquet"
"""


@dataclasses.dataclass
class Rig:
    screener: Screener
    analyst: Ed25519PrivateKey
    job: Job
    root: Path
    bundle: bytes

    def ask(self, token: str, column: str = "plaintiff_id", now: datetime | None = None,
            **overrides: str) -> tuple[bytes, bytes]:  # fmt: skip
        fields = dict(
            lead_id="L1", model="probe", campaign="c1", job_id=self.job.job_id, role="court",
            column=column, token=token, case_ref="案1", reason="核实", analyst="zhang",
        )  # fmt: skip
        fields.update(overrides)
        req = build_request(key=self.analyst, now=now, **fields)  # type: ignore[arg-type]
        return sign_request(req, self.analyst)


def make_rig(tmp_path: Path, extra: str = "") -> Rig:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.toml").write_text(MODEL, "utf-8")
    (model / "court.sql").write_text(
        "SELECT plaintiff_id, case_no FROM labour_cases WHERE court_region = '110101'", "utf-8"
    )
    (model / "combine.sql").write_text("SELECT plaintiff_id AS person FROM court", "utf-8")
    signer, analyst = keys.generate_signing_key(), keys.generate_signing_key()
    keys.save_public(signer.public_key(), tmp_path / "signer.pub")
    keys.save_public(analyst.public_key(), tmp_path / "analyst.pub")
    (tmp_path / "secret").write_bytes(SECRET)
    pq.write_table(
        pa.table({
            "plaintiff_id": [P1, P1.lower().replace("1", "１", 1), P1_15, P2, P1, "bad"],
            "case_no": ["（2024）京0101民初1号", "A-2", "A-3", "B-1", "C-9", "D-1"],
            "court_region": ["110101", "110101", "110101", "110101", "110102", "110101"],
            "filed_on": [date(2024, 1, 5), date(2024, 2, 1), None, date(2024, 3, 1),
                         date(2023, 5, 5), date(2024, 1, 1)],
            "claim_amount": pa.array([1000, 2000, 3000, 4000, 5000, 6000], pa.decimal128(14, 2)),
            # the rest of the dictionary's columns: the agent checks the source before a job
            "cause": ["确认劳动关系纠纷"] * 6, "decided_on": pa.nulls(6, pa.date32()),
            "defendant_uscc": pa.nulls(6, pa.string()), "outcome": ["确认"] * 6,
            "judgment_text": [""] * 6,
        }),
        tmp_path / "labour_cases.parquet",
    )  # fmt: skip
    (tmp_path / "agent.toml").write_text(CONFIG.format(extra=extra), "utf-8")
    settings = load_settings(tmp_path / "agent.toml", insecure_dev=True)
    screener = Screener(settings, AuditLog(settings.audit_path))
    bundle = sign_bundle(model, signer, "test", now=datetime.now(UTC))
    verified = screener.verify(bundle)
    screener.approvals.approve(verified.digest, "probe", "1.0.0", "test")
    job = Job("job-1", "c1", {}, "test")
    screener.screen(bundle, job, "coordinator")
    return Rig(screener, analyst, job, tmp_path, bundle)


def token(person: str) -> str:
    found = reference_token(TokenKeys.derive(SECRET, "probe", "c1"), "person", person)
    assert found is not None
    return found


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def test_a_screen_records_the_tokens_of_disclosable_columns_only(rig: Rig) -> None:
    with sqlite3.connect(rig.screener.settings.reident_path) as con:
        rows = con.execute("SELECT column_name, token FROM tokens").fetchall()
    assert sorted(rows) == sorted([("plaintiff_id", token(P1)), ("plaintiff_id", token(P2))])
    entry = read_entries(rig.screener.settings.audit_path)[-1]
    assert (entry["event"], entry["reident_tokens"]) == ("screen", 2)


@pytest.mark.parametrize("native", [True, False], ids=["native", "sql-only"])
def test_every_spelling_of_the_person_is_found_with_declared_fields_only(
    rig: Rig, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not native:  # the engine's SQL tokeniser, as on a platform without the extension
        monkeypatch.setattr(fasthmac, "_hmac", None)
    answer = rig.screener.resolver.resolve(*rig.ask(token(P1)), "coordinator")
    assert answer.status == "resolved"
    assert answer.rows == tuple(
        sorted(
            [
                {"plaintiff_id": P1, "case_no": "C-9", "filed_on": "2023-05-05",
                 "claim_amount": "5000.00"},
                {"plaintiff_id": P1, "case_no": "（2024）京0101民初1号",
                 "filed_on": "2024-01-05", "claim_amount": "1000.00"},
                {"plaintiff_id": P1.lower().replace("1", "１", 1), "case_no": "A-2",
                 "filed_on": "2024-02-01", "claim_amount": "2000.00"},
                {"plaintiff_id": P1_15, "case_no": "A-3", "filed_on": "",
                 "claim_amount": "3000.00"},
            ],
            key=lambda r: tuple(r.values()),
        )
    )  # fmt: skip
    entry = read_entries(rig.screener.settings.audit_path)[-1]
    assert (entry["event"], entry["outcome"], entry["rows"]) == ("resolve", "resolved", 4)
    assert P1 not in rig.screener.settings.audit_path.read_text(encoding="utf-8")


def test_a_token_never_issued_here_is_not_found(rig: Rig) -> None:
    never = token("11010119900303123" + person_check_char("11010119900303123"))
    with pytest.raises(TokenNotIssued, match="token was never issued here in column"):
        rig.screener.resolver.resolve(*rig.ask(never), "coordinator")
    with pytest.raises(TokenNotIssued, match="no job job-9 of model probe ran"):
        rig.screener.resolver.resolve(*rig.ask(token(P1), job_id="job-9"), "coordinator")
    with pytest.raises(TokenNotIssued, match="no job job-1 of model probe ran"):
        rig.screener.resolver.resolve(*rig.ask(token(P1), campaign="c2"), "coordinator")
    entry = read_entries(rig.screener.settings.audit_path)[-1]
    assert (entry["outcome"], entry["error"]) == ("refused", "TokenNotIssued")


def test_an_undeclared_column_or_another_role_is_not_disclosable(rig: Rig) -> None:
    with pytest.raises(NotDisclosable, match="declares no disclosure of court.case_no"):
        rig.screener.resolver.resolve(*rig.ask(token(P1), column="case_no"), "coordinator")
    with pytest.raises(NotDisclosable, match="holds role court, not hrss"):
        rig.screener.resolver.resolve(*rig.ask(token(P1), role="hrss"), "coordinator")


def test_a_resent_request_counts_once_and_the_daily_limit_holds(rig: Rig) -> None:
    first = rig.ask(token(P1))
    for _ in range(3):
        assert rig.screener.resolver.resolve(*first, "coordinator").status == "resolved"
    rig.screener.resolver.resolve(*rig.ask(token(P2)), "coordinator")
    with pytest.raises(TokenNotIssued):  # refused requests count too: no free probing
        rig.screener.resolver.resolve(*rig.ask("0" * 32), "coordinator")
    with pytest.raises(RateLimited, match="3 requests in the last 24 hours"):
        rig.screener.resolver.resolve(*rig.ask(token(P1)), "coordinator")
    # Tomorrow the analyst may ask again.
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    again = rig.ask(token(P1), now=later)
    assert rig.screener.resolver.resolve(*again, "coordinator", now=later).status == "resolved"


def test_a_request_id_reused_for_other_content_is_refused(rig: Rig) -> None:
    data, sig = rig.ask(token(P1))
    rig.screener.resolver.resolve(data, sig, "coordinator")
    doc = json.loads(data)
    doc["token"] = token(P2)
    other = canonical(doc)
    with pytest.raises(MalformedRequest, match="already used"):
        rig.screener.resolver.resolve(other, rig.analyst.sign(b"x"), "coordinator")


def test_tokens_are_purged_after_the_retention(rig: Rig) -> None:
    later = datetime.now(UTC) + timedelta(days=91)
    with pytest.raises(TokenNotIssued, match="in the last 90 days"):
        rig.screener.resolver.resolve(*rig.ask(token(P1), now=later), "coordinator", now=later)
    with sqlite3.connect(rig.screener.settings.reident_path) as con:
        assert con.execute("SELECT count(*) FROM tokens").fetchone() == (0,)


def test_with_approval_the_answer_waits_for_the_operator_and_outlives_the_window(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path, "require_approval = true")
    data, sig = rig.ask(token(P1))
    resolver = rig.screener.resolver
    assert resolver.resolve(data, sig, "coordinator").status == "pending_approval"
    (pending,) = resolver.ledger.requests("pending")
    resolver.ledger.decide(pending.request_id[:6], "approved", "op")
    late = datetime.now(UTC) + timedelta(hours=2)  # the request expired long ago
    answer = resolver.resolve(data, sig, "coordinator", now=late)
    assert answer.status == "resolved" and len(answer.rows) == 4
    # A fresh request past its window is still refused.
    with pytest.raises(RequestExpired, match="expired"):
        resolver.resolve(*rig.ask(token(P2)), "coordinator", now=late)


def test_reident_settings_are_validated_naming_the_key(tmp_path: Path) -> None:
    make_rig(tmp_path)
    text = (tmp_path / "agent.toml").read_text("utf-8")
    (tmp_path / "agent.toml").write_text(text.replace("= 3", "= 0"), "utf-8")
    with pytest.raises(ConfigError, match="reident.max_requests_per_day must be at least 1"):
        load_settings(tmp_path / "agent.toml", insecure_dev=True)
    (tmp_path / "agent.toml").write_text(text.replace('["analyst.pub"]', "[1]"), "utf-8")
    with pytest.raises(ConfigError, match="reident.analyst_keys must be a list of non-empty"):
        load_settings(tmp_path / "agent.toml", insecure_dev=True)
    revoked = text.replace("[reident]", '[reident]\nrevoked = ["zhang"]')
    (tmp_path / "agent.toml").write_text(revoked, "utf-8")
    with pytest.raises(ConfigError, match="reident.revoked must list key ids"):
        load_settings(tmp_path / "agent.toml", insecure_dev=True)
    without = text.split("[reident]")[0] + "[datasets" + text.split("[datasets", 1)[1]
    (tmp_path / "agent.toml").write_text(without, "utf-8")
    r = load_settings(tmp_path / "agent.toml", insecure_dev=True).reident
    assert (r.analyst_keys, r.retention_days, r.require_approval, r.max_requests_per_day) == (
        (), 90, False, 20,
    )  # fmt: skip


def test_an_unexpected_error_is_audited_and_leaves_only_its_class(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A library error whose text quotes a row value must not reach the caller or the audit.
    def boom(*_a: object, **_k: object) -> None:
        raise ValueError(f"could not convert {P1}")

    monkeypatch.setattr(rig.screener.resolver, "_resolve", boom)
    with pytest.raises(InternalError) as err:
        rig.screener.resolver.resolve(*rig.ask(token(P1)), "coordinator")
    assert P1 not in err.value.message and "ValueError" in err.value.message
    assert err.value.grpc_status == "INTERNAL"
    entry = read_entries(rig.screener.settings.audit_path)[-1]
    assert (entry["event"], entry["outcome"], entry["error"]) == ("resolve", "error", "ValueError")
    assert P1 not in json.dumps(entry, ensure_ascii=False)

    monkeypatch.setattr("agent.screening.Engine", boom)
    with pytest.raises(InternalError, match="ValueError") as err:
        rig.screener.screen(rig.bundle, Job("job-boom", "c1", {}, "test"), "coordinator")
    assert P1 not in err.value.message
    entry = read_entries(rig.screener.settings.audit_path)[-1]
    assert (entry["event"], entry["job_id"], entry["outcome"]) == ("screen", "job-boom", "error")

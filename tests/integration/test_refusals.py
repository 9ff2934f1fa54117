"""A real agent refuses what it must, with the right status, and sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.audit import read_entries
from coordinator.client import AgentClient
from coordinator.run import run_model
from fedscreen import keys
from fedscreen.bundle import sign_bundle, verify_bundle
from fedscreen.errors import JobFailed
from fedscreen.jobs import Job
from tests.integration.conftest import Fed

MANIFEST = """
name = "probe"
version = "{version}"
title_zh = "探针"
title_en = "Probe"
[roles.court]
sql = "court.sql"
reads = ["labour_cases"]
[roles.court.outputs]
{outputs}
[combine]
sql = "combine.sql"
lead_key = ["case_no"]
"""
OUTPUTS = 'case_no = "case"\nregion = "region"'
_counter = iter(range(10_000))


def make_bundle(fed: Fed, tmp: Path, sql: str, outputs: str = OUTPUTS) -> bytes:
    folder = tmp / f"probe{next(_counter)}"
    folder.mkdir()
    version = f"0.0.{next(_counter)}"
    (folder / "model.toml").write_text(MANIFEST.format(version=version, outputs=outputs), "utf-8")
    (folder / "court.sql").write_text(sql, "utf-8")
    (folder / "combine.sql").write_text("SELECT * FROM court", "utf-8")
    now = datetime.now(UTC)
    return sign_bundle(folder, keys.load_private(fed.state.signing_key), "test", now=now)


def approve(fed: Fed, data: bytes) -> None:
    trusted = keys.load_trusted([fed.state.signing_pub])
    fed.approve("court", verify_bundle(data, trusted, now=datetime.now(UTC)))


def screen(fed: Fed, data: bytes, job_id: str, batches: list[int] | None = None) -> list[int]:
    """Run a job at the court agent; every batch received is appended to `batches`, so a
    refused job's list shows whether anything arrived before the refusal."""
    batches = [] if batches is None else batches
    with AgentClient(fed.state, fed.state.agent("t-court")) as client:
        client.screen(data, Job(job_id, "probe", {}, "test"), 60, on_batch=batches.append)
    return batches


def audit_entry(fed: Fed, job_id: str) -> dict[str, object]:
    audit = fed.configs["court"].parent / "state" / "audit.jsonl"
    return next(e for e in read_entries(audit) if e.get("job_id") == job_id)


GOOD_SQL = "SELECT case_no, court_region AS region FROM labour_cases WHERE false"


def test_a_signed_but_unapproved_bundle_is_denied(fed: Fed, tmp_path: Path) -> None:
    data = make_bundle(fed, tmp_path, GOOD_SQL)
    batches: list[int] = []
    with pytest.raises(JobFailed, match="PERMISSION_DENIED.*not approved"):
        screen(fed, data, "j-unapproved", batches)
    assert batches == []
    assert audit_entry(fed, "j-unapproved")["error"] == "NotApproved"


def test_a_bundle_signed_by_an_unknown_key_is_denied(fed: Fed, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.toml").write_text(MANIFEST.format(version="9.9.9", outputs=OUTPUTS), "utf-8")
    (folder / "court.sql").write_text(GOOD_SQL, "utf-8")
    (folder / "combine.sql").write_text("SELECT * FROM court", "utf-8")
    rogue = keys.generate_signing_key()
    data = sign_bundle(folder, rogue, "rogue", now=datetime.now(UTC))
    with pytest.raises(JobFailed, match="PERMISSION_DENIED"):
        screen(fed, data, "j-rogue")
    assert audit_entry(fed, "j-rogue")["error"] == "UnknownSigningKey"


def test_an_approved_bundle_runs(fed: Fed, tmp_path: Path) -> None:
    data = make_bundle(fed, tmp_path, GOOD_SQL)
    approve(fed, data)
    assert screen(fed, data, "j-good") == []
    assert audit_entry(fed, "j-good")["outcome"] == "ok"


FORBIDDEN = {
    "table_function": "SELECT * FROM read_csv('/etc/passwd')",
    "file_path_as_table": "SELECT * FROM '/etc/passwd'",
    "pragma": "PRAGMA database_list",
    "set": "SET threads = 64",
    "attach": "ATTACH '/tmp/x.db' AS x",
    "copy": "COPY labour_cases TO '/tmp/out.csv'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "two_statements": "SELECT 1 AS case_no, '110101' AS region; SELECT 2",
    "other_dataset": "SELECT person_id AS case_no, region FROM insured_persons",
    "getenv": "SELECT getenv('HOME') AS case_no, '110101' AS region",
    "ddl": "CREATE TABLE t AS SELECT 1",
}


@pytest.mark.parametrize("construct", sorted(FORBIDDEN))
def test_forbidden_sql_is_refused_and_nothing_is_sent(
    fed: Fed, tmp_path: Path, construct: str
) -> None:
    data = make_bundle(fed, tmp_path, FORBIDDEN[construct])
    approve(fed, data)
    batches: list[int] = []
    with pytest.raises(JobFailed, match="PERMISSION_DENIED"):
        screen(fed, data, f"j-sql-{construct}", batches)
    assert batches == []
    assert audit_entry(fed, f"j-sql-{construct}")["error"] == "ForbiddenSQL"


def test_an_undeclared_output_column_is_refused(fed: Fed, tmp_path: Path) -> None:
    sql = "SELECT case_no, court_region AS region, plaintiff_id FROM labour_cases"
    data = make_bundle(fed, tmp_path, sql)
    approve(fed, data)
    with pytest.raises(JobFailed, match="PERMISSION_DENIED.*plaintiff_id"):
        screen(fed, data, "j-undeclared")
    assert audit_entry(fed, "j-undeclared")["error"] == "OutputRefused"


def test_a_result_over_the_flag_cap_is_refused(fed: Fed, tmp_path: Path) -> None:
    data = make_bundle(fed, tmp_path, "SELECT case_no, court_region AS region FROM labour_cases")
    approve(fed, data)
    batches: list[int] = []
    with pytest.raises(JobFailed, match="RESOURCE_EXHAUSTED.*cap"):
        screen(fed, data, "j-cap", batches)
    assert batches == []
    assert audit_entry(fed, "j-cap")["error"] == "DisclosureLimit"


def test_a_model_without_this_role_is_a_failed_precondition(fed: Fed, tmp_path: Path) -> None:
    with AgentClient(fed.state, fed.state.agent("t-market-regulation")) as client:
        data = make_bundle(fed, tmp_path, GOOD_SQL)
        trusted = keys.load_trusted([fed.state.signing_pub])
        fed.approve("market_regulation", verify_bundle(data, trusted, now=datetime.now(UTC)))
        with pytest.raises(JobFailed, match="FAILED_PRECONDITION"):
            client.screen(data, Job("j-role", "probe", {}, "test"), 30)


STAGED = """
name = "staged_probe"
version = "{version}"
title_zh = "分阶段探针"
title_en = "Staged probe"
[roles.court]
sql = "court.sql"
reads = ["labour_cases"]
[roles.court.outputs]
plaintiff_id = "person"
[roles.social_security]
sql = "ss.sql"
reads = ["insured_persons"]
[roles.social_security.outputs]
person_id = "person"
[roles.social_security.candidates]
person_id = "court.plaintiff_id"
[combine]
sql = "combine.sql"
lead_key = ["person_id"]
"""


def test_a_later_role_answers_only_about_the_earlier_roles_tokens(fed: Fed, tmp_path: Path) -> None:
    folder = tmp_path / "staged"
    folder.mkdir()
    (folder / "model.toml").write_text(STAGED.format(version="0.1.0"), "utf-8")
    # The court names a handful of plaintiffs; social security alone would flag everyone,
    # far over the cap — with the look-up it answers only about those plaintiffs.
    (folder / "court.sql").write_text(
        "SELECT plaintiff_id FROM labour_cases WHERE cause = '确认劳动关系纠纷' "
        "AND outcome = '确认' LIMIT 25",
        "utf-8",
    )
    (folder / "ss.sql").write_text("SELECT person_id FROM insured_persons", "utf-8")
    (folder / "combine.sql").write_text(
        "SELECT DISTINCT s.person_id FROM social_security s JOIN court c "
        "ON c.plaintiff_id = s.person_id",
        "utf-8",
    )
    now = datetime.now(UTC)
    data = sign_bundle(folder, keys.load_private(fed.state.signing_key), "test", now=now)
    verified = verify_bundle(data, keys.load_trusted([fed.state.signing_pub]), now=now)
    fed.approve("court", verified)
    fed.approve("social_security", verified)
    report = run_model(fed.state, data, verified, {})
    court = next(r for r in report.results if r.role == "court")
    ss = next(r for r in report.results if r.role == "social_security")
    asked = set(court.table["plaintiff_id"].to_pylist())
    assert 0 < ss.table.num_rows <= len(asked)
    assert set(ss.table["person_id"].to_pylist()) <= asked
    assert {lead.key["person_id"] for lead in report.leads} == set(
        ss.table["person_id"].to_pylist()
    )
    audit = fed.configs["social_security"].parent / "state" / "audit.jsonl"
    entry = next(e for e in read_entries(audit) if e.get("job_id") == report.job_id)
    assert entry["candidates"] == {"person_id": len(asked)}


def test_a_caller_cannot_skip_a_declared_look_up(fed: Fed, tmp_path: Path) -> None:
    folder = tmp_path / "staged2"
    folder.mkdir()
    (folder / "model.toml").write_text(STAGED.format(version="0.2.0"), "utf-8")
    for name in ("court.sql", "ss.sql", "combine.sql"):
        (folder / name).write_text("SELECT person_id FROM insured_persons LIMIT 1", "utf-8")
    now = datetime.now(UTC)
    data = sign_bundle(folder, keys.load_private(fed.state.signing_key), "test", now=now)
    fed.approve(
        "social_security", verify_bundle(data, keys.load_trusted([fed.state.signing_pub]), now=now)
    )
    with AgentClient(fed.state, fed.state.agent("t-social-security")) as client:
        with pytest.raises(JobFailed, match="FAILED_PRECONDITION.*needs candidate tokens"):
            client.screen(data, Job("j-skip", "staged_probe", {}, "t"), 30)
        with pytest.raises(JobFailed, match="INVALID_ARGUMENT.*takes no candidates"):
            bad = Job("j-extra", "staged_probe", {}, "t", {"person_id": (), "other": ()})
            client.screen(data, bad, 30)

"""A real agent refuses what it must, with the right status, and sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator.client import AgentClient
from coordinator.run import run_model
from fedscreen import keys
from fedscreen.bundle import VerifiedBundle, sign_bundle
from fedscreen.errors import JobFailed
from fedscreen.jobs import Job
from tests.integration.agent_procs import OUTPUTS, SMALL_SQL, audit_entries, sign, write_model
from tests.integration.conftest import Fed
from tests.toy_manifest import manifest_header

_counter = iter(range(10_000))


def probe(fed: Fed, tmp: Path, sql: str, outputs: str = OUTPUTS) -> tuple[bytes, VerifiedBundle]:
    """A court model running `sql`, signed by the federation's key; not approved yet."""
    n = next(_counter)
    return sign(fed.state, write_model(tmp / f"probe{n}", sql, version=f"0.0.{n}", outputs=outputs))


def screen(fed: Fed, data: bytes, job_id: str, batches: list[int] | None = None) -> list[int]:
    """Run a job at the court agent; every batch received is appended to `batches`, so a
    refused job's list shows whether anything arrived before the refusal."""
    batches = [] if batches is None else batches
    with AgentClient(fed.state, fed.state.agent("t-court")) as client:
        client.screen(data, Job(job_id, "probe", {}, "test"), 60, on_batch=batches.append)
    return batches


def refused_sending_nothing(fed: Fed, data: bytes, job_id: str, match: str) -> str:
    """Run a job that must be refused with `match`; no batch may arrive first. The error
    the court agent audited for it."""
    batches: list[int] = []
    with pytest.raises(JobFailed, match=match):
        screen(fed, data, job_id, batches)
    assert batches == []
    [entry] = audit_entries(fed.configs["court"], job_id)
    assert entry["outcome"] == "refused"
    return str(entry["error"])


GOOD_SQL = "SELECT case_no, court_region AS region FROM labour_cases WHERE false"


def test_a_signed_but_unapproved_bundle_is_denied(fed: Fed, tmp_path: Path) -> None:
    data, _verified = probe(fed, tmp_path, GOOD_SQL)
    error = refused_sending_nothing(fed, data, "j-unapproved", "PERMISSION_DENIED.*not approved")
    assert error == "NotApproved"


def test_a_bundle_signed_by_an_unknown_key_is_denied(fed: Fed, tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", GOOD_SQL, version="9.9.9")
    rogue = keys.generate_signing_key()
    data = sign_bundle(folder, rogue, "rogue", now=datetime.now(UTC))
    error = refused_sending_nothing(fed, data, "j-rogue", "PERMISSION_DENIED")
    assert error == "UnknownSigningKey"


def test_an_approved_bundle_runs_and_sends_its_flags(fed: Fed, tmp_path: Path) -> None:
    data, verified = probe(fed, tmp_path, SMALL_SQL)
    fed.approve("court", verified)
    batches = screen(fed, data, "j-good")
    [entry] = audit_entries(fed.configs["court"], "j-good")
    assert entry["outcome"] == "ok"
    assert sum(batches) > 0 and sum(batches) == entry["rows_out"]


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
    data, verified = probe(fed, tmp_path, FORBIDDEN[construct])
    fed.approve("court", verified)
    error = refused_sending_nothing(fed, data, f"j-sql-{construct}", "PERMISSION_DENIED")
    assert error == "ForbiddenSQL"


def test_an_undeclared_output_column_is_refused(fed: Fed, tmp_path: Path) -> None:
    sql = "SELECT case_no, court_region AS region, plaintiff_id FROM labour_cases"
    data, verified = probe(fed, tmp_path, sql)
    fed.approve("court", verified)
    error = refused_sending_nothing(fed, data, "j-undeclared", "PERMISSION_DENIED.*plaintiff_id")
    assert error == "OutputRefused"


def test_a_result_over_the_flag_cap_is_refused(fed: Fed, tmp_path: Path) -> None:
    sql = "SELECT case_no, court_region AS region FROM labour_cases"
    data, verified = probe(fed, tmp_path, sql)
    fed.approve("court", verified)
    error = refused_sending_nothing(fed, data, "j-cap", "RESOURCE_EXHAUSTED.*cap")
    assert error == "DisclosureLimit"


def test_a_model_without_this_role_is_a_failed_precondition(fed: Fed, tmp_path: Path) -> None:
    data, verified = probe(fed, tmp_path, GOOD_SQL)
    fed.approve("market_regulation", verified)
    with AgentClient(fed.state, fed.state.agent("t-market-regulation")) as client:
        with pytest.raises(JobFailed, match="FAILED_PRECONDITION"):
            client.screen(data, Job("j-role", "probe", {}, "test"), 30)
    [entry] = audit_entries(fed.configs["market_regulation"], "j-role")
    assert (entry["outcome"], entry["error"]) == ("refused", "WrongRole")


STAGED_ROLES = """\
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


def staged(version: str) -> str:
    """The two-role model whose social-security role looks up only the court's plaintiffs."""
    header = manifest_header(
        "staged_probe", version, title_zh="分阶段探针", title_en="Staged probe"
    )
    return "\n" + header + STAGED_ROLES


def test_a_later_role_answers_only_about_the_earlier_roles_tokens(fed: Fed, tmp_path: Path) -> None:
    folder = tmp_path / "staged"
    folder.mkdir()
    (folder / "model.toml").write_text(staged("0.1.0"), "utf-8")
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
    data, verified = sign(fed.state, folder)
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
    [entry] = audit_entries(fed.configs["social_security"], report.job_id)
    assert entry["candidates"] == {"person_id": len(asked)}


def test_a_caller_cannot_skip_a_declared_look_up(fed: Fed, tmp_path: Path) -> None:
    folder = tmp_path / "staged2"
    folder.mkdir()
    (folder / "model.toml").write_text(staged("0.2.0"), "utf-8")
    for name in ("court.sql", "ss.sql", "combine.sql"):
        (folder / name).write_text("SELECT person_id FROM insured_persons LIMIT 1", "utf-8")
    data, verified = sign(fed.state, folder)
    fed.approve("social_security", verified)
    with AgentClient(fed.state, fed.state.agent("t-social-security")) as client:
        with pytest.raises(JobFailed, match="FAILED_PRECONDITION.*needs candidate tokens"):
            client.screen(data, Job("j-skip", "staged_probe", {}, "t"), 30)
        with pytest.raises(JobFailed, match="INVALID_ARGUMENT.*takes no candidates"):
            bad = Job("j-extra", "staged_probe", {}, "t", {"person_id": (), "other": ()})
            client.screen(data, bad, 30)

"""Spec tests of the wage-decision / escrow model (seed 002, the Mianxian and Wujiagang cases).

The shipped fixtures must pass; then small literal agency tables, written as CSV the way an
agent reads them, pin the rule down: an unperformed wage decision whose enforcement ended
without assets, on a project whose developer holds escrow money, is a lead; every honest
look-alike (emptied escrow, decision paid, enforcement still running or completed, no project,
escrow of another project or another developer, another kind of enforcement) is not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from coordinator import modeltest
from coordinator.combine import Lead
from fedscreen.manifest import load_manifest
from fedscreen.tokens import TokenKeys, reference_token
from tests.models.spec import Tables, run_model, with_values, write_tables

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "wage_decision_escrow"
DEVELOPER = "91610725MA6XA0010W"  # 勉县 A 实业公司
CONTRACTOR = "91610725MA6XA0029R"  # B 建设公司, the employer
OTHER = "91610725MA6XA0037L"  # an unrelated developer
PROJECT = "2020-610725-47-01-000101"
OTHER_PROJECT = "2021-610725-47-01-000102"
DECISION = "勉人社监处字〔2024〕15号"


def _base() -> Tables:
    """The Mianxian chain: 70 workers, ¥1.137M ordered, ¥194k paid, escrow ¥720k left."""
    return {
        ("hrss", "inspection_decisions"): [
            {
                "decision_no": DECISION,
                "employer_uscc": CONTRACTOR,
                "project_code": PROJECT,
                "workers": 70,
                "amount": "1137000.00",
                "paid_amount": "194000.00",
                "issued_on": "2024-05-10",
                "status": "已申请强制执行",
            }
        ],
        ("court", "enforcement_cases"): [
            {
                "case_no": "（2024）陕0725执1201号",
                "court_region": "610725",
                "basis_type": "行政处理决定",
                "basis_doc_no": "勉人社监处字〔2024〕 15号",  # spelled with a space
                "respondent_uscc": CONTRACTOR.lower(),
                "amount": "943000.00",
                "filed_on": "2024-08-20",
                "status": "终结本次执行",
                "closed_on": "2024-10-15",
            }
        ],
        ("housing_construction", "projects"): [
            {
                "project_code": PROJECT,
                "developer_uscc": DEVELOPER,
                "contractor_uscc": CONTRACTOR,
                "region": "610725",
                "permit_on": "2020-03-01",
                "status": "竣工",
            }
        ],
        ("housing_construction", "presale_escrow"): [
            {
                "project_code": PROJECT,
                "developer_uscc": DEVELOPER,
                "balance": "3000000.00",
                "as_of": "2024-06-30",
            },
            {
                "project_code": " " + PROJECT,
                "developer_uscc": DEVELOPER,
                "balance": "720000.00",
                "as_of": "2025-05-31",
            },
        ],
    }


def _leads(tmp_path: Path, tables: Tables, **given: int) -> tuple[list[Lead], TokenKeys]:
    return run_model(MODEL_DIR, write_tables(tmp_path / "inputs", tables), **given)


def _key(keys: TokenKeys, project: str, employer: str) -> tuple[str | None, str | None]:
    return reference_token(keys, "project", project), reference_token(keys, "org", employer)


def test_shipped_fixtures_pass() -> None:
    results = modeltest.test_model(MODEL_DIR)
    assert results and all(r.passed for r in results), results
    assert all(r.found == r.expected > 0 for r in results), results  # not vacuously empty


def test_stages_ask_court_and_housing_only_about_flagged_decisions() -> None:
    stages = load_manifest(MODEL_DIR).stages()
    assert [sorted(r.name for r in stage) for stage in stages] == [
        ["hrss"],
        ["court", "housing_construction"],
    ]


def test_the_chain_is_one_lead_with_its_buckets(tmp_path: Path) -> None:
    leads, keys = _leads(tmp_path, _base())
    assert len(leads) == 1
    lead = leads[0]
    assert (lead.key["project"], lead.key["employer"]) == _key(keys, PROJECT, CONTRACTOR)
    assert lead.kind == "wage_decision_escrow"
    assert lead.region == "610725"
    assert lead.flags["workers_bucket"] == "70+"
    assert lead.flags["unpaid_bucket"] == "500k-1M"  # 1,137,000 − 194,000
    assert lead.flags["escrow_bucket"] == "500k-2M"  # the latest snapshot, not the older one
    assert lead.flags["employer_is_contractor"] is True
    assert lead.flags["developer"] == reference_token(keys, "org", DEVELOPER)
    zh, en = load_manifest(MODEL_DIR).explain(lead.kind, lead.flags)
    assert "70+" in zh and "500k-2M" in zh and "是" in zh
    assert "yes" in en and "{" not in en


def test_a_subcontractor_employer_still_leads_to_the_developer(tmp_path: Path) -> None:
    tables = _base()
    sub = "91610725MA6XA0053A"
    tables[("hrss", "inspection_decisions")][0]["employer_uscc"] = sub
    tables[("court", "enforcement_cases")][0]["respondent_uscc"] = sub
    leads, keys = _leads(tmp_path, tables)
    assert [(x.key["project"], x.key["employer"]) for x in leads] == [_key(keys, PROJECT, sub)]
    assert leads[0].flags["employer_is_contractor"] is False


def _escrow_elsewhere(tables: Tables) -> None:
    """The contractor's other project, under an unrelated developer, holds the money."""
    tables[("housing_construction", "projects")].append(
        {
            "project_code": OTHER_PROJECT,
            "developer_uscc": OTHER,
            "contractor_uscc": CONTRACTOR,
            "region": "610725",
            "permit_on": "2021-01-01",
            "status": "在建",
        }
    )
    for row in tables[("housing_construction", "presale_escrow")]:
        row.update(project_code=OTHER_PROJECT, developer_uscc=OTHER)


DECISIONS, ENFORCEMENT = ("hrss", "inspection_decisions"), ("court", "enforcement_cases")
ESCROW = ("housing_construction", "presale_escrow")
LOOKALIKES: dict[str, Callable[[Tables], None]] = {
    "escrow emptied": with_values(ESCROW, 1, balance="0.00"),
    "decision paid in full": with_values(DECISIONS, status="已履行", paid_amount="1137000.00"),
    "enforcement still running": with_values(ENFORCEMENT, status="执行中", closed_on=""),
    "enforcement completed": with_values(ENFORCEMENT, status="执行完毕"),
    "employer with no project": with_values(DECISIONS, project_code=""),
    "escrow of an unrelated project": _escrow_elsewhere,
    "escrow under another developer": with_values(ESCROW, 1, developer_uscc=OTHER),
    "a judgment's enforcement": with_values(ENFORCEMENT, basis_type="判决"),
    "enforcement against someone else": with_values(ENFORCEMENT, respondent_uscc=OTHER),
    "another decision's enforcement": with_values(
        ENFORCEMENT, basis_doc_no="勉人社监处字〔2024〕16号"
    ),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_lookalikes_are_not_leads(tmp_path: Path, name: str) -> None:
    tables = copy.deepcopy(_base())
    LOOKALIKES[name](tables)
    leads, _keys = _leads(tmp_path, tables)
    assert leads == [], name


def test_thresholds_are_parameters(tmp_path: Path) -> None:
    assert _leads(tmp_path / "a", _base(), min_escrow=720_000)[0]
    assert not _leads(tmp_path / "b", _base(), min_escrow=720_001)[0]
    assert _leads(tmp_path / "c", _base(), min_unpaid=943_000)[0]
    assert not _leads(tmp_path / "d", _base(), min_unpaid=943_001)[0]


def test_one_lead_per_project_and_employer(tmp_path: Path) -> None:
    """A second stuck decision on the same pair adds no lead; the bigger one speaks for it."""
    tables = _base()
    second = dict(tables[("hrss", "inspection_decisions")][0])
    second.update(decision_no="勉人社监处字〔2024〕31号", workers=3, amount="30000.00")
    second.update(paid_amount="0.00")
    tables[("hrss", "inspection_decisions")].append(second)
    enforcement = dict(tables[("court", "enforcement_cases")][0])
    enforcement.update(case_no="（2024）陕0725执1301号", basis_doc_no=second["decision_no"])
    tables[("court", "enforcement_cases")].append(enforcement)
    leads, _keys = _leads(tmp_path, tables)
    assert len(leads) == 1
    assert leads[0].flags["unpaid_bucket"] == "500k-1M"

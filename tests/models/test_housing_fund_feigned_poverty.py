"""Spec tests of the housing-fund feigned-poverty model (seed 002, the Minhang case).

The shipped fixtures must pass; then small literal agency tables, written as CSV the way an
agent reads them, pin the rule down: the full chain is a lead, and every honest look-alike
(paid or partly paid order, enforcement not ended "no assets", a judgment debt, a dormant or
gone company, an order never sent to court, a mismatched order) is not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from coordinator import modeltest
from coordinator.combine import Lead
from coordinator.modeltest import FIXTURE_SECRET, run_roles
from fedscreen.errors import ParameterError
from fedscreen.manifest import load_manifest
from fedscreen.tokens import TokenKeys, reference_token
from tests.models.spec import Dataset, Tables, run_model, with_values, write_tables

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "housing_fund_feigned_poverty"
COMPANY = "91310112MA1FP00176"
OTHER = "91310112MA1FP00251"  # a second company
ORDER = "闵公积金责缴字〔2022〕101号"
CASE = "（2023）沪0112执501号"
ARREARS = "责令限期缴存决定"


def _base() -> Tables:
    """One company that feigns poverty, plus the register's newest enforcement case."""
    return {
        ("court", "enforcement_cases"): [
            {
                "case_no": CASE,
                "court_region": "310112",
                "basis_type": ARREARS,
                "basis_doc_no": ORDER,
                "respondent_uscc": COMPANY,
                "amount": "213400.00",
                "filed_on": "2023-01-10",
                "status": "终结本次执行",
                "closed_on": "2023-09-20",
            },
            {
                "case_no": "（2025）沪0112执9号",
                "court_region": "310112",
                "basis_type": "判决",
                "basis_doc_no": "（2024）沪0112民初5号",
                "respondent_id": "310112198001011239",
                "amount": "5000.00",
                "filed_on": "2025-06-20",
                "status": "执行中",
            },
        ],
        ("housing_fund", "arrears_orders"): [
            {
                "order_no": ORDER,
                "employer_uscc": COMPANY,
                "employees_affected": 16,
                "amount": "213400.00",
                "issued_on": "2022-03-01",
                "deadline": "2022-04-15",
                "status": "已申请强制执行",
                "enforcement_case_no": CASE,
            }
        ],
        ("market_regulation", "enterprises"): [
            {
                "uscc": COMPANY,
                "name": "上海某销售有限公司",
                "region": "310112",
                "established_on": "2015-06-01",
                "status": "存续",
                "registered_capital": "1000000.00",
                "reported_employees": 16,
                "last_annual_report_year": 2024,
            }
        ],
        ("tax", "enterprise_tax"): [
            {"uscc": COMPANY, "year": 2023, "revenue": "900000.00", "tax_paid": "27000.00"},
            {"uscc": COMPANY, "year": 2024, "revenue": "1250000.00", "tax_paid": "37500.00"},
        ],
    }


def _run(tmp_path: Path, tables: Tables, **given: int) -> tuple[list[Lead], TokenKeys]:
    return run_model(MODEL_DIR, write_tables(tmp_path, tables), "spec", **given)


def _keys(leads: list[Lead]) -> set[tuple[str, str, str]]:
    return {(lead.kind, lead.key["company"], lead.key["enforcement"]) for lead in leads}


def _lead(keys: TokenKeys, company: str = COMPANY, case: str = CASE) -> tuple[str, str, str]:
    org, number = reference_token(keys, "org", company), reference_token(keys, "case", case)
    assert org and number
    return ("feigned_poverty", org, number)


def test_shipped_fixtures_pass() -> None:
    results = modeltest.test_model(MODEL_DIR)
    assert [r.name for r in results] == ["feigned_and_lookalikes", "wider_revenue_window"]
    for result in results:
        assert result.passed, result
        assert result.found == result.expected > 0


def test_roles_run_in_two_stages() -> None:
    stages = load_manifest(MODEL_DIR).stages()
    assert [[r.name for r in stage] for stage in stages] == [
        ["court"],
        ["housing_fund", "market_regulation", "tax"],
    ]


def test_the_full_chain_is_a_lead_with_bucketed_explanation(tmp_path: Path) -> None:
    leads, keys = _run(tmp_path, _base())
    assert _keys(leads) == {_lead(keys)}
    (lead,) = leads
    assert lead.region == "310112"
    assert lead.flags["closed_months_bucket"] == "12-23"  # to the register's newest entry
    assert lead.flags["employees_bucket"] == "6-20"
    assert lead.flags["amount_bucket"] == "100k-500k"
    assert lead.flags["revenue_bucket"] == "1M-5M"
    assert lead.flags["registered_status"] == "存续"
    assert "1M-5M" in lead.explanation_zh and "存续" in lead.explanation_zh
    assert "12-23 months ago" in lead.explanation_en
    for text in (lead.explanation_zh, lead.explanation_en):  # buckets only, never exact values
        assert "213400" not in text and "2023" not in text and "{" not in text


def _drop(dataset: Dataset, row: int = 0) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        del tables[dataset][row]

    return change


COURT, FUND = ("court", "enforcement_cases"), ("housing_fund", "arrears_orders")
ENTERPRISES, TAX = ("market_regulation", "enterprises"), ("tax", "enterprise_tax")
LOOKALIKES = {
    "order paid after enforcement ended": with_values(FUND, status="已缴存"),
    "order partly paid": with_values(FUND, status="部分缴存"),
    "enforcement still running": with_values(COURT, status="执行中", closed_on=""),
    "enforcement completed": with_values(COURT, status="执行完毕"),
    "enforcement terminated": with_values(COURT, status="终结执行"),
    "basis is a judgment": with_values(
        COURT, basis_type="判决", basis_doc_no="（2022）沪0112民初7号"
    ),
    "basis is a labour-inspection decision": with_values(COURT, basis_type="行政处理决定"),
    "company deregistered": with_values(ENTERPRISES, status="注销"),
    "company revoked": with_values(ENTERPRISES, status="吊销"),
    "company moved out": with_values(ENTERPRISES, status="迁出"),
    "company not in the register": _drop(ENTERPRISES),
    "zero revenue in the newest year": with_values(TAX, 1, revenue="0.00"),
    "token revenue below the threshold": with_values(TAX, 1, revenue="12000.00"),
    "no return in the newest year": with_values(TAX, 1, uscc=OTHER),  # another firm filed 2024
    "order never sent to court": _drop(COURT),
    "order not in the fund's records": _drop(FUND),
    "court cites another company's order": with_values(FUND, employer_uscc=OTHER),
    "respondent is a person": with_values(
        COURT, respondent_uscc="", respondent_id="310112198001011239"
    ),
}


@pytest.mark.parametrize("change", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_lookalikes_are_not_leads(tmp_path: Path, change: Callable[[Tables], None]) -> None:
    tables = copy.deepcopy(_base())
    change(tables)
    leads, _keys_ = _run(tmp_path, tables)
    assert leads == []


def test_revenue_in_the_newest_year_is_measured_against_the_register(tmp_path: Path) -> None:
    """Another firm's 2025 return moves "the newest year" on: the company's 2024 no longer
    counts unless the analyst widens the window."""
    tables = _base()
    tables[TAX].append({"uscc": OTHER, "year": 2025, "revenue": "100.00"})
    assert _run(tmp_path / "a", tables)[0] == []
    leads, keys = _run(tmp_path / "b", tables, revenue_years=2)
    assert _keys(leads) == {_lead(keys)}


def test_dirty_spellings_still_join(tmp_path: Path) -> None:
    full = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHJKLMNPQRTUWXY"}
    tables = _base()
    tables[COURT][0].update(
        case_no="(2023)沪0112执 501号",
        respondent_uscc="".join(full.get(c, c) for c in COMPANY),
        basis_doc_no="闵公积金责缴字〔２０２２〕101号",
    )
    tables[FUND][0]["employer_uscc"] = " " + COMPANY.lower()
    tables[TAX][1]["uscc"] = COMPANY[:8] + " " + COMPANY[8:]
    tables[ENTERPRISES][0]["status"] = "在业"
    leads, keys = _run(tmp_path, tables)
    assert _keys(leads) == {_lead(keys)}
    assert leads[0].flags["registered_status"] == "在业"


def test_several_orders_give_one_lead_per_enforcement(tmp_path: Path) -> None:
    tables = _base()
    second_order, second_case = "闵公积金责缴字〔2023〕7号", "（2024）沪0112执88号"
    tables[FUND].append({**tables[FUND][0], "order_no": second_order, "status": "未缴存"})
    tables[COURT].append({**tables[COURT][0], "case_no": second_case, "basis_doc_no": second_order})
    # The same company's judgment debt ended "no assets" too: not a lead of this model.
    tables[COURT].append(
        {**tables[COURT][0], "case_no": "（2022）沪0112执3号", "basis_type": "判决"}
    )
    leads, keys = _run(tmp_path, tables)
    assert _keys(leads) == {_lead(keys), _lead(keys, case=second_case)}


def test_threshold_parameters(tmp_path: Path) -> None:
    assert _run(tmp_path / "a", _base(), min_revenue=2_000_000)[0] == []
    tables = _base()
    tables[TAX][1]["revenue"] = "12000.00"
    leads, _ = _run(tmp_path / "b", tables, min_revenue=10_000)
    assert [lead.flags["revenue_bucket"] for lead in leads] == ["<50k"]
    manifest = load_manifest(MODEL_DIR)
    with pytest.raises(ParameterError):
        manifest.resolve_params({"revenue_years": "4"})
    with pytest.raises(ParameterError):
        manifest.resolve_params({"min_revenue": "0"})


def test_the_court_discloses_only_ended_arrears_enforcement(tmp_path: Path) -> None:
    tables = _base()
    for i, status in enumerate(["执行中", "执行完毕", "终结执行", "终结本次执行"]):
        tables[COURT].append(
            {
                **tables[COURT][0],
                "case_no": f"（2023）沪0112执{700 + i}号",
                "basis_type": "判决",
                "status": status,
            }
        )
    manifest = load_manifest(MODEL_DIR)
    keys = TokenKeys.derive(FIXTURE_SECRET, manifest.name, "spec")
    params = manifest.resolve_params({})
    out = run_roles(MODEL_DIR, manifest, write_tables(tmp_path, tables), params, keys)
    assert out["court"].num_rows == 1
    assert out["court"]["case_no"].to_pylist() == [reference_token(keys, "case", CASE)]

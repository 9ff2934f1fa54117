"""Spec tests of the wage-arrears support-to-sue model (seed 003, 劳动者支持起诉).

The shipped fixtures must pass; then small literal agency tables, written as CSV the way an
agent reads them, pin the rule down: a group of workers whose complaints against one employer
on one project are open past the deadline, who mostly never sued, on a project whose wage
deposit is unpaid or short, is one lead; every honest look-alike (complaints resolved or
withdrawn, most workers sued, deposit paid in full, still within the deadline, too few workers,
project not registered, no deposit on record) is not. A worker counts as having sued only with a
wage suit against the group's employer filed in or after the year of the complaint: a suit
against another employer, or an older one, leaves the group a lead. The deadline runs to the
complaints' own latest filing date.
"""

from __future__ import annotations

import copy
import datetime
import string
from collections.abc import Callable
from pathlib import Path

import pytest

from coordinator import modeltest
from coordinator.combine import Lead
from fedscreen.manifest import load_manifest
from fedscreen.tokens import TokenKeys, reference_token
from tests.models.spec import Tables, run_model, write_tables

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "wage_arrears_support"
DEVELOPER = "91640424MA7JY00100"
EMPLOYER = "91640424MA7JY0029W"
OTHER_EMPLOYER = "91640424MA7JY0200A"  # a worker's earlier or later job elsewhere
PROJECT = "2023-640424-47-01-000001"
WORKERS = (  # 泾源县 workers, valid resident IDs
    "640424197101150117",
    "640424197102150135",
    "640424197103150153",
    "640424197104150171",
    "64042419710515019X",
)
NEWCOMER = "640424197106150212"  # files a fresh complaint elsewhere: the data's latest date


def _complaint(number: int, worker: str, filed: str, status: str = "处理中") -> dict[str, object]:
    return {
        "complaint_id": f"泾人社投字〔{filed[:4]}〕{number}号",
        "worker_id": worker,
        "employer_uscc": EMPLOYER,
        "project_code": PROJECT,
        "amount_owed": "12000.00",
        "filed_on": filed,
        "status": status,
    }


def _base() -> Tables:
    """Five workers open since September 2024; the latest complaint on file is 2025-06-20."""
    complaints = [_complaint(i, w, f"2024-09-1{i}") for i, w in enumerate(WORKERS)]
    latest = _complaint(99, NEWCOMER, "2025-06-20")
    latest.update(employer_uscc="91640424MA7JY0037P", project_code="")
    return {
        ("hrss", "wage_complaints"): [*complaints, latest],
        ("hrss", "wage_deposits"): [
            {
                "project_code": PROJECT,
                "contractor_uscc": EMPLOYER,
                "required_amount": "300000.00",
                "paid_amount": "100000.00",
                "paid_on": "2023-04-01",
            }
        ],
        ("housing_construction", "projects"): [
            {
                "project_code": PROJECT,
                "developer_uscc": DEVELOPER,
                "contractor_uscc": EMPLOYER,
                "region": "640424",
                "permit_on": "2023-03-01",
                "status": "在建",
            }
        ],
        ("court", "labour_cases"): [],
    }


def _suit(
    worker: str,
    cause: str = "追索劳动报酬纠纷",
    defendant: str = EMPLOYER,
    filed: str = "2025-01-10",
) -> dict[str, object]:
    return {
        "case_no": f"（{filed[:4] or 2025}）宁0424民初{worker[-4:-1]}号",
        "court_region": "640424",
        "cause": cause,
        "filed_on": filed,
        "plaintiff_id": worker,
        "defendant_uscc": defendant,
        "claim_amount": "12000.00",
    }


def _leads(tmp_path: Path, tables: Tables, **given: int) -> tuple[list[Lead], TokenKeys]:
    inputs = write_tables(tmp_path / "inputs", tables)
    return run_model(MODEL_DIR, inputs, MODEL_DIR.name, **given)  # campaign: the model name


def test_shipped_fixtures_pass() -> None:
    results = modeltest.test_model(MODEL_DIR)
    assert results and all(r.passed for r in results), results
    assert all(r.found == r.expected > 0 for r in results), results  # not vacuously empty


def test_stages_ask_court_and_housing_only_about_flagged_groups() -> None:
    manifest = load_manifest(MODEL_DIR)
    assert [sorted(r.name for r in stage) for stage in manifest.stages()] == [
        ["hrss"],
        ["court", "housing_construction"],
    ]
    court = manifest.role("court")
    assert [(c.column, c.source_role, c.source_column) for c in court.candidates] == [
        ("plaintiff_id", "hrss", "worker_id"),
        ("defendant_uscc", "hrss", "employer_uscc"),
    ]


def test_the_court_sends_only_suits_against_flagged_employers(tmp_path: Path) -> None:
    """A flagged worker's suit against some other employer never leaves the court."""
    tables = _base()
    tables[("court", "labour_cases")] = [
        _suit(WORKERS[0]),
        _suit(WORKERS[1], defendant=OTHER_EMPLOYER),
    ]
    manifest = load_manifest(MODEL_DIR)
    keys = TokenKeys.derive(modeltest.FIXTURE_SECRET, manifest.name, manifest.name)
    inputs = write_tables(tmp_path / "inputs", tables)
    params = manifest.resolve_params({})
    court = modeltest.run_roles(MODEL_DIR, manifest, inputs, params, keys)["court"].to_pylist()
    assert court == [
        {
            "plaintiff_id": reference_token(keys, "person", WORKERS[0]),
            "defendant_uscc": reference_token(keys, "org", EMPLOYER),
            "filed_year": "2025",
        }
    ]


def test_both_explanations_carry_the_same_placeholders() -> None:
    zh, en = load_manifest(MODEL_DIR).explanations["wage_arrears_support"]

    def fields(template: str) -> list[str]:
        return sorted(f for _text, f, _spec, _conv in string.Formatter().parse(template) if f)

    assert fields(zh) == fields(en)
    assert {"workers", "workers_unsued", "project_status"} <= set(fields(en))


def test_the_group_is_one_lead_with_its_counts(tmp_path: Path) -> None:
    leads, keys = _leads(tmp_path, _base())
    assert len(leads) == 1
    lead = leads[0]
    assert lead.kind == "wage_arrears_support"
    assert lead.key == {
        "project": reference_token(keys, "project", PROJECT),
        "employer": reference_token(keys, "org", EMPLOYER),
    }
    assert lead.region == "640424"
    assert lead.flags["workers"] == 5 and lead.flags["workers_unsued"] == 5
    assert lead.flags["unsued_bucket"] == "5-9"
    assert lead.flags["some_sued"] is False
    assert lead.flags["owed_bucket"] == "50k-200k"  # 5 × 12,000
    assert lead.flags["overdue_bucket"] == "180-364"  # 2024-09-10 → 2025-06-20
    assert lead.flags["deposit_paid_bucket"] == "1-49%"
    assert lead.flags["project_status"] == "在建"
    zh, en = load_manifest(MODEL_DIR).explain(lead.kind, lead.flags)
    assert zh.startswith("5 名劳动者") and "其中 5 名未向该用人单位起诉" in zh and "在建" in zh
    assert en.startswith("5 workers'") and "5 of them never sued" in en
    assert en.endswith("project status under construction")  # 在建, labelled
    assert "{" not in zh + en and "—" not in zh + en  # every placeholder is a flag


def test_dirty_spellings_still_make_one_group(tmp_path: Path) -> None:
    tables = _base()
    rows = tables[("hrss", "wage_complaints")]
    rows[0]["worker_id"] = WORKERS[0][:6] + WORKERS[0][8:17]  # legacy 15-digit ID
    rows[1]["employer_uscc"] = " " + EMPLOYER.lower()
    rows[2]["project_code"] = PROJECT.replace("-", " - ")
    rows.append(_complaint(7, WORKERS[0], "2024-12-01"))  # the same worker complains again
    leads, _keys = _leads(tmp_path, tables)
    assert len(leads) == 1 and leads[0].flags["unsued_bucket"] == "5-9"
    assert leads[0].flags["workers"] == 5 and leads[0].flags["workers_unsued"] == 5


def test_a_worker_who_sued_leaves_the_rest_a_lead(tmp_path: Path) -> None:
    tables = _base()
    tables[("court", "labour_cases")] = [
        _suit("６４０４２４１９７１０１１５０１１７"),  # full-width digits
        _suit(WORKERS[1], cause="确认劳动关系纠纷"),  # not a wage suit
    ]
    leads, _keys = _leads(tmp_path, tables)
    assert len(leads) == 1
    assert leads[0].flags["unsued_bucket"] == "3-4" and leads[0].flags["some_sued"] is True
    assert leads[0].flags["workers"] == 5 and leads[0].flags["workers_unsued"] == 4


def _sued_elsewhere(**suit: str) -> Callable[[Tables], None]:
    """Four of the five workers sued, but not in a way that takes this dispute to court."""

    def change(tables: Tables) -> None:
        tables[("court", "labour_cases")] = [_suit(w, **suit) for w in WORKERS[:4]]

    return change


STILL_UNSUED: dict[str, Callable[[Tables], None]] = {
    "sued another employer": _sued_elsewhere(defendant=OTHER_EMPLOYER),
    "sued this employer years before the complaint": _sued_elsewhere(filed="2021-03-05"),
    "sued this employer the year before the complaint": _sued_elsewhere(filed="2023-12-20"),
}


@pytest.mark.parametrize("name", sorted(STILL_UNSUED))
def test_a_suit_about_another_dispute_leaves_the_worker_unsued(tmp_path: Path, name: str) -> None:
    tables = copy.deepcopy(_base())
    STILL_UNSUED[name](tables)
    leads, _keys = _leads(tmp_path, tables)
    assert len(leads) == 1, name
    assert leads[0].flags["workers_unsued"] == 5 and leads[0].flags["some_sued"] is False


def test_a_suit_is_compared_by_year_and_an_undated_one_counts(tmp_path: Path) -> None:
    """Only years leave the agencies: a suit against the employer earlier in the complaint's
    year counts as sued, and so does one whose filing date is missing (never a false lead)."""
    for name, filed in (("same year", "2024-02-01"), ("undated", "")):
        tables = copy.deepcopy(_base())
        _sued_elsewhere(filed=filed)(tables)
        assert _leads(tmp_path / name, tables)[0] == [], name


def _statuses(status: str) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        for row in tables[("hrss", "wage_complaints")][:5]:
            row.update(status=status, closed_on="2024-10-20")

    return change


def _sued(count: int) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        tables[("court", "labour_cases")] = [_suit(w) for w in WORKERS[:count]]

    return change


def _paid_in_full(tables: Tables) -> None:
    tables[("hrss", "wage_deposits")][0]["paid_amount"] = "300000.00"


def _recent(tables: Tables) -> None:
    for i, row in enumerate(tables[("hrss", "wage_complaints")][:5]):
        row["filed_on"] = f"2025-05-0{i + 1}"


def _two_workers(tables: Tables) -> None:
    del tables[("hrss", "wage_complaints")][2:5]


def _unregistered(tables: Tables) -> None:
    tables[("housing_construction", "projects")][0]["project_code"] = "2023-640424-47-01-000002"


def _no_deposit_row(tables: Tables) -> None:
    """Deliberately not a lead: wage_deposits cannot tell a deposit never lodged from one waived
    under the rules or replaced by a bank guarantee (see the model's rationale)."""
    tables[("hrss", "wage_deposits")] = []


LOOKALIKES: dict[str, Callable[[Tables], None]] = {
    "complaints resolved": _statuses("已解决"),
    "complaints withdrawn": _statuses("已撤回"),
    "complaints transferred": _statuses("已移送"),
    "most workers sued": _sued(4),
    "half the workers sued": _sued(3),
    "deposit paid in full": _paid_in_full,
    "within the deadline": _recent,
    "too few workers": _two_workers,
    "project not registered": _unregistered,
    "no deposit on record": _no_deposit_row,
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_lookalikes_are_not_leads(tmp_path: Path, name: str) -> None:
    tables = copy.deepcopy(_base())
    LOOKALIKES[name](tables)
    leads, _keys = _leads(tmp_path, tables)
    assert leads == [], name


def test_deadline_and_group_size_are_parameters(tmp_path: Path) -> None:
    # 2025-05-01 … 2025-05-05 are 46–50 days before the latest filing (2025-06-20).
    recent = copy.deepcopy(_base())
    _recent(recent)
    assert not _leads(tmp_path / "a", recent, overdue_days=50)[0]
    assert _leads(tmp_path / "b", recent, overdue_days=45)[0]
    few = copy.deepcopy(_base())
    _two_workers(few)
    assert _leads(tmp_path / "c", few, min_workers=2)[0]
    assert not _leads(tmp_path / "d", _base(), min_workers=6)[0]


def test_the_deadline_runs_on_the_data_not_the_clock(tmp_path: Path) -> None:
    """Shifting every date by ten years changes nothing: no agent's clock is consulted."""
    tables = copy.deepcopy(_base())
    for row in tables[("hrss", "wage_complaints")]:
        filed = datetime.date.fromisoformat(str(row["filed_on"]))
        row["filed_on"] = filed.replace(year=filed.year - 10).isoformat()
    assert len(_leads(tmp_path, tables)[0]) == 1

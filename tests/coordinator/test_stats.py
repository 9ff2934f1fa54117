"""`models stats`: leads, verdicts, precision and days to disposal per model version."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from coordinator import lifecycle as lc
from coordinator.cli import main
from coordinator.combine import Lead
from coordinator.registry import Finding, LeadRow, Registry
from coordinator.stats import VersionStats, compute, model_stats, stats_rows

DAY0 = "2025-03-01T00:00:00+00:00"


def row(lead_id: str, version: str = "1.0.0", verdict: str | None = None) -> LeadRow:
    return LeadRow(
        lead_id, "m", version, "模型", "Model", {}, {}, "410502", DAY0, DAY0, "new",
        verdict=verdict,
    )  # fmt: skip


def test_precision_counts_only_verified_leads_and_days_are_a_median() -> None:
    leads = [row("a", verdict="true"), row("b", verdict="true"), row("c", verdict="false")]
    leads += [row("d"), row("e", "1.10.0"), row("f", "1.9.0", verdict="false")]
    disposed = {
        "a": "2025-03-11T00:00:00+00:00",  # 10 days
        "b": "2025-03-21T12:00:00+00:00",  # 20.5 days
        "c": "2025-03-04T00:00:00+00:00",  # 3 days
        "f": "2025-03-02T06:00:00+00:00",  # 1.25 days
    }
    v1, v19, v110 = compute(leads, disposed)
    assert [s.version for s in (v1, v19, v110)] == ["1.0.0", "1.9.0", "1.10.0"]
    assert (v1.leads, v1.verified_true, v1.verified_false, v1.disposed) == (4, 2, 1, 3)
    assert v1.precision == pytest.approx(2 / 3)
    assert v1.median_days_to_disposal == 10.0
    assert (v19.precision, v19.median_days_to_disposal) == (0.0, 1.25)
    assert (v110.leads, v110.precision, v110.median_days_to_disposal) == (1, None, None)
    assert stats_rows([v1, v110]) == [
        {
            "model": "m",
            "version": "1.0.0",
            "title": "模型",
            "leads": 4,
            "verified_true": 2,
            "verified_false": 1,
            "precision": "0.667",
            "disposed": 3,
            "median_days_to_disposal": "10.0",
        },
        {
            "model": "m",
            "version": "1.10.0",
            "title": "模型",
            "leads": 1,
            "verified_true": 0,
            "verified_false": 0,
            "precision": "—",
            "disposed": 0,
            "median_days_to_disposal": "—",
        },
    ]


def test_an_even_number_of_disposals_takes_the_middle_two() -> None:
    leads = [row("a", verdict="true"), row("b", verdict="true")]
    disposed = {"a": "2025-03-03T00:00:00+00:00", "b": "2025-03-06T00:00:00+00:00"}
    (only,) = compute(leads, disposed)
    assert only.median_days_to_disposal == 3.5


def crafted_registry(tmp_path: Path) -> Registry:
    """Model m 1.0.0: 3 leads — true & disposed after 4 days, false & closed after 2 days, new.
    Model m 2.0.0: 1 lead, verifying. Model other 1.0.0: 1 lead, true, not yet disposed."""
    registry = Registry(tmp_path / "registry.sqlite")
    for model, version, ids in (
        ("m", "1.0.0", ("La", "Lb", "Lc")),
        ("m", "2.0.0", ("Ld",)),
        ("other", "1.0.0", ("Le",)),
    ):
        registry.start_job(f"j-{model}-{version}", model, version, "d", model, {}, ("模", "M"))
        leads = [Lead(i, {"p": i}, {}, "410502") for i in ids]
        registry.record_leads(f"j-{model}-{version}", model, version, model, leads)
    walk: dict[str, list[Callable[[str, str], lc.Change]]] = {
        "La": [lc.start_verifying, _true, _protest],
        "Lb": [lc.start_verifying, _false, _close],
        "Ld": [lc.start_verifying],
        "Le": [lc.start_verifying, _true],
    }
    for lead_id, steps in walk.items():
        for step in steps:
            registry.apply(lead_id, "张三", partial(step, lead_id))
    con = sqlite3.connect(registry.path)
    with con:
        con.execute("UPDATE leads SET found_at = ?", (DAY0,))
        con.execute("UPDATE lead_findings SET first_seen = ?", (DAY0,))
        con.execute(
            "UPDATE lead_events SET at = CASE lead_id WHEN 'La' THEN '2025-03-05T00:00:00+00:00'"
            " ELSE '2025-03-03T00:00:00+00:00' END WHERE to_state = 'disposed'"
        )
    con.close()
    return registry


def _true(lead_id: str, state: str) -> lc.Change:
    return lc.verdict(lead_id, state, True, "核实属实")


def _false(lead_id: str, state: str) -> lc.Change:
    return lc.verdict(lead_id, state, False, "核实不属实")


def _protest(lead_id: str, state: str) -> lc.Change:
    return lc.dispose(lead_id, state, "protest", "抗诉")


def _close(lead_id: str, state: str) -> lc.Change:
    return lc.dispose(lead_id, state, "closed", "结案")


def test_stats_from_a_crafted_registry(tmp_path: Path) -> None:
    stats = model_stats(crafted_registry(tmp_path))
    assert [(s.model, s.version) for s in stats] == [
        ("m", "1.0.0"),
        ("m", "2.0.0"),
        ("other", "1.0.0"),
    ]
    m1, m2, other = stats
    assert m1 == VersionStats("m", "1.0.0", "模", "M", 3, 1, 1, 2, 3.0)
    assert m1.precision == 0.5
    assert (m2.leads, m2.precision, m2.median_days_to_disposal) == (1, None, None)
    assert (other.verified_true, other.precision, other.disposed) == (1, 1.0, 0)


@pytest.fixture()
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A state dir made by `fedscreen init` without --name (not conftest's, which names one)."""
    root = tmp_path / "state"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    return root


def stats_json(
    state: Path, capsys: pytest.CaptureFixture[str], registry: Callable[[Path], Registry]
) -> list[dict[str, Any]]:
    """Write `registry` into the state dir, then parse what `models stats --format json` prints."""
    registry(state)
    capsys.readouterr()
    assert main(["--state", str(state), "models", "stats", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_models_stats_command_prints_the_numbers(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = stats_json(state, capsys, crafted_registry)
    assert [
        (d["model"], d["version"], d["precision"], d["median_days_to_disposal"]) for d in doc
    ] == [
        ("m", "1.0.0", 0.5, 3.0),
        ("m", "2.0.0", None, None),
        ("other", "1.0.0", 1.0, None),
    ]
    assert main(["--state", str(state), "models", "stats", "--model", "m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "model", "version", "title", "leads", "verified_true", "verified_false", "precision",
        "disposed", "median_days_to_disposal",
    ]  # fmt: skip
    assert lines[1].split() == ["m", "1.0.0", "模", "3", "1", "1", "0.500", "2", "3.0"]
    assert lines[2].split() == ["m", "2.0.0", "模", "1", "0", "0", "—", "0", "—"]
    assert len(lines) == 3


def test_models_stats_without_leads_says_so(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--state", str(state), "models", "stats"]) == 0
    assert capsys.readouterr().out == "no leads yet\n"


def day(n: float) -> str:
    return (datetime.fromisoformat(DAY0) + timedelta(days=n)).isoformat()


def refound_registry(tmp_path: Path) -> Registry:
    """m 1.0.0 finds La and Lb; La is verified true, Lb false; then m 2.0.0 finds La again."""
    registry = Registry(tmp_path / "registry.sqlite")
    registry.start_job("j1", "m", "1.0.0", "d1", "m", {}, ("模一", "M one"))
    registry.record_leads(
        "j1", "m", "1.0.0", "m", [Lead("La", {}, {}, "410502"), Lead("Lb", {}, {}, "410502")]
    )
    registry.apply("La", "张三", partial(lc.start_verifying, "La"))
    registry.apply("La", "张三", partial(_true, "La"))
    registry.apply("Lb", "张三", partial(lc.start_verifying, "Lb"))
    registry.apply("Lb", "张三", partial(_false, "Lb"))
    registry.start_job("j2", "m", "2.0.0", "d2", "m", {}, ("模二", "M two"))
    registry.record_leads("j2", "m", "2.0.0", "m", [Lead("La", {}, {}, "410502")])
    return registry


def test_a_newer_version_refinding_a_lead_leaves_the_older_versions_precision(
    tmp_path: Path,
) -> None:
    registry = refound_registry(tmp_path)
    v1, v2 = model_stats(registry)
    assert (v1.version, v1.leads, v1.verified_true, v1.verified_false) == ("1.0.0", 2, 1, 1)
    assert v1.precision == 0.5
    assert (v2.version, v2.leads, v2.verified_true, v2.verified_false) == ("2.0.0", 1, 1, 0)
    assert v2.precision == 1.0
    assert (v1.title_zh, v2.title_zh) == ("模一", "模二")  # each version's own title
    # the lead itself still names the last version that found it
    assert [(ld.lead_id, ld.version) for ld in registry.leads()] == [
        ("La", "2.0.0"),
        ("Lb", "1.0.0"),
    ]


def test_models_stats_command_counts_a_refound_lead_for_both_versions(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = stats_json(state, capsys, refound_registry)
    assert [
        (d["version"], d["leads"], d["verified_true"], d["verified_false"], d["precision"])
        for d in doc
    ] == [("1.0.0", 2, 1, 1, 0.5), ("2.0.0", 1, 1, 0, 1.0)]


def test_days_to_disposal_run_from_each_versions_first_finding(tmp_path: Path) -> None:
    """La: found by 1.0.0 on day 0 and 2.0.0 on day 4, disposed of on day 10. Lb: found by
    1.0.0 on day 0, disposed of on day 3, found again by 2.0.0 on day 4 (after disposal)."""
    registry = refound_registry(tmp_path)
    registry.record_leads("j2", "m", "2.0.0", "m", [Lead("Lb", {}, {}, "410502")])
    registry.apply("La", "张三", partial(_protest, "La"))
    registry.apply("Lb", "张三", partial(_close, "Lb"))
    con = sqlite3.connect(registry.path)
    with con:
        con.execute("UPDATE leads SET found_at = ?", (day(0),))
        con.execute(
            "UPDATE lead_findings SET first_seen = CASE version WHEN '1.0.0' THEN ? ELSE ? END",
            (day(0), day(4)),
        )
        con.execute(
            "UPDATE lead_events SET at = CASE lead_id WHEN 'La' THEN ? ELSE ? END"
            " WHERE to_state = 'disposed'",
            (day(10), day(3)),
        )
    con.close()
    v1, v2 = model_stats(registry)
    assert (v1.leads, v1.disposed, v1.median_days_to_disposal) == (2, 2, 6.5)  # 10 and 3
    # Lb was disposed of before 2.0.0 found it: disposed, but no days for 2.0.0
    assert (v2.leads, v2.disposed, v2.median_days_to_disposal) == (2, 2, 6.0)


def test_a_lead_without_findings_counts_for_its_last_version() -> None:
    finding = Finding("a", "m", "0.9.0", "旧", "Old", "j0", "j0", DAY0, DAY0)
    old, new = compute([row("a", "1.0.0", "true"), row("b", "1.0.0", "false")], {}, [finding])
    assert (old.version, old.leads, old.precision, old.title_zh) == ("0.9.0", 1, 1.0, "旧")
    assert (new.version, new.leads, new.precision) == ("1.0.0", 1, 0.0)  # b only

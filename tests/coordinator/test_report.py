"""`fedscreen report`: the numbers on the page are the registry's, in both languages, offline."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator import lifecycle as lc
from coordinator.cli import main
from coordinator.combine import Lead
from coordinator.registry import Registry as LeadRegistry
from coordinator.report import LeadInfo, load, render, timeline
from coordinator.state import State, init_state
from tests.coordinator.report_fixture import (
    AID,
    FLL,
    FUNNEL,
    LEADS,
    PERIODS,
    PRECISION,
    PRECISION_OLD,
    REACHED,
    REGIONS_4,
    TIMELINE,
    TITLES,
    Page,
    explanation,
    read_page,
    write_registry,
)

NOW = datetime(2025, 3, 6, 8, 0, tzinfo=UTC)
STATE_ZH = dict(
    zip(
        FUNNEL,
        ("新线索", "已分派", "已移送", "核实中", "经核实属实", "经核实不属实", "已处置"),
        strict=True,
    )
)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> State:
    state = init_state(tmp_path_factory.mktemp("report") / "state", "某区人民检察院")
    write_registry(state.registry)
    return state


def page_of(path: Path, shape: str = "full", lang: str = "zh", **kw: int) -> Page:
    html = render(load(write_registry(path, shape)), lang, "某区人民检察院", NOW, **kw)
    return read_page(html)


def funnel(page: Page) -> dict[str, int]:
    return {m["data-state"]: int(m["data-count"]) for m in page.bars("funnel")}


def reached(page: Page) -> dict[str, int]:
    return {m["data-state"]: int(m["data-reached"]) for m in page.bars("funnel")}


def precision(page: Page) -> dict[tuple[str, str], tuple[int, int, str]]:
    return {
        (m["data-model"], m["data-version"]): (
            int(m["data-true"]),
            int(m["data-false"]),
            m["data-precision"],
        )
        for m in page.bars("precision")
    }


def regions(page: Page) -> list[tuple[str, int]]:
    return [(m["data-region"], int(m["data-count"])) for m in page.bars("regions")]


def drawn(page: Page) -> dict[str, dict[str, int]]:
    """The timeline's bars: period and count by series."""
    series: dict[str, dict[str, int]] = {}
    for m in page.bars("timeline"):
        series.setdefault(m["data-series"], {})[m["data-period"]] = int(m["data-count"])
    return series


def test_the_charts_show_the_registrys_numbers(tmp_path: Path) -> None:
    page = page_of(tmp_path / "r.sqlite")
    assert funnel(page) == FUNNEL
    assert [m["data-state"] for m in page.bars("funnel")] == list(FUNNEL)  # the funnel's order
    assert reached(page) == REACHED
    assert precision(page) == PRECISION
    assert regions(page) == REGIONS_4
    assert drawn(page) == TIMELINE
    assert page.stats == {
        "total": "12",
        "models": "2",
        "verified_true": "3",
        "verified_false": "3",
        "precision": "50.0%",
    }


def test_the_lead_table_has_one_row_per_lead_newest_first_in_chinese(tmp_path: Path) -> None:
    page = page_of(tmp_path / "r.sqlite")
    assert page.lang == "zh-CN"
    by_found = sorted(LEADS, key=lambda lead: (lead[5], int(lead[0][-2:]) % 10, lead[0]))
    assert [attrs["data-lead"] for attrs, _ in page.rows] == [x[0] for x in reversed(by_found)]
    rows = {attrs["data-lead"]: (attrs["data-state"], cells) for attrs, cells in page.rows}
    for lead_id, model, _version, kind, region, found, path in LEADS:
        state, cells = rows[lead_id]
        assert state == path[-1]
        assert cells == [
            lead_id,
            TITLES[model][0],
            kind,
            region,
            STATE_ZH[path[-1]],
            found,
            explanation(lead_id, "zh"),
        ]


def test_english_labels_titles_and_explanations_with_lang_en(tmp_path: Path) -> None:
    page = page_of(tmp_path / "r.sqlite", lang="en")
    assert page.lang == "en"
    assert funnel(page) == FUNNEL  # the same numbers
    _, cells = next(row for row in page.rows if row[0]["data-lead"] == "L000000000010")
    assert cells == [
        "L000000000010",
        TITLES[AID][1],
        "transfer",
        "310112",
        "verified false",
        "2025-03-04",
        explanation("L000000000010", "en"),
    ]
    labels = [m for m in page.bars("regions")]
    assert labels[0]["data-region"] == "1101"


def test_the_page_fetches_nothing(tmp_path: Path) -> None:
    for lang in ("zh", "en"):
        html = render(load(write_registry(tmp_path / f"{lang}.sqlite")), lang, "x", NOW)
        page = read_page(html)
        assert not re.search(r"https?:|//[a-z]|url\(|@import", html, re.IGNORECASE)
        assert page.refs == []  # no src, href or srcset at all
        assert not page.tags & {"script", "link", "img", "iframe", "object", "embed", "image"}
        assert set(page.marks) == {"timeline", "funnel", "precision", "regions"}


def test_a_registry_without_verdict_column_takes_verdicts_from_the_history(
    tmp_path: Path,
) -> None:
    page = page_of(tmp_path / "r.sqlite", shape="events")
    assert precision(page) == PRECISION
    assert reached(page) == REACHED


def test_a_registry_from_before_the_lifecycle_still_reports(tmp_path: Path) -> None:
    page = page_of(tmp_path / "r.sqlite", shape="old")
    assert funnel(page) == FUNNEL
    assert precision(page) == PRECISION_OLD  # the two disposed leads' verdicts are unknown
    assert all("data-reached" not in m for m in page.bars("funnel"))
    assert not [m for m in page.marks["funnel"] if m["data-mark"] == "behind"]


def test_regions_group_by_the_chosen_prefix_and_show_the_top_n(tmp_path: Path) -> None:
    page = page_of(tmp_path / "r.sqlite", digits=2, top=2)
    assert regions(page) == [("11", 6), ("31", 3)]
    assert "其余地区共 3 条线索未列出。" in page.notes


def test_user_text_is_escaped(tmp_path: Path) -> None:
    lead = LeadInfo(
        "L1", "m", "1", "<b>标题</b>", "", "k", "110101", "new", "2025-01-01T00:00:00",
        '<script>alert("x")</script>', "", None,
    )  # fmt: skip
    from coordinator.report import Registry

    html = render(Registry([lead], None), "zh", "<i>院</i>", NOW)
    assert "<script>" not in html and "<i>" not in html and "<b>标题" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_long_spans_are_bucketed_by_month() -> None:
    def lead(n: int, found: str) -> LeadInfo:
        return LeadInfo(f"L{n}", FLL, "1", "", "", "", "", "new", found, "", "", None)

    periods, counts = timeline(
        [lead(1, "2025-01-30"), lead(2, "2025-01-31"), lead(3, "2025-04-02")]
    )
    assert periods == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert counts[FLL] == {"2025-01": 2, "2025-04": 1}
    periods, _ = timeline([lead(1, "2025-03-01"), lead(2, "2025-03-05")])
    assert periods == PERIODS


def test_the_command_writes_the_file_and_leaves_the_registry_alone(
    state: State, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256(state.registry.read_bytes()).hexdigest()
    out = tmp_path / "report.html"
    assert main(["--state", str(state.root), "report", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 12 leads of 2 models\n"
    page = read_page(out.read_text(encoding="utf-8"))
    assert funnel(page) == FUNNEL and page.lang == "zh-CN"
    assert hashlib.sha256(state.registry.read_bytes()).hexdigest() == before

    argv = ["--state", str(state.root), "report", "--out", str(out), "--lang", "en"]
    assert main([*argv, "--model", AID]) == 0
    page = read_page(out.read_text(encoding="utf-8"))
    assert page.lang == "en" and len(page.rows) == 4
    assert {m["data-model"] for m in page.bars("precision")} == {AID}


def test_a_missing_output_folder_is_one_line_and_writes_nothing(
    state: State, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nope" / "report.html"
    assert main(["--state", str(state.root), "report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --out {out}: folder {out.parent} does not exist\n"
    assert not out.parent.exists()


def test_a_state_without_leads_gives_an_empty_report_and_no_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = init_state(tmp_path / "state", "x")
    out = tmp_path / "r.html"
    assert main(["--state", str(state.root), "report", "--out", str(out), "--lang", "en"]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count("no leads yet") == 3  # timeline, precision, regions
    assert read_page(html).stats["total"] == "0"
    assert not state.registry.exists()


def test_precision_counts_a_lead_for_every_version_that_found_it(tmp_path: Path) -> None:
    """1.0.0 finds La and Lb (verified true and false), then 2.0.0 finds La again: 1.0.0 keeps
    both leads (0.500), 2.0.0 gets La (1.000), each under its own title."""
    registry = LeadRegistry(tmp_path / "registry.sqlite")
    registry.start_job("j1", "m", "1.0.0", "d1", "m", {}, ("模型一", "Model one"))
    registry.record_leads("j1", "m", "1.0.0", "m", [Lead(i, {}, {}, "410502") for i in "ab"])
    for lead_id, true in (("a", True), ("b", False)):
        registry.apply(lead_id, "张三", lambda s, i=lead_id: lc.start_verifying(i, s))
        registry.apply(lead_id, "张三", lambda s, i=lead_id, t=true: lc.verdict(i, s, t, "核实"))
    registry.start_job("j2", "m", "2.0.0", "d2", "m", {}, ("模型二", "Model two"))
    registry.record_leads("j2", "m", "2.0.0", "m", [Lead("a", {}, {}, "410502")])

    html = render(load(registry.path), "zh", "院", NOW)
    page = read_page(html)
    assert precision(page) == {("m", "1.0.0"): (1, 1, "0.500"), ("m", "2.0.0"): (1, 0, "1.000")}
    assert "<title>1.0.0 · 模型一: 50.0% (1/2)</title>" in html
    assert "<title>2.0.0 · 模型二: 100.0% (1/1)</title>" in html
    assert page.stats["total"] == "2" and len(page.rows) == 2  # the leads are not doubled

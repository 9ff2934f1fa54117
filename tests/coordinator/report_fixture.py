"""A small lead registry written with plain SQL, and the figures a report of it must show.

Also a reader for the rendered page (the report's own HTML, or Chromium's DOM dump of it).
Shared by tests/coordinator/test_report.py and tests/integration/test_report_browser.py.
`shape` picks the schema: "full" (lifecycle columns and lead_events, as the registry writes
them now), "events" (history but no verdict column) or "old" (a registry from before the
lifecycle: neither), so the report's tolerance is tested on real files.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

FLL, AID = "fake_labour_litigation", "judicial_aid_social_aid"
TITLES = {
    FLL: (
        "确认劳动关系补缴社保虚假诉讼、虚假仲裁",
        "Fake labour-relationship suits and arbitrations",
    ),
    AID: ("司法救助+社会救助", "Judicial aid and social aid"),
}
# lead_id, model, version, kind, region, found (date), path of states (last = current)
LEADS: list[tuple[str, str, str, str, str, str, list[str]]] = [
    ("L000000000001", FLL, "1.0.0", "suit", "110105", "2025-03-01", ["new"]),
    ("L000000000002", FLL, "1.0.0", "suit", "110101", "2025-03-01",
     ["new", "assigned", "verifying", "verified_true"]),
    ("L000000000003", FLL, "1.0.0", "arbitration", "110105", "2025-03-02",
     ["new", "verifying", "verified_false"]),
    ("L000000000004", FLL, "1.0.0", "suit", "310112", "2025-03-02",
     ["new", "assigned", "transferred", "verifying", "verified_true", "disposed"]),
    ("L000000000005", FLL, "1.0.0", "suit", "320102", "2025-03-03",
     ["new", "transferred", "verifying"]),
    ("L000000000006", FLL, "1.1.0", "suit", "110105", "2025-03-05",
     ["new", "verifying", "verified_true"]),
    ("L000000000007", FLL, "1.1.0", "arbitration", "440305", "2025-03-05", ["new", "assigned"]),
    ("L000000000008", FLL, "1.1.0", "suit", "", "2025-03-05", ["new"]),
    ("L000000000009", AID, "1.0.0", "omission", "310115", "2025-03-03", ["new", "transferred"]),
    ("L000000000010", AID, "1.0.0", "transfer", "310112", "2025-03-04",
     ["new", "assigned", "verifying", "verified_false"]),
    ("L000000000011", AID, "1.0.0", "omission", "110101", "2025-03-04",
     ["new", "verifying", "verified_false", "disposed"]),
    ("L000000000012", AID, "1.0.0", "omission", "110105", "2025-03-04", ["new"]),
]  # fmt: skip

# What the report must show for the "full" and "events" shapes.
FUNNEL = {"new": 3, "assigned": 1, "transferred": 1, "verifying": 1, "verified_true": 2,
          "verified_false": 2, "disposed": 2}  # fmt: skip
REACHED = {"new": 12, "assigned": 4, "transferred": 3, "verifying": 7, "verified_true": 3,
           "verified_false": 3, "disposed": 2}  # fmt: skip
# (model, version) -> (true, false, precision text)
PRECISION = {
    (FLL, "1.0.0"): (2, 1, "0.667"),
    (FLL, "1.1.0"): (1, 0, "1.000"),
    (AID, "1.0.0"): (0, 2, "0.000"),
}
# Without history or verdict column, the two disposed leads' verdicts are unknown.
PRECISION_OLD = {
    (FLL, "1.0.0"): (1, 1, "0.500"),
    (FLL, "1.1.0"): (1, 0, "1.000"),
    (AID, "1.0.0"): (0, 1, "0.000"),
}
REGIONS_4 = [("1101", 6), ("3101", 3), ("3201", 1), ("4403", 1), ("", 1)]
TIMELINE = {
    FLL: {"2025-03-01": 2, "2025-03-02": 2, "2025-03-03": 1, "2025-03-05": 3},
    AID: {"2025-03-03": 1, "2025-03-04": 3},
}
PERIODS = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"]


def explanation(lead_id: str, lang: str) -> str:
    n = int(lead_id[-2:])
    return f"同一被告窗口期内被诉 {n} 件" if lang == "zh" else f"{n} suits against one defendant"


def write_registry(path: Path, shape: str = "full") -> Path:
    lifecycle = shape == "full"
    extra = ", unit TEXT, assignee TEXT, verdict TEXT, verdict_reason TEXT," \
        " disposition TEXT, updated_at TEXT" if lifecycle else ""  # fmt: skip
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE models (model TEXT, version TEXT, title_zh TEXT, title_en TEXT)")
        con.execute(
            "CREATE TABLE leads (lead_id TEXT PRIMARY KEY, model TEXT, version TEXT,"
            " campaign TEXT, key TEXT, flags TEXT, region TEXT, first_job TEXT, last_job TEXT,"
            " found_at TEXT, last_seen TEXT, state TEXT NOT NULL DEFAULT 'new',"
            f" kind TEXT, explanation_zh TEXT, explanation_en TEXT{extra})"
        )
        if shape != "old":
            con.execute(
                "CREATE TABLE lead_events (id INTEGER PRIMARY KEY, lead_id TEXT, at TEXT,"
                " actor TEXT, action TEXT, from_state TEXT, to_state TEXT, detail TEXT)"
            )
        for model, version in sorted({(m, v) for _, m, v, *_ in LEADS}):
            con.execute("INSERT INTO models VALUES (?, ?, ?, ?)", (model, version, *TITLES[model]))
        for lead_id, model, version, kind, region, found, path_ in LEADS:
            at = f"{found}T0{int(lead_id[-2:]) % 10}:00:00+00:00"
            values = [lead_id, model, version, model, json.dumps({"k": lead_id}), "{}",
                      region or None, "job1", "job1", at, at, path_[-1], kind,
                      explanation(lead_id, "zh"), explanation(lead_id, "en")]  # fmt: skip
            if lifecycle:
                verdicts = [s for s in path_ if s.startswith("verified_")]
                values += [None, None, verdicts[-1].removeprefix("verified_") if verdicts else None,
                           None, None, at]  # fmt: skip
            con.execute(f"INSERT INTO leads VALUES ({','.join('?' * len(values))})", values)
            if shape != "old":
                for before, after in zip([None, *path_], path_, strict=False):
                    con.execute(
                        "INSERT INTO lead_events (lead_id, at, actor, action, from_state,"
                        " to_state, detail) VALUES (?, ?, 'analyst', 'step', ?, ?, '')",
                        (lead_id, at, before, after),
                    )
    con.close()
    return path


@dataclass
class Page:
    """What a test needs from a rendered report: marks per chart, stats, table rows, refs."""

    lang: str = ""
    marks: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    stats: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[dict[str, str], list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, value)
    tags: set[str] = field(default_factory=set)

    def bars(self, chart: str) -> list[dict[str, str]]:
        return [m for m in self.marks.get(chart, []) if m.get("data-mark") == "bar"]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.chart: str | None = None
        self.stat: str | None = None
        self.row: tuple[dict[str, str], list[str]] | None = None
        self.cell: list[str] | None = None
        self.note: list[str] | None = None
        self.bold = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.page.tags.add(tag)
        self.page.refs += [(tag, k, v) for k, v in a.items() if k in ("src", "href", "srcset")]
        if tag == "html":
            self.page.lang = a.get("lang", "")
        if tag == "svg":
            self.chart = a.get("data-chart")
            self.page.marks.setdefault(self.chart or "", [])
        elif self.chart and "data-mark" in a:
            self.page.marks[self.chart].append(a)
        if "data-stat" in a:
            self.stat = a["data-stat"]
        self.bold = tag == "b" and self.stat is not None
        if tag == "tr" and "data-lead" in a:
            self.row = (a, [])
        if tag == "td" and self.row is not None:
            self.cell = []
        if tag == "p" and a.get("class") == "note":
            self.note = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None
        if tag == "td" and self.row is not None and self.cell is not None:
            self.row[1].append("".join(self.cell))
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.page.rows.append(self.row)
            self.row = None
        if tag == "p" and self.note is not None:
            self.page.notes.append("".join(self.note))
            self.note = None
        if tag == "div":
            self.stat = None
        self.bold = False

    def handle_data(self, data: str) -> None:
        if self.bold and self.stat:
            self.page.stats[self.stat] = data
        if self.cell is not None:
            self.cell.append(data)
        if self.note is not None:
            self.note.append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page

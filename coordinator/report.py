"""`fedscreen report`: one self-contained HTML page of the lead registry, Chinese first.

Charts (inline SVG from coordinator/charts.py, no scripts, nothing fetched): leads per model
over time, the lead funnel by state, precision per model version, leads by region; then the
lead table. The registry is read with plain SQL, read-only, and tolerant of registries
written before the lifecycle columns and `lead_events` existed: a lead's verdict is the
`verdict` column where there is one, else its state, else the last verdict in its history.
Precision per model version counts a lead for every version that found it (`lead_findings`;
without that table, for the lead's last version).
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from html import escape
from pathlib import Path

from coordinator.charts import PALETTE, Bar, Series, hbars, stacked_columns
from coordinator.registry import unusable_as_error
from coordinator.report_text import PROVINCES, STATES, text
from coordinator.state import State
from fedscreen.errors import UsageError
from fedscreen.files import write_atomic


@dataclass(frozen=True)
class FoundBy:
    """A model version that found a lead, with that version's titles."""

    version: str
    title_zh: str
    title_en: str


@dataclass(frozen=True)
class LeadInfo:
    lead_id: str
    model: str
    version: str
    title_zh: str
    title_en: str
    kind: str
    region: str
    state: str
    found_at: str
    explanation_zh: str
    explanation_en: str
    verdict: str | None  # "true" | "false" | None
    found_by: tuple[FoundBy, ...] = ()  # every version that found it; () = just `version`

    def title(self, lang: str) -> str:
        return (self.title_en if lang == "en" else self.title_zh) or self.model

    def explanation(self, lang: str) -> str:
        return (self.explanation_en if lang == "en" else "") or self.explanation_zh

    def versions(self) -> tuple[FoundBy, ...]:
        return self.found_by or (FoundBy(self.version, self.title_zh, self.title_en),)


@dataclass(frozen=True)
class VersionHits:
    """One model version's verified leads, for the precision chart."""

    model: str
    version: str
    title_zh: str
    title_en: str
    true: int
    false: int

    def title(self, lang: str) -> str:
        return (self.title_en if lang == "en" else self.title_zh) or self.model


@dataclass(frozen=True)
class Registry:
    """What the report needs from the registry; `reached` is None without a history table."""

    leads: list[LeadInfo]
    reached: dict[str, int] | None


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in con.execute(f"PRAGMA table_info({table})")}


def load(path: Path, model: str | None = None) -> Registry:
    """Read leads (and their history, if any) without creating or changing the file."""
    if not path.exists():
        return Registry([], None)
    with unusable_as_error(path):
        return _load(path, model)


def _load(path: Path, model: str | None) -> Registry:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        cols = _columns(con, "leads")
        if not cols:
            return Registry([], None)
        has_titles = {"title_zh", "title_en"} <= _columns(con, "models")

        def col(name: str) -> str:
            return f"l.{name}" if name in cols else "NULL"

        sql = (
            f"SELECT l.lead_id, l.model, l.version,"
            f" {'m.title_zh, m.title_en' if has_titles else 'NULL, NULL'},"
            f" {col('kind')}, {col('region')}, {col('state')}, {col('found_at')},"
            f" {col('explanation_zh')}, {col('explanation_en')}, {col('verdict')} FROM leads l"
            + (
                " LEFT JOIN models m ON m.model = l.model AND m.version = l.version"
                if has_titles
                else ""
            )
            + (" WHERE l.model = ?" if model else "")
        )
        rows = con.execute(sql, (model,) if model else ()).fetchall()
        events = _events(con) if _columns(con, "lead_events") else None
        found_by = _found_by(con, has_titles) if _columns(con, "lead_findings") else {}
    finally:
        con.close()
    leads = []
    for r in rows:
        f = ["" if v is None else str(v) for v in r]
        state = f[7] or "new"
        verdict = _verdict(r[11], state, events.get(f[0]) if events else None)
        by = tuple(found_by.get(f[0], ()))
        leads.append(
            LeadInfo(
                f[0], f[1], f[2], f[3], f[4], f[5], f[6], state, f[8], f[9], f[10], verdict, by
            )
        )
    leads.sort(key=lambda x: (x.found_at, x.lead_id), reverse=True)
    return Registry(leads, _reached(leads, events) if events is not None else None)


def _events(con: sqlite3.Connection) -> dict[str, list[str]]:
    """Every state each lead has been moved into, oldest first."""
    out: dict[str, list[str]] = defaultdict(list)
    for lead_id, to_state in con.execute(
        "SELECT lead_id, to_state FROM lead_events WHERE to_state IS NOT NULL ORDER BY id"
    ):
        out[str(lead_id)].append(str(to_state))
    return out


def _found_by(con: sqlite3.Connection, has_titles: bool) -> dict[str, list[FoundBy]]:
    """Every version that found each lead, first finding first."""
    titles = "m.title_zh, m.title_en" if has_titles else "NULL, NULL"
    join = (
        " LEFT JOIN models m ON m.model = l.model AND m.version = f.version" if has_titles else ""
    )
    out: dict[str, list[FoundBy]] = defaultdict(list)
    for lead_id, version, zh, en in con.execute(
        f"SELECT f.lead_id, f.version, {titles} FROM lead_findings f"
        f" JOIN leads l ON l.lead_id = f.lead_id{join} ORDER BY f.lead_id, f.first_seen, f.version"
    ):
        out[str(lead_id)].append(FoundBy(str(version), zh or "", en or ""))
    return out


def _verdict(column: object, state: str, history: list[str] | None) -> str | None:
    if column in ("true", "false"):
        return str(column)
    if state in ("verified_true", "verified_false"):
        return state.removeprefix("verified_")
    for past in reversed(history or []):
        if past in ("verified_true", "verified_false"):
            return past.removeprefix("verified_")
    return None


def _reached(leads: list[LeadInfo], events: dict[str, list[str]]) -> dict[str, int]:
    """How many leads have ever been in each state (every lead starts as new)."""
    seen: dict[str, set[str]] = {s: set() for s in STATES}
    for lead in leads:
        seen["new"].add(lead.lead_id)
        for s in {lead.state, *events.get(lead.lead_id, ())}:
            if s in seen:
                seen[s].add(lead.lead_id)
    return {s: len(ids) for s, ids in seen.items()}


# --- the figures ----------------------------------------------------------------------------
def timeline(leads: list[LeadInfo]) -> tuple[list[str], dict[str, Counter[str]]]:
    """Periods (every day, or every month past 60 days) and per-model counts in each."""
    days = sorted({lead.found_at[:10] for lead in leads if _is_date(lead.found_at[:10])})
    if not days:
        return [], {}
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    monthly = (last - first).days > 60
    periods: list[str] = []
    d = first
    while d <= last:
        key = d.isoformat()[:7] if monthly else d.isoformat()
        if not periods or periods[-1] != key:
            periods.append(key)
        d += timedelta(days=1)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for lead in leads:
        if _is_date(lead.found_at[:10]):
            counts[lead.model][lead.found_at[:7] if monthly else lead.found_at[:10]] += 1
    return periods, counts


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def precision(leads: list[LeadInfo]) -> list[VersionHits]:
    """Verified true and false per model version, by model and version; a lead counts for
    every version that found it."""
    groups: dict[tuple[str, str], list[LeadInfo]] = defaultdict(list)
    titles: dict[tuple[str, str], tuple[str, str]] = {}
    for lead in leads:
        for by in lead.versions():
            groups[(lead.model, by.version)].append(lead)
            titles[(lead.model, by.version)] = (
                by.title_zh or lead.title_zh,
                by.title_en or lead.title_en,
            )
    return [
        VersionHits(
            model,
            version,
            *titles[(model, version)],
            sum(x.verdict == "true" for x in ls),
            sum(x.verdict == "false" for x in ls),
        )
        for (model, version), ls in sorted(groups.items())
    ]


def regions(leads: list[LeadInfo], digits: int, top: int) -> tuple[list[tuple[str, int]], int]:
    """The `top` region prefixes by count (ties by code, unknown last) and the rest's count."""
    counts = Counter(lead.region[:digits] for lead in leads)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] == "", kv[0]))
    return ranked[:top], sum(n for _, n in ranked[top:])


# --- rendering ------------------------------------------------------------------------------
def _region_label(prefix: str, lang: str) -> str:
    if not prefix:
        return text(lang, "no_region")
    names = PROVINCES.get(prefix[:2])
    return f"{prefix} {names[1] if lang == 'en' else names[0]}" if names else prefix


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _figures(data: Registry, lang: str, digits: int, top: int) -> list[tuple[str, str, str]]:
    leads, t = data.leads, partial(text, lang)
    titles = {lead.model: lead.title(lang) for lead in leads}
    periods, per_model = timeline(leads)
    series = [Series(m, titles[m], per_model[m]) for m in sorted(per_model)]
    by_state = Counter(lead.state for lead in leads)
    funnel = [
        Bar(
            text(lang, f"state_{s}"),
            by_state.get(s, 0),
            str(by_state.get(s, 0))
            + (f" / {data.reached[s]} {t('reached')}" if data.reached is not None else ""),
            {"state": s, "count": by_state.get(s, 0)}
            | ({"reached": data.reached[s]} if data.reached is not None else {}),
            behind=data.reached[s] if data.reached is not None else None,
            colour=PALETTE[i % len(PALETTE)],
        )
        for i, s in enumerate(STATES)
    ]
    hits = []
    for v in precision(leads):
        true, false = v.true, v.false
        p = true / (true + false) if true + false else None
        hits.append(
            Bar(
                f"{v.version} · {v.title(lang)}",  # the version survives a cut title
                p or 0.0,
                f"{_percent(p)} ({true}/{true + false})" if p is not None else t("no_verdicts"),
                {
                    "model": v.model,
                    "version": v.version,
                    "true": true,
                    "false": false,
                    "precision": "" if p is None else f"{p:.3f}",
                },
            )
        )
    top_regions, rest = regions(leads, digits, top)
    places = [
        Bar(
            _region_label(prefix, lang),
            n,
            str(n),
            {"region": prefix, "count": n},
            colour=PALETTE[2],
        )
        for prefix, n in top_regions
    ]
    region_note = t("regions_rest").format(rest=rest) if rest else ""
    regions_title = t("chart_regions").format(digits=digits)
    funnel_note = f'<p class="note">{escape(t("funnel_note"))}</p>' if data.reached else ""
    rest_note = f'<p class="note">{escape(region_note)}</p>' if region_note else ""
    empty = t("empty")
    return [
        (
            "timeline",
            t("chart_timeline"),
            stacked_columns("timeline", t("chart_timeline"), periods, series, empty=empty),
        ),
        ("funnel", t("chart_funnel"), hbars("funnel", t("chart_funnel"), funnel) + funnel_note),
        (
            "precision",
            t("chart_precision"),
            hbars("precision", t("chart_precision"), hits, scale=1.0, empty=empty),
        ),
        (
            "regions",
            regions_title,
            hbars("regions", regions_title, places, empty=empty) + rest_note,
        ),
    ]


def _table(leads: list[LeadInfo], lang: str, rows: int) -> str:
    t = partial(text, lang)
    head = "".join(
        f"<th>{escape(t(k))}</th>"
        for k in (
            "col_id",
            "col_model",
            "col_kind",
            "col_region",
            "col_state",
            "col_found",
            "col_explanation",
        )
    )
    body = []
    for lead in leads[:rows]:
        attrs = f'data-lead="{escape(lead.lead_id)}" data-state="{escape(lead.state)}"'
        cells = (
            lead.lead_id,
            lead.title(lang),
            lead.kind,
            lead.region,
            text(lang, f"state_{lead.state}") if lead.state in STATES else lead.state,
            lead.found_at[:10],
            lead.explanation(lang),
        )
        body.append(f"<tr {attrs}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    note = ""
    if len(leads) > rows:
        note = f'<p class="note">{escape(t("rows_cut").format(shown=rows, total=len(leads)))}</p>'
    return (
        f'<table data-table="leads"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{note}"
    )


CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Zen Hei","PingFang SC",
"Microsoft YaHei",system-ui,sans-serif;color:#1f2933;margin:2rem auto;max-width:1100px;
padding:0 1rem;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.meta,.note{color:#52606d;font-size:.9rem}
.stats{display:flex;gap:1rem;flex-wrap:wrap;margin:1.2rem 0}
.stat{border:1px solid #d9e2ec;border-radius:6px;padding:.6rem 1rem;min-width:8rem}
.stat b{display:block;font-size:1.5rem}
section{break-inside:avoid}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #d9e2ec;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f4f8;position:sticky;top:0}
td:first-child{font-family:ui-monospace,monospace;white-space:nowrap}
"""


def render(
    data: Registry,
    lang: str,
    name: str,
    now: datetime,
    digits: int = 4,
    top: int = 15,
    rows: int = 5000,
) -> str:
    """The whole page as one string: inline CSS and SVG, no script, no external reference."""
    t = partial(text, lang)
    leads = data.leads
    true = sum(x.verdict == "true" for x in leads)
    false = sum(x.verdict == "false" for x in leads)
    overall = true / (true + false) if true + false else None
    stats = [
        ("total", t("stat_total"), str(len(leads))),
        ("models", t("stat_models"), str(len({x.model for x in leads}))),
        ("verified_true", t("stat_true"), str(true)),
        ("verified_false", t("stat_false"), str(false)),
        ("precision", t("stat_precision"), _percent(overall)),
    ]
    cards = "".join(
        f'<div class="stat" data-stat="{k}"><b>{escape(v)}</b>{escape(label)}</div>'
        for k, label, v in stats
    )
    sections = "".join(
        f'<section id="{key}"><h2>{escape(title)}</h2>{svg}</section>'
        for key, title, svg in _figures(data, lang, digits, top)
    )
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html><html lang="{"en" if lang == "en" else "zh-CN"}"><head>'
        f'<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{escape(t('title'))} — {escape(name)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(t('title'))}</h1>"
        f'<p class="meta">{escape(name)} · {escape(t("generated"))} {stamp}</p>'
        f'<p class="note">{escape(t("caveat"))}</p>'
        f'<div class="stats">{cards}</div>{sections}'
        f'<section id="leads"><h2>{escape(t("table"))}</h2>{_table(leads, lang, rows)}</section>'
        "</body></html>\n"
    )


def write_report(
    state: State,
    out: Path,
    lang: str = "zh",
    *,
    model: str | None = None,
    digits: int = 4,
    top: int = 15,
    rows: int = 5000,
    now: datetime | None = None,
) -> Registry:
    """Render the registry to `out` (written whole or not at all); returns what was read."""
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    data = load(state.registry, model)
    page = render(data, lang, _name(state), now or datetime.now(UTC), digits, top, rows)
    write_atomic(out, page)
    return data


def _name(state: State) -> str:
    try:
        doc = tomllib.loads((state.root / "coordinator.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    return str(doc.get("name", ""))

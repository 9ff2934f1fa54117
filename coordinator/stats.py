"""How well each model version's leads hold up: the verdicts fed back as precision.

seed 000 (根据应用及反馈持续调整): the analysts' verdicts are the ground truth a real
procuratorate has. Per model and version: how many leads, how many verified true or false,
precision = true / (true + false) over the verified ones only (unverified leads are not
counted as false), and the median days from a lead being found to its disposal.

A lead counts once for every version that found it (the registry's `lead_findings`), so a
newer version re-finding a lead does not take it from the version whose run the verdict was
made on. Its verdict counts even after it was disposed of: the verdict column keeps it. Days
to disposal run from that version's first finding; a lead disposed of before a version found
it counts as disposed for that version but adds no days to its median.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from coordinator.registry import Finding, LeadRow, Registry

NONE = "—"


@dataclass(frozen=True)
class VersionStats:
    model: str
    version: str
    title_zh: str
    title_en: str
    leads: int
    verified_true: int
    verified_false: int
    disposed: int
    median_days_to_disposal: float | None

    @property
    def precision(self) -> float | None:
        verified = self.verified_true + self.verified_false
        return self.verified_true / verified if verified else None


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400


def compute(
    leads: Sequence[LeadRow], disposed_at: Mapping[str, str], findings: Sequence[Finding] = ()
) -> list[VersionStats]:
    """Stats per (model, version), sorted by model then version. A lead counts for every
    version in `findings` that found it; one without findings, for its `version`."""
    by_id = {lead.lead_id: lead for lead in leads}
    # (model, version) -> [(lead, when this version first found it)], and that version's titles
    groups: dict[tuple[str, str], list[tuple[LeadRow, str]]] = {}
    titles: dict[tuple[str, str], tuple[str, str]] = {}
    found: set[str] = set()
    for f in findings:
        if (lead := by_id.get(f.lead_id)) is not None:
            groups.setdefault((lead.model, f.version), []).append((lead, f.first_seen))
            titles[(lead.model, f.version)] = (f.title_zh, f.title_en)
            found.add(f.lead_id)
    for lead in leads:
        if lead.lead_id not in found:
            groups.setdefault((lead.model, lead.version), []).append((lead, lead.found_at))
    out = []
    for group, hits in sorted(groups.items(), key=lambda kv: _version_key(kv[0])):
        rows = [lead for lead, _ in hits]
        disposed = [
            (since, disposed_at[r.lead_id]) for r, since in hits if r.lead_id in disposed_at
        ]
        days = [d for d in (_days(since, at) for since, at in disposed) if d >= 0]
        title_zh, title_en = titles.get(group, ("", ""))
        out.append(
            VersionStats(
                model=group[0],
                version=group[1],
                title_zh=title_zh or rows[0].title_zh,
                title_en=title_en or rows[0].title_en,
                leads=len(rows),
                verified_true=sum(r.verdict == "true" for r in rows),
                verified_false=sum(r.verdict == "false" for r in rows),
                disposed=len(disposed),
                median_days_to_disposal=median(days) if days else None,
            )
        )
    return out


def _version_key(group: tuple[str, str]) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """1.10.0 after 1.9.0: numeric parts compare as numbers."""
    model, version = group
    return model, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))


def model_stats(registry: Registry, model: str | None = None) -> list[VersionStats]:
    return compute(registry.leads(model), registry.disposed_at(), registry.findings(model))


def stats_rows(stats: Sequence[VersionStats], raw: bool = False) -> list[dict[str, object]]:
    """For tables: precision to three places, days to one, "—" where there is nothing yet;
    `raw` keeps numbers and None (for JSON)."""

    def show(value: float | None, places: int) -> object:
        if raw:
            return value
        return NONE if value is None else f"{value:.{places}f}"

    return [
        {
            "model": s.model,
            "version": s.version,
            "title": s.title_zh,
            "leads": s.leads,
            "verified_true": s.verified_true,
            "verified_false": s.verified_false,
            "precision": show(s.precision, 3),
            "disposed": s.disposed,
            "median_days_to_disposal": show(s.median_days_to_disposal, 1),
        }
        for s in stats
    ]

"""`lead_findings`: every model version that found a lead, kept across re-runs and seeded
when a registry written before the table is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from coordinator.combine import Lead
from coordinator.registry import Registry
from coordinator.stats import model_stats


def lead(lead_id: str) -> Lead:
    return Lead(lead_id, {"p": lead_id}, {}, "410502")


def run(registry: Registry, job_id: str, version: str, *lead_ids: str) -> int:
    registry.start_job(job_id, "m", version, f"d{version}", "m", {}, ("模", "M"))
    return registry.record_leads(job_id, "m", version, "m", [lead(i) for i in lead_ids])


def findings(path: Path) -> list[tuple[str, str, str, str, bool]]:
    """(lead, version, first job, last job, first_seen <= last_seen) per row."""
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT lead_id, version, first_job, last_job, first_seen <= last_seen"
        " FROM lead_findings ORDER BY lead_id, version"
    ).fetchall()
    con.close()
    return [(a, b, c, d, bool(e)) for a, b, c, d, e in rows]


def test_every_version_that_finds_a_lead_gets_a_row_and_reruns_move_its_last_job(
    tmp_path: Path,
) -> None:
    registry = Registry(tmp_path / "registry.sqlite")
    assert run(registry, "j1", "1.0.0", "La", "Lb") == 2
    assert run(registry, "j2", "1.0.0", "La") == 0
    assert run(registry, "j3", "2.0.0", "La", "Lc") == 1
    assert findings(registry.path) == [
        ("La", "1.0.0", "j1", "j2", True),
        ("La", "2.0.0", "j3", "j3", True),
        ("Lb", "1.0.0", "j1", "j1", True),
        ("Lc", "2.0.0", "j3", "j3", True),
    ]
    assert [(f.lead_id, f.version, f.title_zh) for f in registry.findings()] == [
        ("La", "1.0.0", "模"),
        ("La", "2.0.0", "模"),
        ("Lb", "1.0.0", "模"),
        ("Lc", "2.0.0", "模"),
    ]
    assert registry.findings("other") == []
    # the lead row keeps its first job and names the last version and job
    la = registry.lead("La")
    assert (la.version, la.first_job, la.last_job) == ("2.0.0", "j1", "j3")


def test_a_registry_from_before_findings_is_seeded_from_first_and_last_jobs(
    tmp_path: Path,
) -> None:
    """As the old code left it: La found by 1.0.0 (j1) and re-found by 2.0.0 (j2), so its row
    says 2.0.0; Lb found by 1.0.0 only; Lx's first job is not on record."""
    path = tmp_path / "registry.sqlite"
    registry = Registry(path)
    run(registry, "j1", "1.0.0", "La", "Lb")
    run(registry, "j2", "2.0.0", "La", "Lx")
    con = sqlite3.connect(path)
    with con:
        con.execute("DROP TABLE lead_findings")
        con.execute("UPDATE leads SET first_job = 'gone' WHERE lead_id = 'Lx'")
        con.execute("UPDATE leads SET verdict = 'true' WHERE lead_id = 'La'")
        con.execute("UPDATE leads SET verdict = 'false' WHERE lead_id = 'Lb'")
        found_at, last_seen = con.execute(
            "SELECT found_at, last_seen FROM leads WHERE lead_id = 'La'"
        ).fetchone()
    con.close()

    registry = Registry(path)
    assert findings(path) == [
        ("La", "1.0.0", "j1", "j1", True),
        ("La", "2.0.0", "j2", "j2", True),
        ("Lb", "1.0.0", "j1", "j1", True),
        ("Lx", "2.0.0", "j2", "j2", True),
    ]
    la = {f.version: (f.first_seen, f.last_seen) for f in registry.findings() if f.lead_id == "La"}
    assert la == {"1.0.0": (found_at, found_at), "2.0.0": (last_seen, last_seen)}
    v1, v2 = model_stats(registry)
    assert (v1.version, v1.leads, v1.precision) == ("1.0.0", 2, 0.5)
    assert (v2.version, v2.leads, v2.precision) == ("2.0.0", 2, 1.0)

    before = findings(path)
    Registry(path)  # opening again seeds nothing twice
    assert findings(path) == before


def test_seeding_merges_first_and_last_when_one_version_found_the_lead(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    registry = Registry(path)
    run(registry, "j1", "1.0.0", "La")
    run(registry, "j2", "1.0.0", "La")
    con = sqlite3.connect(path)
    with con:
        con.execute("DROP TABLE lead_findings")
    con.close()
    Registry(path)
    assert findings(path) == [("La", "1.0.0", "j1", "j2", True)]

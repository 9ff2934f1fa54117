"""The lead registry: jobs and the leads they found, in SQLite in the state dir.

A lead is keyed by lead_id (stable per model campaign), so re-running a model updates
`last_seen` instead of creating a duplicate.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coordinator.combine import Lead

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model TEXT NOT NULL, version TEXT NOT NULL, title_zh TEXT, title_en TEXT,
    PRIMARY KEY (model, version)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL,
    campaign TEXT NOT NULL, params TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL, message TEXT, agents TEXT, leads INTEGER, new_leads INTEGER
);
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    campaign TEXT NOT NULL, key TEXT NOT NULL, flags TEXT NOT NULL, region TEXT,
    first_job TEXT NOT NULL, last_job TEXT NOT NULL, found_at TEXT NOT NULL,
    last_seen TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'new',
    kind TEXT NOT NULL DEFAULT '', explanation_zh TEXT NOT NULL DEFAULT '',
    explanation_en TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS leads_model ON leads (model);
"""


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    model: str
    version: str
    title_zh: str
    title_en: str
    key: dict[str, str]
    flags: dict[str, object]
    region: str | None
    found_at: str
    last_seen: str
    state: str
    kind: str = ""
    explanation_zh: str = ""
    explanation_en: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._conn() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        try:
            with con:
                yield con
        finally:
            con.close()

    def start_job(
        self,
        job_id: str,
        model: str,
        version: str,
        digest: str,
        campaign: str,
        params: dict[str, int | float],
        titles: tuple[str, str],
    ) -> None:
        with self._conn() as con:
            con.execute(
                "INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?)", (model, version, *titles)
            )
            con.execute(
                "INSERT INTO jobs (job_id, model, version, digest, campaign, params, started_at,"
                " status) VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                (job_id, model, version, digest, campaign, json.dumps(params), _now()),
            )

    def finish_job(
        self,
        job_id: str,
        status: str,
        message: str = "",
        agents: object = None,
        leads: int = 0,
        new_leads: int = 0,
    ) -> None:
        with self._conn() as con:
            con.execute(
                "UPDATE jobs SET finished_at=?, status=?, message=?, agents=?, leads=?,"
                " new_leads=? WHERE job_id=?",
                (_now(), status, message, json.dumps(agents), leads, new_leads, job_id),
            )

    def record_leads(
        self, job_id: str, model: str, version: str, campaign: str, leads: Iterable[Lead]
    ) -> int:
        """Insert new leads, refresh seen ones; returns how many were new."""
        now, new = _now(), 0
        with self._conn() as con:
            for lead in leads:
                cur = con.execute(
                    "UPDATE leads SET last_seen=?, last_job=?, flags=?, version=?,"
                    " explanation_zh=?, explanation_en=? WHERE lead_id=?",
                    (
                        now,
                        job_id,
                        json.dumps(lead.flags, ensure_ascii=False),
                        version,
                        lead.explanation_zh,
                        lead.explanation_en,
                        lead.lead_id,
                    ),
                )
                if cur.rowcount:
                    continue
                con.execute(
                    "INSERT INTO leads (lead_id, model, version, campaign, key, flags, region,"
                    " first_job, last_job, found_at, last_seen, kind, explanation_zh,"
                    " explanation_en) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        lead.lead_id,
                        model,
                        version,
                        campaign,
                        json.dumps(lead.key),
                        json.dumps(lead.flags, ensure_ascii=False),
                        lead.region,
                        job_id,
                        job_id,
                        now,
                        now,
                        lead.kind,
                        lead.explanation_zh,
                        lead.explanation_en,
                    ),
                )
                new += 1
        return new

    def leads(self, model: str | None = None) -> list[LeadRow]:
        sql = (
            "SELECT l.lead_id, l.model, l.version, coalesce(m.title_zh, ''),"
            " coalesce(m.title_en, ''), l.key, l.flags, l.region, l.found_at, l.last_seen,"
            " l.state, l.kind, l.explanation_zh, l.explanation_en FROM leads l"
            " LEFT JOIN models m ON m.model = l.model AND m.version = l.version"
        )
        args: tuple[str, ...] = ()
        if model:
            sql += " WHERE l.model = ?"
            args = (model,)
        sql += " ORDER BY l.model, l.region, l.lead_id"
        with self._conn() as con:
            rows = con.execute(sql, args).fetchall()
        return [
            LeadRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), *r[7:])
            for r in rows
        ]

    def jobs(self) -> list[dict[str, object]]:
        with self._conn() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM jobs ORDER BY started_at").fetchall()
        return [dict(r) for r in rows]

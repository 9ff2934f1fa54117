"""STATE/schedules.toml: which models the daemon runs when, and the tick arithmetic.

    [schedules.nightly-labour]
    cron = "0 2 * * *"                  # five fields, UTC
    model = "fake_labour_litigation"    # a model name under models/, a folder or a .fsb
    campaign = "2026-q4"                # optional; default: the model's name
    deadline_seconds = 600              # optional; the job's deadline, retries included
    agents = ["court-sh", "hrss-sh"]    # optional; only these agents (default: every one)
    added_at = 2026-11-22T15:00:00Z     # written by `schedule add`; no tick before it is due
    [schedules.nightly-labour.params]
    min_suits = 6

Pure parsing and computation: no clock is read here; callers pass `now`. A schedule is due
when its latest tick at or before `now` is later than the tick it last ran for, so ticks
missed while the daemon was down collapse into one run.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from fedscreen.errors import ConfigError, UsageError
from fedscreen.files import write_atomic

_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,62}$")
_KEYS = {"cron", "model", "params", "campaign", "deadline_seconds", "added_at", "agents"}
DEFAULT_DEADLINE = 600.0
ParamValue = int | float | str


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    model: str
    params: dict[str, ParamValue] = field(default_factory=dict)
    campaign: str | None = None
    deadline_seconds: float = DEFAULT_DEADLINE
    added_at: datetime | None = None
    agents: tuple[str, ...] = ()  # target agents; empty: every registered agent of its roles

    def run_params(self) -> dict[str, str]:
        """Parameters as run_model takes them (strings, checked against the signed bounds)."""
        return {k: str(v) for k, v in self.params.items()}


def check_cron(expr: str, where: str) -> str:
    expr = " ".join(expr.split())
    if len(expr.split(" ")) != 5:
        raise ConfigError(f"{where}: {expr!r} must have 5 fields (minute hour day month weekday)")
    if not croniter.is_valid(expr):
        raise ConfigError(f"{where}: {expr!r} is not a valid cron expression")
    return expr


def check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: schedule name {name!r} must be lower-case letters, digits, '-'"
        )
    return name


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _schedule(name: str, spec: Any, source: str) -> Schedule:
    where = f"{source}: schedules.{name}"
    check_name(name, where)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not a known key ({', '.join(sorted(_KEYS))})")
    for key in ("cron", "model"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise ConfigError(f"{where}.{key} is missing or not a non-empty string")
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params must be a table of name = value")
    for pname, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where}.params.{pname} must be a number or a string")
    campaign = spec.get("campaign")
    if campaign is not None and (not isinstance(campaign, str) or not campaign.strip()):
        raise ConfigError(f"{where}.campaign must be a non-empty string")
    deadline = spec.get("deadline_seconds", DEFAULT_DEADLINE)
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
        raise ConfigError(f"{where}.deadline_seconds must be a positive number of seconds")
    added = spec.get("added_at")
    if added is not None and not isinstance(added, datetime):
        raise ConfigError(f"{where}.added_at must be a TOML date-time")
    agents = spec.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) and a.strip() for a in agents):
        raise ConfigError(f"{where}.agents must be a list of agent names")
    if len(set(agents)) != len(agents):
        raise ConfigError(f"{where}.agents names an agent twice")
    return Schedule(
        name,
        check_cron(spec["cron"], f"{where}.cron"),
        spec["model"].strip(),
        dict(params),
        campaign,
        float(deadline),
        _utc(added) if added is not None else None,
        tuple(a.strip() for a in agents),
    )


def parse_schedules(text: str, source: str = "schedules.toml") -> list[Schedule]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    extra = sorted(set(doc) - {"schedules"})
    if extra:
        raise ConfigError(f"{source}: {extra[0]} is not a known key (only [schedules.NAME])")
    table = doc.get("schedules", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: schedules must be a table of [schedules.NAME]")
    return [_schedule(name, spec, source) for name, spec in sorted(table.items())]


def load_schedules(path: Path) -> list[Schedule]:
    if not path.exists():
        return []
    return parse_schedules(path.read_text(encoding="utf-8"), str(path))


def _toml_value(value: ParamValue) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def dump_schedules(schedules: list[Schedule]) -> str:
    lines: list[str] = []
    for s in sorted(schedules, key=lambda s: s.name):
        lines += [f"[schedules.{s.name}]", f"cron = {_toml_value(s.cron)}"]
        lines.append(f"model = {_toml_value(s.model)}")
        if s.campaign is not None:
            lines.append(f"campaign = {_toml_value(s.campaign)}")
        lines.append(f"deadline_seconds = {s.deadline_seconds!r}")
        if s.added_at is not None:
            lines.append(f"added_at = {_utc(s.added_at).isoformat(timespec='seconds')}")
        if s.agents:
            lines.append(f"agents = {json.dumps(list(s.agents), ensure_ascii=False)}")
        if s.params:
            lines.append(f"[schedules.{s.name}.params]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in sorted(s.params.items())]
        lines.append("")
    return "\n".join(lines)


def add_schedule(path: Path, schedule: Schedule) -> None:
    current = {s.name: s for s in load_schedules(path)}
    if schedule.name in current:
        raise UsageError(
            f"schedule {schedule.name!r} exists (remove it first: fedscreen schedule remove)"
        )
    current[schedule.name] = schedule
    text = dump_schedules(list(current.values()))
    parse_schedules(text, str(path))  # what we write must read back
    write_atomic(path, text)


def remove_schedule(path: Path, name: str) -> None:
    current = {s.name: s for s in load_schedules(path)}
    if current.pop(name, None) is None:
        raise UsageError(f"unknown schedule {name!r} (see: fedscreen schedule list)")
    write_atomic(path, dump_schedules(list(current.values())))


# --- ticks -----------------------------------------------------------------------------
def next_tick(schedule: Schedule, after: datetime) -> datetime:
    """The first tick strictly after `after` (UTC)."""
    it = croniter(schedule.cron, _utc(after))
    return _utc(it.get_next(datetime))


def latest_tick(schedule: Schedule, now: datetime) -> datetime:
    """The last tick at or before `now` (UTC)."""
    now = _utc(now)
    probe = now.replace(second=0, microsecond=0)
    if croniter.match(schedule.cron, probe):
        return probe
    return _utc(croniter(schedule.cron, now).get_prev(datetime))


def due_tick(schedule: Schedule, last_tick: datetime | None, now: datetime) -> datetime | None:
    """The tick to run now, or None. However many ticks passed since `last_tick`, this is the
    latest one only: a daemon that was down runs a missed schedule once, not once per tick.
    A schedule that never ran is due at its first tick after it was added."""
    tick = latest_tick(schedule, now)
    baseline = last_tick if last_tick is not None else schedule.added_at
    if baseline is not None and tick <= _utc(baseline):
        return None
    return tick

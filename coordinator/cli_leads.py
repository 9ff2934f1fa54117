"""`fedscreen leads …` and `fedscreen models stats`: working the leads screening jobs find.

Every change names who made it (`--as NAME`, else $FEDSCREEN_ANALYST, else the OS user) and
is kept in the lead's history; `leads show ID` prints it. Refused steps change nothing.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from coordinator import lifecycle
from coordinator.cli_common import render_rows, state_of
from coordinator.registry import LeadRow, Registry
from coordinator.resolutions import format_resolutions, resolutions_of, shown
from coordinator.routing import load_units
from coordinator.stats import model_stats, stats_rows
from fedscreen.errors import UsageError
from fedscreen.files import write_atomic

_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _short(value: object) -> str:
    """Tokens are shown abbreviated: enough to tell leads apart, too little to copy around."""
    text = str(value)
    return text[:8] + "…" if _TOKEN.match(text) else text


def lead_rows(leads: Sequence[LeadRow]) -> list[dict[str, object]]:
    """One flat row per lead (abbreviated tokens), for csv, json and xlsx."""
    rows: list[dict[str, object]] = []
    for lead in leads:
        flags = ", ".join(f"{k}={_short(v)}" for k, v in lead.flags.items() if v is not None)
        rows.append(
            {
                "lead": lead.lead_id,
                "model": lead.model,
                "version": lead.version,
                "title": lead.title_zh,
                "title_en": lead.title_en,
                "kind": lead.kind,
                "region": lead.region or "",
                "unit": lead.unit or "",
                "state": lead.state,
                "assignee": lead.assignee or "",
                "found": lead.found_at,
                "last_seen": lead.last_seen,
                "explanation": lead.explanation_zh or flags,
                "explanation_en": lead.explanation_en,
                "flags": flags,
                "key": " ".join(f"{k}={_short(v)}" for k, v in lead.key.items()),
            }
        )
    return rows


# The terminal table: the abbreviated lead key and flags, the model's title in both languages.
_TABLE = (
    "lead",
    "key",
    "title",
    "title_en",
    "region",
    "kind",
    "state",
    "unit",
    "assignee",
    "found",
    "flags",
    "explanation",
)

# Excel columns: a bilingual header over each lead field; the state also in Chinese.
_XLSX: tuple[tuple[str, str], ...] = (
    ("线索编号 lead", "lead"),
    ("模型 model", "title"),
    ("模型代号 model id", "model"),
    ("版本 version", "version"),
    ("线索类型 kind", "kind"),
    ("行政区划 region", "region"),
    ("承办单位 unit", "unit"),
    ("状态", "state_zh"),
    ("state", "state"),
    ("承办人 assignee", "assignee"),
    ("发现时间 found (UTC)", "found"),
    ("最近发现 last seen (UTC)", "last_seen"),
    ("线索说明", "explanation"),
    ("explanation", "explanation_en"),
    ("标志 flags", "flags"),
    ("键 key", "key"),
)


def xlsx_bytes(rows: Sequence[dict[str, object]]) -> bytes:
    """A real workbook: one sheet, a bold frozen header row with filters, one lead per row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "线索 leads"
    sheet.append([header for header, _ in _XLSX])
    for row in rows:
        values = {**row, "state_zh": lifecycle.STATE_ZH.get(str(row["state"]), "")}
        sheet.append([str(values[field]) for _, field in _XLSX])
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:  # text that looks like a formula stays text
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, (header, field) in enumerate(_XLSX, start=1):
        longest = max([len(header), *(len(str(r.get(field, ""))) for r in rows[:200])])
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(60, longest + 2)
    book.properties.title = "fedscreen 线索"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _since(value: str) -> str:
    """A date or timestamp, local time unless it says otherwise, as UTC ISO text."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r} must be a date like 2025-03-01") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@click.group()
def leads() -> None:
    """Leads found by screening jobs: list, show, route and work them."""


@leads.command("list")
@click.option("--model", help="only this model")
@click.option("--state", type=click.Choice(lifecycle.STATES), help="only leads in this state")
@click.option("--region", metavar="PREFIX", help="only regions starting with these digits")
@click.option("--since", metavar="DATE", help="only leads found on or after DATE")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "xlsx"]), default="table"
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="write to FILE")
@click.pass_context
def leads_list(
    ctx: click.Context,
    model: str | None,
    state: str | None,
    region: str | None,
    since: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Leads with abbreviated tokens and flags, their state, unit and the model's title."""
    if region is not None and not (region.isascii() and region.isdigit() and len(region) <= 6):
        raise UsageError(f"--region {region!r} must be 1 to 6 digits of a region code")
    if fmt == "xlsx" and out is None:
        raise UsageError("--format xlsx writes a file: add --out FILE.xlsx")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    registry = Registry(state_of(ctx).registry)
    found = registry.leads(model, state=state, region=region, since=since and _since(since))
    rows = lead_rows(found)
    if out is not None:
        data = xlsx_bytes(rows) if fmt == "xlsx" else render_rows(rows, fmt)
        try:
            write_atomic(out, data)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        click.echo(f"wrote {len(rows)} leads to {out}")
    elif not rows and fmt == "table":
        click.echo("no leads")
    elif fmt == "table":
        click.echo(render_rows([{k: r[k] for k in _TABLE} for r in rows], fmt))
    else:
        click.echo(render_rows(rows, fmt))


def _moved(before: str | None, after: str | None) -> str:
    return str(after) if before == after else f"{before or ''} → {after}".strip()


def _show_text(lead: LeadRow, registry: Registry) -> list[str]:
    def line(label: str, value: object) -> str:
        return f"{label:<12}{value}"

    lines = [f"lead {lead.lead_id}  [{lead.state} {lifecycle.STATE_ZH.get(lead.state, '')}]"]
    lines.append(line("model", f"{lead.model} {lead.version}  {lead.title_zh} / {lead.title_en}"))
    lines.append(line("kind", lead.kind))
    lines.append(line("region", lead.region or "—"))
    lines.append(line("unit", lead.unit or "— (not routed: fedscreen leads route)"))
    lines.append(line("assignee", lead.assignee or "—"))
    if lead.verdict:
        lines.append(line("verdict", f"{lead.verdict}: {lead.verdict_reason or ''}"))
    if lead.disposition:
        label = lifecycle.ACTIONS.get(lead.disposition, "")
        lines.append(line("disposal", f"{lead.disposition} {label}"))
    lines.append(line("found", f"{lead.found_at} (job {lead.first_job})"))
    lines.append(line("last seen", f"{lead.last_seen} (job {lead.last_job})"))
    lines.append(line("key", " ".join(f"{k}={_short(v)}" for k, v in lead.key.items())))
    lines.append(line("说明", lead.explanation_zh or "—"))
    lines.append(line("explanation", lead.explanation_en or "—"))
    flags = ", ".join(f"{k}={_short(v)}" for k, v in lead.flags.items() if v is not None)
    lines.append(line("flags", flags or "—"))
    history: list[dict[str, object]] = [
        {
            "when": e.at,
            "who": e.actor,
            "action": e.action,
            "state": _moved(e.from_state, e.to_state),
            "why": e.detail,
        }
        for e in registry.events(lead.lead_id)
    ]
    lines += ["", "history", render_rows(history, "table")]
    resolutions = resolutions_of(registry.path, lead.lead_id)
    if resolutions:
        lines += ["", "resolved identity (必要关联查询)"]
        lines += [f"  {line}" for line in format_resolutions(resolutions)]
    return lines


@leads.command("show")
@click.argument("lead_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def leads_show(ctx: click.Context, lead_id: str, fmt: str) -> None:
    """One lead: model, explanation (zh/en), flags, unit, verdict and its history."""
    registry = Registry(state_of(ctx).registry)
    lead = registry.lead(lead_id)
    if fmt == "text":
        click.echo("\n".join(_show_text(lead, registry)))
        return
    doc = {
        **lead_rows([lead])[0],
        "verdict": lead.verdict,
        "verdict_reason": lead.verdict_reason,
        "disposition": lead.disposition,
        "history": [e.__dict__ for e in registry.events(lead.lead_id)],
        "resolutions": [shown(r) for r in resolutions_of(registry.path, lead.lead_id)],
    }
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


# --- working a lead ---------------------------------------------------------------------------
def _actor(name: str | None) -> str:
    name = name or os.environ.get("FEDSCREEN_ANALYST")
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no login name, no passwd entry
            raise UsageError("who is acting? pass --as NAME or set FEDSCREEN_ANALYST") from None
    if not name:
        raise UsageError("who is acting? pass --as NAME or set FEDSCREEN_ANALYST")
    return lifecycle.clean_text(name, "--as")


_AS = click.option(
    "--as", "actor", metavar="NAME", help="who does this (default: $FEDSCREEN_ANALYST, OS user)"
)
_REASON = click.option(
    "--reason", help="why (kept in the lead's history; transfer, verdicts and dispose need it)"
)


def _apply(
    ctx: click.Context,
    lead_id: str,
    actor: str | None,
    step: Callable[[str], lifecycle.Change],
) -> None:
    who = _actor(actor)
    done = Registry(state_of(ctx).registry).apply(lead_id, who, step)
    click.echo(f"{lead_id}: {_moved(done.from_state, done.to_state)} — {done.detail} (by {who})")


@leads.command("assign")
@click.argument("lead_id")
@click.option("--to", "person", required=True, help="the prosecutor who takes the lead")
@_REASON
@_AS
@click.pass_context
def leads_assign(
    ctx: click.Context, lead_id: str, person: str, reason: str | None, actor: str | None
) -> None:
    """Give the lead to a prosecutor (分派)."""
    _apply(ctx, lead_id, actor, lambda s: lifecycle.assign(lead_id, s, person, reason))


@leads.command("transfer")
@click.argument("lead_id")
@click.option("--to", "unit", required=True, help="the procuratorate or department")
@_REASON
@_AS
@click.pass_context
def leads_transfer(
    ctx: click.Context, lead_id: str, unit: str, reason: str | None, actor: str | None
) -> None:
    """Transfer the lead to another procuratorate or department (移送)."""
    _apply(ctx, lead_id, actor, lambda s: lifecycle.transfer(lead_id, s, unit, reason))


@leads.command("verify")
@click.argument("lead_id")
@click.option(
    "--true/--false", "outcome", default=None, help="the verdict; neither starts verifying"
)
@_REASON
@_AS
@click.pass_context
def leads_verify(
    ctx: click.Context, lead_id: str, outcome: bool | None, reason: str | None, actor: str | None
) -> None:
    """Start verifying the lead (核实), or record the verdict with --true/--false --reason."""
    if outcome is None:
        _apply(ctx, lead_id, actor, lambda s: lifecycle.start_verifying(lead_id, s, reason))
    else:
        _apply(ctx, lead_id, actor, lambda s: lifecycle.verdict(lead_id, s, outcome, reason))


@leads.command("dispose")
@click.argument("lead_id")
@click.option(
    "--action",
    required=True,
    type=click.Choice(list(lifecycle.ACTIONS)),
    help="; ".join(f"{k} {v}" for k, v in lifecycle.ACTIONS.items()),
)
@_REASON
@_AS
@click.pass_context
def leads_dispose(
    ctx: click.Context, lead_id: str, action: str, reason: str | None, actor: str | None
) -> None:
    """Record how a verified lead was disposed of (处置)."""
    _apply(ctx, lead_id, actor, lambda s: lifecycle.dispose(lead_id, s, action, reason))


@leads.command("note")
@click.argument("lead_id")
@click.argument("text", nargs=-1, required=True)
@_AS
@click.pass_context
def leads_note(ctx: click.Context, lead_id: str, text: tuple[str, ...], actor: str | None) -> None:
    """Add a remark to the lead's history; its state stays as it is."""
    _apply(ctx, lead_id, actor, lambda s: lifecycle.note(s, " ".join(text)))


@leads.command("route")
@click.option(
    "--units",
    "units_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="units file (default: STATE/units.toml; see deploy/units.example.toml)",
)
@_AS
@click.pass_context
def leads_route(ctx: click.Context, units_file: Path | None, actor: str | None) -> None:
    """Route every lead without a unit to the unit competent for its region."""
    state = state_of(ctx)
    units = load_units(units_file or state.root / "units.toml")  # checked before any write
    who = _actor(actor)
    routed, uncovered = Registry(state.registry).route(who, units.competent)
    if not routed and not uncovered:
        return click.echo("no unrouted leads")
    click.echo(f"routed {sum(routed.values())} leads")
    if routed:
        rows = [{"unit": u, "leads": n} for u, n in sorted(routed.items(), key=lambda x: -x[1])]
        click.echo(render_rows(rows, "table"))
    if uncovered:
        regions: dict[str, int] = {}
        for region in uncovered:
            regions[region or "none"] = regions.get(region or "none", 0) + 1
        listed = ", ".join(f"{r} ({n})" for r, n in sorted(regions.items()))
        click.echo(f"{len(uncovered)} left unrouted, no unit in {units.source} covers: {listed}")


# --- models stats -----------------------------------------------------------------------------
@click.group("models")
def models() -> None:
    """Model versions as the analysts' verdicts see them."""


@models.command("stats")
@click.option("--model", help="only this model")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def models_stats(ctx: click.Context, model: str | None, fmt: str) -> None:
    """Per model and version: leads, verified true/false, precision, median days to disposal."""
    stats = model_stats(Registry(state_of(ctx).registry), model)
    if not stats and fmt == "table":
        click.echo("no leads yet")
        return
    click.echo(render_rows(stats_rows(stats, raw=fmt == "json"), fmt))

"""`fedscreen resolve | analysts`: re-identification on request (必要关联查询)."""

from __future__ import annotations

import click

from coordinator.cli_common import render_rows, state_of
from coordinator.resolutions import (
    Resolution,
    Resolutions,
    add_analyst,
    format_resolutions,
    list_analysts,
    resolve_lead,
)


@click.command()
@click.argument("lead_id")
@click.option("--case-ref", help="the case this identity is needed for (案号 / 线索编号)")
@click.option("--reason", help="why the identity is needed (recorded on both sides)")
@click.option("--as", "analyst", help="analyst whose key signs (default: the only one)")
@click.option("--column", help="ROLE.COLUMN to resolve (default: the agency that flagged it)")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for the agent")
@click.pass_context
def resolve(
    ctx: click.Context,
    lead_id: str,
    case_ref: str | None,
    reason: str | None,
    analyst: str | None,
    column: str | None,
    timeout: float,
) -> None:
    """Ask the agency that flagged LEAD_ID for the identity behind it, on a signed request.

    The agency answers only for tokens it issued in the job that found the lead, with only the
    fields the model declares disclosable, and may require its operator's approval first: then
    run this again (same LEAD_ID) to fetch the answer once approved. What is disclosable comes
    from the signed bundle the lead's job ran (kept in the state dir), not from ./models.
    """
    state = state_of(ctx)
    found, how = resolve_lead(state, lead_id, case_ref, reason, analyst, column, timeout=timeout)
    _print(found, how)


def _print(r: Resolution, how: str) -> None:
    where = f"{r.column} at agency {r.agent}"
    if r.status == "pending_approval":
        click.echo(f"request {r.request_id}: pending approval at {where}")
        click.echo(
            f"  the agency's operator must approve it; then run: fedscreen resolve {r.lead_id}"
        )
        return
    note = " (stored earlier; nothing was sent)" if how == "stored" else ""
    click.echo(
        f"lead {r.lead_id}: resolved by {where}, request {r.request_id}, case {r.case_ref}{note}"
    )
    if not r.fields:
        click.echo(f"  no rows: {r.message or 'the agency found no source row'}")
        return
    click.echo(render_rows([dict(row) for row in r.fields], "table"))


@click.command("resolutions")
@click.option("--lead", "lead_id", help="only this lead, with the identities it resolved to")
@click.pass_context
def resolutions(ctx: click.Context, lead_id: str | None) -> None:
    """The coordinator's record of every re-identification request and its answer."""
    table = Resolutions(state_of(ctx).registry)
    found = table.for_lead(lead_id) if lead_id else table.all()
    if not found:
        click.echo("no re-identification requests" + (f" for lead {lead_id}" if lead_id else ""))
        return
    if lead_id:  # identities only when one lead is named, never in a whole listing
        click.echo("\n".join(format_resolutions(found)))
        return
    rows: list[dict[str, object]] = [
        {
            "requested_at": r.requested_at,
            "lead": r.lead_id,
            "status": r.status,
            "column": r.column,
            "agent": r.agent,
            "analyst": r.analyst,
            "case_ref": r.case_ref,
            "request_id": r.request_id,
        }
        for r in found
    ]
    click.echo(render_rows(rows, "table"))


@click.group()
def analysts() -> None:
    """Analysts' keys: each re-identification request is signed by the analyst who asks."""


@analysts.command("add")
@click.argument("name")
@click.pass_context
def analysts_add(ctx: click.Context, name: str) -> None:
    """Create STATE/analysts/NAME.key and NAME.pub."""
    pub, key_id = add_analyst(state_of(ctx), name)
    click.echo(f"analyst {name}: key id {key_id}")
    click.echo(f"  give agencies: {pub} (agent.toml [reident] analyst_keys)")


@analysts.command("list")
@click.pass_context
def analysts_list(ctx: click.Context) -> None:
    """Analyst keys in this state dir, with the key ids agencies see (and may revoke)."""
    found = list_analysts(state_of(ctx))
    if not found:
        click.echo("no analysts (fedscreen analysts add NAME)")
        return
    for name, key_id, pub in found:
        click.echo(f"{name:24} {key_id}  {pub}")

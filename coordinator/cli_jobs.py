"""`fedscreen jobs list|show`: the registry's record of every screening job."""

from __future__ import annotations

import json

import click

from coordinator.cli_common import render_rows, state_of
from coordinator.registry import Registry
from fedscreen.errors import UsageError


@click.group()
def jobs() -> None:
    """Screening jobs: who ran what, how it ended, how many leads it found."""


def _agents(job: dict[str, object]) -> dict[str, dict[str, object]]:
    raw = job.get("agents")
    parsed = json.loads(str(raw)) if raw else None
    return parsed if isinstance(parsed, dict) else {}


@jobs.command("list")
@click.option("--status", help="only jobs with this status (running, succeeded, failed)")
@click.option("--model", help="only jobs of this model")
@click.option("--limit", type=int, default=50, show_default=True, help="newest N (0: all)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def jobs_list(
    ctx: click.Context, status: str | None, model: str | None, limit: int, fmt: str
) -> None:
    """Jobs, oldest first (the newest --limit of them)."""
    found = Registry(state_of(ctx).registry).jobs()
    found = [
        j
        for j in found
        if (not status or j["status"] == status) and (not model or j["model"] == model)
    ]
    if limit > 0:
        found = found[-limit:]
    if not found:
        click.echo("no jobs", err=True)
        return
    rows: list[dict[str, object]] = [
        {
            "job": j["job_id"],
            "status": j["status"],
            "model": j["model"],
            "campaign": j["campaign"],
            "started": j["started_at"],
            "finished": j["finished_at"] or "",
            "leads": j["leads"] if j["leads"] is not None else "",
            "new_leads": j["new_leads"] if j["new_leads"] is not None else "",
        }
        for j in found
    ]
    click.echo(render_rows(rows, fmt))


def find_job(registry: Registry, job_id: str) -> dict[str, object]:
    """A job by its id or an unambiguous prefix of at least 8 characters."""
    every = registry.jobs()
    exact = [j for j in every if j["job_id"] == job_id]
    if exact:
        return exact[0]
    matches = [j for j in every if len(job_id) >= 8 and str(j["job_id"]).startswith(job_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"job id {job_id!r} is ambiguous ({len(matches)} jobs); give more of it")
    raise UsageError(f"unknown job {job_id!r} (see: fedscreen jobs list)")


@jobs.command("show")
@click.argument("job_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, fmt: str) -> None:
    """One job: status, parameters, leads, and rows and seconds per agent."""
    job = find_job(Registry(state_of(ctx).registry), job_id)
    agents = _agents(job)
    if fmt == "json":
        out = {**job, "params": json.loads(str(job["params"])), "agents": agents}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"job {job['job_id']}: {job['status']}")
    click.echo(f"  model     {job['model']} {job['version']} (digest {str(job['digest'])[:16]})")
    click.echo(f"  campaign  {job['campaign']}")
    click.echo(f"  params    {job['params']}")
    click.echo(f"  started   {job['started_at']}")
    click.echo(f"  finished  {job['finished_at'] or '-'}")
    if job["leads"] is not None and job["status"] == "succeeded":
        click.echo(f"  leads     {job['leads']} ({job['new_leads']} new)")
    if job["message"]:
        click.echo(f"  message   {job['message']}")
    if agents:
        rows: list[dict[str, object]] = [
            {
                "agent": name,
                "role": a.get("role", ""),
                "rows_in": a.get("rows_in", ""),
                "rows_out": a.get("rows_out", ""),
                "seconds": a.get("seconds", ""),
            }
            for name, a in sorted(agents.items())
        ]
        click.echo(render_rows(rows, "table"))

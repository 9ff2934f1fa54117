"""`fedscreen jobs list|show|cancel|retry`: the registry's record of every screening job."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click

from coordinator.cli_common import render_rows, state_of
from coordinator.registry import Registry, effective_status, job_field


@click.group()
def jobs() -> None:
    """Screening jobs: who ran what, how it ended, how many leads it found."""


@jobs.command("list")
@click.option(
    "--status",
    help="only jobs with this status (running, interrupted, succeeded, partial, failed, cancelled)",
)
@click.option("--model", help="only jobs of this model")
@click.option("--limit", type=int, default=50, show_default=True, help="newest N (0: all)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def jobs_list(
    ctx: click.Context, status: str | None, model: str | None, limit: int, fmt: str
) -> None:
    """Jobs, oldest first (the newest --limit of them)."""
    now = datetime.now(UTC)
    found = [
        {**j, "status": effective_status(j, now)} for j in Registry(state_of(ctx).registry).jobs()
    ]
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
            "missing": ", ".join(job_field(j, "missing")),
            "attempts": j.get("attempts") or 1,
        }
        for j in found
    ]
    click.echo(render_rows(rows, fmt))


@jobs.command("show")
@click.argument("job_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, fmt: str) -> None:
    """One job: status, parameters, leads, and rows and seconds per agent."""
    job = Registry(state_of(ctx).registry).find_job(job_id)
    job["status"] = effective_status(job, datetime.now(UTC))
    agents = job_field(job, "agents")
    if fmt == "json":
        out = {
            **job,
            **{c: job_field(job, c) for c in ("params", "missing", "targets")},
            "agents": agents,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"job {job['job_id']}: {job['status']}")
    click.echo(f"  model     {job['model']} {job['version']} (digest {str(job['digest'])[:16]})")
    click.echo(f"  campaign  {job['campaign']}")
    click.echo(f"  params    {job['params']}")
    click.echo(f"  started   {job['started_at']}")
    click.echo(f"  finished  {job['finished_at'] or '-'}")
    click.echo(f"  attempts  {job.get('attempts') or 1} (runner {job.get('owner') or '-'})")
    targets = job_field(job, "targets")
    if targets:
        click.echo(f"  agents    {', '.join(targets)} (targeted)")
    if job["leads"] is not None and job["status"] in ("succeeded", "partial"):
        click.echo(f"  leads     {job['leads']} ({job['new_leads']} new)")
    if job.get("cancel_requested"):
        click.echo(f"  cancel    requested by {job['cancel_requested']}")
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
                "attempts": a.get("attempts", ""),
                "missing": a.get("missing", ""),
            }
            for name, a in sorted(agents.items())
        ]
        click.echo(render_rows(rows, "table"))


@jobs.command("cancel")
@click.argument("job_id")
@click.option("--by", default=lambda: os.environ.get("USER", "analyst"), help="who cancels")
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: str, by: str) -> None:
    """Stop a running job: its runner cancels the calls in flight within a second or two."""
    registry = Registry(state_of(ctx).registry)
    job = registry.find_job(job_id)
    after = registry.request_cancel(str(job["job_id"]), by)
    if after == "cancelled":
        click.echo(f"job {job['job_id']}: cancelled (nothing was running it)")
    else:
        click.echo(f"job {job['job_id']}: cancel requested; its runner stops it (jobs show)")


@jobs.command("retry")
@click.argument("job_id")
@click.option("--timeout", type=float, help="seconds for this attempt (default: the job's own)")
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: str, timeout: float | None) -> None:
    """Run a partial, failed, cancelled or interrupted job again under its own id.

    Agents that answered it before reply from their record; leads are updated, not doubled."""
    from coordinator.cli_run import print_report, progress_printer
    from coordinator.run import resume_job

    state = state_of(ctx)
    job = Registry(state.registry).find_job(job_id)
    click.echo(f"job {job['job_id']}: retrying {job['model']} {job['version']}")
    report = resume_job(state, str(job["job_id"]), progress_printer(), timeout)
    print_report(report)

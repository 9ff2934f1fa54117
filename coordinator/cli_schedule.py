"""`fedscreen schedule list|add|remove|next` and `fedscreen serve`: the coordinator service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from coordinator import daemon
from coordinator.cli_common import agents_option, models_dir, parse_params, render_rows, state_of
from coordinator.run import model_source
from coordinator.schedules import (
    DEFAULT_DEADLINE,
    ParamValue,
    Schedule,
    add_schedule,
    check_cron,
    check_name,
    load_schedules,
    next_tick,
    remove_schedule,
)
from fedscreen.errors import ConfigError, JobFailed, UsageError
from fedscreen.manifest import load_manifest


@click.group()
def schedule() -> None:
    """Scheduled screening jobs (STATE/schedules.toml), run by `fedscreen serve`."""


def _typed(value: str) -> ParamValue:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@schedule.command("add")
@click.argument("name")
@click.option("--cron", "cron", required=True, help='five fields, UTC, e.g. "0 2 * * *"')
@click.option(
    "--model",
    "model",
    required=True,
    help="signed .fsb bundle the agencies approved, or a model name or folder (each run uses "
    "the bundle already signed for that version in STATE/bundles)",
)
@click.option("--param", "params", multiple=True, help="name=value (repeatable)")
@click.option("--campaign", help="campaign (default: the model's name)")
@click.option(
    "--deadline-seconds",
    type=float,
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="the job's deadline, retries of agents that are down included",
)
@agents_option
@click.pass_context
def schedule_add(
    ctx: click.Context,
    name: str,
    cron: str,
    model: str,
    params: tuple[str, ...],
    campaign: str | None,
    deadline_seconds: float,
    agents: tuple[str, ...],
) -> None:
    """Add schedule NAME; it first runs at its first tick from now."""
    state = state_of(ctx)
    try:
        check_name(name, "schedule")
        expr = check_cron(cron, "--cron")
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    if deadline_seconds <= 0:
        raise UsageError("--deadline-seconds must be a positive number of seconds")
    given = parse_params(params)
    source = model_source(model, models_dir())
    if source.is_dir():  # check the parameters now rather than at 2 a.m.
        load_manifest(source).resolve_params(given)
        click.echo(
            f"note: {model} is a folder; each run signs it anew and agencies approve bundles by "
            "digest (fedscreen model sign, then schedule the .fsb)",
            err=True,
        )
    elif not source.is_file():
        raise UsageError(f"--model {model}: neither a model under models/, a folder nor a bundle")
    known = {a.name for a in state.agents()}
    unknown = sorted(set(agents) - known)
    if unknown:
        raise UsageError(f"--agent {unknown[0]}: no such agent (see: fedscreen agents list)")
    entry = Schedule(
        name,
        expr,
        model,
        {k: _typed(v) for k, v in given.items()},
        campaign,
        deadline_seconds,
        datetime.now(UTC).replace(microsecond=0),
        tuple(dict.fromkeys(agents)),
    )
    add_schedule(daemon.schedules_file(state), entry)
    nxt = next_tick(entry, datetime.now(UTC))
    click.echo(f"schedule {name}: {model} at {expr!r}, next {nxt.isoformat()}")


@schedule.command("remove")
@click.argument("name")
@click.pass_context
def schedule_remove(ctx: click.Context, name: str) -> None:
    remove_schedule(daemon.schedules_file(state_of(ctx)), name)
    click.echo(f"removed schedule {name}")


@schedule.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def schedule_list(ctx: click.Context, fmt: str) -> None:
    """Every schedule, with its last run and next tick."""
    state = state_of(ctx)
    entries = load_schedules(daemon.schedules_file(state))
    if not entries:
        click.echo("no schedules (fedscreen schedule add NAME --cron … --model …)", err=True)
        return
    runs, now = daemon.load_runs(state), datetime.now(UTC)
    rows: list[dict[str, object]] = []
    for s in entries:
        last = runs.get(s.name, {})
        rows.append(
            {
                "name": s.name,
                "cron": s.cron,
                "model": s.model,
                "campaign": s.campaign or "",
                "params": " ".join(f"{k}={v}" for k, v in sorted(s.params.items())),
                "deadline_s": s.deadline_seconds,
                "agents": " ".join(s.agents) or "all",
                "last_run": last.get("last_run", ""),
                "last_status": last.get("status", ""),
                "next_utc": next_tick(s, now).isoformat(),
            }
        )
    click.echo(render_rows(rows, fmt))


@schedule.command("next")
@click.pass_context
def schedule_next(ctx: click.Context) -> None:
    """Each schedule's next tick (UTC)."""
    state = state_of(ctx)
    ticks = daemon.next_ticks(state, datetime.now(UTC))
    if not ticks:
        click.echo("no schedules", err=True)
    for s, tick in sorted(ticks, key=lambda p: p[1]):
        click.echo(f"{tick.isoformat()}  {s.name}  {s.model}")


@click.command()
@click.option("--once", is_flag=True, help="run the jobs due now, then exit (cron-style use)")
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    help="the coordinator state dir (same as the global --state)",
)
@click.pass_context
def serve(ctx: click.Context, once: bool, log_level: str, state_dir: Path | None) -> None:
    """Run scheduled jobs as they fall due, until SIGTERM. One instance per state dir.

    A job the daemon was running when it was killed is resumed under its own id."""
    from coordinator.state import State
    from fedscreen import logs

    state = State(state_dir).require() if state_dir else state_of(ctx)
    logs.configure(log_level.upper())
    result = daemon.serve(state, daemon.model_runner(models_dir()), once=once)
    if once:
        ran = result.last_outcomes
        failed = sum(1 for o in ran if o.status not in ("succeeded", "partial"))
        partial = sum(1 for o in ran if o.status == "partial")
        click.echo(f"ran {len(ran)} scheduled job(s), {failed} failed, {partial} partial")
        if failed:  # cron-style callers see a failure in the exit code
            raise JobFailed(
                f"{failed} of {len(ran)} scheduled jobs failed (see: fedscreen jobs list)"
            )

"""fedscreen: the procuratorate's command line (coordinator side)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from coordinator.cli_common import state_of
from coordinator.state import init_state, issue_agent_cert
from fedscreen import keys as signing_keys
from fedscreen.cliutil import run_cli
from fedscreen.errors import FedscreenError


@click.group()
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    envvar="FEDSCREEN_STATE",
    default="fedscreen-state",
    show_default=True,
    help="coordinator state dir",
)
@click.pass_context
def cli(ctx: click.Context, state_dir: Path) -> None:
    """fedscreen coordinator: sign models, dispatch them to agencies, turn flags into leads."""
    ctx.obj = {"state": state_dir}


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", default="procuratorate", help="this procuratorate's name (signer)")
def init(directory: Path, name: str) -> None:
    """Create a state dir: federation CA, coordinator client cert, model-signing key."""
    state = init_state(directory, name)
    click.echo(f"initialised {directory}")
    click.echo(f"  federation CA:   {state.ca_cert}")
    click.echo(f"  client cert:     {state.client_cert}")
    click.echo(
        f"  signing key id:  {signing_keys.key_id(signing_keys.load_public(state.signing_pub))}"
    )
    click.echo(f"  give agencies:   {state.ca_cert} and {state.signing_pub}")


@cli.group()
def keys() -> None:
    """Model-signing keys."""


@keys.command("new")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder to write to")
def keys_new(out: Path) -> None:
    """Generate an Ed25519 signing key pair (signing.key, signing.pub)."""
    out.mkdir(parents=True, exist_ok=True)
    key = signing_keys.generate_signing_key()
    signing_keys.save_private(key, out / "signing.key")
    signing_keys.save_public(key.public_key(), out / "signing.pub")
    click.echo(f"key id {signing_keys.key_id(key.public_key())}: {out / 'signing.key'}")


@cli.group()
def pki() -> None:
    """The federation's mutual-TLS certificates."""


@pki.command("issue-agent")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="folder (default: STATE/agents/NAME)")
@click.option("--host", "hosts", multiple=True, help="DNS name or IP the agent is reached at")
@click.pass_context
def pki_issue_agent(
    ctx: click.Context, name: str, out: Path | None, hosts: tuple[str, ...]
) -> None:
    """Write NAME.crt, NAME.key and ca.crt for an agency's agent."""
    state = state_of(ctx)
    target = out or state.root / "agents" / name
    issue_agent_cert(state, name, target, hosts or ("localhost", "127.0.0.1"))
    click.echo(f"wrote {target}/{name}.crt, {name}.key, ca.crt — install them on the agent")


@cli.group()
def agents() -> None:
    """Agents this coordinator dispatches to."""


@agents.command("add")
@click.argument("name")
@click.argument("address")
@click.option("--role", required=True)
@click.pass_context
def agents_add(ctx: click.Context, name: str, address: str, role: str) -> None:
    entry = state_of(ctx).add_agent(name, address, role)
    click.echo(f"agent {entry.name} ({entry.role}) at {entry.address}")


@agents.command("remove")
@click.argument("name")
@click.pass_context
def agents_remove(ctx: click.Context, name: str) -> None:
    state_of(ctx).remove_agent(name)
    click.echo(f"removed agent {name}")


@agents.command("status")
@click.pass_context
def agents_status(ctx: click.Context) -> None:
    """Health, Describe and latency of every registered agent."""
    from coordinator.client import AgentClient

    state = state_of(ctx)
    entries = state.agents()
    if not entries:
        click.echo("no agents registered (fedscreen agents add NAME ADDRESS --role ROLE)")
        return
    failures = 0
    for entry in entries:
        with AgentClient(state, entry) as client:
            try:
                health = client.health()
                desc, latency = client.describe()
            except FedscreenError as exc:
                failures += 1
                click.echo(f"{entry.name:24} {entry.role:20} DOWN  {exc.message}")
                continue
        datasets = ", ".join(f"{d.name}~{d.approx_rows}" for d in desc.datasets)
        click.echo(
            f"{entry.name:24} {entry.role:20} {health} {latency * 1000:.0f} ms "
            f"agent {desc.agent_version}, {len(desc.approved_digests)} approved, "
            f"datasets: {datasets}"
        )
    if failures:
        raise FedscreenError(f"{failures} of {len(entries)} agents are down")


from coordinator.cli_audit import audit  # noqa: E402
from coordinator.cli_deploy import demo_layout  # noqa: E402
from coordinator.cli_jobs import jobs  # noqa: E402
from coordinator.cli_leads import leads, models  # noqa: E402
from coordinator.cli_model import model  # noqa: E402  (subcommand groups live beside)
from coordinator.cli_report import report  # noqa: E402
from coordinator.cli_resolve import analysts, resolutions, resolve  # noqa: E402
from coordinator.cli_run import bench, demo, evaluate, run, synth  # noqa: E402
from coordinator.cli_schedule import schedule, serve  # noqa: E402

cli.add_command(model)
cli.add_command(demo_layout)
cli.add_command(resolve)
cli.add_command(analysts)
cli.add_command(resolutions)
cli.add_command(models)
cli.add_command(audit)
cli.add_command(report)
for command in (run, leads, synth, demo, bench, evaluate, schedule, serve, jobs):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point: FedscreenErrors become one line on stderr and their exit code."""
    if environ is not None and "FEDSCREEN_STATE" in environ:
        argv = ["--state", environ["FEDSCREEN_STATE"], *(argv or [])]
    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())

"""`fedscreen demo-layout`: the demo federation on disk, for containers (deploy/compose.yaml).

The same federation `fedscreen demo` builds (coordinator/demo.py lays both out), but nothing
is started: every agent listens on 0.0.0.0:PORT and is registered at HOST:PORT, its
certificate valid for HOST, so each can run in its own container or on its own machine.
On top of the demo's files it writes:

OUT/coordinator/schedules.toml   one schedule per model, every 15 minutes, naming the signed
                                 bundle the agencies approved (a model folder would be signed
                                 anew at each tick, into a bundle no agency approved)
OUT/probe/healthcheck.{crt,key}  a client certificate for container health checks: it passes
                                 mutual TLS, so it can ask gRPC health, but it is not in any
                                 agent's tls.allowed_clients, so every other call is refused
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from coordinator import daemon
from coordinator.cli_common import models_dir
from coordinator.demo import Layout, lay_out_federation
from coordinator.schedules import Schedule, add_schedule
from fedscreen import pki

SCHEDULE_CRON = "*/15 * * * *"
PROBE_CN = "healthcheck"


def write_schedules(layout: Layout) -> Path:
    """One schedule per model. No added_at: a schedule that never ran is due at once, so the
    daemon runs every model as soon as it starts, then on the cron."""
    path = daemon.schedules_file(layout.state)
    for model, (_data, _verified, bundle) in sorted(layout.bundles.items()):
        add_schedule(path, Schedule(model, SCHEDULE_CRON, str(bundle.resolve())))
    return path


def issue_probe_cert(layout: Layout) -> Path:
    """OUT/probe/healthcheck.crt, .key and ca.crt: health checks only (see the module doc)."""
    bundle = pki.issue_cert(
        layout.state.ca_cert.read_bytes(),
        layout.state.ca_key.read_bytes(),
        PROBE_CN,
        server=False,
        client=True,
        now=datetime.now(UTC),
    )
    folder = layout.out / "probe"
    pki.write_cert_bundle(bundle, folder, PROBE_CN)
    return folder


@click.command("demo-layout")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder to fill")
@click.option("--people", default=100_000, show_default=True, type=click.IntRange(1000))
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--host-pattern",
    default="{name}",
    show_default=True,
    help="host the coordinator dials each agent at; {name} = agent name, {role} = its role",
)
@click.option("--port", default=50051, show_default=True, type=click.IntRange(1, 65535))
def demo_layout(out: Path, people: int, seed: int, host_pattern: str, port: int) -> None:
    """Write the demo federation (data, PKI, agent configs, approvals, coordinator state,
    schedules) without starting anything."""
    layout = lay_out_federation(
        out,
        people,
        seed,
        models_dir(),
        click.echo,
        listen=f"0.0.0.0:{port}",
        host_pattern=host_pattern,
    )
    for agent in layout.agents:
        layout.state.add_agent(agent.name, f"{agent.host}:{port}", agent.role)
    schedules = write_schedules(layout)
    probe = issue_probe_cert(layout)
    click.echo(f"schedules: {schedules} ({len(layout.bundles)} models, {SCHEDULE_CRON!r})")
    click.echo(f"health-check client certificate: {probe}/{PROBE_CN}.crt")
    click.echo("start each agent where its host name resolves:")
    for agent in layout.agents:
        click.echo(
            f"  {agent.host}:{port}  fedscreen-agent serve --config {agent.config.resolve()}"
        )
    click.echo(f"then the coordinator: fedscreen --state {layout.state.root.resolve()} serve")

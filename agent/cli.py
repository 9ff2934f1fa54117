"""fedscreen-agent: what an agency operator runs beside the data."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from agent.approvals import Approvals
from agent.audit import AuditLog, verify_chain
from agent.config import AgentSettings, load_settings, read_secret, read_tls
from fedscreen import keys as signing_keys
from fedscreen import logs
from fedscreen.bundle import VerifiedBundle, verify_bundle
from fedscreen.cliutil import run_cli
from fedscreen.describe import describe_bundle
from fedscreen.engine import Engine
from fedscreen.errors import FedscreenError, SchemaMismatch

CONFIG = click.option(
    "--config", "config", required=True, type=click.Path(path_type=Path), help="agent.toml"
)


def _settings(config: Path, insecure_dev: bool = False) -> AgentSettings:
    return load_settings(config, insecure_dev=insecure_dev)


@click.group()
def cli() -> None:
    """fedscreen agent: runs signed, locally approved screening models beside agency data."""


@cli.command()
@CONFIG
@click.option("--insecure-dev", is_flag=True, help="plaintext gRPC for development only")
def serve(config: Path, insecure_dev: bool) -> None:
    """Serve Describe and Screen to the coordinator over mutual TLS."""
    from agent.server import serve as run_server

    settings = _settings(config, insecure_dev)
    logs.configure()
    if insecure_dev:
        click.echo(
            "WARNING: --insecure-dev: plaintext transport, no client authentication. "
            "Never use this with real data.",
            err=True,
        )
    raise SystemExit(run_server(settings, insecure_dev=insecure_dev))


@cli.command()
@CONFIG
def check(config: Path) -> None:
    """Validate the config, TLS files, keys, secret, and every mapped source against the
    dictionary."""
    settings = _settings(config)
    read_tls(settings)
    read_secret(settings)
    trusted = signing_keys.load_trusted(settings.signer_keys)
    click.echo(f"config:  {config} ok ({settings.name}, role {settings.role})")
    click.echo(f"signers: {len(trusted)} trusted key(s): {', '.join(sorted(trusted))}")
    analysts = signing_keys.load_trusted(settings.reident.analyst_keys)
    approval = "operator approval required" if settings.reident.require_approval else "no approval"
    click.echo(
        f"analysts: {len(analysts)} trusted key(s) for re-identification ({approval}, "
        f"{settings.reident.max_requests_per_day}/day each, tokens kept "
        f"{settings.reident.retention_days} days)"
    )
    assert settings.tls is not None  # load_settings requires [tls] without --insecure-dev
    click.echo(f"tls:     {settings.tls.cert} and its key load; CA {settings.tls.ca}")
    with Engine(settings.role, settings.sources, settings.engine) as engine:
        problems = engine.validate()
        shapes = engine.describe()
    for name, (_cols, rows) in sorted(shapes.items()):
        bad = [p for p in problems if p.startswith(f"{settings.role}.{name}:")]
        status = "ok" if not bad else f"{len(bad)} problem(s)"
        click.echo(f"dataset: {name}: {rows} rows, {status}")
    for p in problems:
        click.echo(f"  problem: {p}")
    if problems:
        raise SchemaMismatch(f"{len(problems)} schema problem(s) in mapped sources; see above")


def _verified(settings: AgentSettings, bundle: Path) -> VerifiedBundle:
    trusted = signing_keys.load_trusted(settings.signer_keys)
    return verify_bundle(_read_bundle(bundle), trusted, now=datetime.now(UTC))


def _read_bundle(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise FedscreenError(f"cannot read bundle {path}") from None


@cli.command()
@CONFIG
@click.argument("bundle", type=click.Path(path_type=Path))
def inspect(config: Path, bundle: Path) -> None:
    """Show what a bundle reads here, its SQL and exactly what would leave."""
    settings = _settings(config)
    verified = _verified(settings, bundle)
    click.echo(describe_bundle(verified, role=settings.role))
    approved = verified.digest in Approvals(settings.approvals_path).load()
    click.echo(f"approved here: {'yes' if approved else 'no'}")


@cli.command()
@CONFIG
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--by", default="operator", help="who approves (recorded)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def approve(config: Path, bundle: Path, by: str, yes: bool) -> None:
    """Record this agency's consent to run a verified bundle."""
    settings = _settings(config)
    verified = _verified(settings, bundle)
    if not yes:
        click.echo(describe_bundle(verified, role=settings.role, with_sql=False))
        click.confirm("approve this bundle to run here?", abort=True)
    m = verified.manifest
    Approvals(settings.approvals_path).approve(verified.digest, m.name, m.version, by)
    AuditLog(settings.audit_path).append(
        "approve", bundle_digest=verified.digest, model=m.name, version=m.version, by=by
    )
    click.echo(f"approved {m.name} {m.version} ({verified.digest[:12]})")


@cli.command()
@CONFIG
@click.argument("digest")
def revoke(config: Path, digest: str) -> None:
    """Withdraw an approval by digest (prefix accepted)."""
    settings = _settings(config)
    approvals = Approvals(settings.approvals_path)
    matches = [d for d in approvals.load() if d.startswith(digest)]
    if len(matches) != 1:
        raise FedscreenError(f"{len(matches)} approvals match {digest!r}; give a longer prefix")
    approvals.revoke(matches[0])
    AuditLog(settings.audit_path).append("revoke", bundle_digest=matches[0])
    click.echo(f"revoked {matches[0][:12]}")


@cli.command()
@CONFIG
def doctor(config: Path) -> None:
    """Check config, TLS, keys, secret, state dir, sources, approvals, audit, clock; print fixes.

    Prints OK / WARN / FAIL per check; exit status 1 if any check FAILs, else 0. Clock skew is
    measured on the coordinator's own requests (each is stamped with its clock).
    """
    from agent.doctor import failed, report, run_doctor

    findings = run_doctor(config)
    click.echo(report(findings))
    raise SystemExit(1 if failed(findings) else 0)


@cli.group()
def audit() -> None:
    """The agent's tamper-evident audit log."""


@audit.command("verify")
@CONFIG
def audit_verify(config: Path) -> None:
    """Check the hash chain: any edited, removed or reordered line is reported."""
    settings = _settings(config)
    n = verify_chain(settings.audit_path)
    click.echo(f"audit log intact: {n} entries ({settings.audit_path})")


@cli.group()
def requests() -> None:
    """Re-identification requests (必要关联查询) waiting for, or decided by, an operator."""


@requests.command("list")
@CONFIG
@click.option("--all", "show_all", is_flag=True, help="also decided and answered requests")
def requests_list(config: Path, show_all: bool) -> None:
    """Requests received: who asks, about which lead, for which case and why."""
    from agent.reident import Ledger

    settings = _settings(config)
    found = Ledger(settings.reident_path).requests(None if show_all else "pending")
    if not found:
        click.echo("no pending requests" if not show_all else "no requests")
        return
    for r in found:
        click.echo(
            f"{r.request_id}  {r.status:8}  {r.received_at}  analyst {r.analyst} "
            f"(key {r.key_id})  lead {r.lead_id}  {r.model}.{r.column}\n"
            f"    case {r.case_ref}: {r.reason}"
        )


def _decide(config: Path, request_id: str, decision: str, by: str, note: str) -> None:
    from agent.reident import Ledger

    settings = _settings(config)
    found = Ledger(settings.reident_path).decide(request_id, decision, by, note)
    AuditLog(settings.audit_path).append(
        "resolve_decision",
        request_id=found.request_id,
        lead_id=found.lead_id,
        analyst=found.analyst,
        case_ref=found.case_ref,
        decision=decision,
        by=by,
        note=note,
    )
    click.echo(f"{decision} request {found.request_id} (lead {found.lead_id}, {found.analyst})")


@requests.command("approve")
@CONFIG
@click.argument("request_id")
@click.option("--by", default="operator", help="who approves (recorded)")
def requests_approve(config: Path, request_id: str, by: str) -> None:
    """Let the coordinator fetch the declared fields for this request (id prefix accepted)."""
    _decide(config, request_id, "approved", by, "")


@requests.command("deny")
@CONFIG
@click.argument("request_id")
@click.option("--reason", required=True, help="why (sent back to the analyst)")
@click.option("--by", default="operator", help="who denies (recorded)")
def requests_deny(config: Path, request_id: str, reason: str, by: str) -> None:
    """Refuse this request; the analyst is told the reason."""
    _decide(config, request_id, "denied", by, reason)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: FedscreenErrors become one line on stderr and their exit code."""
    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())

"""`fedscreen model …`: sign, verify, inspect and test model bundles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from coordinator.cli_common import state_of
from fedscreen import keys as signing_keys
from fedscreen.bundle import signed_bundle, verify_bundle
from fedscreen.describe import describe_bundle
from fedscreen.errors import FedscreenError, UsageError


@click.group()
def model() -> None:
    """Model bundles: sign, verify, inspect, test."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise UsageError(f"cannot read bundle {path}") from None


def _trusted(ctx: click.Context, key: tuple[Path, ...]) -> dict[str, Ed25519PublicKey]:
    paths = list(key) or [state_of(ctx).signing_pub]
    return signing_keys.load_trusted(paths)


@model.command("sign")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), help="bundle file to write")
@click.option("--valid-days", default=365, show_default=True, type=click.IntRange(1, 3650))
@click.pass_context
def model_sign(ctx: click.Context, directory: Path, out: Path | None, valid_days: int) -> None:
    """Sign a model folder into one bundle file with the state dir's signing key.

    The SQL is checked first. A bundle already signed from the same files is kept (agencies
    approve by digest); one signed from other files under the same version is refused."""
    state = state_of(ctx)
    stored = signed_bundle(
        directory,
        state.bundles,
        signing_keys.load_private(state.signing_key),
        state.signer_name(),
        now=datetime.now(UTC),
        valid_for=timedelta(days=valid_days),
        out=out,
    )
    verified, m = stored.verified, stored.verified.manifest
    if stored.reused:
        click.echo(f"already signed {m.name} {m.version} from these files → {stored.path}")
    else:
        click.echo(f"signed {m.name} {m.version} → {stored.path}")
    click.echo(f"digest {verified.digest}")
    if stored.reused:
        click.echo(f"expires {verified.expires_at:%Y-%m-%d}")
    if stored.replaced:
        click.echo(
            f"note: replaced the bundle signed from the same files ({stored.replaced});"
            " agencies must approve the new digest"
        )


@model.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--key",
    type=click.Path(path_type=Path),
    multiple=True,
    help="trusted public key(s); default: the state dir's signing key",
)
@click.pass_context
def model_verify(ctx: click.Context, bundle: Path, key: tuple[Path, ...]) -> None:
    """Verify a bundle's signature, validity window and file digests."""
    verified = verify_bundle(_read(bundle), _trusted(ctx, key), now=datetime.now(UTC))
    m = verified.manifest
    click.echo(
        f"ok: {m.name} {m.version} signed by {verified.signer} (key {verified.key_id}), "
        f"expires {verified.expires_at:%Y-%m-%d}, digest {verified.digest}"
    )


@model.command("inspect")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", type=click.Path(path_type=Path), multiple=True)
@click.option("--role", help="only this agency role")
@click.pass_context
def model_inspect(
    ctx: click.Context, bundle: Path, key: tuple[Path, ...], role: str | None
) -> None:
    """What each role reads, the SQL, and exactly what leaves each agency."""
    verified = verify_bundle(_read(bundle), _trusted(ctx, key), now=datetime.now(UTC))
    click.echo(describe_bundle(verified, role=role))


@model.command("test")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def model_test(directory: Path) -> None:
    """Run the model's fixtures locally and compare with the expected leads."""
    from coordinator.modeltest import test_model

    results = test_model(directory)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        click.echo(
            f"{mark} {r.name}: expected {r.expected} leads, found {r.found}"
            f" ({len(r.missing)} missing, {r.unexpected} unexpected)"
        )
    failed = [r for r in results if not r.passed]
    if failed:
        raise FedscreenError(f"{len(failed)} of {len(results)} fixtures failed")
    click.echo(f"{len(results)} fixture(s) passed")

"""How both command lines end: a FedscreenError is one line on stderr and its exit code."""

from __future__ import annotations

from collections.abc import Sequence

import click

from fedscreen.errors import FedscreenError


def run_cli(group: click.Group, argv: Sequence[str] | None) -> int:
    try:
        group.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except FedscreenError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except SystemExit as exc:  # --help and friends
        return int(exc.code or 0)
    return 0

"""`fedscreen report`: the lead registry as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from coordinator.cli_common import state_of


@click.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="HTML file to write")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--model", help="only this model's leads")
@click.option(
    "--region-digits",
    type=click.Choice(["2", "4", "6"]),
    default="4",
    show_default=True,
    help="group regions by province (2), city (4) or county (6)",
)
@click.option("--top", type=click.IntRange(1), default=15, show_default=True, help="regions shown")
@click.option("--rows", type=click.IntRange(1), default=5000, show_default=True, help="table rows")
@click.pass_context
def report(
    ctx: click.Context,
    out: Path,
    lang: str,
    model: str | None,
    region_digits: str,
    top: int,
    rows: int,
) -> None:
    """Charts and the lead table in one HTML file: no scripts, nothing fetched. Chinese first."""
    from coordinator.report import write_report

    data = write_report(
        state_of(ctx), out, lang, model=model, digits=int(region_digits), top=top, rows=rows
    )
    models = len({lead.model for lead in data.leads})
    click.echo(f"wrote {out}: {len(data.leads)} leads of {models} models")

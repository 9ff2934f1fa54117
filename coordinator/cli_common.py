"""Helpers shared by the coordinator's command modules."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import click

from coordinator.state import State
from fedscreen.errors import UsageError

_REPO_MODELS = Path(__file__).resolve().parents[1] / "models"


def models_dir() -> Path:
    """./models when run from a checkout of a model repository, else the shipped models."""
    local = Path("models")
    return local if local.is_dir() else _REPO_MODELS


# `run` and `schedule add`: the agents a job goes to
agents_option = click.option(
    "--agent", "agents", multiple=True, help="only this agent (repeatable; default: every one)"
)


def state_of(ctx: click.Context) -> State:
    return State(ctx.find_root().obj["state"]).require()


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r} must look like name=value")
        out[name.strip()] = value.strip()
    return out


def render_rows(rows: list[dict[str, object]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if not rows:
        return ""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    widths = {k: max(len(str(k)), *(len(str(r[k])) for r in rows)) for k in rows[0]}
    lines = ["  ".join(str(k).ljust(w) for k, w in widths.items())]
    lines += ["  ".join(str(r[k]).ljust(w) for k, w in widths.items()) for r in rows]
    return "\n".join(lines)

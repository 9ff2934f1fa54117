"""A real agent and its sources: it will not start over a source that does not match the logical
dictionary, and a source replaced under it fails the next job as FAILED_PRECONDITION naming
dataset and column (not as DuckDB's binder error). What it sends and audits about rows_in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
import polars as pl
import pytest

from fedscreen.jobs import round_2sig
from tests.integration.agent_procs import (
    SMALL_SQL,
    agent_config,
    audit_entries,
    own_agent,
    screen_replies,
    signed_model,
)
from tests.integration.conftest import ROOT, Fed


def labour_cases_at(config: Path, path: Path) -> Path:
    """Point the config's labour_cases at `path`; the file it read before."""
    text = config.read_text("utf-8")
    mapped = re.search(r'path = "(.*labour_cases\.parquet)"', text)
    assert mapped is not None
    config.write_text(text.replace(mapped.group(1), str(path)), "utf-8")
    return Path(mapped.group(1))


def test_an_agent_over_a_wrongly_mapped_source_refuses_to_start(fed: Fed) -> None:
    config = agent_config(fed, "t-wrong-map")
    wrong = fed.data / "court" / "enforcement_cases.parquet"  # another dataset's export
    assert labour_cases_at(config, wrong).parent == wrong.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDSCREEN_")}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "serve", "--config", str(config)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 4 and done.stdout == ""  # never announced a port
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {config}: refusing to serve, a mapped source does not match")
    assert "court.labour_cases: column cause is missing (expected VARCHAR)" in line
    assert not (config.parent / "state").exists()


def test_a_source_replaced_under_a_running_agent_fails_the_job_naming_dataset_and_column(
    fed: Fed, tmp_path: Path
) -> None:
    config = agent_config(fed, "t-swapped")
    own = tmp_path / "labour_cases.parquet"  # the agent's own copy: the session's stays intact
    cases = pl.read_parquet(labour_cases_at(config, own))
    cases.write_parquet(own)
    bundle = signed_model(fed, tmp_path / "m", "swap_probe", SMALL_SQL, config)
    with own_agent(fed, "t-swapped", config) as (entry, _proc):
        summary = screen_replies(fed, entry, bundle, "j-swap-ok")[-1].summary
        cases.drop("filed_on").write_parquet(own)  # the next export lacks a column
        with pytest.raises(grpc.RpcError) as refused:
            screen_replies(fed, entry, bundle, "j-swap-bad")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == (
        "court.labour_cases: column filed_on is missing (expected DATE)"
    )
    [bad] = audit_entries(config, "j-swap-bad")
    assert (bad["outcome"], bad["error"], bad["params"]) == ("refused", "SchemaMismatch", {})
    # rows_in: exact in the agency's audit log, two significant digits on the wire
    [ok] = audit_entries(config, "j-swap-ok")
    assert ok["rows_in"] == cases.height > 100
    assert summary.rows_in == round_2sig(cases.height)

"""A real agent's Prometheus endpoint: the counts match the job's summary, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from fedscreen.jobs import round_2sig
from tests.integration.agent_procs import (
    SMALL_SQL,
    agent_config,
    audit_entries,
    metrics_endpoint,
    own_agent,
    scrape,
    screen_replies,
    signed_model,
)
from tests.integration.conftest import Fed

MODEL = "metrics_probe"
ID_LIKE = re.compile(r"\d{17}[\dX]")


def test_the_metrics_endpoint_counts_a_job_as_its_summary_and_audit_say(
    fed: Fed, tmp_path: Path
) -> None:
    # A minimum interval, so a second run is refused, and counted so.
    config = agent_config(fed, "t-metrics", metrics=True, min_interval_seconds=60)
    bundle = signed_model(fed, tmp_path / "m", MODEL, SMALL_SQL, config)
    with own_agent(fed, "t-metrics", config) as (entry, _proc):
        endpoint = metrics_endpoint(config)
        assert re.fullmatch(r"127\.0\.0\.1:\d+", endpoint) and not endpoint.endswith(":0")
        _text, before = scrape(endpoint)
        assert before[("fedscreen_agent_jobs_in_flight", frozenset())] == 0

        summary = screen_replies(fed, entry, bundle, "j-metrics-1")[-1].summary
        assert summary.rows_out > 0 and summary.rows_in > summary.rows_out
        with pytest.raises(grpc.RpcError) as refused:
            screen_replies(fed, entry, bundle, "j-metrics-2")
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        text, values = scrape(endpoint)

    model = frozenset({("model", MODEL)})
    jobs = "fedscreen_agent_jobs_total"
    assert values[(jobs, model | {("outcome", "ok")})] == 1
    assert values[(jobs, model | {("outcome", "refused")})] == 1
    [ok] = audit_entries(config, "j-metrics-1")
    # the agency's own metrics and audit count exactly; the wire gets 2 significant digits
    assert values[("fedscreen_agent_rows_scanned_total", model)] == ok["rows_in"]
    assert summary.rows_in == round_2sig(ok["rows_in"])
    assert values[("fedscreen_agent_flags_sent_total", model)] == summary.rows_out
    assert values[("fedscreen_agent_job_duration_seconds_count", model)] == 1
    assert values[("fedscreen_agent_jobs_in_flight", frozenset())] == 0
    assert values[("fedscreen_agent_job_duration_seconds_sum", model)] == pytest.approx(
        ok["seconds"]
    )
    # Counts only: no identifier from the data, and no job id, caller or token either.
    assert not ID_LIKE.search(text)
    sample_lines = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "j-metrics" not in sample_lines and "coordinator" not in sample_lines
    assert not re.search(r"[0-9a-f]{32}", sample_lines)
    # Every label is an outcome or the model, never anything taken from the job.
    labels = {key for _name, pairs in values for key, _v in pairs}
    assert labels <= {"outcome", "model", "le"}

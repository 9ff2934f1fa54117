"""A real agent's Prometheus endpoint: the counts match the job's summary, and nothing else."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.audit import read_entries
from coordinator.federation import write_agent_config
from tests.integration.agent_procs import SMALL_SQL, own_agent, signed_model, start_screen
from tests.integration.conftest import Fed

MODEL = "metrics_probe"
ID_LIKE = re.compile(r"\d{17}[\dX]")


def scrape(endpoint: str) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    values = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, values


def test_the_metrics_endpoint_counts_a_job_as_its_summary_and_audit_say(
    fed: Fed, tmp_path: Path
) -> None:
    config = write_agent_config(
        fed.state,
        fed.root / "agents",
        "t-metrics",
        "court",
        fed.data,
        fed.secret,
        limits={"min_interval_seconds": 60},  # so a second run is refused, and counted so
        metrics_listen="127.0.0.1:0",
    )
    bundle = signed_model(fed, tmp_path / "m", MODEL, SMALL_SQL, config)
    with own_agent(fed, "t-metrics", config) as (entry, _proc):
        endpoint = (config.parent / "state" / "metrics-endpoint").read_text().strip()
        assert re.fullmatch(r"127\.0\.0\.1:\d+", endpoint) and not endpoint.endswith(":0")
        _text, before = scrape(endpoint)
        assert before[("fedscreen_agent_jobs_in_flight", frozenset())] == 0

        client, call = start_screen(fed, entry, bundle, "j-metrics-1")
        with client:
            summary = list(call)[-1].summary
        assert summary.rows_out > 0 and summary.rows_in > summary.rows_out
        client, again = start_screen(fed, entry, bundle, "j-metrics-2")
        with client, pytest.raises(grpc.RpcError):
            list(again)

        text, values = scrape(endpoint)

    model = frozenset({("model", MODEL)})
    jobs = "fedscreen_agent_jobs_total"
    assert values[(jobs, model | {("outcome", "ok")})] == 1
    assert values[(jobs, model | {("outcome", "refused")})] == 1
    assert values[("fedscreen_agent_rows_scanned_total", model)] == summary.rows_in
    assert values[("fedscreen_agent_flags_sent_total", model)] == summary.rows_out
    assert values[("fedscreen_agent_job_duration_seconds_count", model)] == 1
    assert values[("fedscreen_agent_jobs_in_flight", frozenset())] == 0
    audited = read_entries(config.parent / "state" / "audit.jsonl")
    ok = next(e for e in audited if e.get("job_id") == "j-metrics-1")
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

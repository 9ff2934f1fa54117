"""The agent's Prometheus metrics: exact counts from audit entries, bounded labels."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.audit import AuditLog, read_entries, verify_chain
from agent.metrics import JOB_OUTCOMES, MAX_MODELS, RESOLVE_OUTCOMES, Metrics

OK = {"outcome": "ok", "model": "fake_labour_litigation", "rows_in": 1000, "rows_out": 7}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from the exposition text, as a scraper sees it."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def test_screen_entries_are_counted_exactly() -> None:
    m = Metrics()
    m.observe("screen", {**OK, "seconds": 1.5})
    m.observe("screen", {**OK, "rows_in": 500, "rows_out": 3, "seconds": 40.0})
    m.observe("screen", {"outcome": "refused", "model": "fake_labour_litigation"})
    m.observe("screen", {"outcome": "refused", "error": "AgentBusy"})  # no model: never read
    m.observe("screen", {"outcome": "cancelled", "model": "fake_labour_litigation"})
    m.observe("start", {"port": 7443})  # other events count nothing
    name = "fedscreen_agent_jobs_total"
    assert value(m, name, outcome="ok", model="fake_labour_litigation") == 2
    assert value(m, name, outcome="refused", model="fake_labour_litigation") == 1
    assert value(m, name, outcome="refused", model="unknown") == 1
    assert value(m, name, outcome="cancelled", model="fake_labour_litigation") == 1
    model = {"model": "fake_labour_litigation"}
    assert value(m, "fedscreen_agent_rows_scanned_total", **model) == 1500
    assert value(m, "fedscreen_agent_flags_sent_total", **model) == 10
    assert value(m, "fedscreen_agent_job_duration_seconds_count", **model) == 2
    assert value(m, "fedscreen_agent_job_duration_seconds_sum", **model) == 41.5
    assert value(m, "fedscreen_agent_job_duration_seconds_bucket", le="2.5", **model) == 1
    assert value(m, "fedscreen_agent_job_duration_seconds_bucket", le="60.0", **model) == 2


def test_a_replay_counts_its_flags_again_but_no_rows_scanned_or_duration() -> None:
    m = Metrics()
    m.observe("screen", {**OK, "seconds": 2.0})
    m.observe("screen", {**OK, "outcome": "replayed", "seconds": 0.01})
    model = {"model": "fake_labour_litigation"}
    assert value(m, "fedscreen_agent_jobs_total", outcome="replayed", **model) == 1
    assert value(m, "fedscreen_agent_flags_sent_total", **model) == 14
    assert value(m, "fedscreen_agent_rows_scanned_total", **model) == 1000
    assert value(m, "fedscreen_agent_job_duration_seconds_count", **model) == 1


def test_resolve_entries_are_counted_by_outcome_and_start_at_zero() -> None:
    m = Metrics()
    for outcome in RESOLVE_OUTCOMES:
        assert value(m, "fedscreen_agent_resolve_requests_total", outcome=outcome) == 0
    m.observe("resolve", {"outcome": "resolved", "rows": 1, "model": "x", "lead_id": "L1"})
    m.observe("resolve", {"outcome": "refused", "error": "TokenNotIssued"})
    m.observe("resolve", {"outcome": "refused", "error": "RateLimited"})
    assert value(m, "fedscreen_agent_resolve_requests_total", outcome="resolved") == 1
    assert value(m, "fedscreen_agent_resolve_requests_total", outcome="refused") == 2


def test_in_flight_is_read_from_the_gate_at_each_scrape() -> None:
    m = Metrics()
    running: list[str] = []
    m.watch(lambda: running)
    assert value(m, "fedscreen_agent_jobs_in_flight") == 0
    running += ["j-1", "j-2"]
    assert value(m, "fedscreen_agent_jobs_in_flight") == 2


@pytest.mark.parametrize(
    "entry",
    [
        {"outcome": "110105194912310021", "model": "fake_labour_litigation"},
        {"outcome": "ok", "model": "110105194912310021"},
        {"outcome": "ok", "model": "m11010519491231002X"},
        {"outcome": "ok", "model": "张三"},
        {"outcome": "ok", "model": 'a"} evil{'},
        {"outcome": ["ok"], "model": 7, "rows_in": "many", "rows_out": -5, "seconds": "slow"},
    ],
)
def test_labels_only_ever_hold_known_outcomes_and_model_like_names(
    entry: dict[str, Any],
) -> None:
    m = Metrics()
    m.observe("screen", entry)
    m.observe("resolve", {"outcome": entry["outcome"], "model": entry["model"]})
    outcomes = {*JOB_OUTCOMES, *RESOLVE_OUTCOMES, "other"}
    for (name, labels), _value in samples(m).items():
        for key, label in labels:
            if key == "outcome":
                assert label in outcomes, name
            elif key == "model":
                assert label in ("fake_labour_litigation", "other"), name
            else:
                assert key == "le", name
    assert "1101051949" not in generate_latest(m.registry).decode()


def test_model_labels_stop_growing_past_the_cap() -> None:
    m = Metrics()
    for n in range(MAX_MODELS + 10):
        m.observe("screen", {"outcome": "refused", "model": f"model_{n}"})
    models = {dict(labels).get("model") for _name, labels in samples(m) if labels}
    assert len(models - {None}) == MAX_MODELS + 1  # the first MAX_MODELS, then "other"
    other = value(m, "fedscreen_agent_jobs_total", outcome="refused", model="other")
    assert other == 10


def test_metrics_of_two_agents_in_one_process_are_separate() -> None:
    a, b = Metrics(), Metrics()
    a.observe("screen", OK)
    assert value(a, "fedscreen_agent_jobs_total", outcome="ok", model=OK["model"]) == 1
    assert value(b, "fedscreen_agent_jobs_total", outcome="ok", model=OK["model"]) == 0


def test_the_audit_log_feeds_its_observers_after_writing(tmp_path: Path) -> None:
    m = Metrics()
    seen: list[tuple[str, int]] = []
    path = tmp_path / "audit.jsonl"
    log = AuditLog(
        path,
        observers=(m.observe, lambda event, _: seen.append((event, len(read_entries(path))))),
    )
    log.append("screen", job_id="j-1", **OK, seconds=0.2)
    assert seen == [("screen", 1)]  # the line was on disk when the observer ran
    assert value(m, "fedscreen_agent_flags_sent_total", model=OK["model"]) == 7


def test_a_failing_observer_never_breaks_auditing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_event: str, fields: Mapping[str, Any]) -> None:
        raise ValueError(f"secret {fields['job_id']}")

    m = Metrics()
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, observers=(broken, m.observe))
    with caplog.at_level(logging.WARNING, logger="fedscreen.agent.audit"):
        entry = log.append("screen", job_id="j-secret", **OK)
        log.append("screen", job_id="j-2", **OK)
    assert entry["seq"] == 1 and verify_chain(path) == 2
    assert value(m, "fedscreen_agent_jobs_total", outcome="ok", model=OK["model"]) == 2
    assert "ValueError" in caplog.text
    assert "j-secret" not in caplog.text  # the class name only, never the message


def test_the_endpoint_serves_the_registry_and_releases_its_port() -> None:
    m = Metrics()
    m.observe("screen", OK)
    port = m.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        m.close()
    assert 'fedscreen_agent_flags_sent_total{model="fake_labour_litigation"} 7.0' in text
    assert "python_gc" not in text  # its own registry, not the process-wide default
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    m.close()  # twice is harmless

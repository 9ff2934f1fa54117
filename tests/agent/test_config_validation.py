"""agent.toml validation: unknown keys are refused, every number is range-checked, and every
config the project writes still loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import load_settings
from coordinator.federation import write_agent_config, write_secret
from coordinator.state import init_state
from fedscreen.errors import ConfigError
from tests.agent.test_config import GOOD, write

SECTIONS = "agent, tls, trust, limits, metrics, reident, datasets"


def refused(tmp_path: Path, text: str) -> str:
    """The one-line message load_settings refuses `text` with; it must name the file."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = err.value.message
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(f"{path}: ") :]


def with_limit(line: str) -> str:
    return GOOD.replace("[limits]\n", f"[limits]\n{line}\n")


# --- unknown keys and sections -----------------------------------------------------------------
def test_a_misspelt_section_is_refused_naming_it_and_the_nearest(tmp_path: Path) -> None:
    text = GOOD.replace("[limits]", "[limts]")
    assert refused(tmp_path, text) == (
        f"limts is not a known section (known: {SECTIONS}); did you mean [limits]?"
    )


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "bogus = 3\n" + GOOD) == (
        f"bogus is not a known top-level key (known: {SECTIONS})"
    )


def test_an_unknown_limit_is_refused_naming_its_table(tmp_path: Path) -> None:
    message = refused(tmp_path, with_limit("bogus = 3"))
    assert message.startswith("limits.bogus is not a known key of [limits] (known: ")
    assert "max_flag_rows" in message and "did you mean" not in message


def test_a_misspelt_limit_suggests_the_real_one(tmp_path: Path) -> None:
    message = refused(tmp_path, with_limit("max_flag_row = 10"))
    assert message.endswith("; did you mean limits.max_flag_rows?")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('role = "court"', 'role = "court"\nport = 1'),
         "agent.port is not a known key of [agent]"),
        (('ca = "ca.crt"', 'ca = "ca.crt"\ncrl = "x"'), "tls.crl is not a known key of [tls]"),
        (('token_secret_file = "secret"', 'token_secret_file = "secret"\nsecret = "x"'),
         "trust.secret is not a known key of [trust]"),
        (('format = "parquet"', 'fromat = "csv"\nformat = "parquet"'),
         "datasets.labour_cases.fromat is not a known key of [datasets.labour_cases]"),
    ],
)  # fmt: skip
def test_unknown_keys_in_every_table_are_refused(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    assert refused(tmp_path, GOOD.replace(*edit)).startswith(expected)


def test_unknown_keys_in_optional_sections_are_refused(tmp_path: Path) -> None:
    reident = GOOD + "\n[reident]\nretention = 30\n"
    assert refused(tmp_path, reident).startswith("reident.retention is not a known key")
    metrics = GOOD + '\n[metrics]\nlisten = "127.0.0.1:0"\nport = 1\n'
    assert refused(tmp_path, metrics).startswith("metrics.port is not a known key of [metrics]")


# --- numbers and sizes -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("threads = 0", "limits.threads must be from 1 to 256, not 0"),
        ("threads = 1099511627776", "limits.threads must be from 1 to 256, not 1099511627776"),
        ("max_flag_rows = -5", "limits.max_flag_rows must be at least 1, not -5"),
        ("max_flag_rows = 0", "limits.max_flag_rows must be at least 1, not 0"),
        ("max_concurrent_jobs = -1", "limits.max_concurrent_jobs must be at least 1, not -1"),
        ("query_timeout_seconds = 0",
         "limits.query_timeout_seconds must be a number of seconds more than 0, at most 3.16"),
        ("query_timeout_seconds = -1", "limits.query_timeout_seconds must be a number of seconds"),
        ("query_timeout_seconds = nan", "limits.query_timeout_seconds must be a number of seconds"),
        ("query_timeout_seconds = inf", "limits.query_timeout_seconds must be a number of seconds"),
        ("min_interval_seconds = -1",
         "limits.min_interval_seconds must be a number of seconds 0 or more, at most 3.16224e+07"),
        ("min_interval_seconds = nan", "limits.min_interval_seconds must be a number of seconds"),
        ("shutdown_grace_seconds = inf", "limits.shutdown_grace_seconds must be a number of"),
        ("shutdown_grace_seconds = 1e12", "limits.shutdown_grace_seconds must be a number of"),
        ("job_record_hours = 1e9", "limits.job_record_hours must be a number of hours more than 0"),
        ('memory_limit = "lots"',
         "limits.memory_limit 'lots' must be a size of at least 1MB, such as 2GB or 512MiB"),
        ('memory_limit = "80%"', "limits.memory_limit '80%' must be a size"),
        ('memory_limit = "-1"', "limits.memory_limit '-1' must be a size"),
        ('memory_limit = "10B"', "limits.memory_limit '10B' must be a size"),
        ('memory_limit = "0GB"', "limits.memory_limit '0GB' must be a size"),
        ("memory_limit = 2", "limits.memory_limit must be str, not int"),
        ("threads = 1.5", "limits.threads must be int, not float"),
    ],
)  # fmt: skip
def test_out_of_range_limits_are_one_line_naming_the_key(
    tmp_path: Path, line: str, expected: str
) -> None:
    assert refused(tmp_path, with_limit(line)) == expected or refused(
        tmp_path, with_limit(line)
    ).startswith(expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("retention_days = 1000000000", "reident.retention_days must be from 1 to 36500"),
        ("max_request_minutes = 0", "reident.max_request_minutes must be from 1 to 527040, not 0"),
        ("max_request_minutes = 10000000000000", "reident.max_request_minutes must be from 1"),
    ],
)
def test_out_of_range_reident_numbers_are_refused(tmp_path: Path, line: str, expected: str) -> None:
    assert refused(tmp_path, GOOD + f"\n[reident]\n{line}\n").startswith(expected)


def test_a_listen_port_above_65535_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:70000"')
    assert refused(tmp_path, text) == "agent.listen '127.0.0.1:70000' has a port above 65535"


def test_sizes_and_limits_in_range_are_read(tmp_path: Path) -> None:
    text = with_limit(
        'memory_limit = "512MiB"\nthreads = 4\nquery_timeout_seconds = 30\nmax_flag_rows = 1'
    )
    s = load_settings(write(tmp_path, text))
    engine = s.engine
    assert (engine.memory_limit, engine.threads, engine.timeout_seconds) == ("512MiB", 4, 30.0)
    assert s.disclosure.max_flag_rows == 1
    text = with_limit('memory_limit = "1.5 GB"\nmin_interval_seconds = 0')
    assert load_settings(write(tmp_path, text)).engine.memory_limit == "1.5 GB"


# --- what the project writes still loads -------------------------------------------------------
def test_configs_the_coordinator_and_the_integration_tests_write_still_load(
    tmp_path: Path,
) -> None:
    """coordinator.federation.write_agent_config with the [limits] keys and the metrics
    endpoint tests/integration/agent_procs.agent_config passes it."""
    state = init_state(tmp_path / "coordinator", "测试检察院")
    secret = write_secret(tmp_path / "token.secret")
    data = tmp_path / "data"
    (data / "court").mkdir(parents=True)
    (data / "court" / "labour_cases.parquet").write_bytes(b"")  # mapped if it exists
    limits: dict[str, int | float] = {
        "max_concurrent_jobs": 2, "min_interval_seconds": 60, "shutdown_grace_seconds": 1,
    }  # fmt: skip
    config = write_agent_config(
        state, tmp_path / "agents", "t-court", "court", data, secret, 0.2,
        limits=limits, metrics_listen="127.0.0.1:0", listen="127.0.0.1:0",
    )  # fmt: skip
    s = load_settings(config)
    assert (s.service.max_concurrent_jobs, s.service.min_interval_seconds) == (2, 60.0)
    assert s.engine.threads == 1 and s.metrics is not None
    assert set(s.sources) == {"labour_cases"}
    assert re.fullmatch(r"t-court", s.name)

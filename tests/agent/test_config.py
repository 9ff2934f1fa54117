from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import DisclosureLimits, load_settings, read_secret
from agent.guard import enforce_caps
from fedscreen.errors import ConfigError, DisclosureLimit

GOOD = """
[agent]
name = "court-a"
role = "court"
listen = "127.0.0.1:0"
state_dir = "state"

[tls]
cert = "a.crt"
key = "a.key"
ca = "ca.crt"
allowed_clients = ["coordinator"]

[trust]
signer_keys = ["signer.pub"]
token_secret_file = "secret"

[limits]
max_flag_fraction = 0.1

[datasets.labour_cases]
format = "parquet"
path = "data/*.parquet"
"""


TLS = """[tls]
cert = "a.crt"
key = "a.key"
ca = "ca.crt"
allowed_clients = ["coordinator"]
"""
assert TLS in GOOD


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert s.role == "court" and s.name == "court-a"
    assert s.state_dir == (tmp_path / "state").resolve()
    assert s.sources["labour_cases"].path == str(tmp_path / "data/*.parquet")
    assert s.disclosure.max_flag_fraction == 0.1
    assert s.tls is not None and s.tls.allowed_clients == ("coordinator",)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((TLS, ""), "mutual TLS is mandatory"),
        (('role = "court"', 'role = "courts"'), "agent.role 'courts' is unknown"),
        (('name = "court-a"\n', ""), "agent.name is missing"),
        (("max_flag_fraction = 0.1", "max_flag_fraction = 3"), "limits.max_flag_fraction"),
        (('format = "parquet"', 'format = "xlsx"'), "datasets.labour_cases.format"),
        (("[datasets.labour_cases]", "[datasets.labour_case]"), "datasets.labour_case is not"),
        (('signer_keys = ["signer.pub"]', "signer_keys = []"), "trust the signer_keys"),
        (('listen = "127.0.0.1:0"', 'listen = "anywhere"'), "agent.listen"),
        (('allowed_clients = ["coordinator"]', "allowed_clients = []"), "tls.allowed_clients"),
    ],
)
def test_bad_configs_name_the_file_and_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    if message == "trust the signer_keys":
        message = "trust.signer_keys is empty"
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_insecure_dev_allows_a_config_without_tls(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace(TLS, ""))
    assert load_settings(path, insecure_dev=True).tls is None


def test_a_short_token_secret_is_refused(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    (tmp_path / "secret").write_text("too short")
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        read_secret(s)
    (tmp_path / "secret").write_text("x" * 40)
    assert read_secret(s) == b"x" * 40


@pytest.mark.parametrize(
    ("rows_out", "rows_in", "refused"),
    [(5, 100, False), (10, 100, False), (11, 100, True), (0, 0, False), (1001, 10**6, True)],
)
def test_flag_caps(rows_out: int, rows_in: int, refused: bool) -> None:
    limits = DisclosureLimits(max_flag_fraction=0.1, max_flag_rows=1000)
    if refused:
        with pytest.raises(DisclosureLimit, match="nothing was sent"):
            enforce_caps(rows_out, rows_in, limits)
    else:
        enforce_caps(rows_out, rows_in, limits)


def test_a_fraction_refusal_gives_the_input_size_only_to_two_significant_digits() -> None:
    limits = DisclosureLimits(max_flag_fraction=0.1, max_flag_rows=10**6)
    with pytest.raises(DisclosureLimit) as refused:
        enforce_caps(200, 1234, limits)
    assert refused.value.message == (
        "result flags 200 of about 1200 input rows, above this agency's cap of 10.0%;"
        " nothing was sent"
    )


def test_service_limits_default_to_two_jobs_and_no_interval(tmp_path: Path) -> None:
    service = load_settings(write(tmp_path, GOOD)).service
    assert (service.max_concurrent_jobs, service.min_interval_seconds) == (2, 0.0)


def test_service_limits_are_read_and_checked(tmp_path: Path) -> None:
    text = GOOD.replace(
        "[limits]\n", "[limits]\nmax_concurrent_jobs = 4\nmin_interval_seconds = 90\n"
    )
    service = load_settings(write(tmp_path, text)).service
    assert (service.max_concurrent_jobs, service.min_interval_seconds) == (4, 90.0)
    bad = GOOD.replace("[limits]\n", "[limits]\nmax_concurrent_jobs = 0\n")
    with pytest.raises(ConfigError, match="limits.max_concurrent_jobs must be at least 1"):
        load_settings(write(tmp_path, bad))


def test_the_shipped_example_config_loads_with_every_documented_key() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "agent.example.toml"
    s = load_settings(example)
    assert s.role == "court" and s.tls is not None
    assert set(s.sources) == {"labour_cases", "enforcement_cases"}
    assert s.disclosure.max_flag_fraction == 0.05
    assert s.metrics is not None and s.metrics.listen == "127.0.0.1:9464"
    assert s.service.job_record_hours == 24.0


def test_metrics_are_off_without_a_metrics_section(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD)).metrics is None


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("127.0.0.1:9464", "127.0.0.1", 9464), ("127.0.0.1:0", "127.0.0.1", 0), ("[::1]:9", "::1", 9)],
)
def test_metrics_listen_is_read_as_host_and_port(
    tmp_path: Path, listen: str, host: str, port: int
) -> None:
    metrics = load_settings(write(tmp_path, GOOD + f'\n[metrics]\nlisten = "{listen}"\n')).metrics
    assert metrics is not None and (metrics.host, metrics.port) == (host, port)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[metrics]\n", "metrics.listen is missing"),
        ('[metrics]\nlisten = "9464"\n', "metrics.listen '9464' must be HOST:PORT"),
        ('[metrics]\nlisten = ":9464"\n', "metrics.listen ':9464' must be HOST:PORT"),
        ('[metrics]\nlisten = "localhost:99999"\n', "metrics.listen 'localhost:99999' has a port"),
        ("[metrics]\nlisten = 9464\n", "metrics.listen must be str"),
    ],
)
def test_bad_metrics_listen_names_the_file_and_key(
    tmp_path: Path, section: str, message: str
) -> None:
    path = write(tmp_path, GOOD + "\n" + section)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_job_record_hours_defaults_to_a_day_and_is_read(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD)).service.job_record_hours == 24.0
    text = GOOD.replace("[limits]\n", "[limits]\njob_record_hours = 0.5\n")
    assert load_settings(write(tmp_path, text)).service.job_record_hours == 0.5
    text = GOOD.replace("[limits]\n", "[limits]\njob_record_hours = 72\n")
    assert load_settings(write(tmp_path, text)).service.job_record_hours == 72.0


@pytest.mark.parametrize("bad", ["0", "-1", "inf", "nan", '"24"', "true"])
def test_bad_job_record_hours_names_the_file_and_key(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, GOOD.replace("[limits]\n", f"[limits]\njob_record_hours = {bad}\n"))
    with pytest.raises(ConfigError, match="limits.job_record_hours must be") as err:
        load_settings(path)
    assert str(path) in str(err.value)

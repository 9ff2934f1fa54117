"""The agent's settings: one frozen object, loaded from TOML, validated with file and key named.

Paths in the file are relative to the file's own folder. Nothing is read from the environment:
the process passes the settings explicitly to whatever needs them.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedscreen import dictionary
from fedscreen.engine import EngineLimits, SourceSpec
from fedscreen.errors import ConfigError

_FORMATS = ("parquet", "csv", "duckdb")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class TlsSettings:
    cert: Path
    key: Path
    ca: Path
    allowed_clients: tuple[str, ...]


@dataclass(frozen=True)
class DisclosureLimits:
    """The agency's brake on what one run may flag, enforced here, never trusted to a model."""

    max_flag_fraction: float
    max_flag_rows: int


@dataclass(frozen=True)
class ReidentSettings:
    """Re-identification on request (必要关联查询): whom to answer, how often, how long to keep
    the record of issued tokens, and whether a human at the agency must approve each answer."""

    analyst_keys: tuple[Path, ...] = ()
    revoked: tuple[str, ...] = ()  # analyst key ids
    retention_days: int = 90
    require_approval: bool = False
    max_requests_per_day: int = 20
    max_request_minutes: int = 60  # the longest validity window accepted on a request


@dataclass(frozen=True)
class ServiceLimits:
    """How much screening the agent takes on: jobs at once, the per-model brake on
    over-frequent runs, how long a shutdown waits for jobs in flight, and how long a finished
    job's result is kept so a re-sent job id is answered from the record."""

    max_concurrent_jobs: int = 2
    min_interval_seconds: float = 0.0
    shutdown_grace_seconds: float = 30.0
    job_record_hours: float = 24.0  # a finished job's result is kept this long for re-sends


@dataclass(frozen=True)
class MetricsSettings:
    """Where the Prometheus endpoint listens (plain HTTP, counts only); None in AgentSettings
    means no endpoint."""

    listen: str

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class AgentSettings:
    source: Path
    name: str
    role: str
    listen: str
    state_dir: Path
    tls: TlsSettings | None
    signer_keys: tuple[Path, ...]
    token_secret_file: Path
    sources: dict[str, SourceSpec]
    disclosure: DisclosureLimits
    engine: EngineLimits
    reident: ReidentSettings = ReidentSettings()
    service: ServiceLimits = ServiceLimits()
    metrics: MetricsSettings | None = None

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @property
    def reident_path(self) -> Path:
        return self.state_dir / "reident.sqlite"

    @property
    def approvals_path(self) -> Path:
        return self.state_dir / "approvals.json"


class _Reader:
    """Typed access to a TOML table that names the file and the dotted key in every error."""

    def __init__(self, file: Path, table: dict[str, Any], prefix: str = "") -> None:
        self.file, self.table, self.prefix = file, table, prefix

    def _fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.prefix}{key} {what}")

    def sub(self, key: str, required: bool = True) -> _Reader:
        value = self.table.get(key, None)
        if value is None and not required:
            return _Reader(self.file, {}, f"{self.prefix}{key}.")
        if not isinstance(value, dict):
            raise self._fail(key, "is missing (expected a [table])")
        return _Reader(self.file, value, f"{self.prefix}{key}.")

    def get(self, key: str, typ: type, default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self._fail(key, "is missing")
            return default
        value = self.table[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise self._fail(key, f"must be {typ.__name__}, not {type(value).__name__}")
        return value

    def path(self, key: str, base: Path) -> Path:
        return (base / self.get(key, str)).resolve()


def _sources(reader: _Reader, role: str, base: Path) -> dict[str, SourceSpec]:
    known = dictionary.datasets(role)
    specs = {}
    for name in reader.table:
        if name not in known:
            raise ConfigError(
                f"{reader.file}: datasets.{name} is not a logical dataset of role {role} "
                f"(known: {', '.join(sorted(known))})"
            )
        ds = reader.sub(name)
        fmt = ds.get("format", str)
        if fmt not in _FORMATS:
            raise ConfigError(
                f"{reader.file}: datasets.{name}.format {fmt!r} is not one of {', '.join(_FORMATS)}"
            )
        table = ds.get("table", str, None)
        if fmt == "duckdb" and table is None:
            raise ConfigError(f"{reader.file}: datasets.{name}.table is required for duckdb")
        raw = ds.get("path", str)
        path = raw if Path(raw).is_absolute() else str(base / raw)
        specs[name] = SourceSpec(dataset=name, format=fmt, path=path, table=table)
    if not specs:
        raise ConfigError(f"{reader.file}: [datasets] maps no logical dataset")
    return specs


def _reident(reader: _Reader, base: Path) -> ReidentSettings:
    keys = reader.get("analyst_keys", list, [])
    revoked = reader.get("revoked", list, [])
    for name, values in (("analyst_keys", keys), ("revoked", revoked)):
        if not all(isinstance(v, str) and v for v in values):
            raise reader._fail(name, "must be a list of non-empty strings")
    if not all(re.fullmatch(r"[0-9a-f]{16}", v) for v in revoked):
        raise reader._fail("revoked", "must list key ids: 16 hex digits (fedscreen analysts list)")
    numbers = {
        name: reader.get(name, int, default)
        for name, default in (
            ("retention_days", 90),
            ("max_requests_per_day", 20),
            ("max_request_minutes", 60),
        )
    }
    for name, value in numbers.items():
        if value < 1:
            raise reader._fail(name, "must be at least 1")
    return ReidentSettings(
        analyst_keys=tuple((base / k).resolve() for k in keys),
        revoked=tuple(revoked),
        require_approval=reader.get("require_approval", bool, False),
        **numbers,
    )


def _service(limits: _Reader) -> ServiceLimits:
    jobs = limits.get("max_concurrent_jobs", int, 2)
    if jobs < 1:
        raise limits._fail("max_concurrent_jobs", "must be at least 1")
    seconds = {
        name: limits.get(name, float, default)
        for name, default in (("min_interval_seconds", 0.0), ("shutdown_grace_seconds", 30.0))
    }
    for name, value in seconds.items():
        if value < 0:
            raise limits._fail(name, "must be 0 or more")
    hours = limits.get("job_record_hours", float, 24.0)
    if not 0 < hours < math.inf:  # also refuses nan; a timedelta cannot hold inf
        raise limits._fail("job_record_hours", "must be a number of hours more than 0")
    return ServiceLimits(max_concurrent_jobs=jobs, job_record_hours=hours, **seconds)


def _metrics(reader: _Reader) -> MetricsSettings:
    """[metrics] listen = "HOST:PORT" (port 0 picks a free one); required in the section."""
    listen = reader.get("listen", str)
    if not _ADDRESS.match(listen) or not listen.rsplit(":", 1)[0].strip("[]"):
        raise reader._fail("listen", f"{listen!r} must be HOST:PORT")
    if int(listen.rsplit(":", 1)[1]) > 65535:
        raise reader._fail("listen", f"{listen!r} has a port above 65535")
    return MetricsSettings(listen)


def load_settings(file: Path, *, insecure_dev: bool = False) -> AgentSettings:
    """Read and validate agent.toml. TLS is mandatory unless `insecure_dev` is set."""
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    base = file.resolve().parent
    root = _Reader(file, doc)
    agent = root.sub("agent")
    role = agent.get("role", str)
    if role not in dictionary.roles():
        raise ConfigError(
            f"{file}: agent.role {role!r} is unknown (known: {', '.join(dictionary.roles())})"
        )
    listen = agent.get("listen", str, "127.0.0.1:0")
    if not _ADDRESS.match(listen):
        raise ConfigError(f"{file}: agent.listen {listen!r} must be HOST:PORT")
    tls = None
    tls_table = root.sub("tls", required=False)
    if tls_table.table:
        allowed = tls_table.get("allowed_clients", list)
        if not allowed or not all(isinstance(a, str) and a for a in allowed):
            raise ConfigError(f"{file}: tls.allowed_clients must list at least one identity")
        tls = TlsSettings(
            cert=tls_table.path("cert", base),
            key=tls_table.path("key", base),
            ca=tls_table.path("ca", base),
            allowed_clients=tuple(allowed),
        )
    elif not insecure_dev:
        raise ConfigError(
            f"{file}: [tls] is missing; mutual TLS is mandatory "
            "(plaintext only with --insecure-dev)"
        )
    trust = root.sub("trust")
    signer_keys = trust.get("signer_keys", list)
    if not signer_keys:
        raise ConfigError(f"{file}: trust.signer_keys is empty; the agent would trust no model")
    limits = root.sub("limits", required=False)
    fraction = limits.get("max_flag_fraction", float, 0.05)
    if not 0 < fraction <= 1:
        raise ConfigError(f"{file}: limits.max_flag_fraction must be in (0, 1]")
    return AgentSettings(
        source=file.resolve(),
        name=agent.get("name", str),
        role=role,
        listen=listen,
        state_dir=agent.path("state_dir", base),
        tls=tls,
        signer_keys=tuple((base / p).resolve() for p in signer_keys),
        token_secret_file=trust.path("token_secret_file", base),
        sources=_sources(root.sub("datasets"), role, base),
        disclosure=DisclosureLimits(
            max_flag_fraction=fraction,
            max_flag_rows=limits.get("max_flag_rows", int, 100_000),
        ),
        engine=EngineLimits(
            memory_limit=limits.get("memory_limit", str, "2GB"),
            threads=limits.get("threads", int, 2),
            timeout_seconds=limits.get("query_timeout_seconds", float, 600.0),
        ),
        reident=_reident(root.sub("reident", required=False), base),
        service=_service(limits),
        metrics=_metrics(root.sub("metrics")) if "metrics" in doc else None,
    )


def read_secret(settings: AgentSettings) -> bytes:
    """The agency-shared token secret: at least 32 bytes; the coordinator never holds it."""
    try:
        secret = settings.token_secret_file.read_bytes().strip()
    except OSError:
        raise ConfigError(
            f"{settings.source}: trust.token_secret_file {settings.token_secret_file} "
            "is not readable"
        ) from None
    if len(secret) < 32:
        raise ConfigError(
            f"{settings.source}: the token secret in {settings.token_secret_file} is shorter "
            "than 32 bytes"
        )
    return secret

"""The agent's settings: one frozen object, loaded from TOML, validated with file and key named.

Paths in the file are relative to the file's own folder. Nothing is read from the environment:
the process passes the settings explicitly to whatever needs them. Every key is known: a typo
(`[limts]`, `max_flag_row`) is refused rather than silently replaced by a default, and every
number is range-checked here, so nothing downstream (DuckDB, grpc, timedelta) sees a bad one.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fedscreen import dictionary
from fedscreen.engine import EngineLimits, SourceSpec
from fedscreen.errors import ConfigError
from fedscreen.tokens import MIN_SECRET_BYTES

T = TypeVar("T")
_FORMATS = ("parquet", "csv", "duckdb")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
# What DuckDB's memory_limit accepts, restricted to explicit sizes (no "80%", no "-1").
_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", re.IGNORECASE)
_MEMORY_UNITS = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_MIN_MEMORY = 10**6  # below about a megabyte DuckDB cannot even open
_MAX_SECONDS = 366 * 86400.0  # a year: threading waits overflow on far larger values
_MAX_DAYS = 36500  # a hundred years: `now - timedelta(days=…)` overflows on far larger ones
# Every key each table may hold; anything else is refused with the nearest known key.
_KEYS: dict[str, tuple[str, ...]] = {
    "": ("agent", "tls", "trust", "limits", "metrics", "reident", "datasets"),
    "agent": ("name", "role", "listen", "state_dir"),
    "tls": ("cert", "key", "ca", "allowed_clients"),
    "trust": ("signer_keys", "token_secret_file"),
    "limits": (
        "max_flag_fraction", "max_flag_rows", "memory_limit", "threads",
        "query_timeout_seconds", "max_concurrent_jobs", "min_interval_seconds",
        "shutdown_grace_seconds", "job_record_hours",
    ),
    "metrics": ("listen",),
    "reident": (
        "analyst_keys", "revoked", "retention_days", "require_approval",
        "max_requests_per_day", "max_request_minutes",
    ),
    "dataset": ("format", "path", "table"),
}  # fmt: skip

# DuckDB threads per query: more than this is a typo (2**40 hangs DuckDB at start-up).
MAX_THREADS = 256


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

    def only(self, known: Iterable[str]) -> None:
        """Refuse a key this table does not define: a misspelt limit must not quietly fall back
        to its default. Names the key, where it is, and the nearest known one."""
        known = tuple(known)
        for key, value in self.table.items():
            if key in known:
                continue
            near = difflib.get_close_matches(key, known, n=1)
            if self.prefix:
                where = f"key of [{self.prefix.rstrip('.')}]"
                hint = f"; did you mean {self.prefix}{near[0]}?" if near else ""
            else:  # the top level holds only sections
                where = "section" if isinstance(value, dict) else "top-level key"
                hint = f"; did you mean [{near[0]}]?" if near else ""
            raise self._fail(key, f"is not a known {where} (known: {', '.join(known)}){hint}")

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value: int = self.get(key, int, default)
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise self._fail(key, f"must be {bounds}, not {value}")
        return value

    def number(
        self, key: str, default: float, *, unit: str, above_zero: bool, high: float
    ) -> float:
        """A finite float in [0, high], or (0, high] with above_zero; refuses nan and inf."""
        value: float = self.get(key, float, default)
        if not (0 < value if above_zero else 0 <= value) or not value <= high:
            low = "more than 0" if above_zero else "0 or more"
            raise self._fail(key, f"must be a number of {unit} {low}, at most {high:g}")
        return value


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
        ds.only(_KEYS["dataset"])
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
    reader.only(_KEYS["reident"])
    keys = reader.get("analyst_keys", list, [])
    revoked = reader.get("revoked", list, [])
    for name, values in (("analyst_keys", keys), ("revoked", revoked)):
        if not all(isinstance(v, str) and v for v in values):
            raise reader._fail(name, "must be a list of non-empty strings")
    if not all(re.fullmatch(r"[0-9a-f]{16}", v) for v in revoked):
        raise reader._fail("revoked", "must list key ids: 16 hex digits (fedscreen analysts list)")
    numbers = {
        "retention_days": reader.integer("retention_days", 90, 1, _MAX_DAYS),
        "max_requests_per_day": reader.integer("max_requests_per_day", 20, 1),
        # a request valid for longer than a year is no "on request" look-up
        "max_request_minutes": reader.integer("max_request_minutes", 60, 1, 366 * 24 * 60),
    }
    return ReidentSettings(
        analyst_keys=tuple((base / k).resolve() for k in keys),
        revoked=tuple(revoked),
        require_approval=reader.get("require_approval", bool, False),
        **numbers,
    )


def _service(limits: _Reader) -> ServiceLimits:
    jobs = limits.integer("max_concurrent_jobs", 2, 1)
    seconds = {
        name: limits.number(name, default, unit="seconds", above_zero=False, high=_MAX_SECONDS)
        for name, default in (("min_interval_seconds", 0.0), ("shutdown_grace_seconds", 30.0))
    }
    # A timedelta holds neither inf nor nan, and `now - keep` must stay after year 1.
    hours = limits.number(
        "job_record_hours", 24.0, unit="hours", above_zero=True, high=_MAX_DAYS * 24.0
    )
    return ServiceLimits(max_concurrent_jobs=jobs, job_record_hours=hours, **seconds)


def _engine(limits: _Reader) -> EngineLimits:
    """DuckDB's limits, checked here: DuckDB's own refusal is a traceback at the first job."""
    memory = limits.get("memory_limit", str, "2GB")
    size = _MEMORY.fullmatch(memory)
    if not size or float(size[1]) * _MEMORY_UNITS[size[2][0].upper()] < _MIN_MEMORY:
        raise limits._fail(
            "memory_limit", f"{memory!r} must be a size of at least 1MB, such as 2GB or 512MiB"
        )
    return EngineLimits(
        memory_limit=memory,
        threads=limits.integer("threads", 2, 1, MAX_THREADS),
        timeout_seconds=limits.number(
            "query_timeout_seconds", 600.0, unit="seconds", above_zero=True, high=_MAX_SECONDS
        ),
    )


def _metrics(reader: _Reader) -> MetricsSettings:
    """[metrics] listen = "HOST:PORT" (port 0 picks a free one); required in the section."""
    reader.only(_KEYS["metrics"])
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
    root.only(_KEYS[""])
    agent = root.sub("agent")
    agent.only(_KEYS["agent"])
    role = agent.get("role", str)
    if role not in dictionary.roles():
        raise ConfigError(
            f"{file}: agent.role {role!r} is unknown (known: {', '.join(dictionary.roles())})"
        )
    listen = agent.get("listen", str, "127.0.0.1:0")
    if not _ADDRESS.match(listen):
        raise ConfigError(f"{file}: agent.listen {listen!r} must be HOST:PORT")
    if int(listen.rsplit(":", 1)[1]) > 65535:
        raise ConfigError(f"{file}: agent.listen {listen!r} has a port above 65535")
    tls = None
    tls_table = root.sub("tls", required=False)
    tls_table.only(_KEYS["tls"])
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
    trust.only(_KEYS["trust"])
    signer_keys = trust.get("signer_keys", list)
    if not signer_keys:
        raise ConfigError(f"{file}: trust.signer_keys is empty; the agent would trust no model")
    limits = root.sub("limits", required=False)
    limits.only(_KEYS["limits"])
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
            max_flag_rows=limits.integer("max_flag_rows", 100_000, 1),
        ),
        engine=_engine(limits),
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
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{settings.source}: the token secret in {settings.token_secret_file} is shorter "
            f"than {MIN_SECRET_BYTES} bytes"
        )
    return secret


def read_tls(settings: AgentSettings) -> None:
    """The [tls] files exist and parse, and the key belongs to the certificate: what grpc needs
    to serve. ConfigError naming the key and the file otherwise (grpc itself says only "Failed
    to bind"). `fedscreen-agent doctor` checks more: the chain, expiry, the name."""
    tls = settings.tls
    if tls is None:
        return
    cert = _pem(settings, "cert", tls.cert, "a PEM certificate", x509.load_pem_x509_certificate)
    _pem(settings, "ca", tls.ca, "a PEM certificate", x509.load_pem_x509_certificates)
    key = _pem(
        settings,
        "key",
        tls.key,
        "an unencrypted PEM private key",
        lambda data: serialization.load_pem_private_key(data, password=None),
    )
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ConfigError(
            f"{settings.source}: tls.key {tls.key} does not belong to tls.cert {tls.cert} "
            "(public keys differ)"
        )


def _pem(settings: AgentSettings, key: str, path: Path, what: str, load: Callable[[bytes], T]) -> T:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{settings.source}: tls.{key} {path} is not readable ({exc.strerror or exc})"
        ) from None
    try:
        return load(data)
    except (ValueError, TypeError):
        raise ConfigError(f"{settings.source}: tls.{key} {path} is not {what}") from None


def _spki(public: Any) -> bytes:
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der

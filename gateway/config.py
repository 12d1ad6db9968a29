"""Configuration: the TOML defaults in ``conf/`` overridden by ``GATEWAY_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "conf" / "gateway.toml"


@dataclass(frozen=True)
class ServerSettings:
    bind: str = "127.0.0.1:8080"
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    run_worker: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    #: buffered: requests are read whole on an asyncio loop before they take a thread
    #: (gateway.http_worker); gthread: gunicorn's own (a slow client holds a thread).
    worker_class: str = "buffered"
    #: A request's headers must arrive within this many seconds of its first byte.
    header_timeout_seconds: float = 10.0
    #: A body may take body_timeout_seconds + one second per body_min_rate_bytes received.
    body_timeout_seconds: float = 10.0
    body_min_rate_bytes: int = 500
    #: An idle keep-alive connection is closed after this many seconds.
    keepalive_seconds: float = 5.0
    #: Open connections per process beyond which new ones are closed at once.
    max_connections: int = 1000
    #: Request bodies being received by one process, all connections together (bytes).
    max_buffered_bytes: int = 256 * 1024 * 1024
    #: A gunicorn worker process is replaced after this many requests (+ a random jitter up
    #: to max_requests_jitter), so whatever memory it kept is returned; 0: never.
    max_requests: int = 20000
    max_requests_jitter: int = 2000
    #: TLS: the server's certificate chain and key (PEM); empty: plain HTTP.
    tls_cert: str = ""
    tls_key: str = ""
    #: Mutual TLS: CA certificates (PEM) client certificates must chain to; empty: none asked.
    client_ca: str = ""
    #: Refuse a TLS handshake without a client certificate (needs client_ca).
    require_client_cert: bool = False


@dataclass(frozen=True)
class SecuritySettings:
    require_xades: bool = True
    max_clock_skew_seconds: int = 0
    #: RequestHeader/Date (and the XAdES SigningTime, which is signed) must be within this
    #: many hours of the gateway's time; 0 disables the check.
    request_date_window_hours: float = 24.0
    #: CRL files (PEM or DER), separated by os.pathsep; re-read when they change.
    crl_files: str = ""
    #: Limits of one packet's XML, checked while parsing (gateway.xmlparse.XmlLimits).
    max_xml_elements: int = 150_000
    max_xml_depth: int = 64
    max_xml_attributes: int = 20_000
    max_xml_text_bytes: int = 1_000_000


@dataclass(frozen=True)
class WorkerSettings:
    poll_interval_seconds: float = 0.5
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0
    lease_seconds: int = 60
    concurrency: int = 1
    listen: bool = True
    #: ``gateway worker`` serves its Prometheus metrics (``/metrics``, ``/healthz``) on this
    #: HOST:PORT; empty: it serves none (``gateway serve`` nodes serve theirs at ``/metrics``).
    metrics_bind: str = ""


@dataclass(frozen=True)
class DatabaseSettings:
    """Connection pool and server-side limits (PostgreSQL); see docs/scaling.md for sizing."""

    pool_size: int = 6
    max_overflow: int = 4
    pool_timeout_seconds: float = 10.0
    pool_recycle_seconds: int = 1800
    statement_timeout_ms: int = 30000
    lock_timeout_ms: int = 10000
    idle_in_transaction_timeout_ms: int = 60000
    connect_timeout_seconds: int = 5


@dataclass(frozen=True)
class RetentionSettings:
    """``gateway packets purge``: processed and rejected packets older than this may go."""

    processed_days: int = 180
    rejected_days: int = 30


@dataclass(frozen=True)
class ConsoleSettings:
    """The ops web console at ``/console`` (operators: ``gateway operators add``)."""

    enabled: bool = True
    #: Signs session cookies; empty: generated once into ``<data_dir>/console-secret``.
    secret: str = ""
    session_hours: int = 8
    #: Mark the session cookie Secure even when the request arrived over plain HTTP (TLS
    #: terminated in front of the gateway). Requests seen as https always get Secure.
    secure_cookie: bool = False


@dataclass(frozen=True)
class MetricsSettings:
    """``/metrics`` (Prometheus) and ``/readyz``."""

    enabled: bool = True
    #: prometheus-client multiprocess directory; empty: ``<data_dir>/prometheus/<pid>``.
    multiproc_dir: str = ""
    #: ``/readyz`` fails when a ready job has waited longer than this (the queue is stalled).
    queue_stall_seconds: int = 300
    #: ``/metrics`` answers only ``Authorization: Bearer <token>``; empty: no token asked.
    token: str = ""
    #: Serve ``/metrics`` (with /healthz, /readyz) only on this extra HOST:PORT, an internal
    #: address; empty: on the main bind.
    bind: str = ""


@dataclass(frozen=True)
class LimitSettings:
    """Limits shared by all processes and nodes (gateway.limits); 0 turns one off."""

    packets_per_minute: int = 1200
    queued_packets: int = 10_000
    #: two more commits per request, neither waiting for the disk (~1 ms on SQLite here)
    concurrent_requests: int = 32
    #: a request's lease outlives a process that died by this much at most
    lease_seconds: int = 120
    failed_logins_per_name: int = 10
    failed_logins_per_address: int = 100
    failed_login_window_seconds: int = 900


@dataclass(frozen=True)
class LoggingSettings:
    #: json | text | auto (text on a terminal, JSON otherwise)
    format: str = "auto"
    level: str = "INFO"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""
    xsd_dir: Path = PROJECT_ROOT / "xsd"
    wsdl_dir: Path = PROJECT_ROOT / "wsdl"
    # Published format bundle directories (os.pathsep-separated); empty: the own xsd/ + wsdl/.
    formats_dir: str = ""
    server: ServerSettings = field(default_factory=ServerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def resolved_database_url(self) -> str:
        """The database URL; the embedded SQLite file under ``data_dir`` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.sqlite3').resolve()}"

    @property
    def formats_dirs(self) -> list[Path]:
        return [Path(p) for p in self.formats_dir.split(os.pathsep) if p.strip()]

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given top-level keys replaced (``None`` values are ignored)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(given["data_dir"])
        return replace(self, **given)


def _coerce(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, Path):
        return Path(value)
    return value


def _build(cls: type, table: dict[str, Any], env_prefix: str, environ: dict[str, str]) -> Any:
    """A settings dataclass from a TOML table, then ``<env_prefix><KEY>`` variables on top."""
    defaults = cls()
    values: dict[str, Any] = {}
    for f in fields(cls):
        current = getattr(defaults, f.name)
        if hasattr(current, "__dataclass_fields__"):
            values[f.name] = _build(
                type(current), table.get(f.name, {}), f"{env_prefix}{f.name.upper()}_", environ
            )
            continue
        if f.name in table:
            current = _coerce(str(table[f.name]), current)
        env_key = f"{env_prefix}{f.name.upper()}"
        if env_key in environ:
            current = _coerce(environ[env_key], current)
        values[f.name] = current
    return cls(**values)


def load_settings(
    config_file: Path | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read ``conf/gateway.toml`` (or ``GATEWAY_CONFIG``) and apply ``GATEWAY_*`` overrides."""
    environ = dict(os.environ if environ is None else environ)
    path = config_file or Path(environ.get("GATEWAY_CONFIG", DEFAULT_CONFIG_FILE))
    table: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    return _build(Settings, table, "GATEWAY_", environ)

"""Configuration: defaults, then a ``gateway.toml``, then ``GATEWAY_*`` environment variables.

One resolution order for every command (``serve``, ``worker``, ``demo``, ``orgs``, ``trust``,
``packets``, ``operators``, ``db`` …), so they all find the same store:

    command-line flag (--data-dir, --database-url)
    ► environment (GATEWAY_DATA_DIR, GATEWAY_DATABASE_URL, any GATEWAY_<SECTION>_<KEY>)
    ► the file GATEWAY_CONFIG names, else ``gateway.toml`` in the working directory
    ► the defaults (``conf/gateway.toml`` lists each with its meaning; data in ``./var``)

Relative paths in a configuration file are relative to that file's directory; relative paths
from a flag or the environment are relative to the working directory. Unknown sections and
keys are refused with their name, and so are values of the wrong type.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The configuration file looked for in the working directory.
CONFIG_FILE_NAME = "gateway.toml"


def data_path(name: str) -> Path:
    """A directory the gateway reads at run time (``conf``, ``xsd``, ``wsdl``).

    In an installed wheel they live in the package (``gateway/_data/<name>``, copied there by
    the build); in a checkout they are the top-level directories of the repository.
    """
    packaged = Path(str(resources.files("gateway") / "_data" / name))
    if packaged.is_dir():
        return packaged
    return PROJECT_ROOT / name


#: Every key with its default and what it means; a template for your own gateway.toml.
DEFAULT_CONFIG_FILE = data_path("conf") / "gateway.toml"


class ConfigError(ValueError):
    """A configuration that cannot be used: unknown key, wrong type, missing file."""


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
    #: How long a thread of a serving process may hold the GIL while another waits for it
    #: (``sys.setswitchinterval``, ms; Python's default is 5). A getState served beside
    #: packets waits for it several times (read, run, after its statement, answer); 1 ms
    #: shortened its tail under load, at no CPU per packet that could be told apart.
    switch_interval_ms: float = 1.0


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
    #: jobs one worker claims in one transaction (then processes one after another)
    claim_batch: int = 1
    concurrency: int = 1
    listen: bool = True
    #: ``gateway worker`` serves its Prometheus metrics (``/metrics``, ``/healthz``) on this
    #: HOST:PORT; empty: it serves none (``gateway serve`` nodes serve theirs at ``/metrics``).
    metrics_bind: str = ""
    #: the nice value (0-19) the queue workers' threads take: on a node that also accepts,
    #: accepts and getState get the CPU first and processing takes what is left. A thread
    #: already running nicer keeps its own; 0 leaves it as started.
    nice: int = 10


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
    #: slots per organisation: SQLite file locks, PostgreSQL advisory locks (gateway.limits)
    concurrent_requests: int = 32
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
    xsd_dir: Path = field(default_factory=lambda: data_path("xsd"))
    wsdl_dir: Path = field(default_factory=lambda: data_path("wsdl"))
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
    #: Where each key set explicitly came from ("--data-dir", "GATEWAY_DATA_DIR",
    #: "/srv/gw/gateway.toml"); keys missing here are defaults.
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    #: The configuration file read, if any.
    config_file: Path | None = field(default=None, compare=False)

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
        """A copy with the given top-level keys replaced (``None`` values are ignored); each
        is recorded as coming from its command-line flag (``--data-dir``)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(given["data_dir"])
        sources = dict(self.sources)
        for key in given:
            sources[key] = "--" + key.replace("_", "-")
        return replace(self, **given, sources=sources)

    def source_of(self, key: str) -> str:
        """Where a key's value came from: a flag, a variable, a file, or "default"."""
        return self.sources.get(key, "default")

    def describe_store(self) -> str:
        """The store in one line, password hidden, with where it was chosen: what the commands
        print so that a wrong store is visible at once."""
        from sqlalchemy.engine import make_url

        url = make_url(self.resolved_database_url).render_as_string(hide_password=True)
        if self.database_url:
            return f"{url} (database_url from {self.source_of('database_url')})"
        return f"{url} (data_dir from {self.source_of('data_dir')})"


def _coerce(value: Any, like: Any, key: str, origin: str) -> Any:
    """``value`` (a TOML value or an environment string) as the type of the default ``like``."""
    try:
        if isinstance(like, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if isinstance(like, int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if isinstance(like, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(like, Path):
            return Path(str(value))
        if isinstance(value, dict | list):
            raise ValueError(value)
        return str(value)
    except ValueError:
        kind = type(like).__name__.replace("PosixPath", "path").replace("WindowsPath", "path")
        raise ConfigError(f"{origin}: {key} = {value!r} is not a valid {kind}") from None


#: Keys holding paths; in a configuration file they are relative to the file's directory.
_PATH_KEYS = {"data_dir", "xsd_dir", "wsdl_dir", "formats_dir", "metrics.multiproc_dir"}


def _check_keys(cls: type, table: dict[str, Any], prefix: str, origin: str) -> None:
    known = {f.name: f for f in fields(cls) if f.name not in ("sources", "config_file")}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key not in known:
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            raise ConfigError(
                f"{origin}: unknown {'section' if isinstance(value, dict) else 'key'} "
                f"{name!r} (known at {where}: {', '.join(sorted(known))})"
            )
        default = getattr(cls(), key)
        nested = hasattr(default, "__dataclass_fields__")
        if nested != isinstance(value, dict):
            raise ConfigError(
                f"{origin}: {name!r} is {'a section ([' + name + '])' if nested else 'a key'}"
                f", not {'a key' if nested else 'a section'}"
            )
        if nested:
            _check_keys(type(default), value, f"{name}.", origin)


def _relative_to(value: str, base: Path, key: str) -> str:
    if key == "formats_dir":
        parts = [p for p in value.split(os.pathsep) if p.strip()]
        return os.pathsep.join(str(base / p) for p in parts)
    return str(base / value) if value else value


def _build(
    cls: type,
    table: dict[str, Any],
    prefix: str,
    environ: dict[str, str],
    origin: str,
    base: Path | None,
    sources: dict[str, str],
) -> Any:
    """A settings dataclass from a TOML table, then ``GATEWAY_<KEY>`` variables on top."""
    defaults = cls()
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ("sources", "config_file"):
            continue
        key = f"{prefix}{f.name}"
        current = getattr(defaults, f.name)
        if hasattr(current, "__dataclass_fields__"):
            values[f.name] = _build(
                type(current), table.get(f.name, {}), f"{key}.", environ, origin, base, sources
            )
            continue
        if f.name in table:
            value = table[f.name]
            if key in _PATH_KEYS and base is not None and isinstance(value, str):
                value = _relative_to(value, base, key)
            current = _coerce(value, current, key, origin)
            sources[key] = origin
        env_key = "GATEWAY_" + key.replace(".", "_").upper()
        if env_key in environ:
            current = _coerce(environ[env_key], current, key, env_key)
            sources[key] = env_key
        if key in _RANGES:
            _check_range(key, current, sources.get(key, "default"))
        values[f.name] = current
    return cls(**values)


#: Keys whose values must pass a check, and what the check asks (said in the refusal).
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "worker.nice": (lambda value: 0 <= value <= 19, "within 0-19"),
    # sys.setswitchinterval refuses 0 or less: refused here, before a server forks
    "server.switch_interval_ms": (lambda value: value > 0, "more than 0"),
}


def _check_range(key: str, value: Any, origin: str) -> None:
    allowed, wanted = _RANGES[key]
    if not allowed(value):
        raise ConfigError(f"{origin}: {key} = {value!r} is not {wanted}")


def find_config_file(environ: dict[str, str], cwd: Path | None = None) -> Path | None:
    """``GATEWAY_CONFIG`` (which must exist), else ``./gateway.toml`` if there is one."""
    named = environ.get("GATEWAY_CONFIG", "").strip()
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"GATEWAY_CONFIG={named}: no such file")
        return path
    local = (cwd or Path.cwd()) / CONFIG_FILE_NAME
    return local if local.is_file() else None


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Settings in the resolution order of the module docstring (flags come on top, through
    ``Settings.with_overrides``). ``config_file`` replaces the search for one."""
    environ = dict(os.environ if environ is None else environ)
    path = config_file if config_file is not None else find_config_file(environ, cwd)
    table: dict[str, Any] = {}
    origin, base = "defaults", None
    if path is not None:
        origin = str(path.resolve())
        base = path.resolve().parent
        try:
            with path.open("rb") as fh:
                table = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
        _check_keys(Settings, table, "", origin)
    sources: dict[str, str] = {}
    settings: Settings = _build(Settings, table, "", environ, origin, base, sources)
    return replace(settings, sources=sources, config_file=path.resolve() if path else None)

"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale-out).

The schema itself is owned by the alembic migrations in ``persistence/migrations``
(``persistence.migrations.ensure_schema`` / ``upgrade``); this module only connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from persistence.models import Base


@dataclass(frozen=True)
class EngineOptions:
    """Pool sizing and server-side limits (``[database]`` in conf/gateway.toml).

    Only the pool and the PostgreSQL session settings use these; SQLite has one file and a
    busy timeout. A value of 0 switches a timeout off.
    """

    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout_seconds: float = 10.0
    pool_recycle_seconds: int = 1800
    statement_timeout_ms: int = 0
    lock_timeout_ms: int = 0
    idle_in_transaction_timeout_ms: int = 0
    connect_timeout_seconds: int = 5
    application_name: str = "hcs-gateway"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(
    url: str,
    *,
    read_only: bool = False,
    options: EngineOptions | None = None,
    durable: bool = True,
) -> Engine:
    """Create an engine; SQLite gets WAL mode, a busy timeout and foreign keys.

    ``durable=False`` (SQLite): commits do not wait for the disk (``synchronous=OFF``), for
    rows that may be lost in a crash (request leases); the file stays consistent.

    On SQLite, write transactions start with BEGIN IMMEDIATE (the write lock up front);
    a ``read_only`` engine starts deferred transactions, so reads never queue behind writers.
    On PostgreSQL every connection carries the statement/lock/idle-in-transaction timeouts
    and TCP keepalives, so a vanished client's locks (a worker's job row) are released.
    """
    options = options or EngineOptions()
    if is_sqlite(url):
        return _sqlite_engine(url, read_only, durable)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout_seconds,
        pool_recycle=options.pool_recycle_seconds,
        connect_args=postgres_connect_args(options),
    )


def postgres_connect_args(options: EngineOptions) -> dict[str, object]:
    settings = {
        "statement_timeout": options.statement_timeout_ms,
        "lock_timeout": options.lock_timeout_ms,
        "idle_in_transaction_session_timeout": options.idle_in_transaction_timeout_ms,
        # Server side: notice a dead client within ~1 minute and roll its transaction back.
        "tcp_keepalives_idle": 30,
        "tcp_keepalives_interval": 10,
        "tcp_keepalives_count": 3,
    }
    return {
        "connect_timeout": options.connect_timeout_seconds,
        "application_name": options.application_name[:63],
        "options": " ".join(f"-c {key}={value}" for key, value in settings.items()),
        # Client side: notice a dead server instead of waiting on a half-open socket.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def _sqlite_engine(url: str, read_only: bool, durable: bool = True) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
        # Let SQLAlchemy issue BEGIN itself so "BEGIN IMMEDIATE" below takes the write lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that later needs
        # to write can fail with "database is locked" instead of waiting.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema (the alembic migrations; idempotent).

    Kept for callers of the pre-migration API; new code calls
    ``persistence.migrations.ensure_schema`` or ``upgrade``.
    """
    from persistence.migrations import upgrade

    upgrade(engine)


def create_all_without_migrations(engine: Engine) -> None:
    """``metadata.create_all``: only for tests that compare it with the migrations."""
    Base.metadata.create_all(engine)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

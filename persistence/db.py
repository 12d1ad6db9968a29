"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale-out).

The schema itself is owned by the alembic migrations in ``persistence/migrations``
(``persistence.migrations.ensure_schema`` / ``upgrade``); this module only connects.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
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
    autocommit: bool = False,
) -> Engine:
    """Create an engine; SQLite gets WAL mode, a busy timeout and foreign keys.

    ``autocommit`` (PostgreSQL): every statement
    commits by itself, for single-statement writes that need no COMMIT round trip.

    On SQLite, write transactions start with BEGIN IMMEDIATE (the write lock up front);
    a ``read_only`` engine starts deferred transactions, so reads never queue behind writers.
    On PostgreSQL every connection carries the statement/lock/idle-in-transaction timeouts
    and TCP keepalives, so a vanished client's locks (a worker's job row) are released.
    """
    options = options or EngineOptions()
    if is_sqlite(url):
        return _sqlite_engine(url, read_only)
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT" if autocommit else None,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout_seconds,
        pool_recycle=options.pool_recycle_seconds,
        connect_args=postgres_connect_args(options),
    )
    _ping_when_idle(engine)
    return engine


#: A pooled connection idle for longer than this is pinged before it is used (a database
#: restart, or a connection dropped while idle, then costs no request). Connections in
#: steady use are not: a ping per checkout was a round trip per transaction.
PING_AFTER_IDLE_SECONDS = 1.0
#: key of a pooled connection's ``info``: the monotonic time since which it is idle
IDLE_SINCE = "idle_since"


@contextmanager
def single_statements(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that each stand on their own (one statement, one snapshot): on
    PostgreSQL in autocommit, so a read costs one round trip instead of BEGIN, the statement
    and ROLLBACK; a SQLite read transaction costs no round trip and stays as it is."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        # A connection kept idle while checked out (persistence.committer) comes back with
        # the time it was last used set in its ``info``.
        record.info.setdefault(IDLE_SINCE, time.monotonic())

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(IDLE_SINCE, None)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool replaces the connection and tries again
            raise DisconnectionError(str(exc)) from exc


def postgres_connect_args(options: EngineOptions) -> dict[str, object]:
    settings: dict[str, object] = {
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


def _sqlite_engine(url: str, read_only: bool) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})  # a file needs no ping

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
        # Let SQLAlchemy issue BEGIN itself so "BEGIN IMMEDIATE" below takes the write lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that later needs
        # to write can fail with "database is locked" instead of waiting. Issued on the
        # driver's connection: SQLAlchemy's execute around it cost more than the statement.
        sqlite_execute(cast(sqlite3.Connection, conn.connection.driver_connection), begin)

    return engine


def sqlite_execute(
    dbapi_conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Cursor:
    """Run a statement on the ``sqlite3`` connection itself (:func:`driver_execute`)."""
    return cast(sqlite3.Cursor, driver_execute(dbapi_conn, sql, params))


def driver_execute(dbapi_conn: Any, sql: str, params: Any = ()) -> Any:
    """Run a statement on the driver's connection itself (``sqlite3`` or ``psycopg``) and
    return its cursor; its error is raised as SQLAlchemy raises a statement's (a
    ``DBAPIError`` whose ``orig`` is the driver's)."""
    base: type[Exception] = (
        sqlite3.Error if isinstance(dbapi_conn, sqlite3.Connection) else psycopg.Error
    )
    try:
        return dbapi_conn.execute(sql, params)
    except base as exc:
        raise DBAPIError.instance(sql, params, exc, base) from exc


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

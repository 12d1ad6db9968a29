"""``is_transient`` on real errors: each class provoked for real on PostgreSQL and SQLite.

Transient (retrying the same work may succeed): deadlock, lock timeout, statement timeout,
serialization failure, a connection killed or refused, SQLite busy, every pooled connection
taken. Permanent: constraint violations, values a column refuses, SQL naming what is not
there, even when the driver calls it an OperationalError.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

from persistence.db import make_engine
from persistence.errors import describe, error_code, is_transient
from tests.stand import admin_engine, scratch_database

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, code VARCHAR(3))"


def raised(action: Callable[[], object]) -> BaseException:
    """The database error ``action`` raises (it must raise one)."""
    with pytest.raises(DBAPIError) as caught:
        action()
    return caught.value


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from scratch_database("hcs_gateway_errors")


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    """An engine on a table ``t`` with rows 1 and 2; every connection its own (no pool)."""
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS t"))
        conn.execute(text(TABLE))
        conn.execute(text("INSERT INTO t (id, v) VALUES (1, 0), (2, 0)"))
    yield engine
    engine.dispose()


def _pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _wait_for_lock_wait(engine: Engine, pid: int) -> None:
    """Until backend ``pid`` waits for a lock (a condition, not a duration)."""
    with engine.connect() as watcher:
        for _ in range(600):
            waiting = watcher.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
            if waiting == "Lock":
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_a_real_deadlock_is_transient(pg: Engine) -> None:
    with pg.connect() as a, pg.connect() as b:
        a.execute(text("SET deadlock_timeout = '10s'"))  # b is the one that detects it
        b.execute(text("SET deadlock_timeout = '50ms'"))
        a.execute(text("UPDATE t SET v = v + 1 WHERE id = 1"))
        b.execute(text("UPDATE t SET v = v + 1 WHERE id = 2"))
        a_pid = _pid(a)
        a_outcome: list[BaseException | None] = []

        def a_takes_row_2() -> None:
            try:
                a.execute(text("UPDATE t SET v = v + 1 WHERE id = 2"))
                a_outcome.append(None)
            except DBAPIError as exc:
                a_outcome.append(exc)

        thread = threading.Thread(target=a_takes_row_2)
        thread.start()
        _wait_for_lock_wait(pg, a_pid)
        error = raised(lambda: b.execute(text("UPDATE t SET v = v + 1 WHERE id = 1")))
        b.rollback()  # a gets row 2 now
        thread.join(30)
        a.rollback()
    assert a_outcome == [None]
    assert isinstance(error, OperationalError)
    assert isinstance(error.orig, psycopg.errors.DeadlockDetected)
    assert error_code(error) == "40P01"
    assert is_transient(error)


def test_a_lock_timeout_is_transient(pg: Engine) -> None:
    with pg.connect() as holder, pg.connect() as waiter:
        holder.execute(text("SELECT * FROM t WHERE id = 1 FOR UPDATE"))
        waiter.execute(text("SET lock_timeout = '20ms'"))
        error = raised(lambda: waiter.execute(text("UPDATE t SET v = 1 WHERE id = 1")))
    assert error_code(error) == "55P03"
    assert is_transient(error)


def test_a_statement_timeout_is_transient(pg: Engine) -> None:
    with pg.connect() as conn:
        conn.execute(text("SET statement_timeout = '20ms'"))
        error = raised(lambda: conn.execute(text("SELECT pg_sleep(30)")))
    assert error_code(error) == "57014"
    assert is_transient(error)


def test_a_serialization_failure_is_transient(pg: Engine) -> None:
    with pg.connect() as other, pg.connect() as conn:
        conn = conn.execution_options(isolation_level="SERIALIZABLE")
        assert conn.execute(text("SELECT v FROM t WHERE id = 1")).scalar() == 0  # the snapshot
        other.execute(text("UPDATE t SET v = 5 WHERE id = 1"))
        other.commit()
        error = raised(lambda: conn.execute(text("UPDATE t SET v = v + 1 WHERE id = 1")))
    assert error_code(error) == "40001"
    assert is_transient(error)


def test_a_connection_killed_by_the_server_is_transient(pg: Engine) -> None:
    admin = admin_engine()
    with pg.connect() as conn:
        pid = _pid(conn)
        conn.commit()
        with admin.connect() as kill:
            assert kill.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        error = raised(lambda: conn.execute(text("SELECT 1")))
    admin.dispose()
    assert isinstance(error, OperationalError)
    assert error_code(error) == "57P01"  # admin_shutdown: terminating connection
    assert is_transient(error)


def test_a_refused_connection_is_transient() -> None:
    nobody = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", poolclass=NullPool)
    error = raised(nobody.connect)
    assert isinstance(error.orig, psycopg.OperationalError)
    assert error_code(error) is None  # no server ever answered
    assert is_transient(error)


@pytest.mark.parametrize(
    ("statement", "code", "kind"),
    [
        ("INSERT INTO t (id, v) VALUES (1, 0)", "23505", IntegrityError),  # duplicate key
        ("INSERT INTO t (id, v) VALUES (3, NULL)", "23502", IntegrityError),  # not null
        ("INSERT INTO t (id, v, code) VALUES (3, 0, 'toolong')", "22001", DBAPIError),
        ("SELECT 1 / (v - v) FROM t", "22012", DBAPIError),  # division by zero
        ("SELECT * FROM missing_table", "42P01", DBAPIError),
        # the accept statement's limit refusal (persistence.accept_sql, migration 0013)
        ("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'GW001'; END $$", "GW001", DBAPIError),
    ],
)
def test_bugs_and_refused_values_are_permanent_on_postgresql(
    pg: Engine, statement: str, code: str, kind: type[DBAPIError]
) -> None:
    with pg.connect() as conn:
        error = raised(lambda: conn.execute(text(statement)))
    assert isinstance(error, kind)
    assert error_code(error) == code
    assert not is_transient(error)


def test_the_description_names_the_code_and_keeps_the_sql_out(pg: Engine) -> None:
    with pg.connect() as conn:
        error = raised(
            lambda: conn.execute(text("INSERT INTO t (id, v) VALUES (:id, 0)"), {"id": 1})
        )
    described = describe(error)
    assert described.startswith("UniqueViolation [23505]: duplicate key value"), described
    assert "Key (id)=(1) already exists" in described
    assert "INSERT" not in described


# --- SQLite ------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "errors.sqlite3"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(TABLE)
        conn.execute("INSERT INTO t (id, v) VALUES (1, 0), (2, 0)")
    conn.close()
    return path


def _no_busy_wait(engine: Engine) -> Engine:
    """The gateway's own SQLite engine, but failing at once where it would wait for the lock."""

    @event.listens_for(engine, "connect")
    def _busy_timeout_0(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    return engine


def test_a_locked_sqlite_database_is_transient(sqlite_file: Path) -> None:
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a write transaction holds the lock
    engine = _no_busy_wait(make_engine(f"sqlite:///{sqlite_file}"))
    try:
        with engine.connect() as conn:
            error = raised(lambda: conn.execute(text("UPDATE t SET v = 1 WHERE id = 1")))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert isinstance(error.orig, sqlite3.OperationalError)
    assert error_code(error) == "SQLITE_BUSY"
    assert is_transient(error)


def test_a_stale_sqlite_snapshot_that_wants_to_write_is_transient(sqlite_file: Path) -> None:
    reader = sqlite3.connect(sqlite_file, isolation_level=None, timeout=0)
    writer = sqlite3.connect(sqlite_file, isolation_level=None)
    try:
        reader.execute("BEGIN")  # deferred: a read snapshot first
        reader.execute("SELECT v FROM t").fetchall()
        writer.execute("UPDATE t SET v = 5 WHERE id = 1")
        with pytest.raises(sqlite3.OperationalError) as caught:
            reader.execute("UPDATE t SET v = 6 WHERE id = 1")
    finally:
        reader.close()
        writer.close()
    assert error_code(caught.value) == "SQLITE_BUSY_SNAPSHOT"
    assert is_transient(caught.value)


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("INSERT INTO t (id, v) VALUES (1, 0)", "SQLITE_CONSTRAINT_PRIMARYKEY"),
        ("INSERT INTO t (id, v) VALUES (3, NULL)", "SQLITE_CONSTRAINT_NOTNULL"),
        ("SELECT * FROM missing_table", "SQLITE_ERROR"),  # an OperationalError, yet a bug
    ],
)
def test_bugs_are_permanent_on_sqlite(sqlite_file: Path, statement: str, code: str) -> None:
    engine = make_engine(f"sqlite:///{sqlite_file}")
    try:
        with engine.connect() as conn:
            error = raised(lambda: conn.execute(text(statement)))
    finally:
        engine.dispose()
    assert error_code(error) == code
    assert not is_transient(error)


# --- neither database's ------------------------------------------------------------------------


def test_every_pooled_connection_taken_is_transient(sqlite_file: Path) -> None:
    engine = create_engine(
        f"sqlite:///{sqlite_file}", pool_size=1, max_overflow=0, pool_timeout=0.01
    )
    with engine.connect(), pytest.raises(PoolTimeout) as caught:
        engine.connect()
    engine.dispose()
    assert is_transient(caught.value)


def test_errors_that_are_not_the_databases_are_permanent() -> None:
    assert not is_transient(ValueError("a handler's bug"))
    assert not is_transient(KeyError("missing"))
    assert describe(ValueError("bad")) == "ValueError: bad"

"""Commit of the accept transaction: one per packet, or one shared by concurrent packets.

SQLite has one writer and every durable commit waits for an fsync, so packets accepted at
the same time by one process queue for the write lock and pay one fsync each.
:class:`GroupCommitter` lets them share: the first caller becomes the leader and runs every
packet waiting (its own included) in one transaction, each inside a SAVEPOINT so one packet's
refusal undoes only its own writes, then commits once; the others wait for that commit. The
leader's caller does the work on its own thread, so a lone packet pays no hand-over. Nobody
returns (and so nothing is acknowledged) before the commit that holds its packet succeeded;
if the commit fails, every packet of the batch gets the error.

On PostgreSQL concurrent transactions already share WAL flushes, and a transaction per
packet keeps one refusal from ever touching another packet. The accept statement decides
every refusal itself, writing nothing (``persistence.accept_sql``), so it runs in autocommit
as its own transaction: :class:`StatementCommitter`, one round trip instead of BEGIN, the
statement and COMMIT, on an autocommit connection it keeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine

from persistence.db import IDLE_SINCE, PING_AFTER_IDLE_SECONDS

T = TypeVar("T")
IDLE = TransactionStatus.IDLE


class Committer:
    """One transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction and return its result once it is committed; an
        exception from ``work`` rolls its writes back and is raised here."""
        with self.engine.begin() as conn:
            return work(conn)

    def close(self) -> None:
        """Give back any connection the committer keeps (before the engine is disposed)."""


class StatementCommitter(Committer):
    """Each statement of the work is its own transaction (autocommit): for work whose one
    writing statement decides and refuses by itself; a refusal raised after it undoes
    nothing. The statement returns once its commit is durable (``synchronous_commit``).

    The committer keeps the autocommit connections it used (one per concurrent call at
    most), so a packet pays neither a pool checkout nor switching autocommit on and off. A
    connection idle for longer than ``PING_AFTER_IDLE_SECONDS`` or held for longer than the
    pool's recycle time goes back to the pool, whose checkout pings or replaces it; one that
    a call left broken or inside a transaction is closed for good.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._lock = threading.Lock()
        #: (connection, when it was checked out, when it was last given back), last used last
        self._idle: list[tuple[Connection, float, float]] = []
        self._recycle = float(getattr(engine.pool, "_recycle", -1))
        self._closed = False

    def run(self, work: Callable[[Connection], T]) -> T:
        conn, since = self._take()
        try:
            result = work(conn)
        except BaseException:
            self._give_back(conn, since)
            raise
        self._give_back(conn, since)
        return result

    def _take(self) -> tuple[Connection, float]:
        now = time.monotonic()
        with self._lock:
            stale = 0  # the list is in the order of their last use
            while stale < len(self._idle) and now - self._idle[stale][2] > PING_AFTER_IDLE_SECONDS:
                stale += 1
            unused, self._idle = self._idle[:stale], self._idle[stale:]
            taken = self._idle.pop() if self._idle else None
        for conn, _, used in unused:
            conn.info[IDLE_SINCE] = used  # so the pool pings it before it is used again
            conn.close()
        if taken is not None:
            conn, since, _ = taken
            if not self._aged(since, now):
                return conn, since
            conn.close()
        conn = self.engine.connect()
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            conn.close()
            raise
        return conn, now

    def _aged(self, since: float, now: float) -> bool:
        return self._recycle >= 0 and now - since > self._recycle

    def _give_back(self, conn: Connection, since: float) -> None:
        state = _state(conn)
        if state == "idle":
            if conn.in_transaction():  # SQLAlchemy's marker: it autobegins in autocommit too
                conn.rollback()  # in autocommit: nothing to roll back, no round trip
            with self._lock:
                if not self._closed:
                    self._idle.append((conn, since, time.monotonic()))
                    return
            conn.close()  # a call that ended after close()
            return
        _invalidate(conn)
        if state == "lost":  # a server restart? the kept ones most likely too
            with self._lock:
                idle, self._idle = self._idle, []
            for other, _, _ in idle:
                _invalidate(other)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for conn, _, _ in idle:
            conn.close()


def _state(conn: Connection) -> str:
    """What a call left the connection in: "idle" (open, in autocommit, outside any
    transaction, as it was taken), "lost" (the driver saw it closed) or "busy" (a
    transaction left open)."""
    if conn.closed or conn.invalidated:
        return "lost"
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        return "idle"
    if driver.closed:
        return "lost"
    idle = driver.autocommit and driver.pgconn.transaction_status == IDLE
    return "idle" if idle else "busy"


def _invalidate(conn: Connection) -> None:
    try:
        if not conn.closed:
            conn.invalidate()
        conn.close()
    except Exception:  # nothing more to do for a connection already broken
        pass


class _Item(Generic[T]):
    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.value: T | None = None
        self.error: BaseException | None = None
        self.finished = False

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # set when error is None


class GroupCommitter(Committer):
    """Concurrent calls share one transaction and one commit (see the module docstring).

    The batches run on one connection the committer keeps (a batch at a time: one
    leader), so a packet pays no pool checkout; a connection whose BEGIN, COMMIT or
    ROLLBACK failed is closed for good and the next batch opens another.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._changed = threading.Condition()
        self._pending: list[_Item[object]] = []
        self._leading = False
        self._conn: Connection | None = None  # the leader's
        #: transactions committed and the calls they held (for the bench and the tests)
        self.commits = 0
        self.calls = 0

    def run(self, work: Callable[[Connection], T]) -> T:
        item: _Item[T] = _Item(work)
        with self._changed:
            self._pending.append(item)  # type: ignore[arg-type]
            while self._leading and not item.finished:
                self._changed.wait()
            if item.finished:  # another caller led the batch that held it
                return item.result()
            self._leading = True
            batch, self._pending = self._pending, []
        try:
            self._commit(batch)
        finally:
            with self._changed:
                for done in batch:
                    done.finished = True
                self._leading = False
                self._changed.notify_all()
        return item.result()

    def _commit(self, batch: list[_Item[object]]) -> None:
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            conn = self._conn
            with conn.begin() as transaction:
                if len(batch) == 1:
                    try:
                        batch[0].value = batch[0].work(conn)
                    except Exception as exc:
                        batch[0].error = exc
                        transaction.rollback()
                        return
                else:
                    for item in batch:
                        savepoint = conn.begin_nested()
                        try:
                            item.value = item.work(conn)
                        except Exception as exc:
                            savepoint.rollback()
                            item.error = exc
                        else:
                            savepoint.commit()
        except Exception as exc:  # BEGIN, ROLLBACK or the commit itself
            for item in batch:
                if item.error is None:
                    item.value, item.error = None, exc
            self._discard()
            return
        self.commits += 1
        self.calls += len(batch)

    def _discard(self) -> None:
        """Close the connection for good (its state after a failed COMMIT is unknown)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # nothing more to do for a connection already broken
                pass

    def close(self) -> None:
        with self._changed:
            while self._leading:
                self._changed.wait()
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def committer_for(engine: Engine) -> Committer:
    """The committer of the accept path for this store."""
    if engine.dialect.name == "sqlite":
        return GroupCommitter(engine)
    return StatementCommitter(engine)

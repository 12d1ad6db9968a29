"""Counts for the limits, shared by every process and node through the database.

Fixed-window counters (one row per key and window, incremented with an upsert), and the
slots of requests in progress: locks that die with the process that holds them (SQLite:
:class:`FileSlots`; PostgreSQL: transaction advisory locks on :func:`slot_base` keys, taken
by the statements of ``persistence.accept_sql`` and ``persistence.packets``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Executable, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from persistence.models import RateCounter


def window_start(now: datetime, seconds: int) -> int:
    """The start (epoch seconds) of the fixed window of ``seconds`` that holds ``now``."""
    epoch = int(now.timestamp())
    return epoch - epoch % seconds


def hit(session: Session, key: str, window: int, by: int = 1) -> int:
    """Add ``by`` to the count of ``key`` in window ``window``; returns the new count."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement: Any = insert(RateCounter).values(key=key, window_start=window, count=by)
    statement = statement.on_conflict_do_update(
        index_elements=[RateCounter.key, RateCounter.window_start],
        set_={"count": RateCounter.count + by},
    ).returning(RateCounter.count)
    return int(session.execute(statement).scalar_one())


def count(session: Session | Connection, keys: list[str], window: int) -> dict[str, int]:
    """The counts of ``keys`` in window ``window`` (0 for a key without a row)."""
    params: dict[str, Any] = {f"key{i}": key for i, key in enumerate(keys)}
    params["window"] = window
    found = {key: int(n) for key, n in session.execute(_count_of(len(keys)), params)}
    return {key: found.get(key, 0) for key in keys}


def count_of_key(key_param: str) -> Any:
    """The count of the key bound as ``key_param`` in the window bound as ``window``, as a
    scalar subquery (None when the key has no row): for statements that read counts beside
    something else."""
    return (
        select(RateCounter.count)
        .where(
            RateCounter.key == bindparam(key_param),
            RateCounter.window_start == bindparam("window"),
        )
        .scalar_subquery()
    )


@cache
def _count_of(keys: int) -> Executable:
    """The count statement for ``keys`` keys (one plain bind each: compiled once and
    prepared by the driver, where an expanding IN is rendered again every time)."""
    return select(RateCounter.key, RateCounter.count).where(
        RateCounter.key.in_([bindparam(f"key{i}") for i in range(keys)]),
        RateCounter.window_start == bindparam("window"),
    )


#: Slots of an organisation are numbered below this (``concurrent_requests`` above it is as
#: good as off); its slots are ``slot_base(org) + n``.
MAX_SLOTS = 1 << 16


def slot_base(org_guid: str) -> int:
    """The first of ``org_guid``'s request slots: a 46-bit hash of the GUID shifted past the
    slot numbers, so two organisations share slots with a chance of ~1e-4 among 90,000.
    A PostgreSQL advisory lock key (bigint) and a byte offset in :class:`FileSlots`' file."""
    digest = hashlib.blake2b(org_guid.lower().encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 18) << 16


class FileSlots:
    """Requests in progress per organisation for a SQLite store: request ``n`` of an
    organisation holds an exclusive POSIX record lock on byte ``slot_base(org) + n`` of one
    file beside the store (every node shares its filesystem, as they share the store). The
    operating system drops a process's locks when it dies, so a crashed request's slot frees
    at once; taking and giving back a slot is a system call, no statement, no commit.

    POSIX locks belong to the process, not the thread: the slots this process holds are
    also kept in a set, so two threads of one process never take the same slot. The file
    is opened once per process (again after a fork) and never closed while slots are held:
    closing any descriptor of the file would drop every lock of the process on it.
    ``path`` None: the slots of this process only (an in-memory store, one process).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._pid = -1
        self._fd: int | None = None
        self._held: set[int] = set()

    def take(self, org_guid: str, limit: int) -> int | None:
        """One of the first ``limit`` slots of ``org_guid``, locked; None if all are held."""
        base = slot_base(org_guid)
        with self._mutex:
            fd = self._file()
            for offset in range(base, base + min(limit, MAX_SLOTS)):
                if offset in self._held:
                    continue
                if fd is not None:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                    except OSError as exc:
                        if exc.errno in (errno.EACCES, errno.EAGAIN):
                            continue  # held by another process
                        raise
                self._held.add(offset)
                return offset
        return None

    def give_back(self, slot: int) -> None:
        with self._mutex:
            if slot not in self._held:
                return
            self._held.discard(slot)
            if self._fd is not None and self._pid == os.getpid():
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot)

    def _file(self) -> int | None:
        if self._pid != os.getpid():  # first use, or a forked child: none of its locks held
            self._pid, self._fd, self._held = os.getpid(), None, set()
        if self._fd is None and self.path is not None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def close(self) -> None:
        """Give back every slot of this process (its locks go with the descriptor)."""
        with self._mutex:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._held = None, set()


def purge(session: Session | Connection, now: datetime, keep_seconds: int = 86400) -> None:
    """Forget counters older than ``keep_seconds`` (the workers' housekeeping)."""
    session.execute(
        delete(RateCounter).where(RateCounter.window_start < int(now.timestamp()) - keep_seconds)
    )

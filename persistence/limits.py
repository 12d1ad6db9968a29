"""Counts for the limits, shared by every process and node through the database.

Fixed-window counters (one row per key and window, incremented with an upsert) and request
leases (one row per request in progress, expiring by itself if its process dies).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from persistence.models import Packet, RateCounter, RequestLease

PENDING = ("received", "processing")


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


def count(session: Session, keys: list[str], window: int) -> dict[str, int]:
    """The counts of ``keys`` in window ``window`` (0 for a key without a row)."""
    rows = session.execute(
        select(RateCounter.key, RateCounter.count).where(
            RateCounter.key.in_(keys), RateCounter.window_start == window
        )
    )
    found = {key: int(n) for key, n in rows}
    return {key: found.get(key, 0) for key in keys}


def pending_packets(session: Session, org_guid: str) -> int:
    """Packets of ``org_guid`` accepted and not yet processed (the organisation's queue)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Packet)
            .where(Packet.org_guid == org_guid, Packet.state.in_(PENDING))
        )
        or 0
    )


def take_lease(session: Session, org_guid: str, now: datetime, seconds: int) -> tuple[str, int]:
    """Record a request of ``org_guid`` in progress; returns (lease id, requests in progress
    for the organisation, this one included)."""
    lease = str(uuid.uuid4())
    _asynchronous_commit(session)
    session.add(
        RequestLease(id=lease, org_guid=org_guid, expires_at=now + timedelta(seconds=seconds))
    )
    session.flush()
    active = session.scalar(
        select(func.count())
        .select_from(RequestLease)
        .where(RequestLease.org_guid == org_guid, RequestLease.expires_at > now)
    )
    return lease, int(active or 0)


def drop_lease(session: Session, lease: str) -> None:
    _asynchronous_commit(session)
    session.execute(delete(RequestLease).where(RequestLease.id == lease))


def _asynchronous_commit(session: Session) -> None:
    """A lease need not survive a crash (it expires): on PostgreSQL, do not wait for its
    commit to reach the disk."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def purge(session: Session, now: datetime, keep_seconds: int = 86400) -> None:
    """Forget counters older than ``keep_seconds`` and expired leases."""
    session.execute(
        delete(RateCounter).where(RateCounter.window_start < int(now.timestamp()) - keep_seconds)
    )
    session.execute(delete(RequestLease).where(RequestLease.expires_at <= now))

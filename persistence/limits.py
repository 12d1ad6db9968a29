"""Counts for the limits, shared by every process and node through the database.

Fixed-window counters (one row per key and window, incremented with an upsert) and request
leases (one row per request in progress, expiring by itself if its process dies).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable

from persistence.models import RateCounter, RequestLease

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


def count(session: Session | Connection, keys: list[str], window: int) -> dict[str, int]:
    """The counts of ``keys`` in window ``window`` (0 for a key without a row)."""
    rows = session.execute(
        select(RateCounter.key, RateCounter.count).where(
            RateCounter.key.in_(keys), RateCounter.window_start == window
        )
    )
    found = {key: int(n) for key, n in rows}
    return {key: found.get(key, 0) for key in keys}


_leases = cast(Table, RequestLease.__table__)


@cache
def _lease_statements() -> tuple[Executable, Executable, Executable]:
    """take, count, drop."""
    take = insert(_leases).values(
        id=bindparam("lease"), org_guid=bindparam("org"), expires_at=bindparam("expires")
    )
    active = (
        select(func.count())
        .select_from(_leases)
        .where(_leases.c.org_guid == bindparam("org"), _leases.c.expires_at > bindparam("now"))
    )
    drop = delete(_leases).where(_leases.c.id == bindparam("lease"))
    return take, active, drop


@cache
def _take_and_count() -> Executable:
    """PostgreSQL: the lease and the count in one round trip (the count's snapshot does not
    see the lease it takes, hence the + 1)."""
    take, active, _ = _lease_statements()
    taken = cast(Any, take).returning(_leases.c.id).cte("taken")
    return select(cast(Any, active).scalar_subquery() + 1).add_cte(taken)


def take_lease(
    session: Session | Connection, org_guid: str, now: datetime, seconds: int
) -> tuple[str, int]:
    """Record a request of ``org_guid`` in progress; returns (lease id, requests in progress
    for the organisation, this one included). Leases need not survive a crash (they
    expire): the caller's engine need not wait for the disk (``make_engine(durable=False)``)."""
    lease = str(uuid.uuid4())
    params = {"lease": lease, "org": org_guid, "expires": now + timedelta(seconds=seconds)}
    params["now"] = now
    if _dialect(session) == "postgresql":
        return lease, int(session.execute(_take_and_count(), params).scalar() or 0)
    take, active, _ = _lease_statements()
    session.execute(take, params)
    return lease, int(session.execute(active, params).scalar() or 0)


def drop_lease(session: Session | Connection, lease: str) -> None:
    session.execute(_lease_statements()[2], {"lease": lease})


def ensure_lease_table(engine: Engine) -> None:
    """The leases table in a database of its own (SQLite: a file beside the store, so that
    a lease never waits for the store's single writer); idempotent, safe to race."""
    with engine.begin() as conn:
        conn.execute(CreateTable(_leases, if_not_exists=True))
        for index in _leases.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))


def _dialect(session: Session | Connection) -> str:
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name


def purge(session: Session | Connection, now: datetime, keep_seconds: int = 86400) -> None:
    """Forget counters older than ``keep_seconds`` and expired leases."""
    session.execute(
        delete(RateCounter).where(RateCounter.window_start < int(now.timestamp()) - keep_seconds)
    )
    session.execute(delete(RequestLease).where(RequestLease.expires_at <= now))

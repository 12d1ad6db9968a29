"""The accept path's writes in SQLAlchemy Core, each statement built once per dialect.

In one transaction: the packet (``INSERT … ON CONFLICT DO NOTHING``, which settles
idempotency), its queue job and its "received" event, the organisation's packet counter of
the minute, its packets waiting, and the directory generation (``persistence.organizations``)
the caller's cached checks must match.

On PostgreSQL all of it is one statement (data-modifying CTEs) that also decides every
refusal, so that it can run in autocommit, its own transaction, in one round trip: it writes
nothing when every request slot is held, when the directory generation is not the one the
caller expected, or (``gateway_admit_packet``, migration 0013: it raises, aborting the
statement) past the limits of :class:`Counting`. On SQLite, where a statement costs no round
trip, a few statements run on the driver's connection, and the caller refuses by rolling
back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

import psycopg
from sqlalchemy import (
    BigInteger,
    DateTime,
    Executable,
    Integer,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from persistence.db import driver_execute
from persistence.errors import driver_error, error_code
from persistence.models import (
    ACCEPTED_PACKETS,
    PENDING_PACKETS,
    DirectoryGeneration,
    Job,
    Packet,
    PacketEvent,
    RateCounter,
)

_packets = cast(Table, Packet.__table__)
_jobs = cast(Table, Job.__table__)
_events = cast(Table, PacketEvent.__table__)
_counters = cast(Table, RateCounter.__table__)
_NOW = bindparam("now", type_=DateTime(timezone=True))

#: The packet's columns, bound by name from the parameters of :func:`store`.
PACKET_COLUMNS = (
    "message_guid",
    "requester_message_guid",
    "org_guid",
    "service",
    "operation",
    "version",
    "state",
    "raw",
    "body_sha256",
    "signer_subject",
    "signer_fingerprint",
    "remote_addr",
)


@dataclass(frozen=True)
class Counting:
    """What the limits need counted with the packet (``None``: that limit is off)."""

    #: the rate counter's key and window start (epoch seconds)
    rate: tuple[str, int] | None = None
    #: count the organisation's packets waiting to be processed
    pending: bool = False
    #: PostgreSQL: take one of the organisation's request slots in the statement, a
    #: transaction advisory lock on one of the keys ``base`` … ``base + limit - 1`` (its
    #: commit or rollback gives it back); nothing is written when every one is held
    slots: tuple[int, int] | None = None
    #: PostgreSQL: the statement refuses the packet, writing nothing, when the rate count is
    #: above ``rate_limit`` or the packets waiting above ``queue_limit`` (0: no limit);
    #: SQLite counts only, and the caller refuses
    rate_limit: int = 0
    queue_limit: int = 0


NOTHING_COUNTED = Counting()


@dataclass(frozen=True)
class Stored:
    """What one accept transaction wrote and read."""

    #: the new packet's id; None when an accepted packet with that MessageGUID exists
    packet_id: int | None
    #: the directory generation read in the same transaction
    generation: int
    #: packets of the organisation in the rate window, this one included
    rate_count: int | None = None
    #: packets of the organisation waiting to be processed, this one included
    pending: int | None = None
    #: every request slot of the organisation was held (``Counting.slots``): nothing written
    busy: bool = False
    #: PostgreSQL: a limit of :class:`Counting` refused the packet, nothing written; the count
    #: over its limit is set (``generation``: the one expected, which the statement matched)
    limited: bool = False


def _generation() -> Any:
    return (
        select(DirectoryGeneration.generation).where(DirectoryGeneration.id == 1).scalar_subquery()
    )


def _pending() -> Any:
    """The organisation's packets waiting: an index-only count on ix_packets_org_pending,
    whose predicate is spelled out in literals (with the states as bound parameters SQLite
    counted through ix_packets_org_guid, reading every packet of the organisation ever
    accepted, and a generic PostgreSQL plan could not use the partial index either)."""
    return (
        select(func.count())
        .select_from(_packets)
        .where(_packets.c.org_guid == bindparam("org_guid"), text(PENDING_PACKETS))
        .scalar_subquery()
    )


def slot_taken() -> Any:
    """PostgreSQL: the first of the request slots ``slot_base`` … ``slot_base + slots - 1``
    whose transaction advisory lock this transaction gets (without waiting), or no row. The
    filter runs row by row under the LIMIT, so it stops at the first lock it gets."""
    number = func.generate_series(0, bindparam("slots", type_=Integer) - 1).column_valued("n")
    key = bindparam("slot_base", type_=BigInteger) + number
    return select(key).where(func.pg_try_advisory_xact_lock(key)).limit(1)


def _packet_insert(dialect: Any, source: Any = None, where: Any = None) -> Any:
    """The packet's row (``source``: a CTE of one row or none, the packet written only if
    there is one; ``where``: written only if it holds)."""
    values: dict[str, Any] = {name: bindparam(name) for name in PACKET_COLUMNS}
    values.update(received_at=_NOW, updated_at=_NOW)
    statement = dialect.insert(_packets)
    if source is None and where is None:
        statement = statement.values(values)
    else:
        row: Any = select(
            *(
                bindparam(name, type_=_packets.c[name].type) if name in PACKET_COLUMNS else _NOW
                for name in values
            )
        )
        if source is not None:
            row = row.select_from(source)
        if where is not None:
            row = row.where(where)
        statement = statement.from_select(list(values), row)
    return statement.on_conflict_do_nothing(
        index_elements=["org_guid", "requester_message_guid"],
        index_where=text(ACCEPTED_PACKETS),  # the partial unique index's predicate
    ).returning(_packets.c.id)


def _counter_upsert(dialect: Any, source: Any = None) -> Any:
    columns = ["key", "window_start", "count"]
    row: Any = select(
        bindparam("rate_key"), bindparam("rate_window", type_=Integer), literal(1, Integer)
    )
    statement = (
        dialect.insert(_counters).from_select(columns, row.select_from(source))
        if source is not None
        else dialect.insert(_counters).values(
            key=bindparam("rate_key"), window_start=bindparam("rate_window"), count=1
        )
    )
    return statement.on_conflict_do_update(
        index_elements=[_counters.c.key, _counters.c.window_start],
        set_={"count": _counters.c.count + 1},
    ).returning(_counters.c.count)


@cache
def _postgresql(rate: bool, pending: bool, slots: bool, expected: bool) -> Executable:
    """One statement: request slot, packet (``expected``: only while the directory
    generation is the bound one), job, event, counter and the limits' verdict; returns (id,
    generation, rate, pending, slot)."""
    slot = slot_taken().cte("slot") if slots else None
    generation = func.coalesce(_generation(), 0)
    current = generation == bindparam("generation", type_=BigInteger) if expected else None
    packet = _packet_insert(postgresql, slot, current).cte("packet")
    job = insert(_jobs).from_select(
        ["packet_id", "state", "attempts", "run_after", "created_at"],
        select(packet.c.id, literal("queued"), literal(0, Integer), _NOW, _NOW),
    )
    event = insert(_events).from_select(
        ["packet_id", "at", "event"], select(packet.c.id, _NOW, literal("received"))
    )
    packet_id = select(packet.c.id).scalar_subquery()
    rate_count: Any = literal(None, Integer)
    ctes = [job.cte("job"), event.cte("event")]
    if rate:
        counter = _counter_upsert(postgresql, packet).cte("counter")
        rate_count = select(counter.c.count).scalar_subquery()
    waiting: Any = literal(None, Integer)
    if rate or pending:  # raises GW001/GW002 past a limit, undoing the whole statement
        waiting = func.gateway_admit_packet(
            packet_id,
            bindparam("org_guid"),
            rate_count,
            bindparam("rate_limit", type_=Integer),
            bindparam("queue_limit", type_=Integer),
            type_=Integer,
        )
    taken = select(slot).scalar_subquery() if slot is not None else literal(0, BigInteger)
    return select(packet_id, generation, rate_count, waiting, taken).add_cte(*ctes)


#: SQLSTATEs that ``gateway_admit_packet`` (migration 0013) refuses a packet with: past the
#: rate limit, past the queue limit (the error's DETAIL is the count).
RATE_REFUSED, QUEUE_REFUSED = "GW001", "GW002"
LIMIT_SQLSTATES = frozenset({RATE_REFUSED, QUEUE_REFUSED})


def _store_postgresql(
    conn: Any, params: dict[str, Any], counting: Counting, generation: int | None
) -> Stored:
    params.update(
        generation=generation,
        rate_limit=counting.rate_limit,
        queue_limit=counting.queue_limit if counting.pending else None,
    )
    statement = _postgresql_prepared(
        counting.rate is not None, counting.pending, bool(counting.slots), generation is not None
    )
    try:
        row: Any = statement.run(_driver_connection(conn), params).fetchone()
    except DBAPIError as exc:
        state = error_code(exc)
        if state not in LIMIT_SQLSTATES:
            raise
        count = int(driver_error(exc).diag.message_detail)  # type: ignore[attr-defined]
        if state == RATE_REFUSED:
            return Stored(None, generation or 0, rate_count=count, limited=True)
        return Stored(None, generation or 0, pending=count, limited=True)
    packet_id, current, rate_count, pending, slot = row
    if slot is None:
        return Stored(None, int(current), busy=True)
    if packet_id is None:
        return Stored(None, int(current))
    return Stored(packet_id, int(current), rate_count, pending)


class _Prepared:
    """A statement compiled once for the driver: its SQL (SQLite: positional parameters;
    psycopg: named) and how to bind them (the values its types store, as SQLAlchemy binds
    them). The accept runs it on the driver's connection itself: SQLAlchemy's execute
    around a statement (parameters, execution context, events, the result) cost more than
    the statement on SQLite, and a third of the client's share on PostgreSQL."""

    def __init__(self, statement: Any, dialect: Any = None) -> None:
        dialect = dialect or sqlite.dialect()
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = compiled.positiontup is not None
        #: the parameters' names, in the order of the ``?`` when positional
        self.names = list(compiled.positiontup or dict.fromkeys(compiled.bind_names.values()))
        #: per name: its type's processor, or (None, the statement's own value, processed)
        self.binds: list[tuple[str | None, Any]] = []
        for name in self.names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                self.binds.append((name, process))
            else:
                self.binds.append((None, bind.value if process is None else process(bind.value)))

    def run(self, dbapi_conn: Any, params: dict[str, Any]) -> Any:
        values = [
            value if name is None else params[name] if value is None else value(params[name])
            for name, value in self.binds
        ]
        if self.positional:
            return driver_execute(dbapi_conn, self.sql, values)
        return driver_execute(dbapi_conn, self.sql, dict(zip(self.names, values, strict=True)))


@cache
def _postgresql_prepared(rate: bool, pending: bool, slots: bool, expected: bool) -> _Prepared:
    dialect = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
    return _Prepared(_postgresql(rate, pending, slots, expected), dialect)


@dataclass(frozen=True)
class _SQLite:
    generation: _Prepared
    packet: _Prepared
    job: _Prepared
    event: _Prepared
    counter: _Prepared


@cache
def _sqlite(pending: bool) -> _SQLite:
    """The packet's insert also returns the directory generation and (``pending``) the
    organisation's waiting packets, its own included: subqueries of its RETURNING clause."""
    returned = [_generation(), _pending() if pending else literal(None, Integer)]
    return _SQLite(
        generation=_Prepared(select(_generation())),
        packet=_Prepared(_packet_insert(sqlite).returning(*returned)),
        job=_Prepared(
            insert(_jobs).values(
                packet_id=bindparam("packet_id"),
                state="queued",
                attempts=0,
                run_after=_NOW,
                created_at=_NOW,
            )
        ),
        event=_Prepared(
            insert(_events).values(packet_id=bindparam("packet_id"), at=_NOW, event="received")
        ),
        counter=_Prepared(_counter_upsert(sqlite)),
    )


def _driver_connection(conn: Any) -> Any:
    """The driver's connection of ``conn``, in a transaction begun as SQLAlchemy begins one
    before a first statement (SQLite: BEGIN IMMEDIATE), unless it is in autocommit."""
    if isinstance(conn, Session):
        conn = conn.connection()
    elif not conn.in_transaction() and not _autocommit(conn.connection.driver_connection):
        conn.begin()
    return conn.connection.driver_connection


def _autocommit(dbapi_conn: Any) -> bool:
    """A psycopg connection in autocommit (a sqlite3 connection never is, for the accept:
    SQLAlchemy issues its BEGIN)."""
    return isinstance(dbapi_conn, psycopg.Connection) and dbapi_conn.autocommit


def store(
    conn: Any,
    values: dict[str, Any],
    now: datetime,
    counting: Counting = NOTHING_COUNTED,
    expect_generation: int | None = None,
) -> Stored:
    """Write a packet (``values``: :data:`PACKET_COLUMNS`) with its job and event, in the
    caller's transaction (``conn``: a Connection or a Session); nothing is written but the
    attempt when an accepted packet of the same organisation and MessageGUID exists.

    PostgreSQL: one statement that writes nothing when a slot, ``expect_generation`` (the
    directory generation the caller's checks used; None: any) or a limit refuses the packet,
    so it may run in autocommit; a limit's refusal aborts the caller's transaction, if it
    has one. SQLite: the caller compares and refuses, rolling back (``expect_generation``
    and the limits of ``counting`` are not used)."""
    params = {**values, "now": now, "rate_key": None, "rate_window": None}
    if counting.rate is not None:
        params["rate_key"], params["rate_window"] = counting.rate
    if counting.slots is not None:
        params["slot_base"], params["slots"] = counting.slots
    bind = conn.get_bind() if hasattr(conn, "get_bind") else conn
    if bind.dialect.name == "postgresql":
        return _store_postgresql(conn, params, counting, expect_generation)
    sql = _sqlite(counting.pending)
    db = _driver_connection(conn)
    inserted = sql.packet.run(db, params).fetchone()
    if inserted is None:  # an accepted packet of that MessageGUID is there
        return Stored(None, int(sql.generation.run(db, params).fetchone()[0] or 0))
    packet_id, generation, pending = inserted
    ids = {"packet_id": packet_id, "now": now}
    sql.job.run(db, ids)
    sql.event.run(db, ids)
    rate_count = sql.counter.run(db, params).fetchone()[0] if counting.rate is not None else None
    return Stored(packet_id, int(generation or 0), rate_count, pending)


@cache
def _existing() -> Executable:
    return (
        select(_packets.c.message_guid, _packets.c.requester_message_guid, _packets.c.body_sha256)
        .where(
            _packets.c.org_guid == bindparam("org"),
            _packets.c.requester_message_guid == bindparam("requester"),
            _packets.c.state != "rejected",
        )
        .limit(1)
    )


def existing(conn: Any, org_guid: str, requester_guid: str) -> tuple[str, str, str] | None:
    """(MessageGUID, requester MessageGUID, body digest) of the accepted packet of this
    organisation and requester MessageGUID, if there is one."""
    row = conn.execute(_existing(), {"org": org_guid, "requester": requester_guid}).first()
    return (row[0], row[1] or "", row[2]) if row is not None else None

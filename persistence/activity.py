"""What the console's overview charts are drawn from, aggregated per minute in the database.

Every read is bounded by the indexed ``packets.received_at`` (or the small set of pending
jobs), and answers per minute, so a busy window costs a few grouped queries, not a row per
packet:

    arrivals     packets received per minute, and how many of them were refused
    finishes     jobs that ended per minute: processed, failed or dead, item errors, and the
                 longest a finished job had waited (enqueued ► ended)
    queue_level  jobs in the queue before the window, and per minute the highest level and
                 the net change of the running count (+1 enqueued, -1 ended)
    spanning     the jobs that were in the queue across a minute's end (the only ones that can
                 be the oldest waiting at a minute's end): still pending, or enqueued and ended
                 in different minutes

A job is followed from its ``created_at`` (its latest enqueueing: a replay starts a new
stint) to its packet's ``processed_at``. A packet received more than ``LOOKBACK`` before the
window whose job ended within it is not seen, unless its job is still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from persistence.models import Job, Packet

#: How far before the window a packet may have arrived and still be charted when it ends.
LOOKBACK = timedelta(days=1)
PENDING = ("queued", "running")
ENDED = ("done", "dead")


def minute_key(at: datetime) -> str:
    """The key the queries group by: ``YYYY-MM-DD HH:MM`` in UTC."""
    return f"{at:%Y-%m-%d %H:%M}"


def _minute(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(
            func.date_trunc("minute", func.timezone("UTC", column)), "YYYY-MM-DD HH24:MI"
        )
    return func.substr(column, 1, 16)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


@dataclass(frozen=True)
class Arrivals:
    received: int
    refused: int


@dataclass(frozen=True)
class Finishes:
    processed: int
    failed: int  # failed or dead
    item_errors: int
    longest_wait_seconds: float


@dataclass(frozen=True)
class Level:
    peak: int  # the highest running count reached within the minute (relative)
    net: int  # enqueued minus ended within the minute


@dataclass(frozen=True)
class Stint:
    """A job's time in the queue; ``finished_at`` None while it is queued or running."""

    enqueued_at: datetime
    finished_at: datetime | None


def arrivals(session: Session, since: datetime) -> dict[str, Arrivals]:
    minute = _minute(session, Packet.received_at)
    rows = session.execute(
        select(minute, func.count(), func.sum(case((Packet.state == "rejected", 1), else_=0)))
        .where(Packet.received_at >= since)
        .group_by(minute)
    ).all()
    return {key: Arrivals(int(n), int(refused or 0)) for key, n, refused in rows}


def _ended_in_window(since: datetime) -> ColumnElement[bool]:
    return and_(
        Job.state.in_(ENDED),
        Packet.processed_at >= since,
        Packet.received_at >= since - LOOKBACK,
    )


def finishes(session: Session, since: datetime) -> dict[str, Finishes]:
    minute = _minute(session, Packet.processed_at)
    processed = Packet.state == "processed"
    rows = session.execute(
        select(
            minute,
            func.sum(case((processed, 1), else_=0)),
            func.sum(case((Packet.state.in_(("failed", "dead")), 1), else_=0)),
            func.sum(case((processed, func.coalesce(Packet.result_errors, 0)), else_=0)),
            func.max(_seconds(session, Packet.processed_at, Job.created_at)),
        )
        .join(Job, Job.packet_id == Packet.id)
        .where(_ended_in_window(since))
        .group_by(minute)
    ).all()
    return {
        key: Finishes(int(p or 0), int(f or 0), int(e or 0), max(float(w or 0), 0.0))
        for key, p, f, e, w in rows
    }


def queue_level(session: Session, since: datetime) -> tuple[int, dict[str, Level]]:
    """Jobs in the queue at ``since``, and per minute from then the peak and the net change
    of the running count (ends before starts at one instant: a hand-over is not a peak)."""
    in_view = or_(Job.state.in_(PENDING), _ended_in_window(since))
    starts = (
        select(Job.created_at.label("t"), literal(1).label("d"))
        .join(Packet, Packet.id == Job.packet_id)
        .where(in_view)
    )
    ends = (
        select(Packet.processed_at.label("t"), literal(-1).label("d"))
        .join(Job, Job.packet_id == Packet.id)
        .where(_ended_in_window(since))
    )
    events = union_all(starts, ends).subquery()
    before = session.scalar(
        select(func.coalesce(func.sum(events.c.d), 0)).where(events.c.t < since)
    )
    running = (
        select(
            events.c.t,
            events.c.d,
            func.sum(events.c.d).over(order_by=(events.c.t, events.c.d)).label("level"),
        )
        .where(events.c.t >= since)
        .subquery()
    )
    minute = _minute(session, running.c.t)
    rows = session.execute(
        select(minute, func.max(running.c.level), func.sum(running.c.d)).group_by(minute)
    ).all()
    return int(before or 0), {key: Level(int(peak), int(net)) for key, peak, net in rows}


def spanning(session: Session, since: datetime, limit: int) -> list[Stint]:
    """Stints in the queue across a minute's end within the window (at most ``limit``)."""
    crosses = _minute(session, Job.created_at) != _minute(session, Packet.processed_at)
    rows = session.execute(
        select(Job.created_at, Job.state, Packet.processed_at)
        .join(Packet, Packet.id == Job.packet_id)
        .where(or_(Job.state.in_(PENDING), and_(_ended_in_window(since), crosses)))
        .limit(limit)
    ).all()
    return [
        Stint(_utc(created), None if state in PENDING or processed is None else _utc(processed))
        for created, state, processed in rows
    ]


def _utc(value: datetime) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite hands back naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

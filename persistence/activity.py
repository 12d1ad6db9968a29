"""What the console's overview charts are drawn from: packets and queue jobs of a window.

Two reads, bounded by the indexed ``packets.received_at``: arrivals (every packet received in
the window, refused ones too), and the queue stints of jobs (enqueued at the job's
``created_at``, finished at the packet's ``processed_at``; a job still queued or running has
no end). A packet received more than ``LOOKBACK`` before the window whose job was processed
or re-queued within it is not seen, unless its job is still pending: a bounded read beats a
chart that scans the whole table. A replayed packet counts from its replay (its job's
latest stint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from persistence.clock import as_utc
from persistence.models import Job, Packet

#: How far before the window a packet may have arrived and still be charted when processed.
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Arrival:
    received_at: datetime
    state: str


@dataclass(frozen=True)
class Stint:
    """A job's time in the queue; ``finished_at`` None while it is queued or running."""

    enqueued_at: datetime
    finished_at: datetime | None
    state: str  # the packet's state
    item_errors: int


def arrivals(session: Session, since: datetime, limit: int) -> list[Arrival]:
    """Packets received since ``since`` (at most ``limit``, oldest first)."""
    rows = session.execute(
        select(Packet.received_at, Packet.state)
        .where(Packet.received_at >= since)
        .order_by(Packet.received_at)
        .limit(limit)
    ).all()
    return [Arrival(as_utc(r.received_at), r.state) for r in rows]  # type: ignore[arg-type]


def stints(session: Session, since: datetime, limit: int) -> list[Stint]:
    """Queue stints that overlap the window from ``since`` (at most ``limit``)."""
    pending = Job.state.in_(("queued", "running"))
    rows = session.execute(
        select(Job.created_at, Job.state, Packet.processed_at, Packet.state, Packet.result_errors)
        .join(Packet, Packet.id == Job.packet_id)
        .where(
            or_(
                pending,
                (Packet.received_at >= since - LOOKBACK) & (Packet.processed_at >= since),
            )
        )
        .limit(limit)
    ).all()
    out = []
    for created, job_state, processed, packet_state, errors in rows:
        finished = None if job_state in ("queued", "running") else as_utc(processed)
        out.append(Stint(as_utc(created), finished, packet_state, int(errors or 0)))  # type: ignore[arg-type]
    return out

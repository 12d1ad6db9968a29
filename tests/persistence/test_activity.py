"""The console's per-minute activity, grouped in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.ops.activity import activity
from persistence.models import Job, Packet

NOW = datetime(2026, 11, 2, 12, 30, 30, tzinfo=UTC)
START = datetime(2026, 11, 2, 9, 31, tzinfo=UTC)  # 3 hours of minutes, the current one last


def _minute(at: datetime) -> int:
    return int((at - START) // timedelta(minutes=1))


def _add(
    sessions: sessionmaker[Session],
    received: datetime,
    state: str,
    *,
    ended: datetime | None = None,
    enqueued: datetime | None = None,
    errors: int = 0,
) -> None:
    with sessions.begin() as db:
        packet_id = db.execute(
            insert(Packet)
            .values(
                message_guid=str(uuid.uuid4()),
                state=state,
                received_at=received,
                updated_at=received,
                processed_at=ended,
                raw=b"<x/>",
                body_sha256="0" * 64,
                result_errors=errors,
            )
            .returning(Packet.id)
        ).scalar_one()
        if state != "rejected":
            job_state = {"received": "queued", "processing": "running"}.get(state, "done")
            job_state = "dead" if state == "dead" else job_state
            db.execute(
                insert(Job).values(
                    packet_id=packet_id,
                    state=job_state,
                    attempts=1,
                    run_after=enqueued or received,
                    created_at=enqueued or received,
                )
            )


def test_counts_peaks_and_waits_per_minute(sessions: sessionmaker[Session]) -> None:
    t = NOW - timedelta(minutes=30)  # 12:00:30
    _add(sessions, t, "processed", ended=t + timedelta(seconds=2), errors=3)
    _add(sessions, t + timedelta(seconds=1), "processed", ended=t + timedelta(seconds=5))
    _add(sessions, t + timedelta(seconds=3), "failed", ended=t + timedelta(seconds=4))
    _add(sessions, t + timedelta(seconds=10), "rejected")
    # waited from before the window (received 20 h ago, replayed 4 h ago) to 10:00:30
    _add(
        sessions,
        NOW - timedelta(hours=20),
        "dead",
        enqueued=NOW - timedelta(hours=4),
        ended=NOW - timedelta(hours=2, minutes=30),
    )
    # still queued since 12:20:30
    _add(sessions, NOW - timedelta(minutes=10), "received")
    # processed long before the window: not charted
    _add(sessions, NOW - timedelta(hours=5), "processed", ended=NOW - timedelta(hours=5))

    with sessions() as db:
        a = activity(db, NOW, 3)
    assert a.start == START and a.minutes == 180
    m = _minute(t)
    assert (a.received[m], a.refused[m], a.processed[m], a.failed[m]) == (4, 1, 2, 1)
    assert a.item_errors[m] == 3 and sum(a.item_errors) == 3
    assert sum(a.received) == 5  # the queued one too; not the ones from before the window
    dead = _minute(NOW - timedelta(hours=2, minutes=30))
    assert a.failed[dead] == 1 and sum(a.failed) == 2
    # depth: the replayed job alone until it ended, then none; two at once at 12:00:31 and :33
    assert a.depth[0] == 1 and a.depth[dead] == 1 and a.depth[dead + 1] == 0
    assert a.depth[m] == 2 and a.depth[m + 1] == 0
    queued = _minute(NOW - timedelta(minutes=10))
    assert a.depth[queued] == 1 and a.depth[-1] == 1
    # waits: the replayed job 90 min by the end of its last minute; the queued one now 10 min
    assert a.oldest_age[dead] == pytest.approx(90 * 60, abs=0.001)
    assert (
        a.oldest_age[0]
        == (START + timedelta(minutes=1) - (NOW - timedelta(hours=4))).total_seconds()
    )
    # the longest of the three: 12:00:31 ► 12:00:35 (SQLite: julianday, to the millisecond)
    assert a.oldest_age[m] == pytest.approx(4.0, abs=0.001)
    assert a.oldest_age[-1] == 600.0
    assert not a.truncated

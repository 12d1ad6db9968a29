"""Per-minute activity of the last hours, for the console's overview charts.

Counted from the stored packets and jobs (``persistence.activity`` groups them per minute in
the database), not sampled: packets received, processed, failed and refused and the item
errors of the processed ones, per minute; and per minute the most jobs in the queue at once
(queued or running) and the longest any job had waited, from each job's time in the queue
(enqueued ► ended). Peaks, not end-of-minute samples: a queue that fills and drains within a
minute still shows.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from persistence import activity as store

MINUTE = timedelta(minutes=1)
#: Jobs read at most to find the oldest waiting at each minute's end (the others are
#: counted in the database); beyond, the charts say they are cut.
ROW_LIMIT = 100_000


@dataclass(frozen=True)
class Activity:
    """Series of ``minutes`` values; value i is for the minute starting ``start + i min``."""

    start: datetime
    now: datetime
    minutes: int
    received: list[int]
    processed: list[int]
    failed: list[int]
    refused: list[int]
    item_errors: list[int]
    #: the most jobs queued or running at once within each minute
    depth: list[int]
    #: the longest a job had waited within each minute, seconds (0: none waited)
    oldest_age: list[float]
    #: more long waits than ROW_LIMIT: the oldest-age series may miss some
    truncated: bool


def activity(session: Session, now: datetime, hours: int = 3) -> Activity:
    """The last ``hours`` (whole minutes, the current one included) up to ``now``."""
    minutes = hours * 60
    start = now.replace(second=0, microsecond=0) - (minutes - 1) * MINUTE
    keys = [store.minute_key(start + i * MINUTE) for i in range(minutes)]
    arrived = store.arrivals(session, start)
    ended = store.finishes(session, start)
    no_arrivals, no_finishes = store.Arrivals(0, 0), store.Finishes(0, 0, 0, 0.0)
    before, levels = store.queue_level(session, start)
    depth, level = [], before
    for key in keys:
        change = levels.get(key)
        if change is None:
            depth.append(level)
            continue
        depth.append(max(level, before + change.peak))
        level += change.net
    stints = store.spanning(session, start, ROW_LIMIT)
    waiting = _oldest_waiting(stints, start, now, minutes)
    return Activity(
        start,
        now,
        minutes,
        received=[arrived.get(k, no_arrivals).received for k in keys],
        processed=[ended.get(k, no_finishes).processed for k in keys],
        failed=[ended.get(k, no_finishes).failed for k in keys],
        refused=[arrived.get(k, no_arrivals).refused for k in keys],
        item_errors=[ended.get(k, no_finishes).item_errors for k in keys],
        depth=depth,
        oldest_age=[
            max(w, ended.get(k, no_finishes).longest_wait_seconds)
            for k, w in zip(keys, waiting, strict=True)
        ],
        truncated=len(stints) >= ROW_LIMIT,
    )


def _oldest_waiting(
    stints: list[store.Stint], start: datetime, now: datetime, minutes: int
) -> list[float]:
    """How long the oldest job still in the queue at each minute's end (``now`` for the
    current minute) had waited, by a sweep over the stints in order of enqueueing."""
    valid = sorted(
        (s for s in stints if s.finished_at is None or s.finished_at >= s.enqueued_at),
        key=lambda s: s.enqueued_at,
    )
    heap: list[tuple[datetime, int]] = []
    pushed = 0
    out: list[float] = []
    for i in range(minutes):
        at = min(start + (i + 1) * MINUTE, now)
        while pushed < len(valid) and valid[pushed].enqueued_at <= at:
            heapq.heappush(heap, (valid[pushed].enqueued_at, pushed))
            pushed += 1
        while heap:
            top = valid[heap[0][1]]
            if top.finished_at is not None and top.finished_at <= at:
                heapq.heappop(heap)
            else:
                break
        out.append((at - heap[0][0]).total_seconds() if heap else 0.0)
    return out

"""Per-minute activity of the last hours, for the console's overview charts.

Counted from the stored packets and jobs (``persistence.activity``), not sampled: packets
received, processed, failed and refused and the item errors of the processed ones, per minute;
and per minute the most jobs in the queue at once (queued or running) and the longest any job
had waited, from each job's time in the queue (enqueued ► finished). Peaks, not end-of-minute
samples: a queue that fills and drains within a minute still shows.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from persistence import activity as store
from persistence.packets import DEAD, FAILED, PROCESSED, REJECTED

MINUTE = timedelta(minutes=1)
#: Rows read at most per chart source; beyond, the charts say they are cut (see Grafana).
ROW_LIMIT = 200_000


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
    #: more rows than ROW_LIMIT: the oldest minutes miss some packets
    truncated: bool


def _index(at: datetime, start: datetime, minutes: int) -> int | None:
    i = int((at - start) // MINUTE)
    return i if 0 <= i < minutes else None


def activity(session: Session, now: datetime, hours: int = 3) -> Activity:
    """The last ``hours`` (whole minutes, the current one included) up to ``now``."""
    minutes = hours * 60
    start = now.replace(second=0, microsecond=0) - (minutes - 1) * MINUTE
    received, processed, failed, refused, item_errors = ([0] * minutes for _ in range(5))
    arrivals = store.arrivals(session, start, ROW_LIMIT)
    for a in arrivals:
        i = _index(a.received_at, start, minutes)
        if i is not None:
            received[i] += 1
            refused[i] += a.state == REJECTED
    stints = store.stints(session, start, ROW_LIMIT)
    for s in stints:
        i = _index(s.finished_at, start, minutes) if s.finished_at else None
        if i is None:
            continue
        if s.state == PROCESSED:
            processed[i] += 1
            item_errors[i] += s.item_errors
        elif s.state in (FAILED, DEAD):
            failed[i] += 1
    depth, oldest = _queue(stints, start, now, minutes)
    return Activity(
        start,
        now,
        minutes,
        received,
        processed,
        failed,
        refused,
        item_errors,
        depth,
        oldest,
        truncated=len(arrivals) >= ROW_LIMIT or len(stints) >= ROW_LIMIT,
    )


def _queue(
    stints: list[store.Stint], start: datetime, now: datetime, minutes: int
) -> tuple[list[int], list[float]]:
    """Per minute: the most jobs in the queue at once, and the longest wait seen (the oldest
    job still waiting at the minute's end, or one that finished within it after waiting
    longer), by a sweep over the stints."""
    valid = [s for s in stints if s.finished_at is None or s.finished_at >= s.enqueued_at]
    # ends before starts at the same instant: a job handed on is not counted twice
    events = sorted(
        [(s.enqueued_at, 1) for s in valid]
        + [(s.finished_at, -1) for s in valid if s.finished_at is not None]
    )
    ends = [start + (i + 1) * MINUTE for i in range(minutes)]
    depth, level, e = [0] * minutes, 0, 0
    while e < len(events) and events[e][0] < start:
        level += events[e][1]
        e += 1
    for i in range(minutes):
        peak = level
        while e < len(events) and events[e][0] < ends[i]:
            level += events[e][1]
            peak = max(peak, level)
            e += 1
        depth[i] = peak
    oldest = [0.0] * minutes
    for s in valid:  # waits that ended within a minute
        i = _index(s.finished_at, start, minutes) if s.finished_at else None
        if i is not None:
            oldest[i] = max(oldest[i], (s.finished_at - s.enqueued_at).total_seconds())  # type: ignore[operator]
    by_start = sorted(valid, key=lambda s: s.enqueued_at)
    heap: list[tuple[datetime, int]] = []
    pushed = 0
    for i in range(minutes):  # the oldest still waiting at each minute's end
        at = min(ends[i], now)
        while pushed < len(by_start) and by_start[pushed].enqueued_at <= at:
            heapq.heappush(heap, (by_start[pushed].enqueued_at, pushed))
            pushed += 1
        while heap:
            top = by_start[heap[0][1]]
            if top.finished_at is not None and top.finished_at <= at:
                heapq.heappop(heap)
            else:
                break
        if heap:
            oldest[i] = max(oldest[i], (at - heap[0][0]).total_seconds())
    return depth, oldest

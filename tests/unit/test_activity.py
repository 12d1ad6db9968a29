"""The console's queue charts: peak depth and longest wait per minute, from job stints."""

from datetime import UTC, datetime, timedelta

from gateway.ops.activity import _queue
from persistence.activity import Stint

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_peaks_within_a_minute_and_waits_of_finished_and_pending_jobs() -> None:
    stints = [
        Stint(at(-5), at(1.5), "processed", 0),  # waited since before the window
        Stint(at(0.2), at(0.3), "processed", 0),  # in and out within minute 0
        Stint(at(0.25), at(0.4), "processed", 0),
        Stint(at(2.5), None, "received", 0),  # still queued
        Stint(at(3.0), at(2.0), "processed", 0),  # finished before it started: ignored
    ]
    depth, oldest = _queue(stints, T0, at(4.5), 5)
    assert depth == [3, 1, 1, 1, 1]  # three at once in minute 0, never 4
    assert oldest[0] == 6 * 60  # the job enqueued at -5 min, still waiting at 1 min
    assert oldest[1] == 6.5 * 60  # it finished at 1.5 min after 6.5 min
    assert oldest[2] == 0.5 * 60  # the pending one, at the end of minute 2
    assert oldest[4] == 2.0 * 60  # ... and at "now" (4.5 min) in the current minute


def test_a_job_handed_on_at_the_same_instant_is_not_counted_twice() -> None:
    stints = [Stint(at(0.1), at(0.5), "processed", 0), Stint(at(0.5), at(0.9), "processed", 0)]
    depth, _ = _queue(stints, T0, at(2), 2)
    assert depth == [1, 0]

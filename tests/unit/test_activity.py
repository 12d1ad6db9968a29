"""The console's oldest-wait series: the oldest job still queued at each minute's end."""

from datetime import UTC, datetime, timedelta

from gateway.ops.activity import _oldest_waiting
from persistence.activity import Stint

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_oldest_still_waiting_at_each_minutes_end() -> None:
    stints = [
        Stint(at(-5), at(1.5)),  # waited since before the window
        Stint(at(0.2), at(0.3)),  # in and out within minute 0: never the oldest at an end
        Stint(at(2.5), None),  # still queued
        Stint(at(3.0), at(2.0)),  # ended before it began: ignored
    ]
    oldest = _oldest_waiting(stints, T0, at(4.5), 5)
    assert oldest[0] == 6 * 60  # the job enqueued at -5 min, at the end of minute 0
    assert oldest[1] == 0  # it ended at 1.5; nothing waited at 2.0
    assert oldest[2] == 0.5 * 60  # the pending one at 3.0
    assert oldest[4] == 2.0 * 60  # ... and at "now" (4.5 min) in the current minute

"""Retention: ``gateway packets purge`` deletes old processed and rejected packets.

The policy (``[retention]`` in conf/gateway.toml) is a floor: ``--before`` can only purge
*less* than the policy allows, never packets younger than ``processed_days`` /
``rejected_days``. Packets still queued or processing, failed and dead-lettered ones are
never purged: they are not done with (replay them first). A packet goes with its state
history, replays and queue job; the domain rows it created (houses, readings …) stay.
Deletion runs in batches, one transaction each, so a large purge never holds long locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from gateway.config import RetentionSettings
from persistence import packets
from persistence.packets import PROCESSED, REJECTED

PURGEABLE = (PROCESSED, REJECTED)


@dataclass(frozen=True)
class PurgeResult:
    state: str
    cutoff: datetime
    count: int


def cutoffs(
    policy: RetentionSettings, before: datetime | None, now: datetime | None = None
) -> dict[str, datetime]:
    """Per state: packets received before this moment may go."""
    now = now or datetime.now(UTC)
    floors = {
        PROCESSED: now - timedelta(days=policy.processed_days),
        REJECTED: now - timedelta(days=policy.rejected_days),
    }
    if before is None:
        return floors
    return {state: min(floor, before) for state, floor in floors.items()}


def purge(
    sessions: sessionmaker[Session],
    policy: RetentionSettings,
    before: datetime | None,
    *,
    dry_run: bool = False,
    batch: int = 500,
) -> list[PurgeResult]:
    results = []
    for state, cutoff in cutoffs(policy, before).items():
        if dry_run:
            with sessions() as session:
                results.append(
                    PurgeResult(state, cutoff, packets.count_older(session, state, cutoff))
                )
            continue
        total = 0
        while True:
            with sessions.begin() as session:
                done = packets.purge_batch(session, state, cutoff, batch)
            total += done
            if done < batch:
                break
        results.append(PurgeResult(state, cutoff, total))
    return results

"""Replay: process a stored packet again, from the bytes it was accepted with.

Never a re-verification of a changed body: the stored raw packet is the evidence, and the
worker parses exactly those bytes again. Each replay is recorded (who, when, forced or not)
together with the outcome it replaces, so ops can compare the two results.

    failed, dead         replayed
    processed            replayed only with ``force``; the handlers are idempotent per item
                         (an existing house is a per-item error, an identical reading gets
                         the same GUID), and the new outcome is stored as a new attempt
    received, processing refused: the packet is queued or being processed
    rejected             refused: it was never accepted; the sender must send it again
"""

from __future__ import annotations

import getpass
import logging
import socket
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from persistence import packets, queue
from persistence.packets import DEAD, FAILED, PROCESSED, PROCESSING, RECEIVED, REJECTED

log = logging.getLogger("gateway.ops.replay")

REPLAYABLE = (FAILED, DEAD)
FORCE_ONLY = (PROCESSED,)


@dataclass(frozen=True)
class ReplayOutcome:
    message_guid: str
    replayed: bool
    #: the state before the replay (None: no such packet)
    previous_state: str | None
    #: why it was refused: not-found | in-progress | rejected | needs-force
    refused: str | None = None
    message: str = ""


def cli_actor() -> str:
    """Who replays from a shell: ``cli:<user>@<host>``."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container: still record the host
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def replay_one(session: Session, message_guid: str, *, by: str, force: bool) -> ReplayOutcome:
    """Re-queue one packet inside the caller's transaction (its row is locked meanwhile)."""
    guid = message_guid.strip().lower()
    packet = packets.record_of(session, guid, for_update=True)
    if packet is None:
        return ReplayOutcome(guid, False, None, "not-found", "no packet with this MessageGUID")
    state = packet.state
    if state in (RECEIVED, PROCESSING):
        return ReplayOutcome(
            guid, False, state, "in-progress", f"the packet is {state}: it is queued or running"
        )
    if state == REJECTED:
        return ReplayOutcome(
            guid,
            False,
            state,
            "rejected",
            f"a rejected packet ({packet.error_code}) was never accepted; the sender must send it again",
        )
    if state in FORCE_ONLY and not force:
        return ReplayOutcome(
            guid,
            False,
            state,
            "needs-force",
            "the packet was processed; replay it again only with --force (idempotent per item)",
        )
    if not queue.requeue(session, packet.id):
        return ReplayOutcome(
            guid, False, state, "in-progress", "its job is still queued or running"
        )
    packets.start_replay(session, packet, by=by, forced=state in FORCE_ONLY)
    log.info(
        "packet replayed",
        extra={"MessageGUID": guid, "orgPPAGUID": packet.org_guid, "by": by, "was": state},
    )
    return ReplayOutcome(guid, True, state, None, f"re-queued (was {state})")


def replay(
    sessions: sessionmaker[Session], message_guids: list[str], *, by: str, force: bool = False
) -> list[ReplayOutcome]:
    """Replay each packet in its own transaction; refusals do not stop the others."""
    outcomes = []
    for guid in message_guids:
        with sessions.begin() as session:
            outcomes.append(replay_one(session, guid, by=by, force=force))
    return outcomes


def select(
    sessions: sessionmaker[Session],
    *,
    states: tuple[str, ...],
    since: datetime | None,
    limit: int = 1000,
) -> list[str]:
    """MessageGUIDs of the packets a bulk replay (``--state failed --since …``) takes."""
    with sessions() as session:
        return packets.message_guids(session, states=states, since=since, limit=limit)

"""Stored packets: accepting (packet + queue job in one transaction), rejecting, reading."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Executable,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from persistence import accept_sql, limits
from persistence.clock import as_utc, utcnow
from persistence.models import (
    DirectoryGeneration,
    Job,
    NsiState,
    Organization,
    Packet,
    PacketEvent,
    PacketReplay,
)
from persistence.roles import Role

RECEIVED, PROCESSING, PROCESSED, FAILED, REJECTED, DEAD = (
    "received",
    "processing",
    "processed",
    "failed",
    "rejected",
    "dead",
)


@dataclass(frozen=True)
class NewPacket:
    """What the accept path knows about a packet once it passed every check."""

    requester_message_guid: str
    org_guid: str
    service: str
    operation: str
    version: str | None
    raw: bytes
    body_sha256: str
    signer_subject: str | None = None
    signer_fingerprint: str | None = None
    remote_addr: str | None = None


@dataclass(frozen=True)
class AcceptOutcome:
    message_guid: str
    requester_message_guid: str
    #: "new" (stored and queued), "duplicate" (same packet again), "conflict" (GUID reused),
    #: "stale" (nothing written: the directory generation is not ``expect_generation``; on
    #: SQLite told apart only for a packet already there, as for a new one the caller
    #: compares the generation and rolls back); PostgreSQL, nothing written: "busy" (every
    #: request slot of the organisation held), "limited" (past a limit of the counting,
    #: whose count is in ``stored``).
    status: str
    #: the generation and counts read in the same transaction
    stored: accept_sql.Stored


@dataclass(frozen=True)
class PacketView:
    id: int
    message_guid: str
    requester_message_guid: str | None
    org_guid: str | None
    service: str | None
    operation: str | None
    version: str | None
    state: str
    received_at: datetime
    processed_at: datetime | None
    error_code: str | None
    error_message: str | None
    result_xml: str | None


_VIEW_COLUMNS = (
    Packet.id,
    Packet.message_guid,
    Packet.requester_message_guid,
    Packet.org_guid,
    Packet.service,
    Packet.operation,
    Packet.version,
    Packet.state,
    Packet.received_at,
    Packet.processed_at,
    Packet.error_code,
    Packet.error_message,
    Packet.result_xml,
)


def _view(row: Sequence[Any]) -> PacketView:
    values = list(row)
    values[8], values[9] = as_utc(values[8]), as_utc(values[9])
    return PacketView(*values)


def add_event(session: Session, packet_id: int, event: str, detail: str | None = None) -> None:
    session.add(PacketEvent(packet_id=packet_id, at=utcnow(), event=event, detail=detail))


def record_event(session: Session, packet_id: int, event: str, detail: str | None = None) -> None:
    """``add_event`` for a packet already stored, as one INSERT now (no ORM flush): what the
    queue records on every claim and finish."""
    record_events(session, [(packet_id, event, detail)])


def record_events(
    session: Session | Connection, events: Sequence[tuple[int, str, str | None]]
) -> None:
    """``record_event`` for several packets: (packet id, event, detail) each, one INSERT."""
    at = utcnow()
    session.execute(
        insert(PacketEvent),
        [{"packet_id": p, "at": at, "event": e, "detail": d} for p, e, d in events],
    )


def accept(
    conn: Connection | Session,
    new: NewPacket,
    counting: accept_sql.Counting = accept_sql.NOTHING_COUNTED,
    *,
    now: datetime | None = None,
    expect_generation: int | None = None,
) -> AcceptOutcome:
    """Store an accepted packet and its queue job, idempotent on (org, client MessageGUID).

    Runs inside the caller's transaction; the caller acknowledges only after commit. One
    ``INSERT … ON CONFLICT DO NOTHING`` decides between new and already there, also when
    the same packet arrives twice at once (the database waits for the first to commit).
    The outcome carries the directory generation and the counts read in the same
    transaction; on PostgreSQL the statement also refuses, writing nothing, past the
    counting's limits and when the generation is not ``expect_generation``
    (``persistence.accept_sql.store``).
    """
    org_guid = new.org_guid.lower()
    requester = new.requester_message_guid.lower()
    message_guid = str(uuid.uuid4())
    stored = accept_sql.store(
        conn,
        {
            "message_guid": message_guid,
            "requester_message_guid": requester,
            "org_guid": org_guid,
            "service": new.service,
            "operation": new.operation,
            "version": new.version,
            "state": RECEIVED,
            "raw": new.raw,
            "body_sha256": new.body_sha256,
            "signer_subject": new.signer_subject,
            "signer_fingerprint": new.signer_fingerprint,
            "remote_addr": new.remote_addr,
        },
        now or utcnow(),
        counting,
        expect_generation,
    )
    if stored.busy:
        return AcceptOutcome(message_guid, requester, "busy", stored)
    if stored.limited:
        return AcceptOutcome(message_guid, requester, "limited", stored)
    if stored.packet_id is None and expect_generation not in (None, stored.generation):
        return AcceptOutcome(message_guid, requester, "stale", stored)
    if stored.packet_id is None:
        found = accept_sql.existing(conn, org_guid, requester)
        if found is None:  # pragma: no cover - the conflicting row is there by definition
            raise LookupError(f"packet {org_guid}/{requester} conflicted but is not stored")
        status = "duplicate" if found[2] == new.body_sha256 else "conflict"
        return AcceptOutcome(found[0], found[1], status, stored)
    return AcceptOutcome(message_guid, requester, "new", stored)


def record_rejected(
    session: Session,
    *,
    raw: bytes,
    body_sha256: str,
    error_code: str,
    error_message: str,
    org_guid: str | None = None,
    requester_message_guid: str | None = None,
    service: str | None = None,
    operation: str | None = None,
    version: str | None = None,
    signer_subject: str | None = None,
    remote_addr: str | None = None,
) -> str:
    """Keep a refused packet for ops; returns the MessageGUID it is filed under."""
    now = utcnow()
    packet = Packet(
        message_guid=str(uuid.uuid4()),
        requester_message_guid=requester_message_guid.lower() if requester_message_guid else None,
        org_guid=org_guid.lower() if org_guid else None,
        service=service,
        operation=operation,
        version=version,
        state=REJECTED,
        received_at=now,
        updated_at=now,
        raw=raw,
        body_sha256=body_sha256,
        signer_subject=signer_subject,
        error_code=error_code,
        error_message=error_message[:4000],
        remote_addr=remote_addr,
    )
    session.add(packet)
    session.flush()
    add_event(session, packet.id, REJECTED, f"{error_code}: {error_message}"[:4000])
    return packet.message_guid


@cache
def _by_message_guid() -> Executable:
    return select(*_VIEW_COLUMNS).where(Packet.message_guid == bindparam("guid"))


@cache
def _state_lookup(slots: bool, logins: int) -> Executable:
    """One row: the directory generation (None before the migrations made its row), with
    ``slots`` the request slot taken (None: all held), the counts of ``logins`` failed-login
    keys, and the packet's columns (None: no such packet)."""
    found = select(*_VIEW_COLUMNS).where(Packet.message_guid == bindparam("guid")).subquery("found")
    generation = select(DirectoryGeneration.generation).where(DirectoryGeneration.id == 1)
    slot = accept_sql.slot_taken().scalar_subquery() if slots else literal(0, BigInteger)
    failed = [limits.count_of_key(f"key{i}") for i in range(logins)]
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(generation.scalar_subquery(), slot, *failed, *found.c)
        .select_from(one)
        .outerjoin(found, true())
    )


def get_by_message_guid(conn: Connection | Session, message_guid: str) -> PacketView | None:
    row = conn.execute(_by_message_guid(), {"guid": message_guid.lower()}).first()
    return _view(row) if row is not None else None


@dataclass(frozen=True)
class StateRead:
    """What getState reads, in one statement (:func:`state_lookup`)."""

    #: the packet with that MessageGUID (anyone's), None when there is none
    packet: PacketView | None
    #: the directory generation the caller's cached checks must match
    generation: int
    #: every request slot of the organisation was held: none was taken
    busy: bool = False
    #: failed logins in the window, per key asked for (0 when the key has no row)
    failed_logins: dict[str, int] = field(default_factory=dict)


def state_lookup(
    conn: Connection | Session,
    message_guid: str,
    slots: tuple[int, int] | None = None,
    logins: Sequence[str] = (),
    login_window: int = 0,
) -> StateRead:
    """The packet for getState and, read in the same statement, the directory generation,
    with ``logins`` the failed-login counts of those keys in window ``login_window``.
    ``slots`` (PostgreSQL): take one of these request slots (``accept_sql.Counting.slots``)
    for the rest of ``conn``'s transaction in the same statement (``busy`` when none was
    free)."""
    params: dict[str, Any] = {"guid": message_guid.lower(), "window": login_window}
    params.update({f"key{i}": key for i, key in enumerate(logins)})
    if slots is not None:
        params["slot_base"], params["slots"] = slots
    row = conn.execute(_state_lookup(slots is not None, len(logins)), params).one()
    failed = {key: int(n or 0) for key, n in zip(logins, row[2 : 2 + len(logins)], strict=True)}
    columns = row[2 + len(logins) :]
    return StateRead(
        packet=_view(columns) if columns[0] is not None else None,
        generation=int(row[0] or 0),
        busy=row[1] is None,
        failed_logins=failed,
    )


def get_raw(session: Session, packet_id: int) -> bytes:
    packet = session.get(Packet, packet_id)
    if packet is None:
        raise LookupError(f"packet {packet_id} does not exist")
    return packet.raw


def events_of(session: Session, packet_id: int) -> list[tuple[datetime, str, str | None]]:
    rows = session.scalars(
        select(PacketEvent).where(PacketEvent.packet_id == packet_id).order_by(PacketEvent.id)
    )
    return [(as_utc(e.at), e.event, e.detail) for e in rows]


@dataclass(frozen=True)
class ToProcess:
    """What the worker reads of a claimed packet, in one query (``to_process_query``)."""

    view: PacketView
    raw: bytes
    org_role: Role | None  # None: the sender is no longer registered
    #: the result of the last processed run when the packet is replayed (last_processed_result)
    previous_result: str | None
    #: the generation of the NSI books (``persistence.nsi``; 0: none loaded), read with it
    nsi_generation: int

    @staticmethod
    def of_row(row: Sequence[Any]) -> ToProcess:
        values: tuple[Any, ...] = tuple(row)
        n = len(_VIEW_COLUMNS)
        raw, role, previous_result, nsi_generation = values[n:]
        return ToProcess(
            _view(values[:n]),
            raw,
            Role(role) if role else None,
            previous_result,
            int(nsi_generation or 0),
        )


@cache
def to_process_query() -> Select[*tuple[Any, ...]]:
    """The packet, its bytes, its sender's role, its previous result and the NSI books'
    generation (``get_by_id``, ``get_raw``, ``organizations.get_organization``,
    ``last_processed_result`` and ``nsi.loaded_version`` at once), for the caller to pick
    the packet (``queue.hold``); rows for ``ToProcess.of_row``."""
    previous = (
        select(PacketReplay.previous_result_xml)
        .where(PacketReplay.packet_id == Packet.id, PacketReplay.previous_state == PROCESSED)
        .order_by(PacketReplay.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    nsi_generation = select(NsiState.generation).where(NsiState.id == 1).scalar_subquery()
    return select(
        *_VIEW_COLUMNS, Packet.raw, Organization.role, previous, nsi_generation
    ).outerjoin(Organization, Organization.guid == func.lower(Packet.org_guid))


def get_by_id(session: Session, packet_id: int) -> PacketView:
    row = session.execute(select(*_VIEW_COLUMNS).where(Packet.id == packet_id)).first()
    if row is None:
        raise LookupError(f"packet {packet_id} does not exist")
    return _view(row)


# --- ops: inspection, replay, retention (gateway/ops) ---------------------------------------


@dataclass(frozen=True)
class ResultCounts:
    """Items and errors of a stored result, stored beside it for ops lists (the worker counts
    them from the result it built)."""

    #: results of import items (each with its TransportGUID)
    items: int
    #: ErrorCodes in the result: refused items and ErrorMessages
    errors: int


@dataclass(frozen=True)
class PacketSummary:
    """A row of the packet list (no raw bytes, no result body)."""

    id: int
    message_guid: str
    requester_message_guid: str | None
    org_guid: str | None
    service: str | None
    operation: str | None
    state: str
    received_at: datetime
    processed_at: datetime | None
    error_code: str | None
    error_message: str | None
    size: int
    #: items in the stored result (each has one TransportGUID), counted by the database
    items: int
    #: errors in the stored result: failed items, or the export's ErrorMessage (the detail
    #: view reads the result itself; these counts are for the list)
    errors: int


def search(
    session: Session,
    *,
    org_guid: str | None = None,
    service: str | None = None,
    operation: str | None = None,
    states: tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    with_errors: bool = False,
    before_id: int | None = None,
    limit: int = 50,
) -> list[PacketSummary]:
    """Packets newest first. ``with_errors``: only those whose stored result carries an error
    (a processed import with failed items, or an export answered with ErrorMessage)."""
    query = select(
        Packet.id,
        Packet.message_guid,
        Packet.requester_message_guid,
        Packet.org_guid,
        Packet.service,
        Packet.operation,
        Packet.state,
        Packet.received_at,
        Packet.processed_at,
        Packet.error_code,
        Packet.error_message,
        func.length(Packet.raw),
        Packet.result_items,
        Packet.result_errors,
    )
    if org_guid:
        query = query.where(Packet.org_guid == org_guid.lower())
    if service:
        query = query.where(Packet.service == service)
    if operation:
        query = query.where(Packet.operation == operation)
    if states:
        query = query.where(Packet.state.in_(states))
    if since is not None:
        query = query.where(Packet.received_at >= since)
    if until is not None:
        query = query.where(Packet.received_at < until)
    if with_errors:
        query = query.where(Packet.result_errors > 0)
    if before_id is not None:
        query = query.where(Packet.id < before_id)
    rows = session.execute(query.order_by(Packet.id.desc()).limit(limit)).all()
    return [
        PacketSummary(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            as_utc(r[7]),
            as_utc(r[8]),
            r[9],
            r[10],
            int(r[11] or 0),
            int(r[12] or 0),
            int(r[13] or 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PacketRecord:
    """Everything ops see about one packet, except its raw bytes (``get_raw``)."""

    id: int
    message_guid: str
    requester_message_guid: str | None
    org_guid: str | None
    service: str | None
    operation: str | None
    version: str | None
    state: str
    received_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    error_code: str | None
    error_message: str | None
    result_xml: str | None
    body_sha256: str
    signer_subject: str | None
    signer_fingerprint: str | None
    remote_addr: str | None
    size: int


_RECORD_COLUMNS = (
    Packet.id,
    Packet.message_guid,
    Packet.requester_message_guid,
    Packet.org_guid,
    Packet.service,
    Packet.operation,
    Packet.version,
    Packet.state,
    Packet.received_at,
    Packet.updated_at,
    Packet.processed_at,
    Packet.error_code,
    Packet.error_message,
    Packet.result_xml,
    Packet.body_sha256,
    Packet.signer_subject,
    Packet.signer_fingerprint,
    Packet.remote_addr,
    func.length(Packet.raw),
)


def _record(row: object) -> PacketRecord:
    values = list(row)  # type: ignore[call-overload]
    for i in (8, 9, 10):
        values[i] = as_utc(values[i])
    values[18] = int(values[18] or 0)
    return PacketRecord(*values)


def record_of(
    session: Session, message_guid: str, *, for_update: bool = False
) -> PacketRecord | None:
    """One packet by the gateway's MessageGUID; ``for_update`` locks its row (PostgreSQL)."""
    query = select(*_RECORD_COLUMNS).where(Packet.message_guid == message_guid.lower())
    if for_update:
        query = query.with_for_update(of=Packet)
    row = session.execute(query).first()
    return _record(row) if row is not None else None


def message_guids(
    session: Session, *, states: tuple[str, ...], since: datetime | None, limit: int
) -> list[str]:
    """MessageGUIDs of packets in ``states`` received since ``since``, oldest first."""
    query = select(Packet.message_guid).where(Packet.state.in_(states))
    if since is not None:
        query = query.where(Packet.received_at >= since)
    return list(session.scalars(query.order_by(Packet.id).limit(limit)))


@dataclass(frozen=True)
class ReplayRecord:
    replayed_at: datetime
    replayed_by: str
    forced: bool
    previous_state: str
    previous_error_code: str | None
    previous_error_message: str | None
    previous_result_xml: str | None
    previous_processed_at: datetime | None


def replays_of(session: Session, packet_id: int) -> list[ReplayRecord]:
    rows = session.scalars(
        select(PacketReplay).where(PacketReplay.packet_id == packet_id).order_by(PacketReplay.id)
    )
    return [
        ReplayRecord(
            as_utc(r.replayed_at),
            r.replayed_by,
            bool(r.forced),
            r.previous_state,
            r.previous_error_code,
            r.previous_error_message,
            r.previous_result_xml,
            as_utc(r.previous_processed_at),
        )
        for r in rows
    ]


def last_processed_result(session: Session, packet_id: int) -> str | None:
    """The result of the packet's last processed run, when it is being replayed: what a forced
    replay answers for the items that run applied. None for a packet never processed."""
    return session.scalar(
        select(PacketReplay.previous_result_xml)
        .where(PacketReplay.packet_id == packet_id, PacketReplay.previous_state == PROCESSED)
        .order_by(PacketReplay.id.desc())
        .limit(1)
    )


def start_replay(session: Session, packet: PacketRecord, *, by: str, forced: bool) -> None:
    """Record a replay (keeping the outcome it replaces) and put the packet back to received.

    The caller re-queues the job (``queue.requeue``) in the same transaction.
    """
    now = utcnow()
    session.add(
        PacketReplay(
            packet_id=packet.id,
            replayed_at=now,
            replayed_by=by[:128],
            forced=forced,
            previous_state=packet.state,
            previous_error_code=packet.error_code,
            previous_error_message=packet.error_message,
            previous_result_xml=packet.result_xml,
            previous_processed_at=packet.processed_at,
        )
    )
    session.execute(
        update(Packet)
        .where(Packet.id == packet.id)
        .values(
            state=RECEIVED,
            result_xml=None,
            result_items=None,
            result_errors=None,
            error_code=None,
            error_message=None,
            processed_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    add_event(
        session,
        packet.id,
        "replay",
        f"replayed by {by}{' (forced)' if forced else ''}; was {packet.state}"[:4000],
    )


def state_counts(session: Session, since: datetime) -> dict[str, int]:
    """Packets received since ``since`` by state."""
    rows = session.execute(
        select(Packet.state, func.count()).where(Packet.received_at >= since).group_by(Packet.state)
    ).all()
    return {state: int(count) for state, count in rows}


def count_with_errors(session: Session, since: datetime) -> int:
    """Processed packets received since ``since`` whose result carries an error."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Packet)
            .where(
                Packet.received_at >= since,
                Packet.state == PROCESSED,
                Packet.result_errors > 0,
            )
        )
        or 0
    )


def count_older(session: Session, state: str, received_before: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Packet)
            .where(Packet.state == state, Packet.received_at < received_before)
        )
        or 0
    )


def purge_batch(session: Session, state: str, received_before: datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` packets in ``state`` received before the cut-off, with their
    history, replays and queue job. Domain rows they created stay. Returns how many went."""
    ids = list(
        session.scalars(
            select(Packet.id)
            .where(Packet.state == state, Packet.received_at < received_before)
            .order_by(Packet.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # a packet being replayed right now stays
        )
    )
    if not ids:
        return 0
    for table in (PacketEvent, PacketReplay, Job):
        session.execute(
            delete(table)
            .where(table.packet_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(Packet)
        .where(Packet.id.in_(ids), Packet.state == state)
        .execution_options(synchronize_session=False)
    )
    return len(ids)

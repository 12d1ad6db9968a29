"""Packets as ops see them: filtered lists, one packet in full, per-item results.

``gateway packets list|show`` and the console both read through here; the queries are
named functions of ``persistence.packets`` / ``persistence.queue``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from gateway.registry import Registry
from gateway.state import state_result
from gateway.xmlparse import parse_xml
from persistence import packets, queue
from persistence.packets import (
    DEAD,
    FAILED,
    PROCESSED,
    PROCESSING,
    RECEIVED,
    REJECTED,
    PacketRecord,
    PacketSummary,
    ReplayRecord,
)
from persistence.queue import JobInfo

STATES = (RECEIVED, PROCESSING, PROCESSED, FAILED, REJECTED, DEAD)
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadFilter(ValueError):
    """A filter value ops typed that cannot be used (shown to them as it is)."""


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """``2026-11-01``, ``2026-11-01T10:30``, ``…+03:00`` or relative ``90m``, ``2h``, ``7d``.

    Times without an offset are UTC; a relative value counts back from now.
    """
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(
            f"not a time: {value!r} (use 2026-11-01, 2026-11-01T10:30, or 90m / 2h / 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- per-item results --------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    """One import item's outcome, read from the stored getState result."""

    transport_guid: str
    guid: str | None = None
    unique_number: str | None = None
    update_date: str | None = None
    error_code: str | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class Results:
    items: list[ItemResult] = field(default_factory=list)
    #: the packet-level ErrorMessage (an export with no answer, an internal error)
    error_code: str | None = None
    description: str | None = None

    @property
    def failed_items(self) -> list[ItemResult]:
        return [i for i in self.items if not i.ok]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child_text(element: etree._Element, name: str) -> str | None:
    found = element.find("{*}" + name)
    return None if found is None else (found.text or "").strip()


def read_results(result_xml: str | None) -> Results:
    """Items (anything with a TransportGUID: CommonResult / ImportResult) and the packet error."""
    if not result_xml:
        return Results()
    root = parse_xml(result_xml.encode())
    items: list[ItemResult] = []
    for transport_guid in root.iter("{*}TransportGUID"):
        element = transport_guid.getparent()
        if element is None or _local(element) == "Error":
            continue
        error = element.find("{*}Error")
        items.append(
            ItemResult(
                transport_guid=(transport_guid.text or "").strip(),
                guid=_child_text(element, "GUID"),
                unique_number=_child_text(element, "UniqueNumber"),
                update_date=_child_text(element, "UpdateDate"),
                error_code=_child_text(error, "ErrorCode") if error is not None else None,
                description=_child_text(error, "Description") if error is not None else None,
            )
        )
    message = root.find("{*}ErrorMessage")
    if message is not None:
        return Results(
            items, _child_text(message, "ErrorCode"), _child_text(message, "Description")
        )
    return Results(items)


# --- list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    org: str | None = None
    service: str | None = None
    operation: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: only packets whose result carries an error (failed items / export ErrorMessage)
    with_errors: bool = False
    before_id: int | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.state and self.state not in STATES:
            raise BadFilter(f"unknown state {self.state!r} (one of {', '.join(STATES)})")
        if self.org and not is_guid(self.org):
            raise BadFilter(f"not an orgPPAGUID: {self.org!r}")
        if not 1 <= self.limit <= 1000:
            raise BadFilter("limit must be between 1 and 1000")


def list_packets(session: Session, filters: Filters) -> list[PacketSummary]:
    return packets.search(
        session,
        org_guid=filters.org,
        service=filters.service,
        operation=filters.operation,
        states=(filters.state,) if filters.state else (),
        since=filters.since,
        until=filters.until,
        with_errors=filters.with_errors,
        before_id=filters.before_id,
        limit=filters.limit,
    )


def summary_json(row: PacketSummary) -> dict[str, Any]:
    data = asdict(row)
    data.pop("id")
    data["received_at"] = _iso(row.received_at)
    data["processed_at"] = _iso(row.processed_at)
    return data


# --- one packet ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    event: str
    detail: str | None


@dataclass(frozen=True)
class Replay:
    record: ReplayRecord
    previous: Results


@dataclass(frozen=True)
class PacketDetail:
    packet: PacketRecord
    job: JobInfo | None
    events: list[Event]
    replays: list[Replay]
    results: Results

    @property
    def attempts(self) -> int:
        return sum(1 for e in self.events if e.event == "attempt")

    @property
    def replayable(self) -> bool:
        return self.packet.state in (FAILED, DEAD, PROCESSED)


def detail(session: Session, message_guid: str) -> PacketDetail | None:
    if not is_guid(message_guid):
        return None
    record = packets.record_of(session, message_guid)
    if record is None:
        return None
    return PacketDetail(
        packet=record,
        job=queue.job_of(session, record.id),
        events=[Event(at, ev, detail) for at, ev, detail in packets.events_of(session, record.id)],
        replays=[
            Replay(r, read_results(r.previous_result_xml))
            for r in packets.replays_of(session, record.id)
        ],
        results=read_results(record.result_xml),
    )


def raw_bytes(session: Session, record: PacketRecord) -> bytes:
    """The packet exactly as received."""
    return packets.get_raw(session, record.id)


def state_answer(session: Session, registry: Registry, record: PacketRecord) -> str:
    """The getStateResult the sender gets for this packet (pretty-printed)."""
    if record.state == REJECTED:
        raise LookupError(
            f"a rejected packet has no getState answer; it was refused with {record.error_code}"
        )
    view = packets.get_by_message_guid(session, record.message_guid)
    service = registry.by_name(record.service or "")
    element = state_result(service, view, record.org_guid or "")
    return etree.tostring(element, pretty_print=True, encoding="unicode")


def detail_json(found: PacketDetail) -> dict[str, Any]:
    p = found.packet
    header = asdict(p)
    for key in ("id", "result_xml"):
        header.pop(key)
    for key in ("received_at", "updated_at", "processed_at"):
        header[key] = _iso(getattr(p, key))
    return {
        **header,
        "job": (
            {
                **asdict(found.job),
                "run_after": _iso(found.job.run_after),
                "locked_until": _iso(found.job.locked_until),
            }
            if found.job
            else None
        ),
        "history": [{"at": _iso(e.at), "event": e.event, "detail": e.detail} for e in found.events],
        "replays": [
            {
                "at": _iso(r.record.replayed_at),
                "by": r.record.replayed_by,
                "forced": r.record.forced,
                "previous_state": r.record.previous_state,
                "previous_error_code": r.record.previous_error_code,
                "previous_error_message": r.record.previous_error_message,
                "previous_processed_at": _iso(r.record.previous_processed_at),
                "previous_items": [asdict(i) for i in r.previous.items],
            }
            for r in found.replays
        ],
        "items": [asdict(i) for i in found.results.items],
        "result_error": (
            {"code": found.results.error_code, "description": found.results.description}
            if found.results.error_code
            else None
        ),
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def when(value: datetime | None) -> str:
    """A timestamp for people: UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""

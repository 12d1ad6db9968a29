"""Repository of meter readings: the latest reading before a date, same-day readings, bulk insert,
the history of a period (readings and whole verifications)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from persistence.models import Reading

_Row = TypeVar("_Row")

READING_KINDS = ("current", "control", "verification_start", "verification_end")
VERIFICATION_KINDS = ("verification_start", "verification_end")


def latest_readings(
    session: Session, device_guids: Iterable[str]
) -> dict[tuple[str, str], Reading]:
    """(device, resource) ► the most recent reading of any kind."""
    guids = list(set(device_guids))
    result: dict[tuple[str, str], Reading] = {}
    for start in range(0, len(guids), 500):
        chunk = guids[start : start + 500]
        newest = (
            select(
                Reading.device_guid,
                Reading.resource_code,
                func.max(Reading.reading_date).label("d"),
            )
            .where(Reading.device_guid.in_(chunk))
            .group_by(Reading.device_guid, Reading.resource_code)
            .subquery()
        )
        rows = session.scalars(
            select(Reading)
            .join(
                newest,
                and_(
                    Reading.device_guid == newest.c.device_guid,
                    Reading.resource_code == newest.c.resource_code,
                    Reading.reading_date == newest.c.d,
                ),
            )
            .order_by(Reading.id)
        )
        for reading in rows:
            result[(reading.device_guid, reading.resource_code)] = reading
    return result


def readings_on(
    session: Session, keys: Sequence[tuple[str, str, str, date]]
) -> dict[tuple[str, str, str, date], Reading]:
    """Existing readings for (device, kind, resource, date) keys: for idempotent reposts."""
    result: dict[tuple[str, str, str, date], Reading] = {}
    for start in range(0, len(keys), 400):
        chunk = list(keys[start : start + 400])
        rows = session.scalars(
            select(Reading).where(
                tuple_(
                    Reading.device_guid, Reading.kind, Reading.resource_code, Reading.reading_date
                ).in_(chunk)
            )
        )
        for reading in rows:
            result[
                (reading.device_guid, reading.kind, reading.resource_code, reading.reading_date)
            ] = reading
    return result


def insert_readings(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many readings in one statement per chunk."""
    for start in range(0, len(rows), 500):
        session.execute(insert(Reading), rows[start : start + 500])


def correct_reading(session: Session, reading_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Reading).where(Reading.id == reading_id).values(**values))


def _in_period(query: Select[_Row], date_from: date | None, date_to: date | None) -> Select[_Row]:
    if date_from is not None:
        query = query.where(Reading.reading_date >= date_from)
    if date_to is not None:
        query = query.where(Reading.reading_date <= date_to)
    return query


def history(
    session: Session, device_guids: Sequence[str], date_from: date | None, date_to: date | None
) -> list[Reading]:
    """Current and control readings of the devices in a period, oldest first."""
    result: list[Reading] = []
    for start in range(0, len(device_guids), 500):
        query = select(Reading).where(
            Reading.device_guid.in_(device_guids[start : start + 500]),
            Reading.kind.in_(("current", "control")),
        )
        query = _in_period(query, date_from, date_to)
        result.extend(
            session.scalars(query.order_by(Reading.device_guid, Reading.reading_date, Reading.id))
        )
    return result


@dataclass
class Verification:
    """One verification of a device: its dates, seal date, kind and the readings at both ends."""

    guid: str
    device_guid: str
    start_date: date
    end_date: date
    seal_date: date
    reason_code: str | None  # NSI 224 failure reason of an unplanned verification
    reason_guid: str | None  # (both None: a planned verification)
    starts: list[Reading] = field(default_factory=list)  # one per resource
    ends: list[Reading] = field(default_factory=list)

    @property
    def planned(self) -> bool:
        return self.reason_code is None


def verifications(
    session: Session, device_guids: Sequence[str], date_from: date | None, date_to: date | None
) -> list[Verification]:
    """Verifications of the devices with a reading (start or end) taken in the period, whole:
    both ends are given even when one of them lies outside the period. Oldest first.

    Verification readings stored before they were grouped (no verification GUID, no seal
    date) are not verifications the format can describe and are left out.
    """
    found: dict[str, Verification] = {}
    for start in range(0, len(device_guids), 500):
        in_period = _in_period(
            select(Reading.verification_guid).where(
                Reading.device_guid.in_(device_guids[start : start + 500]),
                Reading.kind.in_(VERIFICATION_KINDS),
                Reading.verification_guid.is_not(None),
                Reading.seal_date.is_not(None),
            ),
            date_from,
            date_to,
        )
        rows = session.scalars(
            select(Reading)
            .where(Reading.verification_guid.in_(in_period))
            .order_by(Reading.device_guid, Reading.reading_date, Reading.id)
        )
        for reading in rows:
            if reading.verification_guid is None or reading.seal_date is None:
                continue  # typing only: the subquery picked verifications with both
            verification = found.get(reading.verification_guid)
            if verification is None:
                verification = found[reading.verification_guid] = Verification(
                    guid=reading.verification_guid,
                    device_guid=reading.device_guid,
                    start_date=reading.reading_date,
                    end_date=reading.reading_date,
                    seal_date=reading.seal_date,
                    reason_code=reading.verification_reason_code,
                    reason_guid=reading.verification_reason_guid,
                )
            if reading.kind == "verification_start":
                verification.starts.append(reading)
                verification.start_date = reading.reading_date
            else:
                verification.ends.append(reading)
                verification.end_date = reading.reading_date
    return sorted(found.values(), key=lambda v: (v.device_guid, v.start_date, v.guid))

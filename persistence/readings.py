"""Repository of meter readings: the latest reading before a date, same-day readings, bulk insert."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from persistence.models import Reading

READING_KINDS = ("current", "control", "verification_start", "verification_end")


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


def history(
    session: Session, device_guids: Sequence[str], date_from: date | None, date_to: date | None
) -> list[Reading]:
    """Readings of the devices in a period, oldest first."""
    result: list[Reading] = []
    for start in range(0, len(device_guids), 500):
        query = select(Reading).where(Reading.device_guid.in_(device_guids[start : start + 500]))
        if date_from is not None:
            query = query.where(Reading.reading_date >= date_from)
        if date_to is not None:
            query = query.where(Reading.reading_date <= date_to)
        result.extend(
            session.scalars(query.order_by(Reading.device_guid, Reading.reading_date, Reading.id))
        )
    return result

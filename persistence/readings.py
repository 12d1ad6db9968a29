"""Repository of meter readings: the newest reading per resource and same-day readings (for the
import rules), the history of a period (readings and whole verifications)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, bindparam, select, true
from sqlalchemy.orm import Session, aliased

from persistence.models import DeviceResource, Reading
from persistence.sets import SetRead, is_postgres, table_of

_Row = TypeVar("_Row")

READING_KINDS = ("current", "control", "verification_start", "verification_end")
VERIFICATION_KINDS = ("verification_start", "verification_end")


READINGS = table_of(Reading)

_STORED = (
    Reading.guid,
    Reading.device_guid,
    Reading.kind,
    Reading.resource_code,
    Reading.reading_date,
    Reading.t1,
    Reading.t2,
    Reading.t3,
    Reading.seal_date,
    Reading.verification_reason_code,
    Reading.verification_reason_guid,
    Reading.verification_guid,
)


class Stored(NamedTuple):
    """A stored reading as the import rules see it (read from the store or just accepted).
    A named tuple: a packet reads thousands of them."""

    guid: str
    kind: str
    reading_date: date
    zones: tuple[Decimal, Decimal | None, Decimal | None]
    seal_date: date | None
    reason: tuple[str | None, str | None]
    verification_guid: str | None


def _stored(row: Any) -> Stored:
    """A row of the ``_STORED`` columns (a Core row unpacked as a tuple: faster than by name)."""
    guid, _device, kind, _resource, day, t1, t2, t3, seal, reason_code, reason_guid, group = row
    return Stored(guid, kind, day, (t1, t2, t3), seal, (reason_code, reason_guid), group)


def _newest_postgres(values_in: Any) -> Any:
    # PostgreSQL: one backwards step down (device_guid, resource_code, reading_date, id) per
    # resource of each device: the index gives ORDER BY … LIMIT 1 itself, whatever the
    # device's history or the planner's statistics (a lateral cannot be turned into a join
    # of the whole history; the newest of each kind down the unique index took four steps)
    newest = (
        select(Reading.id, *_STORED)
        .where(
            Reading.device_guid == DeviceResource.device_guid,
            Reading.resource_code == DeviceResource.resource_code,
        )
        .order_by(Reading.reading_date.desc(), Reading.id.desc())
        .limit(1)
        .lateral()
    )
    return (
        select(*newest.c)
        .select_from(DeviceResource)
        .join(newest, true())
        .where(values_in(DeviceResource.device_guid))
    )


def _newest_sqlite(values_in: Any) -> Any:
    # SQLite: the same backwards step, in a correlated subquery per resource of each device
    newer = aliased(Reading)
    newest_id = (
        select(newer.id)
        .where(
            newer.device_guid == DeviceResource.device_guid,
            newer.resource_code == DeviceResource.resource_code,
        )
        .order_by(newer.reading_date.desc(), newer.id.desc())
        .limit(1)
        .correlate(DeviceResource)
        .scalar_subquery()
    )
    ids = select(newest_id).where(values_in(DeviceResource.device_guid))
    return select(Reading.id, *_STORED).where(Reading.id.in_(ids))


_NEWEST = {True: SetRead(_newest_postgres), False: SetRead(_newest_sqlite)}


def latest_readings(session: Session, device_guids: Sequence[str]) -> dict[tuple[str, str], Stored]:
    """(device, resource) ► the most recent reading of any kind (the last stored of its day)."""
    result: dict[tuple[str, str], Stored] = {}
    for row in _NEWEST[is_postgres(session)].rows(session, device_guids):
        result[(row[2], row[4])] = _stored(row[1:])  # device_guid, resource_code
    return result


_ON_DAYS = SetRead(
    lambda values_in: select(*_STORED).where(
        values_in(Reading.device_guid),
        Reading.resource_code.in_(bindparam("codes", expanding=True)),
        Reading.reading_date.in_(bindparam("days", expanding=True)),
    )
)


def readings_on(
    session: Session,
    device_guids: Sequence[str],
    resource_codes: Iterable[str],
    dates: Iterable[date],
) -> dict[tuple[str, str, str, date], Stored]:
    """Stored readings of the devices' resources on those dates, by (device, kind, resource,
    date): for idempotent reposts and same-day conflicts. The resources and the days narrow
    the index range of each device to the entries asked for."""
    result: dict[tuple[str, str, str, date], Stored] = {}
    days = sorted(set(dates))
    codes = sorted(set(resource_codes))
    if not days or not codes:
        return result
    for row in _ON_DAYS.rows(session, device_guids, codes=codes, days=days):
        stored = _stored(row)
        result[(row[1], stored.kind, row[3], stored.reading_date)] = stored
    return result


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

"""Repository of metering devices: lookups by root or version GUID, resources, links, access."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from persistence import contracts
from persistence.models import (
    Account,
    AccountPlace,
    DeviceLink,
    DeviceResource,
    House,
    LivingRoom,
    MeteringDevice,
    Premises,
    Reading,
)
from persistence.roles import Role
from persistence.sets import SetRead, columns_of, where_in


class Device(Protocol):
    """A metering device as read for the rules (a Core row: every column of the table)."""

    guid: str
    version_guid: str
    org_guid: str
    house_guid: str
    kind: str
    number: str
    registry_number: str
    installation_date: date | None
    tariff_count: int
    capacity_digits: int
    archived: bool
    version_number: int
    stamp: str | None
    model: str | None
    commissioning_date: date | None
    first_verification_date: date | None
    remote_metering: bool
    temperature_sensor: bool
    pressure_sensor: bool
    archive_reason_code: str | None
    archive_reason_guid: str | None
    replaced_by: str | None
    created_at: datetime
    updated_at: datetime


class Resource(Protocol):
    """A resource a device measures (a Core row of device_resources)."""

    device_guid: str
    resource_code: str
    resource_guid: str | None
    unit: str | None
    base_t1: Decimal
    base_t2: Decimal | None
    base_t3: Decimal | None


#: the columns the readings rules read (a packet reads up to 1000 devices)
RULE_COLUMNS = (
    MeteringDevice.guid,
    MeteringDevice.version_guid,
    MeteringDevice.org_guid,
    MeteringDevice.house_guid,
    MeteringDevice.number,
    MeteringDevice.archived,
    MeteringDevice.installation_date,
    MeteringDevice.tariff_count,
    MeteringDevice.capacity_digits,
)


def devices_by_refs(
    session: Session, refs: Iterable[str], *, columns: Sequence[Any] | None = None
) -> dict[str, Device]:
    """Devices found by root GUID or version GUID; the dict is keyed by both. ``columns``:
    only those (the row then has only those attributes)."""
    wanted = {r.lower() for r in refs}
    found: dict[str, Device] = {}
    query = select(*(columns or columns_of(MeteringDevice)))
    for row in where_in(session, query, MeteringDevice.guid, wanted):
        found[row.guid] = found[row.version_guid] = cast(Device, row)
    missing = wanted - found.keys()
    for row in where_in(session, query, MeteringDevice.version_guid, missing):
        found[row.guid] = found[row.version_guid] = cast(Device, row)
    return found


class RuleDevice(NamedTuple):
    """The :data:`RULE_COLUMNS` of a device (a named tuple: a packet reads up to 1000)."""

    guid: str
    version_guid: str
    org_guid: str
    house_guid: str
    number: str
    archived: bool
    installation_date: date | None
    tariff_count: int
    capacity_digits: int


def rule_devices_by_refs(session: Session, refs: Iterable[str]) -> dict[str, RuleDevice]:
    """``devices_by_refs`` with :data:`RULE_COLUMNS` only, for a packet of readings."""
    wanted = {r.lower() for r in refs}
    found: dict[str, RuleDevice] = {}
    for row in _RULE_DEVICES_BY_GUID.rows(session, wanted):
        device = RuleDevice(*row)
        found[device.guid] = found[device.version_guid] = device
    for row in _RULE_DEVICES_BY_VERSION.rows(session, wanted - found.keys()):
        device = RuleDevice(*row)
        found[device.guid] = found[device.version_guid] = device
    return found


_RULE_DEVICES_BY_GUID = SetRead(
    lambda values_in: select(*RULE_COLUMNS).where(values_in(MeteringDevice.guid))
)
_RULE_DEVICES_BY_VERSION = SetRead(
    lambda values_in: select(*RULE_COLUMNS).where(values_in(MeteringDevice.version_guid))
)
_RESOURCES = SetRead(
    lambda values_in: select(*columns_of(DeviceResource)).where(
        values_in(DeviceResource.device_guid)
    )
)


def resources_of(session: Session, device_guids: Iterable[str]) -> dict[str, dict[str, Resource]]:
    """device GUID ► resource code ► resource (unit, base values)."""
    result: dict[str, dict[str, Resource]] = {}
    for row in _RESOURCES.rows(session, device_guids):
        device_guid, resource_code = row[0], row[1]  # the key, first of the table's columns
        found = result.get(device_guid)
        if found is None:
            found = result[device_guid] = {}
        found[resource_code] = cast(Resource, row)
    return result


def houses_accessible(
    session: Session, org_guid: str, role: Role | None, house_guids: Iterable[str]
) -> set[str]:
    """Of the given houses, those the organisation manages (UO) or supplies (RSO) by its
    placed contracts (persistence/contracts.py)."""
    return contracts.houses_for_role(session, org_guid, role, house_guids)


def premises_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, house_guid) of premises."""
    query = select(Premises.guid, Premises.house_guid)
    return {row.guid: row for row in where_in(session, query, Premises.guid, guids)}


def rooms_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, house_guid) of living rooms."""
    query = select(LivingRoom.guid, LivingRoom.house_guid)
    return {row.guid: row for row in where_in(session, query, LivingRoom.guid, guids)}


def accounts_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, org_guid, closed, unique_number) of accounts."""
    query = select(Account.guid, Account.org_guid, Account.closed, Account.unique_number)
    return {row.guid: row for row in where_in(session, query, Account.guid, guids)}


def account_houses(session: Session, account_guids: Iterable[str]) -> dict[str, set[str]]:
    """account GUID ► the houses its accommodations are in."""
    query = select(AccountPlace.account_guid, AccountPlace.house_guid)
    result: dict[str, set[str]] = {}
    for row in where_in(session, query, AccountPlace.account_guid, account_guids):
        result.setdefault(row.account_guid, set()).add(row.house_guid)
    return result


def houses_by_fias(session: Session, fias_guids: Iterable[str]) -> dict[str, Row[Any]]:
    """FIASHouseGuid ► (guid, fias_house_guid, org_guid) of houses."""
    query = select(House.guid, House.fias_house_guid, House.org_guid)
    return {
        row.fias_house_guid: row
        for row in where_in(session, query, House.fias_house_guid, fias_guids)
    }


def houses_by_guid(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, fias_house_guid, org_guid) of houses."""
    query = select(House.guid, House.fias_house_guid, House.org_guid)
    return {row.guid: row for row in where_in(session, query, House.guid, guids)}


def active_numbers(session: Session, house_guids: Iterable[str]) -> set[tuple[str, str]]:
    """(house, device number) of the devices that are not archived."""
    query = select(MeteringDevice.house_guid, MeteringDevice.number).where(
        MeteringDevice.archived.is_(False)
    )
    rows = where_in(session, query, MeteringDevice.house_guid, house_guids)
    return {(row.house_guid, row.number) for row in rows}


def with_readings(session: Session, device_guids: Iterable[str]) -> set[str]:
    """Of the given devices, those that have readings."""
    query = select(Reading.device_guid).distinct()
    return {row.device_guid for row in where_in(session, query, Reading.device_guid, device_guids)}


def links_of(session: Session, device_guids: Iterable[str]) -> dict[str, list[DeviceLink]]:
    guids = list(set(device_guids))
    result: dict[str, list[DeviceLink]] = {}
    if guids:
        for link in session.scalars(
            select(DeviceLink).where(DeviceLink.device_guid.in_(guids)).order_by(DeviceLink.id)
        ):
            result.setdefault(link.device_guid, []).append(link)
    return result


def devices_of(
    session: Session, org_guid: str, role: Role | None, house_guids: Iterable[str] | None = None
) -> list[Device]:
    """Devices the organisation may see: its own and those in houses it manages or supplies."""
    query = select(*columns_of(MeteringDevice)).order_by(
        MeteringDevice.house_guid, MeteringDevice.number
    )
    rows = (
        where_in(session, query, MeteringDevice.house_guid, house_guids)
        if house_guids is not None
        else list(session.execute(query))
    )
    devices = [cast(Device, row) for row in rows]
    served = houses_accessible(session, org_guid, role, {d.house_guid for d in devices})
    return [d for d in devices if d.org_guid == org_guid or d.house_guid in served]

"""Repository of metering devices: lookups by root or version GUID, resources, links, access."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, cast

from sqlalchemy import delete, func, select
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
from persistence.sets import columns_of, where_in


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


def devices_by_refs(session: Session, refs: Iterable[str]) -> dict[str, Device]:
    """Devices found by root GUID or version GUID; the dict is keyed by both."""
    wanted = {r.lower() for r in refs}
    found: dict[str, Device] = {}
    query = select(*columns_of(MeteringDevice))
    for row in where_in(session, query, MeteringDevice.guid, wanted):
        found[row.guid] = found[row.version_guid] = cast(Device, row)
    missing = wanted - found.keys()
    for row in where_in(session, query, MeteringDevice.version_guid, missing):
        found[row.guid] = found[row.version_guid] = cast(Device, row)
    return found


def resources_of(session: Session, device_guids: Iterable[str]) -> dict[str, dict[str, Resource]]:
    """device GUID ► resource code ► resource (unit, base values)."""
    result: dict[str, dict[str, Resource]] = {}
    query = select(*columns_of(DeviceResource))
    for row in where_in(session, query, DeviceResource.device_guid, device_guids):
        result.setdefault(row.device_guid, {})[row.resource_code] = cast(Resource, row)
    return result


def houses_accessible(
    session: Session, org_guid: str, role: Role | None, house_guids: Iterable[str]
) -> set[str]:
    """Of the given houses, those the organisation manages (UO) or supplies (RSO) by its
    placed contracts (persistence/contracts.py)."""
    return contracts.houses_for_role(session, org_guid, role, house_guids)


def premises_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Premises]:
    guids = list(set(guids))
    if not guids:
        return {}
    return {p.guid: p for p in session.scalars(select(Premises).where(Premises.guid.in_(guids)))}


def rooms_by_guids(session: Session, guids: Iterable[str]) -> dict[str, LivingRoom]:
    guids = list(set(guids))
    if not guids:
        return {}
    return {
        r.guid: r for r in session.scalars(select(LivingRoom).where(LivingRoom.guid.in_(guids)))
    }


def accounts_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Account]:
    guids = list(set(guids))
    if not guids:
        return {}
    return {a.guid: a for a in session.scalars(select(Account).where(Account.guid.in_(guids)))}


def account_houses(session: Session, account_guids: Iterable[str]) -> dict[str, set[str]]:
    """account GUID ► the houses its accommodations are in."""
    guids = list(set(account_guids))
    result: dict[str, set[str]] = {}
    if guids:
        rows = session.execute(
            select(AccountPlace.account_guid, AccountPlace.house_guid).where(
                AccountPlace.account_guid.in_(guids)
            )
        )
        for account_guid, house_guid in rows:
            result.setdefault(account_guid, set()).add(house_guid)
    return result


def houses_by_fias(session: Session, fias_guids: Iterable[str]) -> dict[str, House]:
    guids = list(set(fias_guids))
    if not guids:
        return {}
    return {
        h.fias_house_guid: h
        for h in session.scalars(select(House).where(House.fias_house_guid.in_(guids)))
    }


def houses_by_guid(session: Session, guids: Iterable[str]) -> dict[str, House]:
    guids = list(set(guids))
    if not guids:
        return {}
    return {h.guid: h for h in session.scalars(select(House).where(House.guid.in_(guids)))}


def active_numbers(session: Session, house_guids: Iterable[str]) -> set[tuple[str, str]]:
    """(house, device number) of the devices that are not archived."""
    guids = list(set(house_guids))
    if not guids:
        return set()
    rows = session.execute(
        select(MeteringDevice.house_guid, MeteringDevice.number).where(
            MeteringDevice.house_guid.in_(guids), MeteringDevice.archived.is_(False)
        )
    )
    return {(h, n) for h, n in rows}


def has_readings(session: Session, device_guid: str) -> bool:
    count = session.scalar(
        select(func.count()).select_from(Reading).where(Reading.device_guid == device_guid)
    )
    return bool(count)


def links_of(session: Session, device_guids: Iterable[str]) -> dict[str, list[DeviceLink]]:
    guids = list(set(device_guids))
    result: dict[str, list[DeviceLink]] = {}
    if guids:
        for link in session.scalars(
            select(DeviceLink).where(DeviceLink.device_guid.in_(guids)).order_by(DeviceLink.id)
        ):
            result.setdefault(link.device_guid, []).append(link)
    return result


def replace_links(session: Session, device_guid: str, links: list[DeviceLink]) -> None:
    session.execute(delete(DeviceLink).where(DeviceLink.device_guid == device_guid))
    session.add_all(links)


def replace_resources(session: Session, device_guid: str, resources: list[DeviceResource]) -> None:
    session.execute(delete(DeviceResource).where(DeviceResource.device_guid == device_guid))
    session.flush()
    session.add_all(resources)


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

"""Repository of metering devices: lookups by root or version GUID, resources, links, access."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from persistence.models import (
    Account,
    AccountPlace,
    DeviceLink,
    DeviceResource,
    House,
    HouseSupplier,
    LivingRoom,
    MeteringDevice,
    Premises,
    Reading,
)
from persistence.roles import Role


def devices_by_refs(session: Session, refs: Iterable[str]) -> dict[str, MeteringDevice]:
    """Devices found by root GUID or version GUID; the dict is keyed by both."""
    refs = list({r.lower() for r in refs})
    found: dict[str, MeteringDevice] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        rows = session.scalars(
            select(MeteringDevice).where(
                or_(MeteringDevice.guid.in_(chunk), MeteringDevice.version_guid.in_(chunk))
            )
        )
        for device in rows:
            found[device.guid] = device
            found[device.version_guid] = device
    return found


def resources_of(
    session: Session, device_guids: Iterable[str]
) -> dict[str, dict[str, DeviceResource]]:
    """device GUID ► resource code ► resource (unit, base values)."""
    guids = list(set(device_guids))
    result: dict[str, dict[str, DeviceResource]] = {}
    for start in range(0, len(guids), 500):
        rows = session.scalars(
            select(DeviceResource).where(DeviceResource.device_guid.in_(guids[start : start + 500]))
        )
        for res in rows:
            result.setdefault(res.device_guid, {})[res.resource_code] = res
    return result


def houses_accessible(
    session: Session, org_guid: str, role: Role | None, house_guids: Iterable[str]
) -> set[str]:
    """Of the given houses, those the organisation manages (UO) or supplies (RSO)."""
    guids = list(set(house_guids))
    if not guids:
        return set()
    if role == Role.UO:
        query = select(House.guid).where(House.guid.in_(guids), House.org_guid == org_guid)
    elif role == Role.RSO:
        query = select(HouseSupplier.house_guid).where(
            HouseSupplier.house_guid.in_(guids), HouseSupplier.org_guid == org_guid
        )
    else:
        return set()
    return set(session.scalars(query))


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
) -> list[MeteringDevice]:
    """Devices the organisation may see: its own and those in houses it manages or supplies."""
    query = select(MeteringDevice)
    if house_guids is not None:
        query = query.where(MeteringDevice.house_guid.in_(list(set(house_guids))))
    devices = list(
        session.scalars(query.order_by(MeteringDevice.house_guid, MeteringDevice.number))
    )
    served = houses_accessible(session, org_guid, role, {d.house_guid for d in devices})
    return [d for d in devices if d.org_guid == org_guid or d.house_guid in served]

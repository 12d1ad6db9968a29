"""importMeteringDeviceData: create, update, archive and replace metering devices.

Each MeteringDevice item gets a CommonResult (GUID = the device's version GUID, UniqueNumber
= its registry number) with importMeteringDevice/MeteringDeviceGUID = the root GUID. Every
change makes a new version GUID, as GIS does; the root GUID never changes.

Rules (per item): the premises, rooms, houses and accounts a device is placed at exist
(INT002000), the accounts are the sender's (AUT011003) and open (HCS002013), all in one house
(HCS002012) that the sender manages or supplies (AUT011003), and a house is known
(HCS002010); the number is not active in the house (HCS002011); dates are consistent
(HCS002016); units fit the resources (HCS002017). An update names the device's current
version (INT002000) of a device of the sender (AUT011003) that is not archived (HCS002015);
a full update (UpdateBeforeDevicesValues) only before the first reading (HCS002014); a
replacing device is an active device of the same house (HCS002012).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    child,
    children,
    guid,
    integer,
    local,
    nsi_ref,
    required,
    text,
)
from gateway.imports.pipeline import Answer, Changes, Detail, Done, ImportBase, Item, run_import
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import devices as repo
from persistence.models import DeviceLink, DeviceResource, MeteringDevice

IMPORT_RESULT_VERSION = "10.0.1.1"
ELECTRICITY = "3"  # NSI 2: MunicipalResourceEnergy carries no resource reference


# OKEI units a resource may be measured in (per the format's documentation of readings).
UNITS = {
    "1": {"112", "113"},  # cold water
    "2": {"112", "113"},  # hot water
    "8": {"112", "113"},  # waste water
    "3": {"245"},  # electricity
    "4": {"113"},  # gas
    "5": {"233", "245", "246", "271", "A056", "A058"},  # heat
}

KINDS = {
    "CollectiveDevice": "collective",
    "ResidentialPremiseDevice": "residential",
    "NonResidentialPremiseDevice": "nonresidential",
    "ApartmentHouseDevice": "apartment_house",
    "LivingRoomDevice": "living_room",
    "CollectiveApartmentDevice": "collective_apartment",
}

#: the characteristics an item sets (None: left as they are)
_BASIC = (
    "stamp",
    "model",
    "installation_date",
    "commissioning_date",
    "first_verification_date",
    "remote_metering",
    "temperature_sensor",
    "pressure_sensor",
)


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a device is installed, as the item names it."""

    kind: str
    premises: tuple[str, ...]
    rooms: tuple[str, ...]
    houses: tuple[str, ...]  # FIASHouseGuid
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class ResourceValue:
    resource_code: str
    resource_guid: str | None
    unit: str | None
    base: tuple[Decimal, Decimal | None, Decimal | None]


@dataclass(frozen=True)
class DeviceItem:
    action: str  # create | before | after | archive | replace
    request_fias: str | None  # the request's FIASHouseGuid
    version_ref: str | None = None  # MeteringDeviceVersionGUID of an update
    placement: Placement | None = None  # create, before
    number: str | None = None
    basic: tuple[tuple[str, Any], ...] = ()  # (column, value) of _BASIC, None when not sent
    resources: tuple[ResourceValue, ...] = ()  # create, before
    archive_reason: tuple[str | None, str | None] = (None, None)
    replacing_ref: str | None = None


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value) if value else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _texts(element: etree._Element, name: str) -> tuple[str, ...]:
    return tuple(c.text.strip().lower() for c in element.iter("{*}" + name) if c.text)


def _placement(basic: etree._Element) -> Placement:
    found = next((c for c in basic if isinstance(c.tag, str) and local(c) in KINDS), None)
    assert found is not None  # the schema requires one
    return Placement(
        KINDS[local(found)],
        _texts(found, "PremiseGUID"),
        _texts(found, "LivingRoomGUID"),
        _texts(found, "FIASHouseGuid"),
        _texts(found, "AccountGUID"),
    )


def _basic(basic: etree._Element) -> tuple[tuple[str, Any], ...]:
    return (
        ("stamp", text(basic, "MeteringDeviceStamp")),
        ("model", text(basic, "MeteringDeviceModel")),
        ("installation_date", _date(basic, "InstallationDate")),
        ("commissioning_date", _date(basic, "CommissioningDate")),
        ("first_verification_date", _date(basic, "FirstVerificationDate")),
        ("remote_metering", boolean(basic, "RemoteMeteringMode")),
        ("temperature_sensor", boolean(basic, "TemperatureSensor")),
        ("pressure_sensor", boolean(basic, "PressureSensor")),
    )


def _resources(data: etree._Element) -> tuple[ResourceValue, ...]:
    """The resources of a device from MunicipalResourceNotEnergy / …Energy / MunicipalResources."""
    resources = []
    for element in children(data, "MunicipalResourceNotEnergy"):
        code, nsi_guid = nsi_ref(element, "MunicipalResource")
        base: tuple[Decimal, Decimal | None, Decimal | None] = (
            Decimal(text(element, "MeteringValue") or "0"),
            None,
            None,
        )
        resources.append(ResourceValue(code or "", nsi_guid, text(element, "Unit"), base))
    energy = child(data, "MunicipalResourceEnergy")
    if energy is not None:
        base = (
            Decimal(text(energy, "MeteringValueT1") or "0"),
            _dec(text(energy, "MeteringValueT2")),
            _dec(text(energy, "MeteringValueT3")),
        )
        resources.append(ResourceValue(ELECTRICITY, None, text(energy, "Unit") or "245", base))
    for element in children(data, "MunicipalResources"):
        code, nsi_guid = nsi_ref(element, "MunicipalResource")
        tariffs = integer(element, "TariffCount") or 1
        base = (
            Decimal(0),
            Decimal(0) if tariffs >= 2 else None,
            Decimal(0) if tariffs >= 3 else None,
        )
        resources.append(ResourceValue(code or "", nsi_guid, text(element, "Unit"), base))
    return tuple(resources)


def _read(element: etree._Element, request_fias: str | None) -> DeviceItem:
    create = child(element, "DeviceDataToCreate")
    if create is not None:
        basic = required(create, "BasicChatacteristicts")
        return DeviceItem(
            "create",
            request_fias,
            placement=_placement(basic),
            number=text(basic, "MeteringDeviceNumber") or "",
            basic=_basic(basic),
            resources=_resources(create),
        )
    update = required(element, "DeviceDataToUpdate")
    ref = guid(update, "MeteringDeviceVersionGUID") or ""
    before = child(update, "UpdateBeforeDevicesValues")
    if before is not None:
        basic = required(before, "BasicChatacteristicts")
        return DeviceItem(
            "before",
            request_fias,
            ref,
            placement=_placement(basic),
            number=text(basic, "MeteringDeviceNumber"),
            basic=_basic(basic),
            resources=_resources(before),
        )
    after = child(update, "UpdateAfterDevicesValues")
    if after is not None:
        return DeviceItem(
            "after",
            request_fias,
            ref,
            number=text(after, "MeteringDeviceNumber"),
            basic=_basic(after),
        )
    archive = child(update, "ArchiveDevice")
    if archive is not None:
        return DeviceItem(
            "archive", request_fias, ref, archive_reason=nsi_ref(archive, "ArchivingReason")
        )
    replace = required(update, "ReplaceDevice")
    return DeviceItem(
        "replace",
        request_fias,
        ref,
        replacing_ref=guid(replace, "ReplacingMeteringDeviceVersionGUID") or "",
    )


# --- prefetch -----------------------------------------------------------------------------


@dataclass
class DeviceState:
    """A device as the rules see it, kept current while the packet runs."""

    guid: str
    version_guid: str
    org_guid: str
    house_guid: str
    number: str
    registry_number: str
    archived: bool
    version_number: int
    basic: dict[str, Any]


@dataclass
class Packet:
    devices: dict[str, DeviceState]  # by root and by current version GUID
    premises: dict[str, Any]
    rooms: dict[str, Any]
    accounts: dict[str, Any]
    account_houses: dict[str, set[str]]
    houses_by_fias: dict[str, Any]
    houses: dict[str, Any]
    served: set[str]  # houses the sender manages or supplies
    numbers: set[tuple[str, str]]  # (house, number) of the active devices
    with_readings: set[str]  # devices that have readings
    today: date = field(default_factory=date.today)


def _state(row: Any) -> DeviceState:
    return DeviceState(
        row.guid,
        row.version_guid,
        row.org_guid,
        row.house_guid,
        row.number,
        row.registry_number,
        row.archived,
        row.version_number,
        {name: getattr(row, name) for name in _BASIC},
    )


# --- rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    kind: str
    house_guid: str
    links: tuple[dict[str, Any], ...]


def _house(state: Packet, house_guid: str) -> str:
    if house_guid not in state.served:
        house = state.houses.get(house_guid)
        raise ItemError(
            Code.NOT_ALLOWED,
            f"House {house.fias_house_guid if house else house_guid} is not managed or supplied by you.",
        )
    return house_guid


def _link(
    account: str | None = None, premises: str | None = None, room: str | None = None
) -> dict[str, Any]:
    return {
        "device_guid": "",
        "account_guid": account,
        "premises_guid": premises,
        "living_room_guid": room,
    }


def _target(ctx: HandlerContext, state: Packet, item: DeviceItem) -> _Target:
    placement = item.placement
    assert placement is not None
    house_guids: set[str] = set()
    links: list[dict[str, Any]] = []
    for premises_guid in placement.premises:
        premises = state.premises.get(premises_guid)
        if premises is None:
            raise ItemError(Code.NOT_FOUND, f"Premises {premises_guid} is not registered.")
        house_guids.add(premises.house_guid)
        links.append(_link(premises=premises_guid))
    for room_guid in placement.rooms:
        room = state.rooms.get(room_guid)
        if room is None:
            raise ItemError(Code.NOT_FOUND, f"Living room {room_guid} is not registered.")
        house_guids.add(room.house_guid)
        links.append(_link(room=room_guid))
    for fias in placement.houses:
        house = state.houses_by_fias.get(fias)
        if house is None:
            raise ItemError(Code.NOT_FOUND, f"House {fias} is not registered.")
        house_guids.add(house.guid)
    for account_guid in placement.accounts:
        account = state.accounts.get(account_guid)
        if account is None:
            raise ItemError(Code.NOT_FOUND, f"Account {account_guid} is not registered.")
        if account.org_guid != ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED, f"Account {account_guid} is kept by another organisation."
            )
        if account.closed:
            raise ItemError(
                Code.DEVICE_ACCOUNT_CLOSED, f"Account {account.unique_number} is closed."
            )
        house_guids |= state.account_houses.get(account_guid, set())
        links.append(_link(account=account_guid))
    request_house = state.houses_by_fias.get(item.request_fias) if item.request_fias else None
    if request_house is not None:
        house_guids.add(request_house.guid)
    if not house_guids:
        raise ItemError(
            Code.DEVICE_NO_HOUSE,
            "The house of the device is unknown: give FIASHouseGuid or link premises, rooms or accounts.",
        )
    if len(house_guids) > 1:
        raise ItemError(
            Code.DEVICE_LINK_ELSEWHERE,
            "The premises, rooms and accounts of a device must all be in one house (the request's FIASHouseGuid).",
        )
    return _Target(placement.kind, _house(state, house_guids.pop()), tuple(links))


def _basic_values(state: Packet, item: DeviceItem, current: dict[str, Any]) -> dict[str, Any]:
    """The characteristics after the item (sent values over the current ones), checked."""
    values = dict(current)
    for name, value in item.basic:
        if value is not None and (
            value or name in ("remote_metering", "temperature_sensor", "pressure_sensor")
        ):
            values[name] = value
    installed, commissioned = values["installation_date"], values["commissioning_date"]
    if installed and installed > state.today:
        raise ItemError(Code.DEVICE_BAD_DATES, f"InstallationDate {installed} is in the future.")
    if installed and commissioned and commissioned < installed:
        raise ItemError(Code.DEVICE_BAD_DATES, "CommissioningDate is before InstallationDate.")
    return values


def _resource_rows(item: DeviceItem, device_guid: str) -> list[dict[str, Any]]:
    rows = []
    for res in item.resources:
        allowed = UNITS.get(res.resource_code)
        if res.unit and allowed and res.unit not in allowed:
            raise ItemError(
                Code.DEVICE_BAD_UNIT,
                f"Unit {res.unit} is not allowed for resource {res.resource_code} (allowed: {', '.join(sorted(allowed))}).",
            )
        rows.append(
            {
                "device_guid": device_guid,
                "resource_code": res.resource_code,
                "resource_guid": res.resource_guid,
                "unit": res.unit,
                "base_t1": res.base[0],
                "base_t2": res.base[1],
                "base_t3": res.base[2],
            }
        )
    return rows


def _tariffs(rows: list[dict[str, Any]]) -> int:
    return max(
        (1 + (r["base_t2"] is not None) + (r["base_t3"] is not None) for r in rows), default=1
    )


def _done(device: DeviceState) -> Done:
    return Done(
        device.version_guid,
        device.registry_number,
        Detail(HM, "importMeteringDevice", ((HM, "MeteringDeviceGUID", device.guid),)),
    )


def _create(ctx: HandlerContext, state: Packet, item: DeviceItem, changes: Changes) -> Done:
    target = _target(ctx, state, item)
    number = item.number or ""
    if (target.house_guid, number) in state.numbers:
        house = state.houses.get(target.house_guid)
        raise ItemError(
            Code.DEVICE_DUPLICATE_NUMBER,
            f"A device numbered {number} is already active in house {house.fias_house_guid if house else target.house_guid}.",
        )
    basic = _basic_values(state, item, dict.fromkeys(_BASIC))
    root = str(uuid.uuid4())
    resources = _resource_rows(item, root)
    device = DeviceState(
        root,
        str(uuid.uuid4()),
        ctx.org_guid,
        target.house_guid,
        number,
        _registry_number(),
        False,
        1,
        basic,
    )
    changes.insert(
        MeteringDevice,
        {
            "guid": root,
            "version_guid": device.version_guid,
            "org_guid": ctx.org_guid,
            "house_guid": target.house_guid,
            "kind": target.kind,
            "number": number,
            "registry_number": device.registry_number,
            **basic,
            "remote_metering": bool(basic["remote_metering"]),
            "temperature_sensor": bool(basic["temperature_sensor"]),
            "pressure_sensor": bool(basic["pressure_sensor"]),
            "tariff_count": _tariffs(resources),
            "capacity_digits": 9,
            "archived": False,
            "version_number": 1,
            "created_at": ctx.now,
            "updated_at": ctx.now,
        },
    )
    for row in resources:
        changes.insert(DeviceResource, row)
    for link in target.links:
        changes.insert(DeviceLink, {**link, "device_guid": root})
    state.numbers.add((target.house_guid, number))
    state.devices[device.guid] = state.devices[device.version_guid] = device
    return _done(device)


def _current(ctx: HandlerContext, state: Packet, item: DeviceItem) -> DeviceState:
    ref = item.version_ref or ""
    device = state.devices.get(ref)
    if device is None:
        raise ItemError(Code.NOT_FOUND, f"Metering device version {ref} is not registered.")
    if device.version_guid != ref:
        raise ItemError(
            Code.NOT_FOUND,
            f"{ref} is not the current version of device {device.guid}; export the device for its current version.",
        )
    if device.house_guid not in state.served:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"Device {device.number} is in a house you do not manage or supply now.",
        )
    if device.archived:
        raise ItemError(Code.DEVICE_ALREADY_ARCHIVED, f"Device {device.number} is archived.")
    return device


def _update(ctx: HandlerContext, state: Packet, item: DeviceItem, changes: Changes) -> Done:
    device = _current(ctx, state, item)
    values: dict[str, Any] = {}
    number, house_guid, archived = device.number, device.house_guid, device.archived
    if item.action == "before":
        if device.guid in state.with_readings:
            raise ItemError(
                Code.DEVICE_HAS_READINGS,
                f"Device {device.number} already has readings; use UpdateAfterDevicesValues.",
            )
        target = _target(ctx, state, item)
        number = item.number or device.number
        house_guid = target.house_guid
        basic = _basic_values(state, item, device.basic)
        resources = _resource_rows(item, device.guid)
        values = {
            **basic,
            "number": number,
            "kind": target.kind,
            "house_guid": house_guid,
            "tariff_count": _tariffs(resources),
        }
        changes.delete(DeviceResource, {"device_guid": device.guid})
        changes.delete(DeviceLink, {"device_guid": device.guid})
        for row in resources:
            changes.insert(DeviceResource, row)
        for link in target.links:
            changes.insert(DeviceLink, {**link, "device_guid": device.guid})
    elif item.action == "after":
        basic = _basic_values(state, item, device.basic)
        values = dict(basic)
        if item.number and item.number != device.number:
            if (device.house_guid, item.number) in state.numbers:
                raise ItemError(
                    Code.DEVICE_DUPLICATE_NUMBER,
                    f"A device numbered {item.number} is already active in this house.",
                )
            number = values["number"] = item.number
    elif item.action == "archive":
        archived = True
        values = {
            "archived": True,
            "archive_reason_code": item.archive_reason[0],
            "archive_reason_guid": item.archive_reason[1],
        }
    else:
        replacing = state.devices.get(item.replacing_ref or "")
        if replacing is None:
            raise ItemError(
                Code.NOT_FOUND, f"Replacing device version {item.replacing_ref} is not registered."
            )
        if replacing.house_guid != device.house_guid or replacing.archived:
            raise ItemError(
                Code.DEVICE_LINK_ELSEWHERE,
                "The replacing device must be an active device of the same house.",
            )
        archived = True
        values = {"archived": True, "replaced_by": replacing.guid}
    # every change is a new version
    state.devices.pop(device.version_guid, None)
    device.version_guid = str(uuid.uuid4())
    device.version_number += 1
    changes.update(
        MeteringDevice,
        {"guid": device.guid},
        {
            **values,
            "version_guid": device.version_guid,
            "version_number": device.version_number,
            "updated_at": ctx.now,
        },
    )
    if archived and not device.archived:
        state.numbers.discard((device.house_guid, device.number))
    elif number != device.number or house_guid != device.house_guid:
        state.numbers.add((house_guid, number))
    device.number, device.house_guid, device.archived = number, house_guid, archived
    device.basic.update({k: v for k, v in values.items() if k in _BASIC})
    state.devices[device.version_guid] = device
    return _done(device)


def _registry_number() -> str:
    return f"{secrets.randbelow(10**12):012d}"


# --- the import ---------------------------------------------------------------------------


class ImportDevices(ImportBase[DeviceItem, Packet]):
    answer = Answer(HM, tag="CommonResult", wrapper_version=IMPORT_RESULT_VERSION, nsmap={"hm": HM})
    nsi_books = {"MunicipalResource": 2, "ArchivingReason": 21}

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[DeviceItem]]:
        request_fias = guid(request, "FIASHouseGuid")
        for element in children(request, "MeteringDevice"):
            yield Item(text(element, "TransportGUID") or "", _read(element, request_fias))

    def prefetch(self, ctx: HandlerContext, records: Sequence[DeviceItem]) -> Packet:
        session = ctx.session
        refs = {r.version_ref for r in records if r.version_ref} | {
            r.replacing_ref for r in records if r.replacing_ref
        }
        devices: dict[str, DeviceState] = {}
        for row in repo.devices_by_refs(session, refs).values():
            if row.guid not in devices:
                devices[row.guid] = _state(row)
            devices[row.version_guid] = devices[row.guid]
        placements = [r.placement for r in records if r.placement is not None]
        premises = repo.premises_by_guids(session, (g for p in placements for g in p.premises))
        rooms = repo.rooms_by_guids(session, (g for p in placements for g in p.rooms))
        account_guids = [g for p in placements for g in p.accounts]
        accounts = repo.accounts_by_guids(session, account_guids)
        account_houses = repo.account_houses(session, account_guids)
        fias = {g for p in placements for g in p.houses} | {
            r.request_fias for r in records if r.request_fias
        }
        houses_by_fias = repo.houses_by_fias(session, fias)
        house_guids = {h.guid for h in houses_by_fias.values()}
        house_guids |= {p.house_guid for p in premises.values()}
        house_guids |= {r.house_guid for r in rooms.values()}
        house_guids |= {h for hs in account_houses.values() for h in hs}
        house_guids |= {d.house_guid for d in devices.values()}
        return Packet(
            devices=devices,
            premises=premises,
            rooms=rooms,
            accounts=accounts,
            account_houses=account_houses,
            houses_by_fias=houses_by_fias,
            houses=repo.houses_by_guid(session, house_guids),
            served=repo.houses_accessible(session, ctx.org_guid, ctx.org_role, house_guids),
            numbers=repo.active_numbers(session, house_guids),
            with_readings=repo.with_readings(
                session,
                [
                    d.guid
                    for r in records
                    if r.action == "before"
                    for d in [devices.get(r.version_ref or "")]
                    if d
                ],
            ),
            today=ctx.now.date(),
        )

    def decide(
        self, ctx: HandlerContext, state: Packet, record: DeviceItem, changes: Changes
    ) -> Done:
        if record.action == "create":
            return _create(ctx, state, record, changes)
        return _update(ctx, state, record, changes)


IMPORT = ImportDevices()


def import_metering_device(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importMeteringDeviceDataRequest."""
    return run_import(IMPORT, ctx, request)

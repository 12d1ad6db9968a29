"""importMeteringDeviceData: create, update, archive and replace metering devices.

Each MeteringDevice item gets a CommonResult (GUID = the device's version GUID, UniqueNumber
= its registry number) with importMeteringDevice/MeteringDeviceGUID = the root GUID. Every
change makes a new version GUID, as GIS does; the root GUID never changes.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree
from sqlalchemy import or_, select

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    child,
    children,
    common_result_error,
    common_result_success,
    guid,
    integer,
    item,
    local,
    nsi_ref,
    required,
    sub,
    text,
)
from gateway.namespaces import BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import devices as repo
from persistence.models import DeviceLink, DeviceResource, House, MeteringDevice

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


@dataclass
class _Target:
    """Where a device is installed, as resolved from the item."""

    kind: str
    house: House
    links: list[DeviceLink] = field(default_factory=list)


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value) if value else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _resources(data: etree._Element, device_guid: str) -> list[DeviceResource]:
    """The resources of a device from MunicipalResourceNotEnergy / …Energy / MunicipalResources."""
    resources = []
    for element in children(data, "MunicipalResourceNotEnergy"):
        code, nsi_guid = nsi_ref(element, "MunicipalResource")
        resources.append(
            DeviceResource(
                device_guid=device_guid,
                resource_code=code or "",
                resource_guid=nsi_guid,
                unit=text(element, "Unit"),
                base_t1=Decimal(text(element, "MeteringValue") or "0"),
            )
        )
    energy = child(data, "MunicipalResourceEnergy")
    if energy is not None:
        resources.append(
            DeviceResource(
                device_guid=device_guid,
                resource_code=ELECTRICITY,
                resource_guid=None,
                unit=text(energy, "Unit") or "245",
                base_t1=Decimal(text(energy, "MeteringValueT1") or "0"),
                base_t2=_dec(text(energy, "MeteringValueT2")),
                base_t3=_dec(text(energy, "MeteringValueT3")),
            )
        )
    for element in children(data, "MunicipalResources"):
        code, nsi_guid = nsi_ref(element, "MunicipalResource")
        resources.append(
            DeviceResource(
                device_guid=device_guid,
                resource_code=code or "",
                resource_guid=nsi_guid,
                unit=text(element, "Unit"),
                base_t1=Decimal(0),
                base_t2=Decimal(0) if (integer(element, "TariffCount") or 1) >= 2 else None,
                base_t3=Decimal(0) if (integer(element, "TariffCount") or 1) >= 3 else None,
            )
        )
    for res in resources:
        allowed = UNITS.get(res.resource_code)
        if res.unit and allowed and res.unit not in allowed:
            raise ItemError(
                Code.DEVICE_BAD_UNIT,
                f"Unit {res.unit} is not allowed for resource {res.resource_code} (allowed: {', '.join(sorted(allowed))}).",
            )
    return resources


def _tariffs(resources: list[DeviceResource]) -> int:
    return max(
        (1 + (r.base_t2 is not None) + (r.base_t3 is not None) for r in resources), default=1
    )


class _DeviceImport:
    def __init__(self, ctx: HandlerContext, request: etree._Element) -> None:
        self.ctx = ctx
        session = ctx.session
        items = children(request, "MeteringDevice")
        refs = {
            g
            for i in items
            for g in _guids(i, "MeteringDeviceVersionGUID", "ReplacingMeteringDeviceVersionGUID")
        }
        self.devices: dict[str, MeteringDevice] = {}
        for device in session.scalars(
            select(MeteringDevice).where(
                or_(MeteringDevice.guid.in_(refs), MeteringDevice.version_guid.in_(refs))
            )
        ):
            self.devices[device.guid] = self.devices[device.version_guid] = device
        self.premises = repo.premises_by_guids(
            session, (g for i in items for g in _guids(i, "PremiseGUID"))
        )
        self.rooms = repo.rooms_by_guids(
            session, (g for i in items for g in _guids(i, "LivingRoomGUID"))
        )
        account_guids = [g for i in items for g in _guids(i, "AccountGUID")]
        self.accounts = repo.accounts_by_guids(session, account_guids)
        self.account_houses = repo.account_houses(session, account_guids)
        fias = {g for i in items for g in _guids(i, "FIASHouseGuid")}
        request_fias = guid(request, "FIASHouseGuid")
        if request_fias:
            fias.add(request_fias)
        self.houses_by_fias = repo.houses_by_fias(session, fias)
        self.request_house = self.houses_by_fias.get(request_fias) if request_fias else None
        house_guids = {h.guid for h in self.houses_by_fias.values()}
        house_guids |= {p.house_guid for p in self.premises.values()}
        house_guids |= {r.house_guid for r in self.rooms.values()}
        house_guids |= {h for hs in self.account_houses.values() for h in hs}
        house_guids |= {d.house_guid for d in self.devices.values()}
        self.houses = repo.houses_by_guid(session, house_guids)
        self.served = repo.houses_accessible(session, ctx.org_guid, ctx.org_role, house_guids)
        self.numbers = repo.active_numbers(session, house_guids)

    # --- where the device is ---
    def _house(self, house_guid: str) -> House:
        if house_guid not in self.served:
            house = self.houses.get(house_guid)
            raise ItemError(
                Code.NOT_ALLOWED,
                f"House {house.fias_house_guid if house else house_guid} is not managed or supplied by you.",
            )
        return self.houses[house_guid]

    def target(self, basic: etree._Element) -> _Target:
        placement = next((c for c in basic if isinstance(c.tag, str) and local(c) in KINDS), None)
        assert placement is not None  # the schema requires one
        kind = KINDS[local(placement)]
        house_guids: set[str] = set()
        links: list[DeviceLink] = []
        for premises_guid in (g.lower() for g in _texts(placement, "PremiseGUID")):
            premises = self.premises.get(premises_guid)
            if premises is None:
                raise ItemError(Code.NOT_FOUND, f"Premises {premises_guid} is not registered.")
            house_guids.add(premises.house_guid)
            links.append(DeviceLink(premises_guid=premises_guid))
        for room_guid in (g.lower() for g in _texts(placement, "LivingRoomGUID")):
            room = self.rooms.get(room_guid)
            if room is None:
                raise ItemError(Code.NOT_FOUND, f"Living room {room_guid} is not registered.")
            house_guids.add(room.house_guid)
            links.append(DeviceLink(living_room_guid=room_guid))
        for fias in (g.lower() for g in _texts(placement, "FIASHouseGuid")):
            house = self.houses_by_fias.get(fias)
            if house is None:
                raise ItemError(Code.NOT_FOUND, f"House {fias} is not registered.")
            house_guids.add(house.guid)
        for account_guid in (g.lower() for g in _texts(placement, "AccountGUID")):
            account = self.accounts.get(account_guid)
            if account is None:
                raise ItemError(Code.NOT_FOUND, f"Account {account_guid} is not registered.")
            if account.org_guid != self.ctx.org_guid:
                raise ItemError(
                    Code.NOT_ALLOWED, f"Account {account_guid} is kept by another organisation."
                )
            if account.closed:
                raise ItemError(
                    Code.DEVICE_ACCOUNT_CLOSED, f"Account {account.unique_number} is closed."
                )
            house_guids |= self.account_houses.get(account_guid, set())
            links.append(DeviceLink(account_guid=account_guid))
        if self.request_house is not None:
            house_guids.add(self.request_house.guid)
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
        return _Target(kind, self._house(house_guids.pop()), links)

    # --- operations ---
    def create(self, data: etree._Element) -> MeteringDevice:
        basic = child(data, "BasicChatacteristicts")
        assert basic is not None
        target = self.target(basic)
        number = text(basic, "MeteringDeviceNumber") or ""
        if (target.house.guid, number) in self.numbers:
            raise ItemError(
                Code.DEVICE_DUPLICATE_NUMBER,
                f"A device numbered {number} is already active in house {target.house.fias_house_guid}.",
            )
        root = str(uuid.uuid4())
        device = MeteringDevice(
            guid=root,
            version_guid=str(uuid.uuid4()),
            org_guid=self.ctx.org_guid,
            house_guid=target.house.guid,
            kind=target.kind,
            number=number,
            registry_number=_registry_number(),
            created_at=self.ctx.now,
            updated_at=self.ctx.now,
            version_number=1,
            archived=False,
        )
        self._apply_basic(device, basic)
        resources = _resources(data, root)
        device.tariff_count = _tariffs(resources)
        self.ctx.session.add(device)
        self.ctx.session.flush()
        self.ctx.session.add_all(resources)
        for link in target.links:
            link.device_guid = root
        self.ctx.session.add_all(target.links)
        self.numbers.add((target.house.guid, number))
        self.devices[device.guid] = self.devices[device.version_guid] = device
        return device

    def _apply_basic(self, device: MeteringDevice, basic: etree._Element) -> None:
        device.stamp = text(basic, "MeteringDeviceStamp") or device.stamp
        device.model = text(basic, "MeteringDeviceModel") or device.model
        device.installation_date = _date(basic, "InstallationDate") or device.installation_date
        device.commissioning_date = _date(basic, "CommissioningDate") or device.commissioning_date
        device.first_verification_date = (
            _date(basic, "FirstVerificationDate") or device.first_verification_date
        )
        for attr, tag in (
            ("remote_metering", "RemoteMeteringMode"),
            ("temperature_sensor", "TemperatureSensor"),
            ("pressure_sensor", "PressureSensor"),
        ):
            value = boolean(basic, tag)
            if value is not None:
                setattr(device, attr, value)
        if device.installation_date and device.installation_date > self.ctx.now.date():
            raise ItemError(
                Code.DEVICE_BAD_DATES,
                f"InstallationDate {device.installation_date} is in the future.",
            )
        if (
            device.installation_date
            and device.commissioning_date
            and device.commissioning_date < device.installation_date
        ):
            raise ItemError(Code.DEVICE_BAD_DATES, "CommissioningDate is before InstallationDate.")

    def _current(self, update: etree._Element) -> MeteringDevice:
        ref = guid(update, "MeteringDeviceVersionGUID") or ""
        device = self.devices.get(ref)
        if device is None:
            raise ItemError(Code.NOT_FOUND, f"Metering device version {ref} is not registered.")
        if device.version_guid != ref:
            raise ItemError(
                Code.NOT_FOUND,
                f"{ref} is not the current version of device {device.guid}; export the device for its current version.",
            )
        if device.house_guid not in self.served:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Device {device.number} is in a house you do not manage or supply now.",
            )
        if device.archived:
            raise ItemError(Code.DEVICE_ALREADY_ARCHIVED, f"Device {device.number} is archived.")
        return device

    def _new_version(self, device: MeteringDevice) -> None:
        self.devices.pop(device.version_guid, None)
        device.version_guid = str(uuid.uuid4())
        device.version_number += 1
        device.updated_at = self.ctx.now
        self.devices[device.version_guid] = device

    def update(self, update: etree._Element) -> MeteringDevice:
        device = self._current(update)
        session = self.ctx.session
        before = child(update, "UpdateBeforeDevicesValues")
        after = child(update, "UpdateAfterDevicesValues")
        archive = child(update, "ArchiveDevice")
        replace = child(update, "ReplaceDevice")
        if before is not None:
            if repo.has_readings(session, device.guid):
                raise ItemError(
                    Code.DEVICE_HAS_READINGS,
                    f"Device {device.number} already has readings; use UpdateAfterDevicesValues.",
                )
            basic = child(before, "BasicChatacteristicts")
            assert basic is not None
            target = self.target(basic)
            device.number = text(basic, "MeteringDeviceNumber") or device.number
            device.kind, device.house_guid = target.kind, target.house.guid
            self._apply_basic(device, basic)
            resources = _resources(before, device.guid)
            device.tariff_count = _tariffs(resources)
            repo.replace_resources(session, device.guid, resources)
            for link in target.links:
                link.device_guid = device.guid
            repo.replace_links(session, device.guid, target.links)
        elif after is not None:
            self._apply_basic(device, after)
            number = text(after, "MeteringDeviceNumber")
            if number and number != device.number:
                if (device.house_guid, number) in self.numbers:
                    raise ItemError(
                        Code.DEVICE_DUPLICATE_NUMBER,
                        f"A device numbered {number} is already active in this house.",
                    )
                device.number = number
        elif archive is not None:
            device.archived = True
            device.archive_reason_code, device.archive_reason_guid = nsi_ref(
                archive, "ArchivingReason"
            )
            self.numbers.discard((device.house_guid, device.number))
        elif replace is not None:
            replacing_ref = guid(replace, "ReplacingMeteringDeviceVersionGUID") or ""
            replacing = self.devices.get(replacing_ref)
            if replacing is None:
                raise ItemError(
                    Code.NOT_FOUND, f"Replacing device version {replacing_ref} is not registered."
                )
            if replacing.house_guid != device.house_guid or replacing.archived:
                raise ItemError(
                    Code.DEVICE_LINK_ELSEWHERE,
                    "The replacing device must be an active device of the same house.",
                )
            device.archived = True
            device.replaced_by = replacing.guid
            self.numbers.discard((device.house_guid, device.number))
        self._new_version(device)
        return device


def _registry_number() -> str:
    return f"{secrets.randbelow(10**12):012d}"


def _texts(element: etree._Element, name: str) -> list[str]:
    return [c.text.strip() for c in element.iter("{*}" + name) if c.text]


def _guids(element: etree._Element, *names: str) -> list[str]:
    return [t.lower() for name in names for t in _texts(element, name)]


def import_metering_device(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importMeteringDeviceDataRequest."""
    importer = _DeviceImport(ctx, request)
    result = etree.Element(etree.QName(HM, "ImportResult"), nsmap={"hm": HM})
    result.set(f"{{{BASE}}}version", IMPORT_RESULT_VERSION)
    for element in children(request, "MeteringDevice"):
        transport_guid = text(element, "TransportGUID") or ""
        try:
            with item(ctx):
                create = child(element, "DeviceDataToCreate")
                device = (
                    importer.create(create)
                    if create is not None
                    else importer.update(required(element, "DeviceDataToUpdate"))
                )
        except ItemError as error:
            common_result_error(result, HM, transport_guid=transport_guid, error=error)
            continue
        common = common_result_success(
            result,
            HM,
            transport_guid=transport_guid,
            guid_value=device.version_guid,
            unique_number=device.registry_number,
            update_date=ctx.now,
        )
        sub(sub(common, HM, "importMeteringDevice"), HM, "MeteringDeviceGUID", device.guid)
    return HandlerResult([result])

"""exportMeteringDeviceData: devices of a house (or one device), as stored, current versions."""

from __future__ import annotations

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    boolean,
    child,
    format_value,
    guid,
    sub,
    text,
)
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.namespaces import METERING_DEVICE_BASE as MDB
from gateway.namespaces import NSI_BASE
from persistence import devices as repo
from persistence.devices import Device, Resource
from persistence.models import DeviceLink

ELECTRICITY = "3"
ELEMENT_OF_KIND = {
    "collective": "CollectiveDevice",
    "residential": "ResidentialPremiseDevice",
    "nonresidential": "NonResidentialPremiseDevice",
    "apartment_house": "ApartmentHouseDevice",
    "living_room": "LivingRoomDevice",
    "collective_apartment": "CollectiveApartmentDevice",
}


def _value(value: object) -> str:
    text_value = format_value(value)
    return text_value.rstrip("0").rstrip(".") if "." in text_value else text_value


def _placement(basic: etree._Element, device: Device, links: list[DeviceLink], fias: str) -> None:
    placement = sub(basic, HM, ELEMENT_OF_KIND[device.kind])
    if device.kind in ("collective", "apartment_house"):
        sub(placement, HM, "FIASHouseGuid", fias)
    for link in links:
        if link.premises_guid and device.kind in (
            "residential",
            "nonresidential",
            "collective_apartment",
        ):
            sub(placement, HM, "PremiseGUID", link.premises_guid)
        if link.living_room_guid and device.kind == "living_room":
            sub(placement, HM, "LivingRoomGUID", link.living_room_guid)
    for link in links:
        if link.account_guid and device.kind != "collective":
            sub(placement, HM, "AccountGUID", link.account_guid)


def _resources(parent: etree._Element, resources: list[Resource]) -> None:
    if [r.resource_code for r in resources] == [ELECTRICITY]:
        res = resources[0]
        energy = sub(parent, HM, "MunicipalResourceEnergy")
        for zone, value in (("T1", res.base_t1), ("T2", res.base_t2), ("T3", res.base_t3)):
            if value is not None:
                sub(energy, MDB, f"MeteringValue{zone}", _value(value))
        if res.unit:
            sub(energy, HM, "Unit", res.unit)
        return
    for res in resources[:3]:
        element = sub(parent, HM, "MunicipalResourceNotEnergy")
        ref = sub(element, MDB, "MunicipalResource")
        sub(ref, NSI_BASE, "Code", res.resource_code)
        sub(ref, NSI_BASE, "GUID", res.resource_guid or "00000000-0000-0000-0000-000000000000")
        sub(element, MDB, "MeteringValue", _value(res.base_t1))
        if res.unit:
            sub(element, HM, "Unit", res.unit)


def _device(
    device: Device, resources: list[Resource], links: list[DeviceLink], fias: str
) -> etree._Element:
    result = etree.Element(
        etree.QName(HM, "exportMeteringDeviceDataResult"), nsmap={"hm": HM, "mdb": MDB}
    )
    basic = sub(result, HM, "BasicChatacteristicts")
    sub(basic, HM, "MeteringDeviceNumber", device.number)
    for tag, value in (
        ("MeteringDeviceStamp", device.stamp),
        ("MeteringDeviceModel", device.model),
        ("InstallationDate", device.installation_date),
        ("CommissioningDate", device.commissioning_date),
    ):
        if value is not None:
            sub(basic, HM, tag, value)
    sub(basic, HM, "RemoteMeteringMode", device.remote_metering)
    if device.first_verification_date:
        sub(basic, HM, "FirstVerificationDate", device.first_verification_date)
    sub(basic, HM, "TemperatureSensor", device.temperature_sensor)
    sub(basic, HM, "PressureSensor", device.pressure_sensor)
    _placement(basic, device, links, fias)
    sub(result, HM, "NotLinkedWithMetering", True)
    _resources(result, resources)
    sub(result, HM, "MeteringDeviceRootGUID", device.guid)
    sub(result, HM, "StatusRootDoc", "Archival" if device.archived else "Active")
    sub(result, HM, "MeteringDeviceVersionGUID", device.version_guid)
    sub(result, HM, "VersionNumber", device.version_number)
    sub(result, HM, "StatusVersion", "Actual")
    sub(result, HM, "UpdateDateTime", device.updated_at)
    sub(result, HM, "MeteringDeviceGISGKHNumber", device.registry_number)
    return result


def export_metering_device(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportMeteringDeviceDataRequest."""
    session = ctx.session
    root = guid(request, "MeteringDeviceRootGUID")
    version = guid(request, "MeteringDeviceVersionGUID")
    if root or version:
        found = repo.devices_by_refs(session, [root or version or ""])
        devices = [
            d
            for d in found.values()
            if d.guid == (root or d.guid) and (version is None or d.version_guid == version)
        ]
        devices = [d for d in {d.guid: d for d in devices}.values()]
        served = repo.houses_accessible(
            session, ctx.org_guid, ctx.org_role, {d.house_guid for d in devices}
        )
        devices = [d for d in devices if d.org_guid == ctx.org_guid or d.house_guid in served]
    else:
        fias = guid(request, "FIASHouseGuid") or ""
        houses = repo.houses_by_fias(session, [fias])
        devices = (
            repo.devices_of(session, ctx.org_guid, ctx.org_role, [h.guid for h in houses.values()])
            if houses
            else []
        )
        if not boolean(request, "SearchArchived"):
            devices = [d for d in devices if not d.archived]
        wanted = text(child(request, "MunicipalResource"), "Code")
        if wanted:
            resources = repo.resources_of(session, [d.guid for d in devices])
            devices = [d for d in devices if wanted in resources.get(d.guid, {})]
    if not devices:
        raise ExportError(Code.NOTHING_TO_EXPORT, "No metering devices match the request.")
    resources = repo.resources_of(session, [d.guid for d in devices])
    links = repo.links_of(session, [d.guid for d in devices])
    fias_of = {
        h.guid: h.fias_house_guid
        for h in repo.houses_by_guid(session, {d.house_guid for d in devices}).values()
    }
    return HandlerResult(
        [
            _device(
                d,
                list(resources.get(d.guid, {}).values()),
                links.get(d.guid, []),
                fias_of[d.house_guid],
            )
            for d in devices
        ]
    )

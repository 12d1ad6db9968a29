"""exportMeteringDeviceHistory: base values, readings and verifications of devices, by house and period.

A verification is exported, whole, when one of its readings (start or end) was taken in the
requested period: its dates, seal date, the readings at both ends and planned or the reason.
The period defaults, as the format says, to the first day of the previous month ► today, and
may not reach beyond two consecutive calendar months. 1000 devices a page, in GUID order:
PagedOutput names the next page's first device (ExportMeteringDeviceRootGUID, sent back in the
next request) or says LastPage (persistence/paging.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    boolean,
    children,
    format_value,
    guid,
    sub,
    text,
)
from gateway.namespaces import BASE, NSI_BASE
from gateway.namespaces import DEVICE_METERING as DM
from gateway.namespaces import METERING_DEVICE_BASE as MDB
from persistence import devices as device_repo
from persistence import readings as reading_repo
from persistence.devices import Device, Resource
from persistence.models import Reading
from persistence.paging import PAGE_SIZE, list_page

ELECTRICITY = "3"


def _value(value: object) -> str:
    text_value = format_value(value)
    return text_value.rstrip("0").rstrip(".") if "." in text_value else text_value


def _resource(parent: etree._Element, res: Resource) -> None:
    ref = sub(parent, MDB, "MunicipalResource")
    sub(ref, NSI_BASE, "Code", res.resource_code)
    sub(ref, NSI_BASE, "GUID", res.resource_guid or "00000000-0000-0000-0000-000000000000")


def _one_rate(
    parent: etree._Element,
    name: str,
    res: Resource,
    t1: object,
    entered: datetime,
    org: str | None,
) -> etree._Element:
    element = sub(parent, DM, name)
    _resource(element, res)
    sub(element, MDB, "MeteringValue", _value(t1))
    if org:
        sub(element, MDB, "orgPPAGUID", org)
    sub(element, MDB, "EnterIntoSystem", entered)
    if res.unit:
        sub(element, DM, "Unit", res.unit)
    return element


def _electric(
    parent: etree._Element,
    name: str,
    zones: tuple[object, object, object],
    entered: datetime,
    org: str | None,
    unit: str | None,
) -> etree._Element:
    element = sub(parent, DM, name)
    for zone, value in zip(("T1", "T2", "T3"), zones, strict=True):
        if value is not None:
            sub(element, MDB, f"MeteringValue{zone}", _value(value))
    if org:
        sub(element, MDB, "orgPPAGUID", org)
    sub(element, MDB, "EnterIntoSystem", entered)
    if unit:
        sub(element, DM, "Unit", unit)
    return element


def _reading(
    parent: etree._Element, name: str, reading: Reading, res: Resource, electric: bool
) -> etree._Element:
    """A stored reading as element ``name``: by tariff zones for electricity, else one value."""
    if electric:
        return _electric(
            parent,
            name,
            (reading.t1, reading.t2, reading.t3),
            reading.created_at,
            reading.org_guid,
            res.unit,
        )
    return _one_rate(parent, name, res, reading.t1, reading.created_at, reading.org_guid)


def _when(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _period(parent: etree._Element, period: str | None) -> None:
    if period:
        year, month = period.split("-")
        holder = sub(parent, DM, "Period")
        sub(holder, BASE, "Year", int(year))
        sub(holder, BASE, "Month", int(month))


def _verification(
    values: etree._Element,
    verification: reading_repo.Verification,
    resources: dict[str, Resource],
    electric: bool,
) -> None:
    """Values/VerificationValue: dates, seal date, StartValue(s), EndValue(s), planned or reason."""
    sides = []
    for readings in (verification.starts, verification.ends):
        known = [(r, resources[r.resource_code]) for r in readings if r.resource_code in resources]
        sides.append(known[:1] if electric else known[:3])
    if not all(sides):
        return  # the format needs a start and an end value; a resource no longer measured
    element = sub(values, DM, "VerificationValue")
    sub(element, DM, "StartDateValue", verification.start_date)
    sub(element, DM, "EndDateValue", verification.end_date)
    sub(element, DM, "SealDate", verification.seal_date)
    for name, side in zip(("StartValue", "EndValue"), sides, strict=True):
        for reading, resource in side:
            _reading(element, name, reading, resource, electric)
    if verification.planned:
        sub(element, DM, "PlannedVerification", True)
    else:
        ref = sub(element, DM, "VerificationReason")
        sub(ref, NSI_BASE, "Code", verification.reason_code)
        if verification.reason_guid:
            sub(ref, NSI_BASE, "GUID", verification.reason_guid)


def _device_result(
    device: Device,
    resources: dict[str, Resource],
    readings: list[Reading],
    verifications: list[reading_repo.Verification],
    fias: str | None,
) -> etree._Element:
    result = etree.Element(
        etree.QName(DM, "exportMeteringDeviceHistoryResult"), nsmap={"dm": DM, "mdb": MDB}
    )
    sub(result, DM, "MeteringDeviceRootGUID", device.guid)
    if fias:
        sub(result, DM, "FIASHouseGuid", fias)
    electric = set(resources) == {ELECTRICITY}
    holder = sub(result, DM, "ElectricDeviceValue" if electric else "OneRateDeviceValue")
    created = device.created_at
    if electric:
        res = resources[ELECTRICITY]
        _electric(
            holder,
            "BaseValue",
            (res.base_t1, res.base_t2, res.base_t3),
            created,
            device.org_guid,
            res.unit,
        )
    else:
        for res in list(resources.values())[:3]:
            _one_rate(holder, "BaseValue", res, res.base_t1, created, device.org_guid)
    current = [r for r in readings if r.kind == "current"]
    control = [r for r in readings if r.kind == "control"]
    if current or control or verifications:
        values = sub(holder, DM, "Values")
        for name, rows in (("CurrentValue", current), ("ControlValue", control)):
            for reading in rows:
                measured = resources.get(reading.resource_code)
                if measured is None:
                    continue
                element = _reading(values, name, reading, measured, electric)
                sub(element, DM, "DateValue", _when(reading.reading_date))
                if name == "CurrentValue":
                    _period(element, reading.period)
        for verification in verifications:
            _verification(values, verification, resources, electric)
    if device.archived and device.archive_reason_code and device.archive_reason_guid:
        archived = sub(result, DM, "ArchivedValues")
        ref = sub(archived, DM, "ArchivingReason")
        sub(ref, NSI_BASE, "Code", device.archive_reason_code)
        sub(ref, NSI_BASE, "GUID", device.archive_reason_guid)
    return result


def _period_of(request: etree._Element, today: date) -> tuple[date, date]:
    """inputDateFrom..inputDateTo with the format's defaults, checked against its limit."""
    date_from, date_to = text(request, "inputDateFrom"), text(request, "inputDateTo")
    previous_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start = date.fromisoformat(date_from) if date_from else previous_month
    end = date.fromisoformat(date_to) if date_to else today
    if end < start:
        raise ExportError(
            Code.HISTORY_PERIOD, f"The period ends ({end}) before it starts ({start})."
        )
    if (end.year * 12 + end.month) - (start.year * 12 + start.month) > 1:
        raise ExportError(
            Code.HISTORY_PERIOD,
            f"The period {start}..{end} reaches beyond two consecutive calendar months;"
            " ask for it in parts.",
        )
    return start, end


def export_history(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportMeteringDeviceHistoryRequest."""
    session = ctx.session
    fias = [g.lower() for g in (c.text for c in children(request, "FIASHouseGuid")) if g]
    houses = device_repo.houses_by_fias(session, fias) if fias else {}
    house_guids = [h.guid for h in houses.values()] if fias else None
    devices = device_repo.devices_of(session, ctx.org_guid, ctx.org_role, house_guids)
    roots = {g.lower() for g in (c.text for c in children(request, "MeteringDeviceRootGUID")) if g}
    resources_wanted = {text(r, "Code") for r in children(request, "MunicipalResource")}
    if roots:
        devices = [d for d in devices if d.guid in roots]
    if not boolean(request, "SerchArchived"):
        devices = [d for d in devices if not d.archived]
    resources = device_repo.resources_of(session, [d.guid for d in devices])
    if resources_wanted - {None}:
        devices = [d for d in devices if resources_wanted & set(resources.get(d.guid, {}))]
    period = _period_of(request, ctx.now.date())
    if not devices:
        raise ExportError(Code.NOTHING_TO_EXPORT, "No metering devices match the request.")
    # the paging convention of persistence/paging.py: GUID order, the next page's first key
    after = guid(request, "ExportMeteringDeviceRootGUID")
    page, next_key = list_page(devices, lambda d: d.guid, after=after, size=PAGE_SIZE)
    if not page:
        raise ExportError(Code.NOTHING_TO_EXPORT, "No metering devices from that page on.")
    page_guids = [d.guid for d in page]
    by_device: dict[str, list[Reading]] = {}
    for reading in reading_repo.history(session, page_guids, *period):
        by_device.setdefault(reading.device_guid, []).append(reading)
    verifications: dict[str, list[reading_repo.Verification]] = {}
    for verification in reading_repo.verifications(session, page_guids, *period):
        verifications.setdefault(verification.device_guid, []).append(verification)
    fias_of = {
        h.guid: h.fias_house_guid
        for h in device_repo.houses_by_guid(session, {d.house_guid for d in page}).values()
    }
    elements = [
        _device_result(
            d,
            resources.get(d.guid, {}),
            by_device.get(d.guid, []),
            verifications.get(d.guid, []),
            fias_of.get(d.house_guid) if len(fias) != 1 else None,
        )
        for d in page
    ]
    paged = etree.Element(etree.QName(DM, "PagedOutput"))
    if next_key is not None:
        sub(paged, DM, "ExportMeteringDeviceRootGUID", next_key)
    else:
        sub(paged, DM, "LastPage", True)
    elements.append(paged)
    return HandlerResult(elements)

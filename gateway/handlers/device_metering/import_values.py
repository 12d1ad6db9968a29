"""importMeteringDeviceValues: current, control and verification readings of metering devices.

Up to 1000 devices per packet. Every reading (each with its TransportGUID) succeeds or fails
on its own; a verification is one item whose start and end values are stored as readings
that share the GUID answered for it.

Rules (per item): the device exists (INT002000), is in a house the sender manages or supplies
(AUT011003), is not archived (HCS002001); a verification's dates and values make sense
(HCS002009); then per stored reading: the device measures the resource (HCS002002), the date
is not in the future (HCS002003) nor before the installation (HCS002004), no more zones than
the device's tariffs (HCS002008), each value fits the register (HCS002005); a reading of the
same device, kind, resource and day is either the same (an idempotent repost: the stored
GUID is answered) or a conflict (HCS002007); a current or control reading does not go below
the latest one (or the device's base values) unless a verification reset the register
(HCS002006).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.imports.xml import LOCAL_NAMES, children_by_name, local, local_name
from gateway.namespaces import DEVICE_METERING as DM
from persistence import devices as device_repo
from persistence import readings as reading_repo
from persistence.houses import new_guid
from persistence.readings import Stored

ELECTRICITY = "3"  # NSI 2 code of electric energy: ElectricDeviceValue carries no resource
_Q = Decimal("0.0000001")  # the stored scale of reading values

Zones = tuple[Decimal, Decimal | None, Decimal | None]


# --- records ------------------------------------------------------------------------------


class Part(NamedTuple):
    """One reading to store: a current or control value, or one end of a verification.
    A named tuple: a packet reads up to a thousand of them. Made by :func:`_part`."""

    kind: str  # current | control | verification_start | verification_end
    resource_code: str
    reading_date: date
    zones: Zones  # as sent
    #: the values as the store keeps them (7 fraction digits)
    stored: Zones
    period: str | None = None  # YYYY-MM of a current reading
    seal_date: date | None = None  # verification only
    reason: tuple[str | None, str | None] = (None, None)  # NSI 224 (None: planned)


def _part(
    kind: str,
    resource_code: str,
    reading_date: date,
    zones: Zones,
    period: str | None = None,
    seal_date: date | None = None,
    reason: tuple[str | None, str | None] = (None, None),
) -> Part:
    t1, t2, t3 = zones
    stored = (
        t1.quantize(_Q),
        t2.quantize(_Q) if t2 is not None else None,
        t3.quantize(_Q) if t3 is not None else None,
    )
    return Part(kind, resource_code, reading_date, zones, stored, period, seal_date, reason)


class Reading(NamedTuple):
    """One item: a reading, or a verification (its start and end values)."""

    device_ref: str  # MeteringDeviceRootGUID or MeteringDeviceVersionGUID
    parts: tuple[Part, ...]
    #: why a verification cannot be recorded whatever the device's state (HCS002009)
    problem: str | None = None

    @property
    def verification(self) -> bool:
        return self.parts[0].kind in reading_repo.VERIFICATION_KINDS


# --- read ---------------------------------------------------------------------------------
# A packet holds ~10 elements per reading: the loops below look each tag's local name up in
# LOCAL_NAMES first, as gateway.imports.xml offers to hot loops.


def _text(fields: dict[str, etree._Element], name: str) -> str | None:
    element = fields.get(name)
    if element is None:
        return None
    text = element.text
    return text.strip() if text is not None else None


def _code(ref: etree._Element) -> str | None:
    """The Code of an nsiRef element."""
    names = LOCAL_NAMES
    for part in ref:
        tag = part.tag
        if (names.get(tag) or local_name(tag)) == "Code":
            text = part.text
            return text.strip() if text is not None else None
    return None


def _nsi_code(fields: dict[str, etree._Element], name: str) -> str | None:
    ref = fields.get(name)
    return _code(ref) if ref is not None else None


def _nsi(fields: dict[str, etree._Element], name: str) -> tuple[str | None, str | None]:
    ref = fields.get(name)
    if ref is None:
        return None, None
    inner = children_by_name(ref)
    guid = _text(inner, "GUID")
    return _text(inner, "Code"), guid.lower() if guid else None


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _zones(text: Callable[[str], str | None]) -> Zones:
    """The zones of a value element, ``text(name)`` giving its children's texts."""
    single = text("MeteringValue")
    if single is not None:
        return (Decimal(single), None, None)
    return (
        Decimal(text("MeteringValueT1") or "0"),
        _decimal(text("MeteringValueT2")),
        _decimal(text("MeteringValueT3")),
    )


def _period(period: etree._Element) -> str:
    inner = children_by_name(period)
    return f"{int(_text(inner, 'Year') or 0):04d}-{int(_text(inner, 'Month') or 0):02d}"


def _verification_problem(start: date, end: date, seal: date, has_values: bool) -> str | None:
    """What makes a verification impossible to record, in words the sender can act on."""
    if end < start:
        return f"The verification ends ({end}) before it starts ({start})."
    if seal < end:
        return f"The device is sealed ({seal}) before its verification ended ({end})."
    if not has_values:
        return "The verification carries no start or end value; send at least one of them."
    return None


def _read_device(device_values: etree._Element) -> Iterator[Item[Reading]]:
    names = LOCAL_NAMES
    root = version = None
    holders = []
    for child in device_values:
        tag = child.tag
        name = names.get(tag) or local_name(tag)
        if name.endswith("DeviceValue"):
            holders.append((child, name == "ElectricDeviceValue"))
        elif name == "MeteringDeviceRootGUID":
            root = child.text
        elif name == "MeteringDeviceVersionGUID":
            version = child.text
    ref = ((root and root.strip()) or (version and version.strip()) or "").lower()
    for holder, electric in holders:
        verification: etree._Element | None = None
        for value in holder:
            tag = value.tag
            kind = names.get(tag) or local_name(tag)
            if kind == "CurrentValue":
                yield _read_value(value, ref, True, electric)
            elif kind == "ControlValue":
                yield _read_value(value, ref, False, electric)
            elif kind == "VerificationValue" and verification is None:
                verification = value
        if verification is not None:
            yield _read_verification(ref, verification, electric)


def _read_value(value: etree._Element, ref: str, current: bool, electric: bool) -> Item[Reading]:
    """A current or control reading, its children read in one pass (a packet holds a
    thousand of them: no dict of its children, no lookups by name)."""
    names = LOCAL_NAMES
    texts: dict[str, str | None] = {}
    resource: str | None = ELECTRICITY if electric else None
    period: etree._Element | None = None
    for field in value:
        tag = field.tag
        name = names.get(tag) or local_name(tag)
        if name == "MunicipalResource":
            if resource is None:
                resource = _code(field) or ""
        elif name == "Period":
            period = period if period is not None else field
        elif name not in texts:  # the first of a name, as children_by_name keeps
            text = field.text
            texts[name] = text.strip() if text is not None else None
    part = _part(
        "current" if current else "control",
        resource or "",
        date.fromisoformat(texts.get("DateValue") or ""),
        _zones(texts.get),
        _period(period) if current and period is not None else None,
    )
    return Item(texts.get("TransportGUID") or "", Reading(ref, (part,)))


def _read_verification(ref: str, element: etree._Element, electric: bool) -> Item[Reading]:
    f = children_by_name(element)
    transport_guid = _text(f, "TransportGUID") or ""
    start = date.fromisoformat(_text(f, "StartDateValue") or "")
    end = date.fromisoformat(_text(f, "EndDateValue") or "")
    seal = date.fromisoformat(_text(f, "SealDate") or "")
    reason = _nsi(f, "VerificationReason")
    starts = [c for c in element if local(c) == "StartValue"]
    ends = [c for c in element if local(c) == "EndValue"]
    problem = _verification_problem(start, end, seal, bool(starts or ends))
    if problem is not None:
        placeholder = _part("verification_start", "", start, (Decimal(0), None, None))
        return Item(transport_guid, Reading(ref, (placeholder,), problem))
    parts = []
    for kind, on, values in (
        ("verification_start", start, starts),
        ("verification_end", end, ends),
    ):
        for value in values:
            vf = children_by_name(value)
            resource = ELECTRICITY if electric else (_nsi_code(vf, "MunicipalResource") or "")
            parts.append(
                _part(
                    kind,
                    resource,
                    on,
                    _zones(functools.partial(_text, vf)),
                    seal_date=seal,
                    reason=reason,
                )
            )
    return Item(transport_guid, Reading(ref, tuple(parts)))


# --- prefetch -----------------------------------------------------------------------------


@dataclass
class Packet:
    """The devices the packet names, their resources and readings, kept current."""

    devices: dict[str, device_repo.RuleDevice]  # by root and by version GUID
    accessible: set[str]  # device GUIDs the sender may post readings of
    resources: dict[str, dict[str, device_repo.Resource]]  # device ► resource code ►
    latest: dict[tuple[str, str], Stored]  # (device, resource) ► the most recent reading
    same_day: dict[tuple[str, str, str, date], Stored]  # (device, kind, resource, date) ►
    today: date


# --- the import ---------------------------------------------------------------------------


class ImportValues(ImportBase[Reading, Packet]):
    answer = Answer(DM)
    nsi_books = {"MunicipalResource": 2, "VerificationReason": 224}

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Reading]]:
        for device_values in request:
            tag = device_values.tag
            if (LOCAL_NAMES.get(tag) or local_name(tag)) == "MeteringDevicesValues":
                yield from _read_device(device_values)

    def prefetch(self, ctx: HandlerContext, records: Sequence[Reading]) -> Packet:
        session = ctx.session
        devices = device_repo.rule_devices_by_refs(session, {r.device_ref for r in records})
        distinct = {d.guid: d for d in devices.values()}
        served = device_repo.houses_accessible(
            session, ctx.org_guid, ctx.org_role, {d.house_guid for d in distinct.values()}
        )
        guids = list(distinct)
        dates = {p.reading_date for r in records for p in r.parts}
        codes = {p.resource_code for r in records for p in r.parts}
        return Packet(
            devices=devices,
            # readings only while the sender manages or supplies the device's house
            accessible={d.guid for d in distinct.values() if d.house_guid in served},
            resources=device_repo.resources_of(session, guids),
            latest=reading_repo.latest_readings(session, guids),
            same_day=reading_repo.readings_on(session, guids, codes, dates),
            today=ctx.now.date(),
        )

    def decide(self, ctx: HandlerContext, state: Packet, record: Reading, changes: Changes) -> Done:
        device = _device(state, record)
        if record.problem is not None:
            raise ItemError(Code.READING_VERIFICATION, record.problem)
        existing = [_check(state, device, part) for part in record.parts]
        stored = [e for e in existing if e is not None]
        if stored and len(stored) == len(existing):
            if len({e.verification_guid for e in stored}) > 1:
                raise ItemError(
                    Code.READING_CONFLICT,
                    "Parts of this verification are stored in other verifications.",
                )
            return Done(stored[0].verification_guid or stored[0].guid)
        if stored:
            raise ItemError(
                Code.READING_CONFLICT,
                "Part of this verification is already stored with other values.",
            )
        if record.verification:
            # one GUID for the whole verification: stored on its readings, answered
            verification_guid = new_guid()
            for part in record.parts:
                _accept(ctx, state, changes, device, part, verification_guid)
            return Done(verification_guid)
        return Done(_accept(ctx, state, changes, device, record.parts[0], None))


def _device(state: Packet, record: Reading) -> device_repo.RuleDevice:
    device = state.devices.get(record.device_ref)
    if device is None:
        raise ItemError(Code.NOT_FOUND, f"Metering device {record.device_ref} is not registered.")
    if device.guid not in state.accessible:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"Metering device {record.device_ref} is in a house you do not manage or supply.",
        )
    if device.archived:
        raise ItemError(
            Code.READING_DEVICE_ARCHIVED,
            f"Metering device {device.number} ({device.guid}) is archived; readings are not accepted.",
        )
    return device


def _check(state: Packet, device: device_repo.RuleDevice, part: Part) -> Stored | None:
    """Validate one reading; returns the identical stored reading of an idempotent repost."""
    kind, resource_code, day, zones, stored_zones, _period, seal_date, reason = part
    measured = state.resources.get(device.guid, {})
    resource = measured.get(resource_code)
    if resource is None:
        known = ", ".join(sorted(measured)) or "none"
        raise ItemError(
            Code.READING_UNKNOWN_RESOURCE,
            f"Device {device.number} does not measure resource {resource_code} (it measures: {known}).",
        )
    if day > state.today:
        raise ItemError(Code.READING_FUTURE_DATE, f"Reading date {day} is in the future.")
    if device.installation_date and day < device.installation_date:
        raise ItemError(
            Code.READING_BEFORE_INSTALLATION,
            f"Reading date {day} is before the installation date {device.installation_date}.",
        )
    sent = [z for z in zones if z is not None]
    if len(sent) > max(device.tariff_count, 1):
        raise ItemError(
            Code.READING_TARIFFS,
            f"Device {device.number} has {device.tariff_count} tariff zone(s); {len(sent)} values were sent.",
        )
    limit = _limit(device.capacity_digits)
    for zone in sent:
        if zone < 0 or zone >= limit:
            raise ItemError(
                Code.READING_CAPACITY,
                f"Value {zone} does not fit the device register ({device.capacity_digits} integer digits).",
            )
    existing = state.same_day.get((device.guid, kind, resource_code, day))
    if existing is not None:
        if existing.zones == stored_zones and (existing.seal_date, existing.reason) == (
            seal_date,
            reason,
        ):
            return existing
        raise ItemError(
            Code.READING_CONFLICT,
            f"Another {kind} reading of device {device.number} for {day} is already stored ({existing.zones[0]}).",
        )
    if kind == "current" or kind == "control":
        _not_decreasing(state, device, resource, part)
    return None


@cache
def _limit(digits: int) -> Decimal:
    """The first value a register of ``digits`` integer digits cannot show."""
    return Decimal(10) ** digits


def _not_decreasing(
    state: Packet, device: device_repo.RuleDevice, resource: device_repo.Resource, part: Part
) -> None:
    previous = state.latest.get((device.guid, part.resource_code))
    if previous is not None and previous.reading_date > part.reading_date:
        return  # a late reading for an earlier date: only same-day conflicts apply
    if previous is not None and previous.kind == "verification_start":
        return  # verification in progress: the register may have been reset
    baseline = (
        previous.zones if previous else (resource.base_t1, resource.base_t2, resource.base_t3)
    )
    for zone, (new, old) in enumerate(zip(part.zones, baseline, strict=True), start=1):
        if new is not None and old is not None and new < old:
            raise ItemError(
                Code.READING_DECREASING,
                f"Reading T{zone} {new} is lower than the previous one ({old}); only a replaced or verified (reset) device may go back.",
            )


def _accept(
    ctx: HandlerContext,
    state: Packet,
    changes: Changes,
    device: device_repo.RuleDevice,
    part: Part,
    verification_guid: str | None,
) -> str:
    """Write a new reading and remember it for the items after it."""
    reading_guid = new_guid()
    kind, resource_code, day, _sent, zones, period, seal_date, reason = part
    t1, t2, t3 = zones
    changes.insert(
        reading_repo.READINGS,
        {
            "guid": reading_guid,
            "device_guid": device.guid,
            "kind": kind,
            "resource_code": resource_code,
            "reading_date": day,
            "period": period,
            "t1": t1,
            "t2": t2,
            "t3": t3,
            "org_guid": ctx.org_guid,
            "message_guid": ctx.message_guid,
            "created_at": ctx.now,
            "verification_guid": verification_guid,
            "seal_date": seal_date,
            "verification_reason_code": reason[0],
            "verification_reason_guid": reason[1],
        },
    )
    stored = Stored(reading_guid, kind, day, zones, seal_date, reason, verification_guid)
    state.same_day[(device.guid, kind, resource_code, day)] = stored
    key = (device.guid, resource_code)
    previous = state.latest.get(key)
    if previous is None or previous.reading_date <= day:
        state.latest[key] = stored
    return reading_guid


IMPORT = ImportValues()


def import_metering_device_values(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importMeteringDeviceValuesRequest."""
    return run_import(IMPORT, ctx, request)

"""importMeteringDeviceValues: current, control and verification readings of metering devices.

Up to 1000 devices per packet. Every reading (each with its TransportGUID) succeeds or fails
on its own. Devices, access, resources and previous readings are read once per packet and
the accepted readings are inserted in bulk, so a packet costs a handful of queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    child,
    children,
    common_result_error,
    common_result_success,
    guid,
    local,
    nsi_ref,
    text,
)
from gateway.namespaces import DEVICE_METERING as DM
from persistence import devices as device_repo
from persistence import readings as reading_repo
from persistence.models import DeviceResource, MeteringDevice, Reading

ELECTRICITY = "3"  # NSI 2 code of electric energy: ElectricDeviceValue carries no resource


@dataclass
class _Value:
    """One reading of the packet, as read from the XML."""

    transport_guid: str
    device_ref: str
    kind: str  # current | control | verification_start | verification_end
    resource_code: str
    reading_date: date
    zones: tuple[Decimal, Decimal | None, Decimal | None]
    period: str | None = None
    extra: list[_Value] = field(default_factory=list)  # verification end beside its start
    # verification only: seal date and the NSI 224 failure reason (None: planned)
    seal_date: date | None = None
    reason: tuple[str | None, str | None] = (None, None)
    #: why the reading cannot be taken whatever the device's state (refused as Code.READING_VERIFICATION)
    problem: str | None = None


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _zones(element: etree._Element) -> tuple[Decimal, Decimal | None, Decimal | None]:
    single = text(element, "MeteringValue")
    if single is not None:
        return (Decimal(single), None, None)
    t1 = text(element, "MeteringValueT1")
    return (
        Decimal(t1 or "0"),
        _decimal(text(element, "MeteringValueT2")),
        _decimal(text(element, "MeteringValueT3")),
    )


def _resource(element: etree._Element, electric: bool) -> str:
    if electric:
        return ELECTRICITY
    code, _ = nsi_ref(element, "MunicipalResource")
    return code or ""


def _period(element: etree._Element) -> str | None:
    period = child(element, "Period")
    if period is None:
        return None
    return f"{int(text(period, 'Year') or 0):04d}-{int(text(period, 'Month') or 0):02d}"


def _read_values(device_values: etree._Element) -> list[_Value]:
    ref = (
        guid(device_values, "MeteringDeviceRootGUID")
        or guid(device_values, "MeteringDeviceVersionGUID")
        or ""
    )
    values: list[_Value] = []
    for holder in device_values:
        if not isinstance(holder.tag, str) or not local(holder).endswith("DeviceValue"):
            continue
        electric = local(holder) == "ElectricDeviceValue"
        for kind, tag in (("current", "CurrentValue"), ("control", "ControlValue")):
            for element in children(holder, tag):
                values.append(
                    _Value(
                        transport_guid=text(element, "TransportGUID") or "",
                        device_ref=ref,
                        kind=kind,
                        resource_code=_resource(element, electric),
                        reading_date=date.fromisoformat(text(element, "DateValue") or ""),
                        zones=_zones(element),
                        period=_period(element) if kind == "current" else None,
                    )
                )
        verification = child(holder, "VerificationValue")
        if verification is not None:
            transport_guid = text(verification, "TransportGUID") or ""
            start_date = date.fromisoformat(text(verification, "StartDateValue") or "")
            end_date = date.fromisoformat(text(verification, "EndDateValue") or "")
            seal_date = date.fromisoformat(text(verification, "SealDate") or "")
            reason = nsi_ref(verification, "VerificationReason")
            starts, ends = children(verification, "StartValue"), children(verification, "EndValue")
            problem = _verification_problem(start_date, end_date, seal_date, bool(starts or ends))
            if problem is not None:
                values.append(
                    _Value(
                        transport_guid,
                        ref,
                        "verification_start",
                        "",
                        start_date,
                        (Decimal(0), None, None),
                        problem=problem,
                    )
                )
                continue
            first: _Value | None = None
            for start in starts:
                value = _Value(
                    transport_guid,
                    ref,
                    "verification_start",
                    _resource(start, electric),
                    start_date,
                    _zones(start),
                    seal_date=seal_date,
                    reason=reason,
                )
                if first is None:
                    first = value
                    values.append(value)
                else:
                    first.extra.append(value)
            for end in ends:
                value = _Value(
                    transport_guid,
                    ref,
                    "verification_end",
                    _resource(end, electric),
                    end_date,
                    _zones(end),
                    seal_date=seal_date,
                    reason=reason,
                )
                if first is None:
                    first = value
                    values.append(value)
                else:
                    first.extra.append(value)
    return values


def _verification_problem(start: date, end: date, seal: date, has_values: bool) -> str | None:
    """What makes a verification impossible to record, in words the sender can act on."""
    if end < start:
        return f"The verification ends ({end}) before it starts ({start})."
    if seal < end:
        return f"The device is sealed ({seal}) before its verification ended ({end})."
    if not has_values:
        return "The verification carries no start or end value; send at least one of them."
    return None


class _Rules:
    """Per-reading business rules over state read once for the whole packet."""

    def __init__(self, ctx: HandlerContext, values: list[_Value]) -> None:
        session = ctx.session
        self.ctx = ctx
        self.today = ctx.now.date()
        refs = {v.device_ref for v in values}
        self.devices = device_repo.devices_by_refs(session, refs)
        device_guids = {d.guid for d in self.devices.values()}
        devices = set(self.devices.values())
        served_houses = device_repo.houses_accessible(
            session, ctx.org_guid, ctx.org_role, {d.house_guid for d in devices}
        )
        self.accessible = {
            d.guid for d in devices if d.org_guid == ctx.org_guid or d.house_guid in served_houses
        }
        self.resources = device_repo.resources_of(session, device_guids)
        self.latest = reading_repo.latest_readings(session, device_guids)
        keys = []
        for v in values:
            device = self.devices.get(v.device_ref)
            if device is not None:
                for item in (v, *v.extra):
                    keys.append((device.guid, item.kind, item.resource_code, item.reading_date))
        self.same_day = reading_repo.readings_on(session, keys)
        self.new_rows: list[dict[str, object]] = []

    def device(self, value: _Value) -> MeteringDevice:
        device = self.devices.get(value.device_ref)
        if device is None:
            raise ItemError(
                Code.NOT_FOUND, f"Metering device {value.device_ref} is not registered."
            )
        if device.guid not in self.accessible:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Metering device {value.device_ref} is in a house you do not manage or supply.",
            )
        if device.archived:
            raise ItemError(
                Code.READING_DEVICE_ARCHIVED,
                f"Metering device {device.number} ({device.guid}) is archived; readings are not accepted.",
            )
        return device

    def check(self, device: MeteringDevice, value: _Value) -> Reading | None:
        """Validate one reading; returns the identical existing reading for an idempotent repost."""
        resource = self.resources.get(device.guid, {}).get(value.resource_code)
        if resource is None:
            known = ", ".join(sorted(self.resources.get(device.guid, {}))) or "none"
            raise ItemError(
                Code.READING_UNKNOWN_RESOURCE,
                f"Device {device.number} does not measure resource {value.resource_code} (it measures: {known}).",
            )
        if value.reading_date > self.today:
            raise ItemError(
                Code.READING_FUTURE_DATE, f"Reading date {value.reading_date} is in the future."
            )
        if device.installation_date and value.reading_date < device.installation_date:
            raise ItemError(
                Code.READING_BEFORE_INSTALLATION,
                f"Reading date {value.reading_date} is before the installation date {device.installation_date}.",
            )
        zones = [z for z in value.zones if z is not None]
        if len(zones) > max(device.tariff_count, 1):
            raise ItemError(
                Code.READING_TARIFFS,
                f"Device {device.number} has {device.tariff_count} tariff zone(s); {len(zones)} values were sent.",
            )
        limit = Decimal(10) ** device.capacity_digits
        for zone in zones:
            if zone < 0 or zone >= limit:
                raise ItemError(
                    Code.READING_CAPACITY,
                    f"Value {zone} does not fit the device register ({device.capacity_digits} integer digits).",
                )
        existing = self.same_day.get(
            (device.guid, value.kind, value.resource_code, value.reading_date)
        )
        if existing is not None:
            if (existing.t1, existing.t2, existing.t3) == _normalised(value.zones) and (
                existing.seal_date,
                existing.verification_reason_code,
                existing.verification_reason_guid,
            ) == (value.seal_date, *value.reason):
                return existing
            raise ItemError(
                Code.READING_CONFLICT,
                f"Another {value.kind} reading of device {device.number} for {value.reading_date} is already stored ({existing.t1}).",
            )
        if value.kind in ("current", "control"):
            self._not_decreasing(device, resource, value)
        return None

    def _not_decreasing(
        self, device: MeteringDevice, resource: DeviceResource, value: _Value
    ) -> None:
        previous = self.latest.get((device.guid, value.resource_code))
        if previous is not None and previous.reading_date > value.reading_date:
            return  # a late reading for an earlier date: only same-day conflicts apply
        if previous is not None and previous.kind == "verification_start":
            return  # verification in progress: the register may have been reset
        baseline = (
            (previous.t1, previous.t2, previous.t3)
            if previous
            else (resource.base_t1, resource.base_t2, resource.base_t3)
        )
        for zone, (new, old) in enumerate(zip(value.zones, baseline, strict=True), start=1):
            if new is not None and old is not None and new < old:
                raise ItemError(
                    Code.READING_DECREASING,
                    f"Reading T{zone} {new} is lower than the previous one ({old}); only a replaced or verified (reset) device may go back.",
                )

    def accept(
        self, device: MeteringDevice, value: _Value, verification_guid: str | None = None
    ) -> str:
        """Remember a new reading; the parts of one verification share ``verification_guid``."""
        reading_guid = str(uuid.uuid4())
        t1, t2, t3 = _normalised(value.zones)
        row = {
            "guid": reading_guid,
            "device_guid": device.guid,
            "kind": value.kind,
            "resource_code": value.resource_code,
            "reading_date": value.reading_date,
            "period": value.period,
            "t1": t1,
            "t2": t2,
            "t3": t3,
            "org_guid": self.ctx.org_guid,
            "message_guid": self.ctx.message_guid,
            "created_at": self.ctx.now,
            "verification_guid": verification_guid,
            "seal_date": value.seal_date,
            "verification_reason_code": value.reason[0],
            "verification_reason_guid": value.reason[1],
        }
        self.new_rows.append(row)
        remembered = Reading(**row)
        self.same_day[(device.guid, value.kind, value.resource_code, value.reading_date)] = (
            remembered
        )
        previous = self.latest.get((device.guid, value.resource_code))
        if previous is None or previous.reading_date <= value.reading_date:
            self.latest[(device.guid, value.resource_code)] = remembered
        return reading_guid


def _normalised(
    zones: tuple[Decimal, Decimal | None, Decimal | None],
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    q = Decimal("0.0000001")
    return tuple(z.quantize(q) if z is not None else None for z in zones)  # type: ignore[return-value]


def import_metering_device_values(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importMeteringDeviceValuesRequest."""
    values = [v for dv in children(request, "MeteringDevicesValues") for v in _read_values(dv)]
    rules = _Rules(ctx, values)
    # device-metering answers one ImportResult (a base:CommonResultType) per reading
    results = etree.Element("results")
    for value in values:
        try:
            device = rules.device(value)
            if value.problem is not None:
                raise ItemError(Code.READING_VERIFICATION, value.problem)
            parts = (value, *value.extra)
            existing = [rules.check(device, part) for part in parts]
            if all(e is not None for e in existing):
                if len({e.verification_guid for e in existing}) > 1:  # type: ignore[union-attr]
                    raise ItemError(
                        Code.READING_CONFLICT,
                        "Parts of this verification are stored in other verifications.",
                    )
                stored = existing[0]
                reading_guid = stored.verification_guid or stored.guid  # type: ignore[union-attr]
            elif any(e is not None for e in existing):
                raise ItemError(
                    Code.READING_CONFLICT,
                    "Part of this verification is already stored with other values.",
                )
            elif value.kind in reading_repo.VERIFICATION_KINDS:
                # one GUID for the whole verification: stored on its readings, answered
                reading_guid = str(uuid.uuid4())
                for part in parts:
                    rules.accept(device, part, verification_guid=reading_guid)
            else:
                reading_guid = rules.accept(device, value)
        except ItemError as error:
            common_result_error(
                results, DM, transport_guid=value.transport_guid, error=error, name="ImportResult"
            )
            continue
        common_result_success(
            results,
            DM,
            transport_guid=value.transport_guid,
            guid_value=reading_guid,
            unique_number=None,
            update_date=ctx.now,
            name="ImportResult",
        )
    reading_repo.insert_readings(ctx.session, rules.new_rows)
    return HandlerResult(list(results))

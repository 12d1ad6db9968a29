"""Request values for metering devices and readings, as a client builds them with zeep."""

from __future__ import annotations

from datetime import date
from typing import Any

from persistence.nsi import shipped_ref
from tests.e2e.house_data import tg

COLD_WATER = shipped_ref(2, "1")
HOT_WATER = shipped_ref(2, "2")
ARCHIVING_REASON = shipped_ref(21, "1")
VERIFICATION_REASON = shipped_ref(224, "2")
INSTALLED = date(2023, 1, 10)


def collective_water_device(
    fias: str, number: str, base: str = "100", *, transport: str | None = None
) -> dict[str, Any]:
    """A MeteringDevice item: a common-house cold water meter."""
    return {
        "TransportGUID": transport or tg(),
        "DeviceDataToCreate": {
            "BasicChatacteristicts": {
                "MeteringDeviceNumber": number,
                "MeteringDeviceModel": "ВСХ-50",
                "InstallationDate": INSTALLED,
                "CommissioningDate": INSTALLED,
                "RemoteMeteringMode": False,
                "TemperatureSensor": False,
                "PressureSensor": False,
                "CollectiveDevice": {"FIASHouseGuid": [fias]},
            },
            "NotLinkedWithMetering": True,
            "MunicipalResourceNotEnergy": [
                {"MunicipalResource": COLD_WATER, "MeteringValue": base, "Unit": "113"}
            ],
        },
    }


def collective_electric_device(
    fias: str, number: str, t1: str = "1000", t2: str = "500"
) -> dict[str, Any]:
    """A MeteringDevice item: a two-tariff common-house electricity meter."""
    return {
        "TransportGUID": tg(),
        "DeviceDataToCreate": {
            "BasicChatacteristicts": {
                "MeteringDeviceNumber": number,
                "InstallationDate": INSTALLED,
                "RemoteMeteringMode": True,
                "TemperatureSensor": False,
                "PressureSensor": False,
                "CollectiveDevice": {"FIASHouseGuid": [fias]},
            },
            "NotLinkedWithMetering": True,
            "MunicipalResourceEnergy": {
                "MeteringValueT1": t1,
                "MeteringValueT2": t2,
                "Unit": "245",
            },
        },
    }


def devices_request(fias: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "11.1.0.8",
        "Id": "signed-data-container",
        "FIASHouseGuid": fias,
        "MeteringDevice": items,
    }


def archive_request(version_guid: str) -> dict[str, Any]:
    return {
        "version": "11.1.0.8",
        "Id": "signed-data-container",
        "MeteringDevice": [
            {
                "TransportGUID": tg(),
                "DeviceDataToUpdate": {
                    "MeteringDeviceVersionGUID": version_guid,
                    "ArchiveDevice": {"ArchivingReason": ARCHIVING_REASON},
                },
            }
        ],
    }


def water_reading(
    root_guid: str,
    value: str,
    day: date,
    *,
    transport: str | None = None,
    resource: dict[str, str] = COLD_WATER,
    control: bool = False,
) -> dict[str, Any]:
    """A MeteringDevicesValues item with one current (or control) reading of a one-rate device."""
    reading = {
        "MunicipalResource": resource,
        "MeteringValue": value,
        "DateValue": day,
        "TransportGUID": transport or tg(),
    }
    if not control:
        reading["Period"] = period_of(day)
    return {
        "MeteringDeviceRootGUID": root_guid,
        "OneRateDeviceValue": {("ControlValue" if control else "CurrentValue"): [reading]},
    }


def electric_reading(
    root_guid: str, t1: str, t2: str | None, day: date, t3: str | None = None
) -> dict[str, Any]:
    current: dict[str, Any] = {
        "MeteringValueT1": t1,
        "DateValue": day,
        "TransportGUID": tg(),
        "Period": period_of(day),
    }
    if t2 is not None:
        current["MeteringValueT2"] = t2
    if t3 is not None:
        current["MeteringValueT3"] = t3
    return {"MeteringDeviceRootGUID": root_guid, "ElectricDeviceValue": {"CurrentValue": current}}


def _verification(
    start: tuple[date, Any], end: tuple[date, Any], seal: date, reason: dict[str, str] | None
) -> dict[str, Any]:
    """A VerificationValue: (date, values) at start and end; planned unless a ``reason``."""
    verification: dict[str, Any] = {
        "StartDateValue": start[0],
        "EndDateValue": end[0],
        "SealDate": seal,
        "StartValue": start[1],
        "EndValue": end[1],
        "TransportGUID": tg(),
    }
    if reason:
        verification["VerificationReason"] = reason
    else:
        verification["PlannedVerification"] = True
    return verification


def water_verification(
    root_guid: str,
    start: tuple[date, str],
    end: tuple[date, str],
    seal: date,
    *,
    reason: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A MeteringDevicesValues item with a verification of a one-rate cold water meter:
    planned unless an NSI 224 failure ``reason`` is given."""
    verification = _verification(
        (start[0], [{"MunicipalResource": COLD_WATER, "MeteringValue": start[1]}]),
        (end[0], [{"MunicipalResource": COLD_WATER, "MeteringValue": end[1]}]),
        seal,
        reason,
    )
    return {
        "MeteringDeviceRootGUID": root_guid,
        "OneRateDeviceValue": {"VerificationValue": verification},
    }


def electric_verification(
    root_guid: str,
    start: tuple[date, str, str],
    end: tuple[date, str, str],
    seal: date,
    *,
    reason: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A verification of a two-tariff electricity meter: (date, T1, T2) at start and end."""
    verification = _verification(
        (start[0], {"MeteringValueT1": start[1], "MeteringValueT2": start[2]}),
        (end[0], {"MeteringValueT1": end[1], "MeteringValueT2": end[2]}),
        seal,
        reason,
    )
    return {
        "MeteringDeviceRootGUID": root_guid,
        "ElectricDeviceValue": {"VerificationValue": verification},
    }


def period_of(day: date) -> dict[str, int]:
    """The billing month a reading is for (zeep requires it where the format makes it optional)."""
    return {"Year": day.year, "Month": day.month}


def values_request(items: list[dict[str, Any]], fias: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "version": "10.0.1.1",
        "Id": "signed-data-container",
        "MeteringDevicesValues": items,
    }
    if fias:
        request["FIASHouseGuid"] = fias
    return request


def history_request(
    fias: str, date_from: date | None = None, date_to: date | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "version": "10.0.1.3",
        "Id": "signed-data-container",
        "FIASHouseGuid": [fias],
        "MunicipalResource": [
            COLD_WATER,
            shipped_ref(2, "3"),
        ],
    }
    if date_from:
        request["inputDateFrom"] = date_from
    if date_to:
        request["inputDateTo"] = date_to
    return request

"""device-metering service: readings of metering devices (import, history export, getState)."""

from __future__ import annotations

from pathlib import Path

from gateway.handlers.device_metering.export_history import export_history
from gateway.handlers.device_metering.import_values import import_metering_device_values
from gateway.namespaces import DEVICE_METERING, qname
from gateway.registry import Operation, Registry, Service

NAME = "device-metering"
PATH = "/ext-bus-device-metering-service/services/DeviceMeteringAsync"
PROVIDERS = frozenset({"uo", "rso"})


def register(registry: Registry) -> Service:
    service = registry.add(
        Service(
            name=NAME,
            path=PATH,
            types_namespace=DEVICE_METERING,
            wsdl_file=Path("device-metering/hcs-device-metering-service-async.wsdl"),
            xsd_file=Path("device-metering/hcs-device-metering-types.xsd"),
            result_version="10.0.1.1",  # fixed by the format
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importMeteringDeviceValues",
            request_element=qname(DEVICE_METERING, "importMeteringDeviceValuesRequest"),
            kind="import",
            roles=PROVIDERS,
            handler=import_metering_device_values,
            versions=("10.0.1.1",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportMeteringDeviceHistory",
            request_element=qname(DEVICE_METERING, "exportMeteringDeviceHistoryRequest"),
            kind="export",
            roles=PROVIDERS,
            handler=export_history,
        )
    )
    return service

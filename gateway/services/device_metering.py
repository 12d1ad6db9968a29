"""device-metering service: readings of metering devices (import, history export, getState)."""

from __future__ import annotations

from gateway.handlers.device_metering.export_history import export_history
from gateway.handlers.device_metering.import_values import import_metering_device_values
from gateway.namespaces import DEVICE_METERING
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "device-metering"
PATH = "/ext-bus-device-metering-service/services/DeviceMeteringAsync"
PROVIDERS = frozenset({Role.UO, Role.RSO})


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(
            NAME, path=PATH, types_namespace=DEVICE_METERING, result_version="10.0.1.1"
        )
    )
    service.serve(
        "importMeteringDeviceValues",
        request="importMeteringDeviceValuesRequest",
        kind="import",
        roles=PROVIDERS,
        handler=import_metering_device_values,
        versions=("10.0.1.1",),
    )
    service.serve(
        "exportMeteringDeviceHistory",
        request="exportMeteringDeviceHistoryRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_history,
    )
    return service

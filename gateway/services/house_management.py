"""house-management service: houses, personal accounts and metering devices."""

from __future__ import annotations

from gateway.handlers.house_management.export_account import export_account
from gateway.handlers.house_management.export_house import export_house
from gateway.handlers.house_management.export_metering_device import export_metering_device
from gateway.handlers.house_management.import_account import import_account
from gateway.handlers.house_management.import_house_rso import import_house_rso
from gateway.handlers.house_management.import_house_uo import import_house_uo
from gateway.handlers.house_management.import_metering_device import import_metering_device
from gateway.namespaces import HOUSE_MANAGEMENT
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "house-management"
PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"
ALL_ROLES = frozenset(Role)
PROVIDERS = frozenset({Role.UO, Role.RSO})


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(
            NAME, path=PATH, types_namespace=HOUSE_MANAGEMENT, result_version="11.0.0.1"
        )
    )
    service.serve(
        "importHouseUOData",
        request="importHouseUORequest",
        kind="import",
        roles=frozenset({Role.UO}),
        handler=import_house_uo,
        versions=("11.0.10.1", "13.2.3.2"),
    )
    service.serve(
        "exportHouseData",
        request="exportHouseRequest",
        kind="export",
        roles=ALL_ROLES,
        handler=export_house,
        versions=("11.1.0.1", "12.2.0.1", "13.2.3.2", "15.6.0.1", "15.10.0.0"),
    )
    # links a supplier to the houses it supplies; built from the published RSO house types,
    # with the version of the earlier published format that had the operation
    service.serve(
        "importHouseRSOData",
        request="importHouseRSORequest",
        kind="import",
        roles=frozenset({Role.RSO}),
        handler=import_house_rso,
        versions=("11.0.0.1",),
        extension=True,
    )
    service.serve(
        "importAccountData",
        request="importAccountRequest",
        kind="import",
        roles=PROVIDERS,
        handler=import_account,
        versions=("10.0.1.1",),
    )
    service.serve(
        "exportAccountData",
        request="exportAccountRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_account,
        versions=("10.0.1.1",),
    )
    service.serve(
        "importMeteringDeviceData",
        request="importMeteringDeviceDataRequest",
        kind="import",
        roles=PROVIDERS,
        handler=import_metering_device,
        versions=("11.1.0.8",),
    )
    service.serve(
        "exportMeteringDeviceData",
        request="exportMeteringDeviceDataRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_metering_device,
        versions=("11.1.0.2", "14.8.0.1"),
    )
    return service

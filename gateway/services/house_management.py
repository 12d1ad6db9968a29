"""house-management service: houses of management companies (import, export, getState)."""

from __future__ import annotations

from pathlib import Path

from gateway.handlers.house_management.export_account import export_account
from gateway.handlers.house_management.export_house import export_house
from gateway.handlers.house_management.export_metering_device import export_metering_device
from gateway.handlers.house_management.import_account import import_account
from gateway.handlers.house_management.import_house_rso import import_house_rso
from gateway.handlers.house_management.import_house_uo import import_house_uo
from gateway.handlers.house_management.import_metering_device import import_metering_device
from gateway.namespaces import HOUSE_MANAGEMENT, qname
from gateway.registry import Operation, Registry, Service

NAME = "house-management"
PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"
ALL_ROLES = frozenset({"uo", "rso", "bank"})


def register(registry: Registry) -> Service:
    service = registry.add(
        Service(
            name=NAME,
            path=PATH,
            types_namespace=HOUSE_MANAGEMENT,
            wsdl_file=Path("house-management/hcs-house-management-service-async.wsdl"),
            xsd_file=Path("house-management/hcs-house-management-types.xsd"),
            result_version="11.0.0.1",  # fixed by the format,
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importHouseUOData",
            request_element=qname(HOUSE_MANAGEMENT, "importHouseUORequest"),
            kind="import",
            roles=frozenset({"uo"}),
            handler=import_house_uo,
            versions=("11.0.10.1", "13.2.3.2"),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportHouseData",
            request_element=qname(HOUSE_MANAGEMENT, "exportHouseRequest"),
            kind="export",
            roles=ALL_ROLES,
            handler=export_house,
            versions=("11.1.0.1", "12.2.0.1", "13.2.3.2", "15.6.0.1", "15.10.0.0"),
        )
    )
    service.add(
        Operation(  # extension beyond 16.3.0.0; the version of the earlier published format
            service=NAME,
            name="importHouseRSOData",
            request_element=qname(HOUSE_MANAGEMENT, "importHouseRSORequest"),
            kind="import",
            roles=frozenset({"rso"}),
            handler=import_house_rso,
            versions=("11.0.0.1",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importAccountData",
            request_element=qname(HOUSE_MANAGEMENT, "importAccountRequest"),
            kind="import",
            roles=frozenset({"uo", "rso"}),
            handler=import_account,
            versions=("10.0.1.1",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportAccountData",
            request_element=qname(HOUSE_MANAGEMENT, "exportAccountRequest"),
            kind="export",
            roles=frozenset({"uo", "rso"}),
            handler=export_account,
            versions=("10.0.1.1",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importMeteringDeviceData",
            request_element=qname(HOUSE_MANAGEMENT, "importMeteringDeviceDataRequest"),
            kind="import",
            roles=frozenset({"uo", "rso"}),
            handler=import_metering_device,
            versions=("11.1.0.8",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportMeteringDeviceData",
            request_element=qname(HOUSE_MANAGEMENT, "exportMeteringDeviceDataRequest"),
            kind="export",
            roles=frozenset({"uo", "rso"}),
            handler=export_metering_device,
            versions=("11.1.0.2", "14.8.0.1"),
        )
    )
    return service

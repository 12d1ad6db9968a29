"""house-management service: houses, personal accounts and metering devices."""

from __future__ import annotations

from gateway.handlers.base import Handler
from gateway.handlers.house_management.export_account import export_account
from gateway.handlers.house_management.export_contracts import export_cach, export_status_cach
from gateway.handlers.house_management.export_house import export_house
from gateway.handlers.house_management.export_metering_device import export_metering_device
from gateway.handlers.house_management.export_supply_contracts import (
    export_brief_supply_contracts,
    export_supply_contract_addresses,
    export_supply_contracts,
)
from gateway.handlers.house_management.import_account import import_account
from gateway.handlers.house_management.import_house_rso import import_house_rso
from gateway.handlers.house_management.import_house_uo import import_house_uo
from gateway.handlers.house_management.import_management_contract import (
    import_charter,
    import_contract,
)
from gateway.handlers.house_management.import_metering_device import import_metering_device
from gateway.handlers.house_management.import_supply_contract import (
    import_supply_contract,
    import_supply_contract_addresses,
    import_supply_contract_project,
)
from gateway.namespaces import HOUSE_MANAGEMENT
from gateway.registry import OperationKind, Registry, Service, published_layout
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
    _contracts(service)
    return service


def _contracts(service: Service) -> None:
    """Management contracts and charters (UO), resource supply contracts (RSO): who may
    describe and keep data on which house (persistence/contracts.py)."""
    uo, rso = frozenset({Role.UO}), frozenset({Role.RSO})
    served: tuple[tuple[str, str, OperationKind, frozenset[Role], Handler, tuple[str, ...]], ...]
    served = (
        (
            "importContractData",
            "importContractRequest",
            "import",
            uo,
            import_contract,
            ("11.9.0.1",),
        ),
        ("importCharterData", "importCharterRequest", "import", uo, import_charter, ("11.9.0.1",)),
        (
            "exportCAChData",
            "exportCAChAsyncRequest",
            "export",
            uo,
            export_cach,
            ("10.0.1.1", "13.0.0.1", "13.1.2.1", "13.1.7.1"),
        ),
        (
            "exportStatusCAChData",
            "exportStatusCAChRequest",
            "export",
            uo,
            export_status_cach,
            ("10.0.1.1",),
        ),
        (
            "importSupplyResourceContractData",
            "importSupplyResourceContractRequest",
            "import",
            rso,
            import_supply_contract,
            ("11.3.0.5",),
        ),
        (
            "importSupplyResourceContractObjectAddressData",
            "importSupplyResourceContractObjectAddressRequest",
            "import",
            rso,
            import_supply_contract_addresses,
            ("11.7.0.3",),
        ),
        (
            "importSupplyResourceContractProjectData",
            "importSupplyResourceContractProjectRequest",
            "import",
            rso,
            import_supply_contract_project,
            ("11.7.0.3",),
        ),
        (
            "exportSupplyResourceContractData",
            "exportSupplyResourceContractRequest",
            "export",
            rso,
            export_supply_contracts,
            ("11.11.0.2", "13.1.1.1"),
        ),
        (
            "exportSupplyResourceContractObjectAddressData",
            "exportSupplyResourceContractObjectAddressRequest",
            "export",
            rso,
            export_supply_contract_addresses,
            ("11.6.0.1", "13.1.1.1"),
        ),
        (
            "exportBriefSupplyResourceContract",
            "exportBriefSupplyResourceContractRequest",
            "export",
            PROVIDERS,
            export_brief_supply_contracts,
            ("11.14.0.1", "13.1.1.1"),
        ),
    )
    for name, request, kind, roles, handler, versions in served:
        service.serve(
            name, request=request, kind=kind, roles=roles, handler=handler, versions=versions
        )

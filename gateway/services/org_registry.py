"""org-registry-common service: the register of organisations (ISRequestHeader calls)."""

from __future__ import annotations

from gateway.handlers.org_registry.export_data_provider import export_data_provider
from gateway.handlers.org_registry.export_org_registry import export_org_registry
from gateway.namespaces import ORGANIZATIONS_REGISTRY_COMMON
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "organizations-registry-common"
PATH = "/ext-bus-org-registry-common-service/services/OrgRegistryCommonAsync"
ALL_ROLES = frozenset(Role)


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(
            NAME,
            path=PATH,
            types_namespace=ORGANIZATIONS_REGISTRY_COMMON,
            result_version="10.0.2.1",
            header="ISRequestHeader",
        )
    )
    service.serve(
        "exportOrgRegistry",
        request="exportOrgRegistryRequest",
        kind="export",
        roles=ALL_ROLES,
        handler=export_org_registry,
        versions=("10.0.2.1",),
    )
    service.serve(
        "exportDataProvider",
        request="exportDataProviderRequest",
        kind="export",
        roles=ALL_ROLES,
        handler=export_data_provider,
        versions=("10.0.2.1",),
    )
    return service

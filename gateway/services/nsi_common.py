"""nsi-common service: the general reference books the gateway's rules use (ISRequestHeader)."""

from __future__ import annotations

from gateway.handlers.nsi_common.export_nsi import (
    export_nsi_item,
    export_nsi_list,
    export_nsi_paging_item,
)
from gateway.namespaces import NSI_COMMON
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "nsi-common"
PATH = "/ext-bus-nsi-common-service/services/NsiCommonAsync"
ALL_ROLES = frozenset(Role)


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(
            NAME,
            path=PATH,
            types_namespace=NSI_COMMON,
            result_version="10.0.1.2",
            header="ISRequestHeader",
        )
    )
    for name, handler in (
        ("exportNsiList", export_nsi_list),
        ("exportNsiItem", export_nsi_item),
        ("exportNsiPagingItem", export_nsi_paging_item),
    ):
        service.serve(
            name,
            request=f"{name}Request",
            kind="export",
            roles=ALL_ROLES,
            handler=handler,
            versions=("10.0.1.2",),
        )
    return service

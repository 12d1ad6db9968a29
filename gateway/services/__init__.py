"""The services the gateway serves; each module adds its operations to the registry."""

from functools import cache

from gateway.registry import Registry
from gateway.services import (
    bills,
    device_metering,
    house_management,
    nsi_common,
    org_registry,
    payment,
)


def build_registry() -> Registry:
    registry = Registry()
    house_management.register(registry)
    device_metering.register(registry)
    bills.register(registry)
    payment.register(registry)
    org_registry.register(registry)
    nsi_common.register(registry)
    return registry


@cache
def _paths() -> dict[str, str]:
    return {service.name: service.path for service in build_registry().services.values()}


def service_path(name: str) -> str:
    """The HTTP path of the service ``name`` (e.g. ``house-management``) as the registry
    declares it: what clients, the demo, the bench and the tests send to."""
    try:
        return _paths()[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; served: {', '.join(sorted(_paths()))}") from None

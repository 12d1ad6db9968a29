"""The services the gateway serves; each module adds its operations to the registry."""

from gateway.registry import Registry
from gateway.services import bills, device_metering, house_management, payment


def build_registry() -> Registry:
    registry = Registry()
    house_management.register(registry)
    device_metering.register(registry)
    bills.register(registry)
    payment.register(registry)
    return registry

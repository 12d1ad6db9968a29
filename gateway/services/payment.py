"""payment service: payment notices of banks (and of suppliers), their cancellation."""

from __future__ import annotations

from gateway.handlers.payment.import_cancellations import import_cancellations
from gateway.handlers.payment.import_notices import import_notices
from gateway.handlers.payment.import_supplier_notices import import_supplier_notices
from gateway.namespaces import PAYMENT
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "payment"
PATH = "/ext-bus-payment-service/services/PaymentAsync"
ALL_ROLES = frozenset(Role)


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(NAME, path=PATH, types_namespace=PAYMENT, result_version="10.0.1.1")
    )
    # only a bank posts bank notices: anyone else gets Fault AUT011003
    service.serve(
        "importNotificationsOfOrderExecution",
        request="importNotificationsOfOrderExecutionRequest",
        kind="import",
        roles=frozenset({Role.BANK}),
        handler=import_notices,
        versions=("10.0.1.1",),
    )
    # everyone cancels the notices it posted (suppliers: their own notices)
    service.serve(
        "importNotificationsOfOrderExecutionCancellation",
        request="importNotificationsOfOrderExecutionCancellationRequest",
        kind="import",
        roles=ALL_ROLES,
        handler=import_cancellations,
        versions=("10.0.1.1",),
    )
    service.serve(
        "importSupplierNotificationsOfOrderExecution",
        request="importSupplierNotificationsOfOrderExecutionRequest",
        kind="import",
        roles=frozenset({Role.UO, Role.RSO}),
        handler=import_supplier_notices,
        versions=("10.0.1.1",),
    )
    return service

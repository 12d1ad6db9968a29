"""bills service: payment documents, their export, payment notices export, acknowledgment."""

from __future__ import annotations

from gateway.handlers.bills.export_notifications import (
    export_notifications,
    export_notifications_paginal,
)
from gateway.handlers.bills.export_payment_document import export_payment_document
from gateway.handlers.bills.import_acknowledgment import import_acknowledgment
from gateway.handlers.bills.import_payment_document import import_payment_document
from gateway.namespaces import BILLS
from gateway.registry import Registry, Service, published_layout
from persistence.roles import Role

NAME = "bills"
PATH = "/ext-bus-bills-service/services/BillsAsync"
#: organisations that keep accounts and place payment documents for them
PROVIDERS = frozenset({Role.UO, Role.RSO})


def register(registry: Registry) -> Service:
    service = registry.add(
        published_layout(NAME, path=PATH, types_namespace=BILLS, result_version="10.0.1.1")
    )
    service.serve(
        "importPaymentDocumentData",
        request="importPaymentDocumentRequest",
        kind="import",
        roles=PROVIDERS,
        handler=import_payment_document,
        versions=("11.2.0.16",),
    )
    service.serve(
        "exportPaymentDocumentData",
        request="exportPaymentDocumentRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_payment_document,
        versions=("11.2.0.10", "12.2.0.1", "13.1.0.1"),
    )
    service.serve(
        "exportNotificationsOfOrderExecution",
        request="exportNotificationsOfOrderExecutionRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_notifications,
    )
    service.serve(
        "exportNotificationsOfOrderExecutionPaginal",
        request="exportNotificationsOfOrderExecutionPaginalRequest",
        kind="export",
        roles=PROVIDERS,
        handler=export_notifications_paginal,
    )
    service.serve(
        "importAcknowledgment",
        request="importAcknowledgmentRequest",
        kind="import",
        roles=PROVIDERS,
        handler=import_acknowledgment,
        versions=("11.0.0.2",),
    )
    return service

"""bills service: payment documents, their export, payment notices export, acknowledgment."""

from __future__ import annotations

from pathlib import Path

from gateway.handlers.bills.common import BILLS
from gateway.handlers.bills.export_notifications import export_notifications
from gateway.handlers.bills.export_payment_document import export_payment_document
from gateway.handlers.bills.import_acknowledgment import import_acknowledgment
from gateway.handlers.bills.import_payment_document import import_payment_document
from gateway.namespaces import qname
from gateway.registry import Operation, Registry, Service

NAME = "bills"
PATH = "/ext-bus-bills-service/services/BillsAsync"
#: organisations that keep accounts and place payment documents for them
PROVIDERS = frozenset({"uo", "rso"})


def register(registry: Registry) -> Service:
    service = registry.add(
        Service(
            name=NAME,
            path=PATH,
            types_namespace=BILLS,
            wsdl_file=Path("bills/hcs-bills-service-async.wsdl"),
            xsd_file=Path("bills/hcs-bills-types.xsd"),
            result_version="10.0.1.1",  # fixed by the format
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importPaymentDocumentData",
            request_element=qname(BILLS, "importPaymentDocumentRequest"),
            kind="import",
            roles=PROVIDERS,
            handler=import_payment_document,
            versions=("11.2.0.16",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportPaymentDocumentData",
            request_element=qname(BILLS, "exportPaymentDocumentRequest"),
            kind="export",
            roles=PROVIDERS,
            handler=export_payment_document,
            versions=("11.2.0.10", "12.2.0.1", "13.1.0.1"),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="exportNotificationsOfOrderExecution",
            request_element=qname(BILLS, "exportNotificationsOfOrderExecutionRequest"),
            kind="export",
            roles=PROVIDERS,
            handler=export_notifications,
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importAcknowledgment",
            request_element=qname(BILLS, "importAcknowledgmentRequest"),
            kind="import",
            roles=PROVIDERS,
            handler=import_acknowledgment,
            versions=("11.0.0.2",),
        )
    )
    return service

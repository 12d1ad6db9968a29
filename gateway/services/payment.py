"""payment service: payment notices of banks (and of suppliers), their cancellation."""

from __future__ import annotations

from pathlib import Path

from gateway.handlers.bills.common import PAYMENT
from gateway.handlers.payment.import_cancellations import import_cancellations
from gateway.handlers.payment.import_notices import import_notices
from gateway.handlers.payment.import_supplier_notices import import_supplier_notices
from gateway.namespaces import qname
from gateway.registry import Operation, Registry, Service

NAME = "payment"
PATH = "/ext-bus-payment-service/services/PaymentAsync"
ALL_ROLES = frozenset({"uo", "rso", "bank"})


def register(registry: Registry) -> Service:
    service = registry.add(
        Service(
            name=NAME,
            path=PATH,
            types_namespace=PAYMENT,
            wsdl_file=Path("payment/hcs-payment-service-async.wsdl"),
            xsd_file=Path("payment/hcs-payment-types.xsd"),
            result_version="10.0.1.1",  # fixed by the format
        )
    )
    service.add(
        Operation(  # only a bank posts bank notices: anyone else gets Fault AUT011003
            service=NAME,
            name="importNotificationsOfOrderExecution",
            request_element=qname(PAYMENT, "importNotificationsOfOrderExecutionRequest"),
            kind="import",
            roles=frozenset({"bank"}),
            handler=import_notices,
            versions=("10.0.1.1",),
        )
    )
    service.add(
        Operation(  # everyone cancels the notices it posted (suppliers: their own notices)
            service=NAME,
            name="importNotificationsOfOrderExecutionCancellation",
            request_element=qname(
                PAYMENT, "importNotificationsOfOrderExecutionCancellationRequest"
            ),
            kind="import",
            roles=ALL_ROLES,
            handler=import_cancellations,
            versions=("10.0.1.1",),
        )
    )
    service.add(
        Operation(
            service=NAME,
            name="importSupplierNotificationsOfOrderExecution",
            request_element=qname(PAYMENT, "importSupplierNotificationsOfOrderExecutionRequest"),
            kind="import",
            roles=frozenset({"uo", "rso"}),
            handler=import_supplier_notices,
            versions=("10.0.1.1",),
        )
    )
    return service

"""importSupplierNotificationsOfOrderExecution: payments a supplier received itself.

A management company (uo) or resource supplier (rso) posts up to 250 notices of payments it
received directly (at its cash desk, by its own acquiring): OrderDate, optional OrderPeriod,
PaymentDocumentID or ServiceID of its own document or account, Amount in roubles (converted to
kopecks exactly), OnlinePayment. The format gives such a payment no order id: the gateway
assigns one, 32 hex digits derived from the packet's MessageGUID and the item's TransportGUID
(UUID 5), returned as UniqueNumber; the supplier cancels the notice with it
(importNotificationsOfOrderExecutionCancellation). ImportResult GUID = the notice's GUID. Being
derived, the same item of a replayed packet is the same notice, never a second one.

Decision: a supplier notice is a notice like a bank's, posted by and paid to the supplier
(orgPPAGUID = the supplier); it is NOT acknowledged by itself. The format says nothing of the
services it pays, so the supplier matches it to charges with importAcknowledgment like any
other notice (AckStatus 0 until then).

Rules (per notice): the document or account exists (INT002000) and is the sender's (AUT011003);
the document is not withdrawn (SRV008070); the period agrees with the document's (HCS005002);
OrderDate is not in the future (HCS005005).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    children,
    text,
)
from gateway.handlers.bills.common import period_of, rouble_kopecks
from gateway.handlers.payment.import_notices import (
    Notice,
    Reference,
    Resolver,
    check_order_date,
    notice_row,
)
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import PAYMENT
from persistence.models import PaymentNotice

#: namespace of the order ids the gateway derives for supplier notices
_ORDER_IDS = uuid.UUID("5f0c3a1e-7b2d-4c9e-8a61-2d4e6f8a0b13")


def _read(element: etree._Element, message_guid: str) -> Notice:
    period = period_of(element, "OrderPeriod")
    transport_guid = text(element, "TransportGUID") or ""
    return Notice(
        transport_guid=transport_guid,
        order_id=uuid.uuid5(_ORDER_IDS, f"{message_guid}/{transport_guid}").hex,
        order_date=date.fromisoformat(text(element, "OrderDate") or ""),
        amount=rouble_kopecks(element, "Amount") or 0,
        ref=Reference(
            payment_document_id=text(element, "PaymentDocumentID"),
            service_id=text(element, "ServiceID"),
            period=period,
        ),
        source="supplier",
        values={"online_payment": bool(boolean(element, "OnlinePayment"))},
    )


class ImportSupplierNotices(ImportBase[Notice, Resolver]):
    answer = Answer(PAYMENT)

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Notice]]:
        for element in children(request, "SupplierNotificationOfOrderExecution"):
            transport_guid = text(element, "TransportGUID") or ""
            try:
                yield Item(transport_guid, _read(element, ctx.message_guid))
            except ItemError as error:
                yield Item(transport_guid, unreadable=error)

    def prefetch(self, ctx: HandlerContext, records: Sequence[Notice]) -> Resolver:
        return Resolver(ctx, [n.ref for n in records])

    def decide(
        self, ctx: HandlerContext, state: Resolver, record: Notice, changes: Changes
    ) -> Done:
        check_order_date(ctx, record)
        account, doc = state.resolve(record.ref)
        if account.org_guid != ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Account {account.unique_number} is kept by another organisation; a supplier "
                "posts the payments it received for its own documents and accounts.",
            )
        row = changes.insert(PaymentNotice, notice_row(ctx, record, account, doc))
        return Done(row["guid"], record.order_id)


IMPORT = ImportSupplierNotices()


def import_supplier_notices(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplierNotificationsOfOrderExecutionRequest."""
    return run_import(IMPORT, ctx, request)

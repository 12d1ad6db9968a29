"""importNotificationsOfOrderExecutionCancellation: cancel notices the sender posted.

Up to 500 cancellations, each naming the OrderID of a notice the sender (a bank, or a supplier
for its own notices: their OrderID is the UniqueNumber of their ImportResult) posted. A
cancellation also cancels every acknowledgment of the notice, in the same transaction: the
amounts matched to charges become unpaid again. Each item answers one ImportResult: GUID = the
notice's GUID, UniqueNumber = its OrderID.

The cancellation is recorded with its MessageGUID: a replay of the same packet answers the same
result.

Rules (per item):
  a notice with that OrderID was posted by the sender (INT002000)
  it is not cancelled already: a cancelled notice is final (HCS005004)
  CancellationDate is not before OrderDate and not in the future (HCS005005)
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError, children, text
from gateway.handlers.bills.common import (
    failure,
    latest_today,
    success,
)
from gateway.namespaces import PAYMENT
from persistence import payments as repo


def import_cancellations(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importNotificationsOfOrderExecutionCancellationRequest."""
    items = children(request, "NotificationOfOrderExecutionCancellation")
    notices = repo.notices_by_orders(
        ctx.session, [(ctx.org_guid, text(i, "OrderID") or "") for i in items], lock=True
    )
    results = etree.Element("results")
    for element in items:
        transport_guid = text(element, "TransportGUID") or ""
        order_id = text(element, "OrderID") or ""
        try:
            notice = notices.get((ctx.org_guid, order_id))
            if notice is None:
                raise ItemError(
                    Code.NOT_FOUND, f"You posted no payment notice with OrderID {order_id}."
                )
            if notice.cancelled and notice.cancelled_by == ctx.message_guid:
                pass  # this very packet cancelled it (a replay): the same answer
            elif notice.cancelled:
                raise ItemError(
                    Code.NOTICE_CANCELLED,
                    f"The notice of order {order_id} was already cancelled on "
                    f"{notice.cancellation_date}.",
                )
            else:
                on = date.fromisoformat(text(element, "CancellationDate") or "")
                if on < notice.order_date or on > latest_today(ctx.now):
                    raise ItemError(
                        Code.NOTICE_BAD_DATE,
                        f"CancellationDate {on} must be between the OrderDate "
                        f"{notice.order_date} and today.",
                    )
                comment = text(element, "Comment")
                repo.cancel_notice(ctx.session, notice, on, comment, ctx.now, ctx.message_guid)
        except ItemError as error:
            failure(results, PAYMENT, transport_guid, error)
            continue
        success(results, PAYMENT, transport_guid, notice.guid, ctx.now, order_id)
    return HandlerResult(list(results))

"""importNotificationsOfOrderExecutionCancellation: cancel notices the sender posted.

Up to 500 cancellations, each naming the OrderID of a notice the sender (a bank, or a supplier
for its own notices: their OrderID is the UniqueNumber of their ImportResult) posted. A
cancellation also cancels every acknowledgment of the notice, in the same transaction: the
amounts matched to charges become unpaid again. Each item answers one ImportResult: GUID = the
notice's GUID, UniqueNumber = its OrderID.

The cancellation is recorded with its MessageGUID; a forced replay of the packet answers the
same results (``gateway.imports.pipeline``).

Rules (per item):
  a notice with that OrderID was posted by the sender (INT002000)
  it is not cancelled already: a cancelled notice is final (HCS005004)
  CancellationDate is not before OrderDate and not in the future (HCS005005)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError, children, text
from gateway.handlers.bills.common import latest_today
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import PAYMENT
from persistence import payments as repo
from persistence.models import PaymentAcknowledgment, PaymentNotice


@dataclass(frozen=True)
class Cancellation:
    order_id: str
    on: date
    comment: str | None


@dataclass
class Packet:
    notices: dict[str, Any]  # OrderID ► the sender's notice row (locked)
    cancelled: dict[str, date]  # notices this packet cancels ► on what date


class ImportCancellations(ImportBase[Cancellation, Packet]):
    answer = Answer(PAYMENT)

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Cancellation]]:
        for element in children(request, "NotificationOfOrderExecutionCancellation"):
            yield Item(
                text(element, "TransportGUID") or "",
                Cancellation(
                    text(element, "OrderID") or "",
                    date.fromisoformat((text(element, "CancellationDate") or "")[:10]),
                    text(element, "Comment"),
                ),
            )

    def prefetch(self, ctx: HandlerContext, records: Sequence[Cancellation]) -> Packet:
        keys = [(ctx.org_guid, r.order_id) for r in records]
        rows = repo.notice_rows_by_orders(ctx.session, keys, lock=True)
        return Packet({order: row for (_, order), row in rows.items()}, {})

    def decide(
        self, ctx: HandlerContext, state: Packet, record: Cancellation, changes: Changes
    ) -> Done:
        notice = state.notices.get(record.order_id)
        if notice is None:
            raise ItemError(
                Code.NOT_FOUND, f"You posted no payment notice with OrderID {record.order_id}."
            )
        if notice.cancelled or notice.guid in state.cancelled:
            raise ItemError(
                Code.NOTICE_CANCELLED,
                f"The notice of order {record.order_id} was already cancelled on "
                f"{state.cancelled.get(notice.guid, notice.cancellation_date)}.",
            )
        if record.on < notice.order_date or record.on > latest_today(ctx.now):
            raise ItemError(
                Code.NOTICE_BAD_DATE,
                f"CancellationDate {record.on} must be between the OrderDate "
                f"{notice.order_date} and today.",
            )
        changes.update(
            PaymentNotice,
            {"guid": notice.guid},
            {
                "cancelled": True,
                "cancellation_date": record.on,
                "cancellation_comment": record.comment,
                "cancelled_at": ctx.now,
                "cancelled_by": ctx.message_guid,
            },
        )
        # every acknowledgment of the notice goes with it
        changes.update(
            PaymentAcknowledgment,
            {"notice_guid": notice.guid, "cancelled": False},
            {
                "cancelled": True,
                "cancel_reason": "notice-cancelled",
                "cancelled_at": ctx.now,
                "cancelled_by": ctx.message_guid,
            },
        )
        state.cancelled[notice.guid] = record.on
        return Done(notice.guid, record.order_id)


IMPORT = ImportCancellations()


def import_cancellations(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importNotificationsOfOrderExecutionCancellationRequest."""
    return run_import(IMPORT, ctx, request)

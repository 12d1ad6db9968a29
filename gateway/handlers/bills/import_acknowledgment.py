"""importAcknowledgment (kvitirovanie): match payment notices to the charges of payment documents.

Up to 100 AcknowledgmentRequestInfo, or up to 100 AckCancellation. Each item answers one
ImportResult with GUID = the notice's NotificationsOfOrderExecutionGUID, or Error.

An AcknowledgmentRequestInfo names a notice (its GUID, or OrderID / OrderIDMultipurpose with the
orgPPAGUID of the organisation that posted it) and either
  PaymentDocumentAck: an Amount in roubles (2 decimals; converted to kopecks exactly) matched
  to ONE charge of a document, found by PaymentDocumentID and the service: HSType / MSType /
  ASType (the GUID of the charge's ServiceType; Insurance: its InsuranceProductGUID; capital
  repair: HSType ``CAPITAL_REPAIR_GUID`` of ``bills.common``), PServiceType (NSI 329 code of
  PenaltiesAndCourtCosts) or TMSType (NSI 3 code of a GroupMunicipalService);
  CapitalRepairYearAckPeriod names the month of a yearly capital-repair charge, DelayPeriod the
  month of a debt. Several items on one notice add up: items summing to the notice's amount
  acknowledge it in full (AckStatus 2), less is partial (3). A payment matched to a notice
  marked impossible clears that mark.
  AckImpossible: the notice cannot be matched (AckStatus 5).
An AckCancellation (de-acknowledgment) cancels every active acknowledgment of the notice against
the document; the amounts become free again on both.

Each acknowledgment row keeps the MessageGUID and TransportGUID that made it (and the MessageGUID
that cancelled it), so a replay of a processed packet (``gateway packets replay --force``)
answers the same results and changes nothing: money is never acknowledged twice.

The paid state is never a counter: a charge's, document's or notice's acknowledged amount is
the sum of its active acknowledgments (persistence/payments.py). The notices and documents of
the packet are locked while it is processed, so concurrent packets cannot both spend a
remainder.

Rules (per item):
  the notice exists (INT002000) and is a payment to the sender (AUT011003); it is not cancelled
  (HCS004010)
  only the document's owner (the organisation that placed it) acknowledges against it: the
  document exists (INT002000), was placed by the sender (AUT011003), is not withdrawn (SRV008070),
  is for the account the notice pays (HCS004012)
  Amount > 0 (HCS004007); the document has a charge of that service and month (HCS004011); the
  PaymentInformation, when sent, is the charge's payment details (HCS004013)
  never more than the notice's amount (HCS004008) nor more than the charge's amount due
  (HCS004009), counting what is already acknowledged
  AckImpossible only for a notice without acknowledged amounts (HCS004014)
  AckCancellation needs an active acknowledgment of the notice against the document (HCS004015)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    child,
    children,
    guid,
    local,
    nsi_ref,
    required,
    text,
)
from gateway.handlers.bills.common import (
    failure,
    period_of,
    period_text,
    rouble_kopecks,
    success,
)
from gateway.namespaces import BILLS
from persistence import payments as repo
from persistence.models import PaymentCharge, PaymentDocument, PaymentNotice
from persistence.payments import format_roubles

_KINDS = ("HSType", "MSType", "ASType", "PServiceType", "TMSType")


@dataclass
class _NoticeRef:
    guid: str | None
    order_id: str | None
    org_guid: str | None

    def __str__(self) -> str:
        if self.guid:
            return f"notice {self.guid}"
        return f"order {self.order_id} of organisation {self.org_guid}"


@dataclass
class _Ack:
    transport_guid: str
    notice: _NoticeRef
    payment_document_id: str | None
    impossible: bool
    kind: str | None = None  # HS | MS | AS | PS | TMS
    key: str | None = None  # GUID (HS/MS/AS) or NSI code (PS/TMS)
    code: str | None = None
    ref_guid: str | None = None
    name: str | None = None
    amount: int = 0
    details: tuple[str, str] | str | None = None  # (BIK, account) or PaymentInformationGuid
    cr_period: tuple[int, int] | None = None
    delay: tuple[int, int] | None = None
    reason: str | None = None
    cancellation: bool = False


def _notice_ref(element: etree._Element) -> _NoticeRef:
    return _NoticeRef(
        guid=guid(element, "NotificationsOfOrderExecutionGUID"),
        order_id=text(element, "OrderID") or text(element, "OrderIDMultipurpose"),
        org_guid=guid(element, "orgPPAGUID"),
    )


def _read(element: etree._Element) -> _Ack:
    item = _Ack(
        transport_guid=text(element, "TransportGUID") or "",
        notice=_notice_ref(element),
        payment_document_id=None,
        impossible=False,
        delay=period_of(element, "DelayPeriod"),
    )
    if local(element) == "AckCancellation":
        item.cancellation = True
        item.payment_document_id = text(element, "PaymentDocumentID")
        return item
    impossible = child(element, "AckImpossible")
    if impossible is not None:
        item.impossible = True
        item.payment_document_id = text(impossible, "PaymentDocumentID")
        item.reason = text(impossible, "Reason")
        return item
    ack = required(element, "PaymentDocumentAck")
    item.payment_document_id = text(ack, "PaymentDocumentID")
    kind_element = next(c for c in ack if isinstance(c.tag, str) and local(c) in _KINDS)
    kind = local(kind_element)
    if kind in ("PServiceType", "TMSType"):
        item.kind = "PS" if kind == "PServiceType" else "TMS"
        item.code, item.ref_guid = nsi_ref(ack, kind)
        item.name = text(kind_element, "Name")
        item.key = item.code
    else:
        item.kind = kind[:2]
        item.ref_guid = item.key = guid(ack, kind)
    item.amount = rouble_kopecks(ack, "Amount") or 0
    details = child(ack, "PaymentInformation")
    if details is not None:
        by_guid = guid(details, "PaymentInformationGuid")
        item.details = by_guid or (
            text(details, "BankBIK") or "",
            text(details, "operatingAccountNumber") or "",
        )
    item.cr_period = period_of(ack, "CapitalRepairYearAckPeriod")
    return item


class _Packet:
    """Notices, documents, charges and acknowledged sums of the packet, read (and locked) once."""

    def __init__(self, ctx: HandlerContext, items: list[_Ack]) -> None:
        self.ctx = ctx
        session = ctx.session
        self.by_guid = repo.notices_by_guids(
            session, [i.notice.guid for i in items if i.notice.guid], lock=True
        )
        self.by_order = repo.notices_by_orders(
            session,
            [
                (i.notice.org_guid, i.notice.order_id)
                for i in items
                if i.notice.order_id and i.notice.org_guid
            ],
            lock=True,
        )
        notices = {n.guid for n in (*self.by_guid.values(), *self.by_order.values())}
        self.documents = repo.documents_by_ids(
            session, [i.payment_document_id for i in items if i.payment_document_id], lock=True
        )
        doc_guids = [d.guid for d in self.documents.values()]
        self.charges = repo.charges_of(session, doc_guids)
        self.details = {
            d.guid: d for rows in repo.details_of(session, doc_guids).values() for d in rows
        }
        self.notice_acknowledged = repo.acknowledged_by(session, "notice", notices)
        self.charge_acknowledged = repo.acknowledged_by(
            session, "charge", [c.guid for rows in self.charges.values() for c in rows]
        )
        # active acknowledgments per notice: existing rows and rows added by this packet
        self.active: dict[str, list[Any]] = {
            k: list(v) for k, v in repo.active_acknowledgments(session, notices).items()
        }
        self.new_rows: list[dict[str, Any]] = []
        self.cancelled: dict[str, str] = {}  # existing acknowledgment GUID ► reason
        # a replay of this packet (ops, --force) finds its items done: same answer, no change
        done = repo.acknowledgments_of_message(session, ctx.message_guid)
        self.made = {a.transport_guid: a for a in done if a.message_guid == ctx.message_guid}
        self.undone = {
            (a.notice_guid, a.document_guid)
            for a in done
            if a.cancelled_by == ctx.message_guid and a.cancel_reason == "ack-cancellation"
        }

    # --- lookups ---
    def notice(self, ref: _NoticeRef) -> PaymentNotice:
        found = (
            self.by_guid.get(ref.guid)
            if ref.guid
            else self.by_order.get((ref.org_guid or "", ref.order_id or ""))
        )
        if found is None:
            raise ItemError(Code.NOT_FOUND, f"No payment notice: {ref} is not registered.")
        if found.payee_org_guid != self.ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Payment notice {found.guid} is a payment to another organisation.",
            )
        if found.cancelled:
            raise ItemError(
                Code.ACK_NOTICE_CANCELLED,
                f"Payment notice {found.guid} (order {found.order_id}) was cancelled on "
                f"{found.cancellation_date}; a cancelled notice is not acknowledged (its "
                "acknowledgments were cancelled with it).",
            )
        return found

    def document(self, payment_document_id: str | None, notice: PaymentNotice) -> PaymentDocument:
        doc = self.documents.get(payment_document_id or "")
        if doc is None:
            raise ItemError(Code.NOT_FOUND, f"No payment document {payment_document_id} is placed.")
        if doc.org_guid != self.ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Payment document {payment_document_id} was placed by another organisation; "
                "only the organisation that placed a document acknowledges payments against it.",
            )
        if doc.withdrawn:
            raise ItemError(
                Code.DOCUMENT_WITHDRAWN, f"Payment document {payment_document_id} is withdrawn."
            )
        if doc.account_guid != notice.account_guid:
            raise ItemError(
                Code.ACK_OTHER_ACCOUNT,
                f"Payment document {payment_document_id} is for another account than the payment "
                f"of notice {notice.guid} (account {notice.account_guid}).",
            )
        return doc

    def charge(self, doc: PaymentDocument, item: _Ack) -> PaymentCharge:
        base = f"{item.kind}:{item.key}"
        lines = self.charges.get(doc.guid, [])
        candidates = [c for c in lines if c.ack_slot and c.ack_slot.split("@", 1)[0] == base]
        for wanted in (item.cr_period, item.delay):
            exact = [c for c in candidates if wanted and (c.year, c.month) == wanted]
            if exact:
                return exact[0]
        if item.cr_period is None:
            if len(candidates) == 1:
                return candidates[0]
            plain = [c for c in candidates if c.month is None]
            if len(plain) == 1:
                return plain[0]
        slots = ", ".join(c.ack_slot for c in lines if c.ack_slot) or "none"
        month = f" for {period_text(item.cr_period or item.delay)}" if candidates else ""
        raise ItemError(
            Code.ACK_NO_SUCH_CHARGE,
            f"Payment document {doc.payment_document_id} has no single charge {base}{month} "
            f"(its charges: {slots}); name the month of a yearly capital-repair charge with "
            "CapitalRepairYearAckPeriod and of a debt with DelayPeriod.",
        )

    def check_details(self, charge: PaymentCharge, item: _Ack) -> None:
        if item.details is None:
            return
        details = self.details.get(charge.details_guid or "")
        if isinstance(item.details, str):
            same = details is not None and details.guid == item.details
        else:
            same = details is not None and (details.bik, details.operating_account) == item.details
        if not same:
            have = (
                f"{details.bik} / {details.operating_account} ({details.guid})"
                if details
                else "none"
            )
            raise ItemError(
                Code.ACK_DETAILS_DIFFER,
                f"PaymentInformation {item.details} is not the payment details of the charge "
                f"{charge.ack_slot} ({have}).",
            )

    # --- the three kinds of item (each returns the notice's GUID) ---
    def acknowledge(self, item: _Ack) -> str:
        if item.transport_guid in self.made:  # replayed
            return self.made[item.transport_guid].notice_guid
        notice = self.notice(item.notice)
        doc = self.document(item.payment_document_id, notice)
        if item.amount <= 0:
            raise ItemError(
                Code.ACK_AMOUNT_NOT_POSITIVE, "Amount of an acknowledgment must be above zero."
            )
        charge = self.charge(doc, item)
        self.check_details(charge, item)
        done = self.notice_acknowledged.get(notice.guid, 0)
        if done + item.amount > notice.amount:
            raise ItemError(
                Code.ACK_OVER_NOTICE,
                f"Acknowledging {format_roubles(item.amount)} would assign more than notice "
                f"{notice.guid} paid: {format_roubles(notice.amount)}, of which "
                f"{format_roubles(done)} is already acknowledged.",
            )
        paid = self.charge_acknowledged.get(charge.guid, 0)
        if paid + item.amount > charge.amount_due:
            raise ItemError(
                Code.ACK_OVER_CHARGE,
                f"Acknowledging {format_roubles(item.amount)} would assign more than charge "
                f"{charge.ack_slot} of {doc.payment_document_id} is due: "
                f"{format_roubles(charge.amount_due)}, of which {format_roubles(paid)} is "
                "already acknowledged.",
            )
        self.notice_acknowledged[notice.guid] = done + item.amount
        self.charge_acknowledged[charge.guid] = paid + item.amount
        for active in self.active.get(notice.guid, []):  # a match clears "impossible"
            if _value(active, "kind") == "impossible":
                self._cancel(active, "superseded")
        self._add(item, notice, "payment", doc, charge)
        return notice.guid

    def impossible(self, item: _Ack) -> str:
        if item.transport_guid in self.made:  # replayed
            return self.made[item.transport_guid].notice_guid
        notice = self.notice(item.notice)
        doc = self.document(item.payment_document_id, notice) if item.payment_document_id else None
        done = self.notice_acknowledged.get(notice.guid, 0)
        if done:
            raise ItemError(
                Code.ACK_IMPOSSIBLE_AFTER_ACK,
                f"Notice {notice.guid} has {format_roubles(done)} acknowledged; cancel those "
                "acknowledgments (AckCancellation) before marking it impossible to match.",
            )
        if not any(_value(a, "kind") == "impossible" for a in self.active.get(notice.guid, [])):
            self._add(item, notice, "impossible", doc, None)
        return notice.guid

    def cancel(self, item: _Ack) -> str:
        ref = item.notice
        found = self.by_guid.get(ref.guid or "") or self.by_order.get(
            (ref.org_guid or "", ref.order_id or "")
        )
        doc = self.documents.get(item.payment_document_id or "")
        if found and doc and (found.guid, doc.guid) in self.undone:  # replayed
            return found.guid
        notice = self.notice(item.notice)
        if doc is None:
            raise ItemError(
                Code.NOT_FOUND, f"No payment document {item.payment_document_id} is placed."
            )
        if doc.org_guid != self.ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED,
                f"Payment document {item.payment_document_id} was placed by another organisation.",
            )
        if doc.withdrawn:
            raise ItemError(
                Code.DOCUMENT_WITHDRAWN,
                f"Payment document {item.payment_document_id} is withdrawn.",
            )
        matching = [
            a for a in self.active.get(notice.guid, []) if _value(a, "document_guid") == doc.guid
        ]
        if not matching:
            raise ItemError(
                Code.ACK_NOTHING_TO_CANCEL,
                f"Notice {notice.guid} has no active acknowledgment against payment document "
                f"{doc.payment_document_id}.",
            )
        for active in matching:
            amount = int(_value(active, "amount"))
            if _value(active, "kind") == "payment":
                charge = str(_value(active, "charge_guid"))
                self.notice_acknowledged[notice.guid] = (
                    self.notice_acknowledged.get(notice.guid, 0) - amount
                )
                self.charge_acknowledged[charge] = self.charge_acknowledged.get(charge, 0) - amount
            self._cancel(active, "ack-cancellation")
        return notice.guid

    # --- bookkeeping ---
    def _add(
        self,
        item: _Ack,
        notice: PaymentNotice,
        kind: str,
        doc: PaymentDocument | None,
        charge: PaymentCharge | None,
    ) -> None:
        row = {
            "guid": str(uuid.uuid4()),
            "notice_guid": notice.guid,
            "org_guid": self.ctx.org_guid,
            "kind": kind,
            "document_guid": doc.guid if doc else None,
            "charge_guid": charge.guid if charge else None,
            "amount": item.amount if kind == "payment" else 0,
            "ack_kind": item.kind,
            "ack_code": item.code,
            "ack_guid": item.ref_guid,
            "ack_name": item.name,
            "delay_year": item.delay[0] if item.delay else None,
            "delay_month": item.delay[1] if item.delay else None,
            "period_year": item.cr_period[0] if item.cr_period else None,
            "period_month": item.cr_period[1] if item.cr_period else None,
            "reason": item.reason,
            "cancelled": False,
            "cancel_reason": None,
            "cancelled_at": None,
            "cancelled_by": None,
            "message_guid": self.ctx.message_guid,
            "transport_guid": item.transport_guid,
            "created_at": self.ctx.now,
        }
        self.new_rows.append(row)
        self.active.setdefault(notice.guid, []).append(row)

    def _cancel(self, active: Any, reason: str) -> None:
        notice_guid = str(_value(active, "notice_guid"))
        self.active[notice_guid] = [a for a in self.active[notice_guid] if a is not active]
        if isinstance(active, dict):
            active.update(
                cancelled=True,
                cancel_reason=reason,
                cancelled_at=self.ctx.now,
                cancelled_by=self.ctx.message_guid,
            )
        else:
            self.cancelled[active.guid] = reason

    def write(self) -> None:
        by_reason: dict[str, list[str]] = {}
        for ack_guid, reason in self.cancelled.items():
            by_reason.setdefault(reason, []).append(ack_guid)
        for reason, guids in by_reason.items():
            repo.cancel_acknowledgments(
                self.ctx.session, guids, reason, self.ctx.now, self.ctx.message_guid
            )
        repo.insert_acknowledgments(self.ctx.session, self.new_rows)


def _value(ack: Any, name: str) -> Any:
    """A field of an acknowledgment: a stored row (model) or one added by this packet (dict)."""
    return ack[name] if isinstance(ack, dict) else getattr(ack, name)


def import_acknowledgment(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importAcknowledgmentRequest."""
    elements = children(request, "AcknowledgmentRequestInfo") + children(request, "AckCancellation")
    items: list[_Ack | tuple[str, ItemError]] = []
    for element in elements:
        try:
            items.append(_read(element))
        except ItemError as error:
            items.append((text(element, "TransportGUID") or "", error))
    packet = _Packet(ctx, [i for i in items if isinstance(i, _Ack)])
    results = etree.Element("results")
    for it in items:
        if isinstance(it, tuple):
            failure(results, BILLS, it[0], it[1])
            continue
        action = (
            packet.cancel
            if it.cancellation
            else packet.impossible
            if it.impossible
            else packet.acknowledge
        )
        try:
            notice_guid = action(it)
        except ItemError as error:
            failure(results, BILLS, it.transport_guid, error)
            continue
        success(results, BILLS, it.transport_guid, notice_guid, ctx.now)
    packet.write()
    return HandlerResult(list(results))

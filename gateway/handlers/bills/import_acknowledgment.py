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
that cancelled it). A forced replay of a processed packet (``gateway packets replay --force``)
answers the same results and changes nothing (``gateway.imports.pipeline``): money is never
acknowledged twice.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
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
from gateway.handlers.bills.common import period_of, period_text, rouble_kopecks
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import BILLS
from persistence import payments as repo
from persistence.models import PaymentAcknowledgment
from persistence.payments import ActiveAck, format_roubles

_KINDS = ("HSType", "MSType", "ASType", "PServiceType", "TMSType")


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRef:
    guid: str | None
    order_id: str | None
    org_guid: str | None

    def __str__(self) -> str:
        if self.guid:
            return f"notice {self.guid}"
        return f"order {self.order_id} of organisation {self.org_guid}"


@dataclass(frozen=True)
class Ack:
    """One AcknowledgmentRequestInfo (a payment matched, or impossible) or AckCancellation."""

    transport_guid: str
    notice: NoticeRef
    payment_document_id: str | None
    impossible: bool = False
    cancellation: bool = False
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


def _read(element: etree._Element) -> Ack:
    item = Ack(
        transport_guid=text(element, "TransportGUID") or "",
        notice=NoticeRef(
            guid=guid(element, "NotificationsOfOrderExecutionGUID"),
            order_id=text(element, "OrderID") or text(element, "OrderIDMultipurpose"),
            org_guid=guid(element, "orgPPAGUID"),
        ),
        payment_document_id=None,
        delay=period_of(element, "DelayPeriod"),
    )
    if local(element) == "AckCancellation":
        return replace(
            item, cancellation=True, payment_document_id=text(element, "PaymentDocumentID")
        )
    impossible = child(element, "AckImpossible")
    if impossible is not None:
        return replace(
            item,
            impossible=True,
            payment_document_id=text(impossible, "PaymentDocumentID"),
            reason=text(impossible, "Reason"),
        )
    ack = required(element, "PaymentDocumentAck")
    kind_element = next(c for c in ack if isinstance(c.tag, str) and local(c) in _KINDS)
    kind = local(kind_element)
    if kind in ("PServiceType", "TMSType"):
        code, ref_guid = nsi_ref(ack, kind)
        short, name, key = (
            ("PS" if kind == "PServiceType" else "TMS"),
            text(kind_element, "Name"),
            code,
        )
    else:
        code, ref_guid = None, guid(ack, kind)
        short, name, key = kind[:2], None, ref_guid
    details = child(ack, "PaymentInformation")
    sent: tuple[str, str] | str | None = None
    if details is not None:
        sent = guid(details, "PaymentInformationGuid") or (
            text(details, "BankBIK") or "",
            text(details, "operatingAccountNumber") or "",
        )
    return replace(
        item,
        payment_document_id=text(ack, "PaymentDocumentID"),
        amount=rouble_kopecks(ack, "Amount") or 0,
        details=sent,
        cr_period=period_of(ack, "CapitalRepairYearAckPeriod"),
        kind=short,
        key=key,
        code=code,
        ref_guid=ref_guid,
        name=name,
    )


# --- prefetch -----------------------------------------------------------------------------


@dataclass
class Packet:
    """Notices, documents, charges and acknowledged sums of the packet, read (and locked)
    once, kept current as items succeed."""

    by_guid: dict[str, Any]  # notice rows by GUID
    by_order: dict[tuple[str, str], Any]  # notice rows by (poster, OrderID)
    documents: dict[str, repo.DocState]  # by PaymentDocumentID
    charges: dict[str, list[Any]]  # document GUID ► its current charge rows
    details: dict[str, Any]  # details GUID ► payment details row
    notice_acknowledged: dict[str, int]
    charge_acknowledged: dict[str, int]
    active: dict[str, list[ActiveAck]]  # notice ► its active acknowledgments
    new: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows this packet inserts


# --- rules --------------------------------------------------------------------------------


def _notice(ctx: HandlerContext, state: Packet, ref: NoticeRef) -> Any:
    found = (
        state.by_guid.get(ref.guid)
        if ref.guid
        else state.by_order.get((ref.org_guid or "", ref.order_id or ""))
    )
    if found is None:
        raise ItemError(Code.NOT_FOUND, f"No payment notice: {ref} is not registered.")
    if found.payee_org_guid != ctx.org_guid:
        raise ItemError(
            Code.NOT_ALLOWED, f"Payment notice {found.guid} is a payment to another organisation."
        )
    if found.cancelled:
        raise ItemError(
            Code.ACK_NOTICE_CANCELLED,
            f"Payment notice {found.guid} (order {found.order_id}) was cancelled on "
            f"{found.cancellation_date}; a cancelled notice is not acknowledged (its "
            "acknowledgments were cancelled with it).",
        )
    return found


def _document(
    ctx: HandlerContext, state: Packet, payment_document_id: str | None, notice: Any
) -> repo.DocState:
    doc = state.documents.get(payment_document_id or "")
    if doc is None:
        raise ItemError(Code.NOT_FOUND, f"No payment document {payment_document_id} is placed.")
    if doc.org_guid != ctx.org_guid:
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


def _charge(state: Packet, doc: repo.DocState, item: Ack) -> Any:
    base = f"{item.kind}:{item.key}"
    lines = state.charges.get(doc.guid, [])
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


def _check_details(state: Packet, charge: Any, item: Ack) -> None:
    if item.details is None:
        return
    details = state.details.get(charge.details_guid or "")
    if isinstance(item.details, str):
        same = details is not None and details.guid == item.details
    else:
        same = details is not None and (details.bik, details.operating_account) == item.details
    if not same:
        have = (
            f"{details.bik} / {details.operating_account} ({details.guid})" if details else "none"
        )
        raise ItemError(
            Code.ACK_DETAILS_DIFFER,
            f"PaymentInformation {item.details} is not the payment details of the charge "
            f"{charge.ack_slot} ({have}).",
        )


def _acknowledge(ctx: HandlerContext, state: Packet, item: Ack, changes: Changes) -> Done:
    notice = _notice(ctx, state, item.notice)
    doc = _document(ctx, state, item.payment_document_id, notice)
    if item.amount <= 0:
        raise ItemError(
            Code.ACK_AMOUNT_NOT_POSITIVE, "Amount of an acknowledgment must be above zero."
        )
    charge = _charge(state, doc, item)
    _check_details(state, charge, item)
    done = state.notice_acknowledged.get(notice.guid, 0)
    if done + item.amount > notice.amount:
        raise ItemError(
            Code.ACK_OVER_NOTICE,
            f"Acknowledging {format_roubles(item.amount)} would assign more than notice "
            f"{notice.guid} paid: {format_roubles(notice.amount)}, of which "
            f"{format_roubles(done)} is already acknowledged.",
        )
    paid = state.charge_acknowledged.get(charge.guid, 0)
    if paid + item.amount > charge.amount_due:
        raise ItemError(
            Code.ACK_OVER_CHARGE,
            f"Acknowledging {format_roubles(item.amount)} would assign more than charge "
            f"{charge.ack_slot} of {doc.payment_document_id} is due: "
            f"{format_roubles(charge.amount_due)}, of which {format_roubles(paid)} is "
            "already acknowledged.",
        )
    state.notice_acknowledged[notice.guid] = done + item.amount
    state.charge_acknowledged[charge.guid] = paid + item.amount
    for active in list(state.active.get(notice.guid, [])):  # a match clears "impossible"
        if active.kind == "impossible":
            _cancel(ctx, state, changes, active, "superseded")
    _add(ctx, state, changes, item, notice, "payment", doc, charge)
    return Done(notice.guid)


def _impossible(ctx: HandlerContext, state: Packet, item: Ack, changes: Changes) -> Done:
    notice = _notice(ctx, state, item.notice)
    doc = (
        _document(ctx, state, item.payment_document_id, notice)
        if item.payment_document_id
        else None
    )
    done = state.notice_acknowledged.get(notice.guid, 0)
    if done:
        raise ItemError(
            Code.ACK_IMPOSSIBLE_AFTER_ACK,
            f"Notice {notice.guid} has {format_roubles(done)} acknowledged; cancel those "
            "acknowledgments (AckCancellation) before marking it impossible to match.",
        )
    if not any(a.kind == "impossible" for a in state.active.get(notice.guid, [])):
        _add(ctx, state, changes, item, notice, "impossible", doc, None)
    return Done(notice.guid)


def _cancel_acks(ctx: HandlerContext, state: Packet, item: Ack, changes: Changes) -> Done:
    notice = _notice(ctx, state, item.notice)
    doc = state.documents.get(item.payment_document_id or "")
    if doc is None:
        raise ItemError(
            Code.NOT_FOUND, f"No payment document {item.payment_document_id} is placed."
        )
    if doc.org_guid != ctx.org_guid:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"Payment document {item.payment_document_id} was placed by another organisation.",
        )
    if doc.withdrawn:
        raise ItemError(
            Code.DOCUMENT_WITHDRAWN, f"Payment document {item.payment_document_id} is withdrawn."
        )
    matching = [a for a in state.active.get(notice.guid, []) if a.document_guid == doc.guid]
    if not matching:
        raise ItemError(
            Code.ACK_NOTHING_TO_CANCEL,
            f"Notice {notice.guid} has no active acknowledgment against payment document "
            f"{doc.payment_document_id}.",
        )
    for active in matching:
        if active.kind == "payment" and active.charge_guid is not None:
            state.notice_acknowledged[notice.guid] = (
                state.notice_acknowledged.get(notice.guid, 0) - active.amount
            )
            state.charge_acknowledged[active.charge_guid] = (
                state.charge_acknowledged.get(active.charge_guid, 0) - active.amount
            )
        _cancel(ctx, state, changes, active, "ack-cancellation")
    return Done(notice.guid)


def _add(
    ctx: HandlerContext,
    state: Packet,
    changes: Changes,
    item: Ack,
    notice: Any,
    kind: str,
    doc: repo.DocState | None,
    charge: Any,
) -> None:
    ack_guid = str(uuid.uuid4())
    amount = item.amount if kind == "payment" else 0
    row = changes.insert(
        PaymentAcknowledgment,
        {
            "guid": ack_guid,
            "notice_guid": notice.guid,
            "org_guid": ctx.org_guid,
            "kind": kind,
            "document_guid": doc.guid if doc else None,
            "charge_guid": charge.guid if charge else None,
            "amount": amount,
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
            "message_guid": ctx.message_guid,
            "transport_guid": item.transport_guid,
            "created_at": ctx.now,
        },
    )
    state.new[ack_guid] = row
    state.active.setdefault(notice.guid, []).append(
        ActiveAck(
            ack_guid,
            notice.guid,
            kind,
            doc.guid if doc else None,
            charge.guid if charge else None,
            amount,
        )
    )


def _cancel(
    ctx: HandlerContext, state: Packet, changes: Changes, active: ActiveAck, reason: str
) -> None:
    state.active[active.notice_guid] = [
        a for a in state.active[active.notice_guid] if a.guid != active.guid
    ]
    values = {
        "cancelled": True,
        "cancel_reason": reason,
        "cancelled_at": ctx.now,
        "cancelled_by": ctx.message_guid,
    }
    row = state.new.get(active.guid)
    if row is not None:  # made by this packet: it is inserted cancelled
        row.update(values)
    else:
        changes.update(PaymentAcknowledgment, {"guid": active.guid}, values)


# --- the import ---------------------------------------------------------------------------


class ImportAcknowledgments(ImportBase[Ack, Packet]):
    answer = Answer(BILLS)
    nsi_books = {"PServiceType": 329}  # penalties and court costs

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Ack]]:
        elements = children(request, "AcknowledgmentRequestInfo") + children(
            request, "AckCancellation"
        )
        for element in elements:
            transport_guid = text(element, "TransportGUID") or ""
            try:
                yield Item(transport_guid, _read(element))
            except ItemError as error:
                yield Item(transport_guid, unreadable=error)

    def prefetch(self, ctx: HandlerContext, records: Sequence[Ack]) -> Packet:
        session = ctx.session
        by_guid = repo.notice_rows_by_guids(
            session, [i.notice.guid for i in records if i.notice.guid], lock=True
        )
        by_order = repo.notice_rows_by_orders(
            session,
            [
                (i.notice.org_guid, i.notice.order_id)
                for i in records
                if i.notice.order_id and i.notice.org_guid
            ],
            lock=True,
        )
        notices = {n.guid for n in (*by_guid.values(), *by_order.values())}
        documents = repo.documents_to_change(
            session, [i.payment_document_id for i in records if i.payment_document_id], lock=True
        )
        doc_guids = [d.guid for d in documents.values()]
        charges = repo.charge_rows(session, doc_guids)
        return Packet(
            by_guid=by_guid,
            by_order=by_order,
            documents=documents,
            charges=charges,
            details={d.guid: d for d in repo.details_rows(session, doc_guids)},
            notice_acknowledged=repo.acknowledged_by(session, "notice", notices),
            charge_acknowledged=repo.acknowledged_by(
                session, "charge", [c.guid for rows in charges.values() for c in rows]
            ),
            active=repo.active_acks(session, notices),
        )

    def decide(self, ctx: HandlerContext, state: Packet, record: Ack, changes: Changes) -> Done:
        if record.cancellation:
            return _cancel_acks(ctx, state, record, changes)
        if record.impossible:
            return _impossible(ctx, state, record, changes)
        return _acknowledge(ctx, state, record, changes)


IMPORT = ImportAcknowledgments()


def import_acknowledgment(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importAcknowledgmentRequest."""
    return run_import(IMPORT, ctx, request)

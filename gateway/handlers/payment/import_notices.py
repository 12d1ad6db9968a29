"""importNotificationsOfOrderExecution: a bank's notices of payments it accepted.

Up to 500 notices per packet, NotificationOfOrderExecutionType (payer, payee with its payment
details, the order) or NotificationOfOrderExecution139Type (order with ServiceID + GUID or
PaymentDocumentID + GUID). Only a bank posts these: the operation is registered for role
``bank``, so anyone else is refused at the door (Fault AUT011003). Each notice answers one
ImportResult: GUID = NotificationsOfOrderExecutionGUID, UniqueNumber = its OrderID.

Amounts are whole kopecks on the wire and in the store. What the payment is for is resolved
to an account and, when the period or the PaymentDocumentID says so, a document: by
PaymentDocumentID, UnifiedAccountNumber, Service/ServiceID, or AddressAndConsumer/FIASHouseGuid
with AccountNumber; with an account and a period (Year, Month) the account's placed document
of that period is linked too. The account's keeper is the payee: it exports the notice and
acknowledges it.

The same order posted twice is one notice: OrderID is unique per posting organisation; a
repost with the same amount, date and references answers the existing notice's GUID.

Rules (per notice):
  at least one reference to a document or account (HCS005001); each exists (INT002000); the
  PaymentDocumentID is not withdrawn (SRV008070); the references agree with each other, with
  the document's period and with the GUIDs of a p.139 notice (HCS005002); a house and account
  number name exactly one account (HCS005006)
  OrderID already used by the sender for another payment (HCS005003), or for a notice that was
  cancelled: a cancelled notice is final (HCS005004)
  OrderDate not in the future (HCS005005)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    child,
    guid,
    local,
    text,
)
from gateway.handlers.bills.common import (
    latest_today,
    period_of,
    period_text,
    whole_kopecks,
    year_month,
)
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import PAYMENT
from persistence import payments as repo
from persistence.models import Account, PaymentDocument, PaymentNotice


@dataclass(frozen=True)
class Reference:
    """What a notice says was paid."""

    payment_document_id: str | None = None
    document_number: str | None = None
    unified_number: str | None = None
    service_id: str | None = None
    account_number: str | None = None
    fias_house_guid: str | None = None
    period: tuple[int, int] | None = None
    document_guid: str | None = None  # p.139: PaymentDocumentGUID
    account_guid: str | None = None  # p.139: ServiceIDGUID (one service per account here)


@dataclass(frozen=True)
class Notice:
    """One notice as read from the packet (kopecks)."""

    transport_guid: str
    order_id: str
    order_date: date
    amount: int
    ref: Reference
    source: str
    values: Mapping[str, Any] = field(default_factory=dict)  # payer, payee, order extras


def _fio(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    parts = [text(element, n) for n in ("Surname", "FirstName", "Patronymic")]
    return " ".join(p for p in parts if p) or None


def _read_standard(element: etree._Element) -> Notice:
    order = child(element, "OrderInfo")
    payer = child(element, "SupplierInfo")
    recipient = child(element, "RecipientInfo")
    legal = child(recipient, "Legal")
    details = child(recipient, "PaymentInformation")
    address = child(order, "AddressAndConsumer")
    ref = Reference(
        payment_document_id=text(order, "PaymentDocumentID"),
        document_number=text(order, "PaymentDocumentNumber"),
        unified_number=text(order, "UnifiedAccountNumber"),
        service_id=text(child(order, "Service"), "ServiceID"),
        account_number=text(order, "AccountNumber"),
        fias_house_guid=guid(address, "FIASHouseGuid"),
        period=year_month(order),
    )
    values = {
        "order_num": text(order, "OrderNum"),
        "payment_purpose": text(order, "PaymentPurpose"),
        "online_payment": bool(boolean(order, "OnlinePayment")),
        "comment": text(order, "Comment"),
        "payer_id": text(payer, "SupplierID"),
        "payer_name": text(payer, "SupplierName"),
        "recipient_inn": text(recipient, "INN"),
        "recipient_kpp": text(legal, "KPP"),
        "recipient_name": text(legal, "Name")
        or text(recipient, "EntprFIO")
        or _fio(child(recipient, "Entpr")),
        "recipient_is_legal": legal is not None,
        "bank_name": text(details, "BankName"),
        "payment_recipient": text(details, "PaymentRecipient"),
        "bik": text(details, "BankBIK"),
        "operating_account": text(details, "operatingAccountNumber"),
        "correspondent_account": text(details, "CorrespondentBankAccount"),
        "kbk": text(details, "KBK"),
        "oktmo": text(details, "OKTMO"),
        "budgetary_account": text(details, "NumberBudgetaryAccount"),
    }
    return Notice(
        transport_guid=text(element, "TransportGUID") or "",
        order_id=text(order, "OrderID") or "",
        order_date=date.fromisoformat(text(order, "OrderDate") or ""),
        amount=whole_kopecks(order, "Amount") or 0,
        ref=ref,
        source="bank",
        values=values,
    )


def _read_139(element: etree._Element) -> Notice:
    order = child(element, "OrderInfo")
    ref = Reference(
        payment_document_id=text(order, "PaymentDocumentID"),
        service_id=text(order, "ServiceID"),
        period=period_of(order, "MonthAndYear"),
        document_guid=guid(order, "PaymentDocumentGUID"),
        account_guid=guid(order, "ServiceIDGUID"),
    )
    return Notice(
        transport_guid=text(element, "TransportGUID") or "",
        order_id=text(order, "OrderID") or "",
        order_date=date.fromisoformat(text(order, "OrderDate") or ""),
        amount=whole_kopecks(order, "Amount") or 0,
        ref=ref,
        source="bank139",
        values={"online_payment": bool(boolean(order, "OnlinePayment"))},
    )


class Resolver:
    """Finds what notices pay for: every reference of the packet looked up at once."""

    def __init__(self, ctx: HandlerContext, refs: Sequence[Reference]) -> None:
        session = ctx.session
        self.documents = repo.documents_by_ids(
            session, [r.payment_document_id for r in refs if r.payment_document_id]
        )
        self.by_unified = repo.accounts_by(
            session, "unique_number", [r.unified_number for r in refs if r.unified_number]
        )
        self.by_service = repo.accounts_by(
            session, "service_id", [r.service_id for r in refs if r.service_id]
        )
        self.by_house = repo.accounts_by_house_and_number(
            session,
            [
                (r.fias_house_guid, r.account_number)
                for r in refs
                if r.fias_house_guid and r.account_number
            ],
        )
        doc_accounts = {d.account_guid for d in self.documents.values()}
        self.by_guid = repo.accounts_by(session, "guid", doc_accounts)
        named = [
            *self.by_unified.values(),
            *self.by_service.values(),
            *(a for found in self.by_house.values() for a in found),
        ]
        self.placed = repo.placed_documents_for(
            session, [(a.guid, *r.period) for r in refs if r.period for a in named]
        )

    def resolve(self, ref: Reference) -> tuple[Account, PaymentDocument | None]:
        if not (
            ref.payment_document_id
            or ref.unified_number
            or ref.service_id
            or (ref.fias_house_guid and ref.account_number)
        ):
            raise ItemError(
                Code.NOTICE_NO_REFERENCE,
                "The notice names no payment document or account: send PaymentDocumentID, "
                "UnifiedAccountNumber, Service/ServiceID or AddressAndConsumer/FIASHouseGuid "
                "with AccountNumber.",
            )
        accounts: list[tuple[str, Account]] = []
        doc = None
        if ref.payment_document_id:
            doc = self.documents.get(ref.payment_document_id)
            if doc is None:
                raise ItemError(
                    Code.NOT_FOUND, f"No payment document {ref.payment_document_id} is placed."
                )
            if doc.withdrawn:
                raise ItemError(
                    Code.DOCUMENT_WITHDRAWN,
                    f"Payment document {ref.payment_document_id} was withdrawn by the payee.",
                )
            if ref.document_guid and ref.document_guid != doc.guid:
                raise ItemError(
                    Code.NOTICE_REFERENCES_DISAGREE,
                    f"PaymentDocumentGUID {ref.document_guid} is not the GUID of payment document "
                    f"{ref.payment_document_id}.",
                )
            if ref.period and ref.period != (doc.year, doc.month):
                raise ItemError(
                    Code.NOTICE_REFERENCES_DISAGREE,
                    f"Payment document {ref.payment_document_id} is for "
                    f"{period_text((doc.year, doc.month))}, not {period_text(ref.period)}.",
                )
            accounts.append(("PaymentDocumentID", self.by_guid[doc.account_guid]))
        for label, value, table in (
            ("UnifiedAccountNumber", ref.unified_number, self.by_unified),
            ("ServiceID", ref.service_id, self.by_service),
        ):
            if value:
                account = table.get(value)
                if account is None:
                    raise ItemError(
                        Code.NOT_FOUND, f"No account with {label} {value} is registered."
                    )
                accounts.append((label, account))
        if ref.fias_house_guid and ref.account_number:
            found = self.by_house.get((ref.fias_house_guid, ref.account_number), [])
            if not found and not accounts:
                raise ItemError(
                    Code.NOT_FOUND,
                    f"No account {ref.account_number} in house {ref.fias_house_guid} is registered.",
                )
            if len(found) > 1 and not accounts:
                raise ItemError(
                    Code.NOTICE_AMBIGUOUS_ACCOUNT,
                    f"Account number {ref.account_number} in house {ref.fias_house_guid} names "
                    f"{len(found)} accounts; send UnifiedAccountNumber or PaymentDocumentID.",
                )
            if len(found) == 1:
                accounts.append(("FIASHouseGuid and AccountNumber", found[0]))
        label, account = accounts[0]
        for other_label, other in accounts[1:]:
            if other.guid != account.guid:
                raise ItemError(
                    Code.NOTICE_REFERENCES_DISAGREE,
                    f"{label} names account {account.unique_number}, {other_label} names "
                    f"account {other.unique_number}.",
                )
        if ref.account_guid and ref.account_guid != account.guid:
            raise ItemError(
                Code.NOTICE_REFERENCES_DISAGREE,
                f"ServiceIDGUID {ref.account_guid} is not the GUID of the service {ref.service_id} "
                f"(account {account.guid}).",
            )
        if doc is None and ref.period:
            doc = self.placed.get((account.guid, *ref.period))
        return account, doc


def notice_row(
    ctx: HandlerContext, notice: Notice, account: Account, doc: PaymentDocument | None
) -> dict[str, Any]:
    ref = notice.ref
    return {
        "guid": str(uuid.uuid4()),
        "org_guid": ctx.org_guid,
        "source": notice.source,
        "order_id": notice.order_id,
        "order_date": notice.order_date,
        "amount": notice.amount,
        "ref_payment_document_id": ref.payment_document_id,
        "ref_payment_document_number": ref.document_number,
        "ref_unified_account_number": ref.unified_number,
        "ref_service_id": ref.service_id,
        "ref_account_number": ref.account_number,
        "ref_fias_house_guid": ref.fias_house_guid,
        "year": ref.period[0] if ref.period else (doc.year if doc else None),
        "month": ref.period[1] if ref.period else (doc.month if doc else None),
        "account_guid": account.guid,
        "document_guid": doc.guid if doc else None,
        "payee_org_guid": account.org_guid,
        "cancelled": False,
        "message_guid": ctx.message_guid,
        "created_at": ctx.now,
        **{"online_payment": False, **notice.values},
    }


def check_order_date(ctx: HandlerContext, notice: Notice) -> None:
    if notice.order_date > latest_today(ctx.now):
        raise ItemError(Code.NOTICE_BAD_DATE, f"OrderDate {notice.order_date} is in the future.")


@dataclass(frozen=True)
class Posted:
    """A notice the sender posted under an OrderID (stored, or by an earlier item)."""

    guid: str
    cancelled: bool
    sent: tuple[Any, ...]  # amount, date and what was paid: a repost must match them
    period: tuple[int | None, int | None]


def _posted(row: Any) -> Posted:
    sent = (
        row.amount,
        row.order_date,
        row.ref_payment_document_id,
        row.ref_unified_account_number,
        row.ref_service_id,
    )
    return Posted(row.guid, row.cancelled, sent, (row.year, row.month))


def _repost(existing: Posted, notice: Notice) -> str:
    """The same OrderID again: the same notice if it is the same payment, else refused."""
    if existing.cancelled:
        raise ItemError(
            Code.NOTICE_CANCELLED,
            f"The notice of order {notice.order_id} ({existing.guid}) was cancelled; a cancelled "
            "notice is final: post the payment again under a new OrderID.",
        )
    ref = notice.ref
    sent = (
        notice.amount,
        notice.order_date,
        ref.payment_document_id,
        ref.unified_number,
        ref.service_id,
    )
    if sent != existing.sent or (ref.period is not None and ref.period != existing.period):
        raise ItemError(
            Code.NOTICE_ORDER_REUSED,
            f"OrderID {notice.order_id} is already posted as notice {existing.guid} with other "
            "data (amount, date or what was paid); the same order is one notice.",
        )
    return existing.guid


@dataclass
class Packet:
    resolver: Resolver
    posted: dict[str, Posted]  # OrderID ► the sender's notice


class ImportNotices(ImportBase[Notice, Packet]):
    answer = Answer(PAYMENT)

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Notice]]:
        for element in request:
            name = local(element) if isinstance(element.tag, str) else ""
            if name not in (
                "NotificationOfOrderExecutionType",
                "NotificationOfOrderExecution139Type",
            ):
                continue
            transport_guid = text(element, "TransportGUID") or ""
            read = _read_standard if name == "NotificationOfOrderExecutionType" else _read_139
            try:
                yield Item(transport_guid, read(element))
            except ItemError as error:
                yield Item(transport_guid, unreadable=error)

    def prefetch(self, ctx: HandlerContext, records: Sequence[Notice]) -> Packet:
        posted = repo.notice_rows_by_orders(
            ctx.session, [(ctx.org_guid, n.order_id) for n in records]
        )
        return Packet(
            Resolver(ctx, [n.ref for n in records]),
            {order: _posted(row) for (_, order), row in posted.items()},
        )

    def decide(self, ctx: HandlerContext, state: Packet, record: Notice, changes: Changes) -> Done:
        existing = state.posted.get(record.order_id)
        if existing is not None:
            return Done(_repost(existing, record), record.order_id)
        check_order_date(ctx, record)
        account, doc = state.resolver.resolve(record.ref)
        row = changes.insert(PaymentNotice, notice_row(ctx, record, account, doc))
        state.posted[record.order_id] = Posted(
            row["guid"],
            False,
            (
                record.amount,
                record.order_date,
                record.ref.payment_document_id,
                record.ref.unified_number,
                record.ref.service_id,
            ),
            (row["year"], row["month"]),
        )
        return Done(row["guid"], record.order_id)


IMPORT = ImportNotices()


def import_notices(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importNotificationsOfOrderExecutionRequest."""
    return run_import(IMPORT, ctx, request)

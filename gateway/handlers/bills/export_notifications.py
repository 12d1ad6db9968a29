"""exportNotificationsOfOrderExecution: notices of payments made to the sender, with their
acknowledgment state.

Only notices whose payee is the sender (the keeper of the account paid for) are exported,
in pages of at most 1000 (PageSize of the Paginal request, 100..1000) in GUID order (the paging
convention of persistence/paging.py): one exportNotificationsOfOrderExecutionResult, then
ExportNotificationsOfOrderExecutionGUID, the key of the next page, unless the page is the last;
the Paginal request sends that key back to get the next page (exportNotificationsOfOrderExecution
answers the first page). Nothing found is getStateResult/ErrorMessage INT002012. Filters:
  SupplierIDs/PaymentDocumentID: notices naming the sender's document and those acknowledged
  against it;
  SupplierIDs with an optional Year/Month and UnifiedAccountNumber, ServiceID, or FIASHouseGuid
  with AccountNumber (the account's notices) or PaymentDocumentNumber (as by document);
  Notifications/NotificationsOfOrderExecutionGUID: one notice;
  Notifications/DaysInterval + AckStatus + DateFrom: notices placed in the gateway during
  DaysInterval days from DateFrom (UTC) whose status is one of AckStatus.

Each notice carries: payer, payee and its payment details (bank notices), the order (amount in
kopecks; the document, period and account it was resolved to), AckStatus (0 new, 1 cancelled,
2 acknowledged in full, 3 partly, 5 impossible to match; derived from the active
acknowledgments), CreationDate, the active acknowledgments, AcknowledgmentAmount (kopecks), the
notice's GUID and the orgPPAGUID of the organisation that posted it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    child,
    children,
    guid,
    integer,
    required,
    sub,
    text,
)
from gateway.namespaces import ACCOUNT_BASE, BASE, BILLS, BILLS_BASE, NSI_BASE, PAYMENTS_BASE
from gateway.namespaces import ORGANIZATIONS_BASE as ORG_BASE
from persistence import payments as repo
from persistence.models import Account, PaymentAcknowledgment, PaymentDocument, PaymentNotice
from persistence.paging import PAGE_SIZE
from persistence.payments import NoticeFilter

_NSMAP = {
    "b": BILLS,
    "pb": PAYMENTS_BASE,
    "bb": BILLS_BASE,
    "ab": ACCOUNT_BASE,
    "ob": ORG_BASE,
    "nsi": NSI_BASE,
    "base": BASE,
}
_KIND_ELEMENTS = {"HS": "HSType", "MS": "MSType", "AS": "ASType"}


def _select(ctx: HandlerContext, request: etree._Element) -> tuple[NoticeFilter, set[int] | None]:
    """The request's filter, and the AckStatus values wanted (None: any)."""
    session, org = ctx.session, ctx.org_guid
    ids = child(request, "SupplierIDs")
    if ids is not None:
        year, month = integer(ids, "Year"), integer(ids, "Month")
        pd_id = text(ids, "PaymentDocumentID")
        if pd_id is not None:
            doc = repo.documents_by_ids(session, [pd_id]).get(pd_id)
            docs = [doc.guid] if doc is not None and doc.org_guid == org else []
            return NoticeFilter(org, document_guids=docs), None
        fias = guid(ids, "FIASHouseGuid")
        number = text(ids, "PaymentDocumentNumber")
        if fias is not None and number is not None:
            found = repo.documents_for_export(
                session,
                org,
                year=year,
                month=month,
                fias_house_guid=fias,
                document_numbers=[number],
            )
            return NoticeFilter(org, document_guids=[d.guid for d in found]), None
        accounts: list[Account] = []
        if fias is not None:
            pairs = repo.accounts_by_house_and_number(
                session, [(fias, text(ids, "AccountNumber") or "")]
            )
            accounts = [a for found in pairs.values() for a in found]
        for name, column in (
            ("UnifiedAccountNumber", "unique_number"),
            ("ServiceID", "service_id"),
        ):
            value = text(ids, name)
            if value is not None:
                accounts += list(repo.accounts_by(session, column, [value]).values())
        guids = [a.guid for a in accounts if a.org_guid == org]
        return NoticeFilter(org, account_guids=guids, year=year, month=month), None
    selection = required(request, "Notifications")
    notice_guid = guid(selection, "NotificationsOfOrderExecutionGUID")
    if notice_guid is not None:
        return NoticeFilter(org, notice_guid=notice_guid), None
    start = date.fromisoformat(text(selection, "DateFrom") or "")
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    days = integer(selection, "DaysInterval") or 1
    statuses = {int((e.text or "0").strip()) for e in children(selection, "AckStatus")}
    return NoticeFilter(
        org, created_from=begin, created_before=begin + timedelta(days=days)
    ), statuses


def _order(
    parent: etree._Element,
    notice: PaymentNotice,
    doc: PaymentDocument | None,
    account: Account | None,
) -> None:
    order = sub(parent, PAYMENTS_BASE, "OrderInfo")
    sub(order, PAYMENTS_BASE, "OrderID", notice.order_id)
    sub(order, PAYMENTS_BASE, "OrderDate", notice.order_date)
    if notice.order_num:
        sub(order, PAYMENTS_BASE, "OrderNum", notice.order_num)
    sub(order, PAYMENTS_BASE, "Amount", notice.amount)
    if notice.payment_purpose:
        sub(order, PAYMENTS_BASE, "PaymentPurpose", notice.payment_purpose)
    if notice.online_payment:
        sub(order, PAYMENTS_BASE, "OnlinePayment", True)
    if notice.comment:
        sub(order, PAYMENTS_BASE, "Comment", notice.comment)
    pd_id = doc.payment_document_id if doc else notice.ref_payment_document_id
    if pd_id:
        sub(order, BILLS_BASE, "PaymentDocumentID", pd_id)
    number = (doc.number if doc else None) or notice.ref_payment_document_number
    if number:
        sub(order, PAYMENTS_BASE, "PaymentDocumentNumber", number)
    if notice.year is not None and notice.month is not None:
        sub(order, BASE, "Year", notice.year)
        sub(order, BASE, "Month", notice.month)
    if account is not None:
        sub(order, ACCOUNT_BASE, "UnifiedAccountNumber", account.unique_number)
        service = sub(order, PAYMENTS_BASE, "Service")
        sub(service, PAYMENTS_BASE, "ServiceID", account.service_id)
    account_number = notice.ref_account_number or (account.account_number if account else None)
    if account_number:
        sub(order, PAYMENTS_BASE, "AccountNumber", account_number)


def _parties(parent: etree._Element, notice: PaymentNotice) -> None:
    if notice.payer_id or notice.payer_name:
        payer = sub(parent, PAYMENTS_BASE, "SupplierInfo")
        if notice.payer_id:
            sub(payer, PAYMENTS_BASE, "SupplierID", notice.payer_id)
        if notice.payer_name:
            sub(payer, PAYMENTS_BASE, "SupplierName", notice.payer_name)
    if not notice.recipient_inn:
        return
    recipient = sub(parent, PAYMENTS_BASE, "RecipientInfo")
    sub(recipient, ORG_BASE, "INN", notice.recipient_inn)
    if notice.recipient_is_legal and notice.recipient_kpp:
        legal = sub(recipient, PAYMENTS_BASE, "Legal")
        sub(legal, ORG_BASE, "KPP", notice.recipient_kpp)
        sub(legal, PAYMENTS_BASE, "Name", notice.recipient_name or "-")
    elif notice.recipient_name:
        sub(recipient, PAYMENTS_BASE, "EntprFIO", notice.recipient_name[:160])
    details = sub(recipient, PAYMENTS_BASE, "PaymentInformation")
    for name, value in (
        ("RecipientINN", notice.recipient_inn),
        ("RecipientKPP", notice.recipient_kpp),
        ("BankName", (notice.bank_name or "")[:160] or None),
        ("PaymentRecipient", notice.payment_recipient),
        ("BankBIK", notice.bik),
        ("operatingAccountNumber", notice.operating_account),
        ("CorrespondentBankAccount", notice.correspondent_account),
        ("KBK", notice.kbk),
        ("OKTMO", notice.oktmo),
        ("NumberBudgetaryAccount", notice.budgetary_account),
    ):
        if value:
            sub(details, PAYMENTS_BASE, name, value)


def _period(parent: etree._Element, name: str, year: int | None, month: int | None) -> None:
    if year is not None and month is not None:
        period = sub(parent, PAYMENTS_BASE, name)
        sub(period, BASE, "Year", year)
        sub(period, BASE, "Month", month)


def _acknowledgment(
    parent: etree._Element,
    notice: PaymentNotice,
    ack: PaymentAcknowledgment,
    documents: dict[str, PaymentDocument],
) -> None:
    request = sub(parent, BILLS, "AcknowledgmentRequest")
    sub(request, PAYMENTS_BASE, "NotificationsOfOrderExecutionGUID", notice.guid)
    doc = documents.get(ack.document_guid or "")
    if ack.kind == "impossible":
        impossible = sub(request, PAYMENTS_BASE, "AckImpossible")
        if doc is not None:
            sub(impossible, BILLS_BASE, "PaymentDocumentID", doc.payment_document_id)
        if ack.reason:
            sub(impossible, PAYMENTS_BASE, "Reason", ack.reason)
    else:
        matched = sub(request, PAYMENTS_BASE, "PaymentDocumentAck")
        sub(matched, BILLS_BASE, "PaymentDocumentID", doc.payment_document_id if doc else "")
        if ack.ack_kind in _KIND_ELEMENTS:
            sub(matched, PAYMENTS_BASE, _KIND_ELEMENTS[ack.ack_kind], ack.ack_guid or "")
        else:
            ref = sub(matched, PAYMENTS_BASE, "PServiceType" if ack.ack_kind == "PS" else "TMSType")
            sub(ref, NSI_BASE, "Code", ack.ack_code or "")
            sub(ref, NSI_BASE, "GUID", ack.ack_guid or "")
            if ack.ack_name:
                sub(ref, NSI_BASE, "Name", ack.ack_name)
        sub(matched, PAYMENTS_BASE, "Amount", repo.format_roubles(ack.amount))
        if doc is not None and doc.number:
            sub(matched, BILLS_BASE, "PaymentDocumentNumber", doc.number)
        _period(matched, "DelayPeriod", ack.delay_year, ack.delay_month)
        _period(matched, "CapitalRepairYearAckPeriod", ack.period_year, ack.period_month)
    sub(request, BILLS, "OrderID", notice.order_id)


def export_notifications(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportNotificationsOfOrderExecutionRequest: the first page of 1000 notices."""
    return _export(ctx, request, after=None, size=PAGE_SIZE)


def export_notifications_paginal(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportNotificationsOfOrderExecutionPaginalRequest: the page that starts at
    ExportNotificationsOfOrderExecutionGUID (the first page without it), PageSize notices
    (100..1000, default 1000)."""
    after = guid(request, "ExportNotificationsOfOrderExecutionGUID")
    return _export(ctx, request, after=after, size=integer(request, "PageSize") or PAGE_SIZE)


def _export(
    ctx: HandlerContext, request: etree._Element, *, after: str | None, size: int
) -> HandlerResult:
    session = ctx.session
    selection, statuses = _select(ctx, request)
    while True:
        notices, next_key = repo.notices_page(session, selection, after=after, size=size)
        active = repo.active_acknowledgments(session, [n.guid for n in notices])
        acknowledged = {
            n.guid: sum(a.amount for a in active.get(n.guid, []) if a.kind == "payment")
            for n in notices
        }
        status = {
            n.guid: repo.notice_status(
                n,
                acknowledged[n.guid],
                any(a.kind == "impossible" for a in active.get(n.guid, [])),
            )
            for n in notices
        }
        if statuses is not None:
            # filtered by AckStatus, a page may hold fewer than PageSize notices; the next
            # page's key is that of the unfiltered page, so none is skipped
            notices = [n for n in notices if status[n.guid] in statuses]
        if notices or next_key is None:
            break
        after = next_key  # a page with nothing to answer: go on to the next one
    if not notices:
        raise ExportError(Code.NOTHING_TO_EXPORT, "No payment notices to you match the request.")
    doc_guids = {n.document_guid for n in notices if n.document_guid}
    doc_guids |= {a.document_guid for acks in active.values() for a in acks if a.document_guid}
    documents = repo.documents_by_guids(session, doc_guids)
    accounts = repo.accounts_by(session, "guid", {n.account_guid for n in notices})
    result = etree.Element(
        etree.QName(BILLS, "exportNotificationsOfOrderExecutionResult"), nsmap=_NSMAP
    )
    for notice in notices:
        element = sub(result, BILLS, "NotificationOfOrderExecutionWithStatus")
        _parties(element, notice)
        _order(
            element,
            notice,
            documents.get(notice.document_guid or ""),
            accounts.get(notice.account_guid),
        )
        sub(element, BILLS, "AckStatus", status[notice.guid])
        sub(element, BILLS, "CreationDate", notice.created_at)
        requests = sub(element, BILLS, "AcknowledgmentRequestsList")
        for ack in active.get(notice.guid, []):
            _acknowledgment(requests, notice, ack, documents)
        sub(element, BILLS, "AcknowledgmentAmount", acknowledged[notice.guid])
        sub(element, PAYMENTS_BASE, "NotificationsOfOrderExecutionGUID", notice.guid)
        sub(element, BILLS, "orgPPAGUID", notice.org_guid)
    elements = [result]
    if next_key is not None:
        elements.append(
            etree.Element(etree.QName(BILLS, "ExportNotificationsOfOrderExecutionGUID"))
        )
        elements[-1].text = next_key
    return HandlerResult(elements)

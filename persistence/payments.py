"""Repository of the money path: payment documents, payment notices, acknowledgments.

Every query of importPaymentDocumentData, exportPaymentDocumentData,
exportNotificationsOfOrderExecution, importAcknowledgment and the payment service's notice
imports lives here. Lookups take whole lists (chunked ``IN``), so a packet costs a handful of
queries however many items it has.

Money: amounts are stored in whole KOPECKS (integers). :func:`to_kopecks` turns a wire
Decimal in roubles into kopecks exactly (a value with more than 2 fraction digits is refused,
never rounded); :func:`roubles` turns kopecks back into a Decimal with 2 fraction digits.

Paid state is derived, never stored: the paid amount of a charge, a document or a notice is
the sum of its active (not cancelled) acknowledgments, computed by :func:`acknowledged_by`.
The handlers that change acknowledgments lock the notices and documents they touch
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer), so two workers cannot both
spend the same remainder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from persistence.models import (
    Account,
    AccountPlace,
    House,
    PaymentAcknowledgment,
    PaymentCharge,
    PaymentDocument,
    PaymentDocumentDetails,
    PaymentNotice,
)
from persistence.paging import PAGE_SIZE, keyset_page
from persistence.sets import where_in

T = TypeVar("T")
_Ts = TypeVarTuple("_Ts")
_CHUNK = 500

# --- money ----------------------------------------------------------------------------------

KOPECKS_PER_ROUBLE = 100


def to_kopecks(roubles_value: Decimal) -> int:
    """Roubles (a Decimal with at most 2 fraction digits) ► whole kopecks, exactly."""
    kopecks = roubles_value * KOPECKS_PER_ROUBLE
    if kopecks != kopecks.to_integral_value():
        raise ValueError(f"{roubles_value} has more than 2 fraction digits (kopecks)")
    return int(kopecks)


def roubles(kopecks: int) -> Decimal:
    """Whole kopecks ► roubles as a Decimal with exactly 2 fraction digits."""
    return Decimal(kopecks).scaleb(-2).quantize(Decimal("0.01"))


def format_roubles(kopecks: int) -> str:
    """Kopecks as the wire writes roubles: ``1234.50``, ``-0.05``, ``0.00``."""
    return f"{roubles(kopecks):f}"


# --- PaymentDocumentID ----------------------------------------------------------------------
#
# PaymentDocumentID (18 characters) = UnifiedAccountNumber (10) "-" NN "-" MMYY:
#   the account's unified number, a 2-digit ordinal of the document among the account's
#   documents with the same MMYY (01 for the first, 02 for a document placed after the first
#   was withdrawn, … up to 99), and the period's month and 2-digit year. The first document of
#   an account for a period therefore reads like the account's ServiceID ("…-01") followed by
#   the period. The ordinal is taken over every document (withdrawn ones too) with the same
#   account and MMYY, so an identifier is never reused; the column is unique as the last guard.

MAX_ORDINAL = 99


def payment_document_id(unified_number: str, ordinal: int, year: int, month: int) -> str:
    if not 1 <= ordinal <= MAX_ORDINAL:
        raise OverflowError(f"document ordinal {ordinal} does not fit 2 digits")
    return f"{unified_number}-{ordinal:02d}-{month:02d}{year % 100:02d}"


def period_suffix(year: int, month: int) -> str:
    return f"-{month:02d}{year % 100:02d}"


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


def _locked(query: Select[*_Ts], lock: bool) -> Select[*_Ts]:
    return query.with_for_update() if lock else query


# --- accounts the money path refers to ------------------------------------------------------


def accounts_by(session: Session, column: str, values: Iterable[str]) -> dict[str, Account]:
    """Accounts by ``guid``, ``unique_number`` or ``service_id``, keyed by that value."""
    attribute = getattr(Account, column)
    found: dict[str, Account] = {}
    for chunk in _chunks(values):
        for account in session.scalars(select(Account).where(attribute.in_(chunk))):
            found[getattr(account, column)] = account
    return found


def accounts_by_house_and_number(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Account]]:
    """(FIASHouseGuid, AccountNumber) ► the accounts with that number and a place in that house."""
    wanted = list(dict.fromkeys(pairs))
    found: dict[tuple[str, str], list[Account]] = {}
    for start in range(0, len(wanted), 250):
        chunk = wanted[start : start + 250]
        rows = session.execute(
            select(House.fias_house_guid, Account)
            .join(AccountPlace, AccountPlace.account_guid == Account.guid)
            .join(House, House.guid == AccountPlace.house_guid)
            .where(
                House.fias_house_guid.in_({f for f, _ in chunk}),
                Account.account_number.in_({n for _, n in chunk}),
            )
            .distinct()
        )
        for fias, account in rows:
            key = (fias, account.account_number or "")
            if key in chunk and account not in found.setdefault(key, []):
                found[key].append(account)
    return found


# --- payment documents ----------------------------------------------------------------------


def documents_by_ids(
    session: Session, ids: Iterable[str], *, lock: bool = False
) -> dict[str, PaymentDocument]:
    """Documents by PaymentDocumentID (locked for update when ``lock``)."""
    found: dict[str, PaymentDocument] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = select(PaymentDocument).where(PaymentDocument.payment_document_id.in_(chunk))
        for doc in session.scalars(_locked(query.order_by(PaymentDocument.guid), lock)):
            found[doc.payment_document_id] = doc
    return found


def documents_by_guids(
    session: Session, guids: Iterable[str], *, lock: bool = False
) -> dict[str, PaymentDocument]:
    found: dict[str, PaymentDocument] = {}
    for chunk in _chunks(sorted(set(guids))):
        query = select(PaymentDocument).where(PaymentDocument.guid.in_(chunk))
        for doc in session.scalars(_locked(query.order_by(PaymentDocument.guid), lock)):
            found[doc.guid] = doc
    return found


@dataclass
class DocState:
    """A payment document as the import rules see it, kept current while a packet runs."""

    guid: str
    payment_document_id: str
    org_guid: str
    account_guid: str
    year: int
    month: int
    withdrawn: bool


_DOC_STATE = (
    PaymentDocument.guid,
    PaymentDocument.payment_document_id,
    PaymentDocument.org_guid,
    PaymentDocument.account_guid,
    PaymentDocument.year,
    PaymentDocument.month,
    PaymentDocument.withdrawn,
)


def documents_to_change(
    session: Session, ids: Iterable[str], *, lock: bool = False
) -> dict[str, DocState]:
    """Documents by PaymentDocumentID, as rule state (locked for update when ``lock``)."""
    query = _locked(select(*_DOC_STATE).order_by(PaymentDocument.guid), lock)
    rows = where_in(session, query, PaymentDocument.payment_document_id, sorted(set(ids)))
    return {row.payment_document_id: DocState(**row._asdict()) for row in rows}


def account_rows(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, org_guid, closed, unique_number) of accounts."""
    query = select(Account.guid, Account.org_guid, Account.closed, Account.unique_number)
    return {row.guid: row for row in where_in(session, query, Account.guid, guids)}


def documents_of_period(
    session: Session, account_guids: Iterable[str], year: int, month: int
) -> dict[str, list[DocState]]:
    """account ► its documents whose PaymentDocumentID ends with the period's MMYY (withdrawn
    ones too: they hold their ordinals), for the active-document rule and the next ordinal."""
    suffix = period_suffix(year, month)
    query = select(*_DOC_STATE).where(PaymentDocument.payment_document_id.like(f"%{suffix}"))
    found: dict[str, list[DocState]] = {}
    for row in where_in(session, query, PaymentDocument.account_guid, account_guids):
        found.setdefault(row.account_guid, []).append(DocState(**row._asdict()))
    return found


def charges_of(session: Session, document_guids: Iterable[str]) -> dict[str, list[PaymentCharge]]:
    """document ► its current charge lines, in document order."""
    found: dict[str, list[PaymentCharge]] = {}
    for chunk in _chunks(document_guids):
        rows = session.scalars(
            select(PaymentCharge)
            .where(PaymentCharge.document_guid.in_(chunk), PaymentCharge.replaced.is_(False))
            .order_by(PaymentCharge.document_guid, PaymentCharge.position)
        )
        for charge in rows:
            found.setdefault(charge.document_guid, []).append(charge)
    return found


def details_of(
    session: Session, document_guids: Iterable[str]
) -> dict[str, list[PaymentDocumentDetails]]:
    found: dict[str, list[PaymentDocumentDetails]] = {}
    for chunk in _chunks(document_guids):
        rows = session.scalars(
            select(PaymentDocumentDetails)
            .where(PaymentDocumentDetails.document_guid.in_(chunk))
            .order_by(PaymentDocumentDetails.document_guid, PaymentDocumentDetails.position)
        )
        for details in rows:
            found.setdefault(details.document_guid, []).append(details)
    return found


def documents_for_export(
    session: Session,
    org_guid: str,
    *,
    ids: Sequence[str] = (),
    year: int | None = None,
    month: int | None = None,
    account_column: str | None = None,
    account_values: Sequence[str] = (),
    fias_house_guid: str | None = None,
    document_numbers: Sequence[str] = (),
) -> list[PaymentDocument]:
    """The sender's documents matching one filter of exportPaymentDocumentRequest."""
    found: dict[str, PaymentDocument] = {}
    base = select(PaymentDocument).where(PaymentDocument.org_guid == org_guid)
    if year is not None and month is not None:
        base = base.where(PaymentDocument.year == year, PaymentDocument.month == month)
    if ids:
        for chunk in _chunks(ids):
            query = base.where(PaymentDocument.payment_document_id.in_(chunk))
            found.update((d.guid, d) for d in session.scalars(query))
    elif account_column is not None:
        attribute = getattr(Account, account_column)
        query = base.join(Account, Account.guid == PaymentDocument.account_guid)
        if fias_house_guid is not None:
            houses = (
                select(AccountPlace.account_guid)
                .join(House, House.guid == AccountPlace.house_guid)
                .where(House.fias_house_guid == fias_house_guid)
            )
            query = query.where(Account.guid.in_(houses))
        for chunk in _chunks(account_values):
            found.update((d.guid, d) for d in session.scalars(query.where(attribute.in_(chunk))))
    elif fias_house_guid is not None:
        houses = (
            select(AccountPlace.account_guid)
            .join(House, House.guid == AccountPlace.house_guid)
            .where(House.fias_house_guid == fias_house_guid)
        )
        for chunk in _chunks(document_numbers):
            query = base.where(
                PaymentDocument.account_guid.in_(houses), PaymentDocument.number.in_(chunk)
            )
            found.update((d.guid, d) for d in session.scalars(query))
    return sorted(found.values(), key=lambda d: d.payment_document_id)


def charge_rows(session: Session, document_guids: Iterable[str]) -> dict[str, list[Row[Any]]]:
    """document ► its current charge lines (the columns acknowledgments need), in order."""
    query = select(
        PaymentCharge.guid,
        PaymentCharge.document_guid,
        PaymentCharge.ack_slot,
        PaymentCharge.year,
        PaymentCharge.month,
        PaymentCharge.amount_due,
        PaymentCharge.details_guid,
        PaymentCharge.position,
    ).where(PaymentCharge.replaced.is_(False))
    found: dict[str, list[Row[Any]]] = {}
    rows = where_in(session, query, PaymentCharge.document_guid, document_guids)
    for row in sorted(rows, key=lambda r: (r.document_guid, r.position)):
        found.setdefault(row.document_guid, []).append(row)
    return found


def details_rows(session: Session, document_guids: Iterable[str]) -> list[Row[Any]]:
    """The payment details (guid, bik, operating_account) of documents."""
    query = select(
        PaymentDocumentDetails.guid,
        PaymentDocumentDetails.bik,
        PaymentDocumentDetails.operating_account,
    )
    return where_in(session, query, PaymentDocumentDetails.document_guid, document_guids)


# --- notices --------------------------------------------------------------------------------


_NOTICE_STATE = (
    PaymentNotice.guid,
    PaymentNotice.org_guid,
    PaymentNotice.order_id,
    PaymentNotice.order_date,
    PaymentNotice.amount,
    PaymentNotice.account_guid,
    PaymentNotice.payee_org_guid,
    PaymentNotice.cancelled,
    PaymentNotice.cancellation_date,
    PaymentNotice.cancelled_by,
    PaymentNotice.ref_payment_document_id,
    PaymentNotice.ref_unified_account_number,
    PaymentNotice.ref_service_id,
    PaymentNotice.year,
    PaymentNotice.month,
)


def notice_rows_by_guids(
    session: Session, guids: Iterable[str], *, lock: bool = False
) -> dict[str, Row[Any]]:
    """Notices (the columns the import rules read) by GUID, locked for update when ``lock``."""
    query = _locked(select(*_NOTICE_STATE).order_by(PaymentNotice.guid), lock)
    return {
        row.guid: row for row in where_in(session, query, PaymentNotice.guid, sorted(set(guids)))
    }


def notice_rows_by_orders(
    session: Session, keys: Iterable[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], Row[Any]]:
    """(poster orgPPAGUID, OrderID) ► notice (the columns the import rules read)."""
    wanted = set(keys)
    found: dict[tuple[str, str], Row[Any]] = {}
    for org_guid in sorted({org for org, _ in wanted}):
        orders = sorted(order for org, order in wanted if org == org_guid)
        query = _locked(
            select(*_NOTICE_STATE)
            .where(PaymentNotice.org_guid == org_guid)
            .order_by(PaymentNotice.guid),
            lock,
        )
        for row in where_in(session, query, PaymentNotice.order_id, orders):
            found[(row.org_guid, row.order_id)] = row
    return found


@dataclass(frozen=True)
class NoticeFilter:
    """One filter of exportNotificationsOfOrderExecution(Paginal) over notices paid to
    ``payee_org_guid``; by document: the notices that name it and those acknowledged
    against it."""

    payee_org_guid: str
    notice_guid: str | None = None
    document_guids: Sequence[str] | None = None
    account_guids: Sequence[str] | None = None
    year: int | None = None
    month: int | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def _notices_query(f: NoticeFilter) -> Select[PaymentNotice]:
    query = select(PaymentNotice).where(PaymentNotice.payee_org_guid == f.payee_org_guid)
    if f.notice_guid is not None:
        query = query.where(PaymentNotice.guid == f.notice_guid)
    if f.document_guids is not None:
        acknowledged = select(PaymentAcknowledgment.notice_guid).where(
            PaymentAcknowledgment.document_guid.in_(list(f.document_guids)),
            PaymentAcknowledgment.cancelled.is_(False),
        )
        query = query.where(
            or_(
                PaymentNotice.document_guid.in_(list(f.document_guids)),
                PaymentNotice.guid.in_(acknowledged),
            )
        )
    if f.account_guids is not None:
        query = query.where(PaymentNotice.account_guid.in_(list(f.account_guids)))
    if f.year is not None:
        query = query.where(PaymentNotice.year == f.year)
    if f.month is not None:
        query = query.where(PaymentNotice.month == f.month)
    if f.created_from is not None:
        query = query.where(PaymentNotice.created_at >= f.created_from)
    if f.created_before is not None:
        query = query.where(PaymentNotice.created_at < f.created_before)
    return query


def notices_page(
    session: Session, f: NoticeFilter, *, after: str | None, size: int = PAGE_SIZE
) -> tuple[list[PaymentNotice], str | None]:
    """One page of the notices matching the filter, in GUID order (persistence/paging.py)."""
    return keyset_page(session, _notices_query(f), PaymentNotice.guid, after=after, size=size)


# --- acknowledgments ------------------------------------------------------------------------


_ACK_COLUMNS = {
    "notice": PaymentAcknowledgment.notice_guid,
    "charge": PaymentAcknowledgment.charge_guid,
    "document": PaymentAcknowledgment.document_guid,
}


def acknowledged_by(session: Session, column: str, guids: Iterable[str]) -> dict[str, int]:
    """Sum (kopecks) of the active payment acknowledgments per notice, charge or document."""
    attribute = _ACK_COLUMNS[column]
    sums: dict[str, int] = {}
    for chunk in _chunks(guids):
        rows = session.execute(
            select(attribute, func.sum(PaymentAcknowledgment.amount))
            .where(
                attribute.in_(chunk),
                PaymentAcknowledgment.cancelled.is_(False),
                PaymentAcknowledgment.kind == "payment",
            )
            .group_by(attribute)
        )
        for key, total in rows:
            if key is not None:  # IN (chunk): never None
                sums[key] = int(total or 0)
    return sums


def active_acknowledgments(
    session: Session, notice_guids: Iterable[str]
) -> dict[str, list[PaymentAcknowledgment]]:
    """notice ► its active acknowledgments (payment and impossible), oldest first."""
    found: dict[str, list[PaymentAcknowledgment]] = {}
    for chunk in _chunks(notice_guids):
        rows = session.scalars(
            select(PaymentAcknowledgment)
            .where(
                PaymentAcknowledgment.notice_guid.in_(chunk),
                PaymentAcknowledgment.cancelled.is_(False),
            )
            .order_by(PaymentAcknowledgment.created_at, PaymentAcknowledgment.guid)
        )
        for ack in rows:
            found.setdefault(ack.notice_guid, []).append(ack)
    return found


@dataclass(frozen=True)
class ActiveAck:
    """An active acknowledgment as the import rules see it (stored, or made by the packet)."""

    guid: str
    notice_guid: str
    kind: str  # payment | impossible
    document_guid: str | None
    charge_guid: str | None
    amount: int


def active_acks(session: Session, notice_guids: Iterable[str]) -> dict[str, list[ActiveAck]]:
    """notice ► its active acknowledgments (payment and impossible), oldest first."""
    query = (
        select(
            PaymentAcknowledgment.guid,
            PaymentAcknowledgment.notice_guid,
            PaymentAcknowledgment.kind,
            PaymentAcknowledgment.document_guid,
            PaymentAcknowledgment.charge_guid,
            PaymentAcknowledgment.amount,
        )
        .where(PaymentAcknowledgment.cancelled.is_(False))
        .order_by(PaymentAcknowledgment.created_at, PaymentAcknowledgment.guid)
    )
    found: dict[str, list[ActiveAck]] = {}
    for row in where_in(session, query, PaymentAcknowledgment.notice_guid, notice_guids):
        found.setdefault(row.notice_guid, []).append(ActiveAck(**row._asdict()))
    return found


# --- derived paid state -----------------------------------------------------------------------

#: AckStatus of a notice (exportNotificationsOfOrderExecution)
NEW, CANCELLED, ACKNOWLEDGED, PARTLY, PRELIMINARY, IMPOSSIBLE = range(6)


def notice_status(notice: PaymentNotice, acknowledged: int, impossible: bool) -> int:
    """0 new, 1 cancelled, 2 acknowledged in full, 3 partly, 5 marked impossible to match.

    (4, preliminary acknowledgment, is never assigned: the gateway has no preliminary step.)
    """
    if notice.cancelled:
        return CANCELLED
    if acknowledged > 0:
        return ACKNOWLEDGED if acknowledged >= notice.amount else PARTLY
    if impossible:
        return IMPOSSIBLE
    return NEW


@dataclass(frozen=True)
class ChargeState:
    charge: PaymentCharge
    paid: int  # kopecks acknowledged

    @property
    def remaining(self) -> int:
        return max(self.charge.amount_due - self.paid, 0)

    @property
    def is_paid(self) -> bool:
        return self.paid >= self.charge.amount_due


@dataclass(frozen=True)
class DocumentState:
    document: PaymentDocument
    charges: list[ChargeState]
    paid: int  # kopecks acknowledged against the document

    @property
    def due(self) -> int:
        return sum(max(c.charge.amount_due, 0) for c in self.charges)

    @property
    def status(self) -> str:
        """withdrawn | nothing due | paid (every charge's amount due is covered) | partly | unpaid."""
        if self.document.withdrawn:
            return "withdrawn"
        if self.due <= 0:
            return "nothing due"
        if all(c.is_paid for c in self.charges):
            return "paid"
        return "partly" if self.paid > 0 else "unpaid"


def document_states(session: Session, documents: Sequence[PaymentDocument]) -> list[DocumentState]:
    """Paid state of documents and of each of their charges, derived from acknowledgments."""
    guids = [d.guid for d in documents]
    charges = charges_of(session, guids)
    slots = [c for lines in charges.values() for c in lines if c.ack_slot is not None]
    per_charge = acknowledged_by(session, "charge", [c.guid for c in slots])
    per_document = acknowledged_by(session, "document", guids)
    states = []
    for doc in documents:
        lines = [
            ChargeState(c, per_charge.get(c.guid, 0))
            for c in charges.get(doc.guid, [])
            if c.ack_slot is not None
        ]
        states.append(DocumentState(doc, lines, per_document.get(doc.guid, 0)))
    return states


def last_payment_dates(session: Session, document_guids: Iterable[str]) -> dict[str, date]:
    """document ► the latest OrderDate of a notice acknowledged against it."""
    found: dict[str, date] = {}
    for chunk in _chunks(document_guids):
        rows = session.execute(
            select(PaymentAcknowledgment.document_guid, func.max(PaymentNotice.order_date))
            .join(PaymentNotice, PaymentNotice.guid == PaymentAcknowledgment.notice_guid)
            .where(
                PaymentAcknowledgment.document_guid.in_(chunk),
                PaymentAcknowledgment.cancelled.is_(False),
                PaymentAcknowledgment.kind == "payment",
            )
            .group_by(PaymentAcknowledgment.document_guid)
        )
        for key, latest in rows:
            if key is not None and latest is not None:
                found[key] = latest
    return found


def placed_documents_for(
    session: Session, keys: Iterable[tuple[str, int, int]]
) -> dict[tuple[str, int, int], PaymentDocument]:
    """(account GUID, year, month) ► the placed (not withdrawn) document of that period."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, int, int], PaymentDocument] = {}
    for start in range(0, len(wanted), 250):
        chunk = wanted[start : start + 250]
        query = select(PaymentDocument).where(
            PaymentDocument.withdrawn.is_(False),
            or_(
                *(
                    and_(
                        PaymentDocument.account_guid == a,
                        PaymentDocument.year == y,
                        PaymentDocument.month == m,
                    )
                    for a, y, m in chunk
                )
            ),
        )
        for doc in session.scalars(query):
            found[(doc.account_guid, doc.year, doc.month)] = doc
    return found

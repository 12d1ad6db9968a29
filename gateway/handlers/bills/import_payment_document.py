"""importPaymentDocumentData: payment documents of a period, their replacement and withdrawal.

A packet carries either the documents of one period (base:Month, base:Year; the payee's
payment details, each BankBIK + operatingAccountNumber with a TransportGUID the documents refer
to; up to 500 PaymentDocument) or up to 1000 WithdrawPaymentDocument. Each item answers one
ImportResult: GUID = the document's GUID, UniqueNumber = its PaymentDocumentID (see
``persistence.payments.payment_document_id`` for the 18-character scheme), or Error.

A PaymentDocument without PaymentDocumentID places a new document; with the PaymentDocumentID
of a placed document it replaces that document's content (same GUID and PaymentDocumentID);
with ``Withdraw`` (true) and a PaymentDocumentID it withdraws that document.

What a document keeps: its charges by service, each with the amount due that acknowledgments
are limited by (``TotalPayableOverall`` when sent, else ``TotalPayable``), in kopecks:
ChargeInfo (HousingService, MunicipalService, AdditionalService, GroupMunicipalService as one
charge of its municipal service kind with its members as detail lines), CapitalRepairCharge,
CapitalRepairYearCharge (one charge per month), Insurance, PenaltiesAndCourtCosts; or, for a
debt document, CapitalRepairDebt and ChargeDebt per month. Its payment details, totals, number
and provider. Not kept (accepted, not exported): IndividualMDReadings, consumption volumes,
recalculations, instalments, reference information, MunicipalResource lines, ComponentsOfCost,
LimitIndex, subsidies, PaidCash and DateOfLastReceivedPayment as sent (the export derives both
from acknowledgments).

Each document keeps the MessageGUID and TransportGUID of the item that last changed it. A
forced replay of a processed packet (``gateway packets replay --force``) answers the same
results and changes nothing (``gateway.imports.pipeline``).

Rules (per item):
  the account exists (INT002000), is kept by the sender (AUT011003), is open for a new document
  (HCS004001)
  one placed (not withdrawn) document per account and period: replace it with its
  PaymentDocumentID or withdraw it first (HCS004002); at most 99 documents per account and
  period (HCS004006)
  no service is charged twice in a document: an acknowledgment names a service, so it could not
  tell two charges apart; capital repair for the month and for the year together count as twice
  (HCS004003)
  the PaymentDocumentID to replace or withdraw exists (INT002000), is the sender's (AUT011003),
  is not withdrawn (SRV008070), has no active acknowledgments (HCS004004: cancel them first), and
  a replacement keeps the account and period (HCS004005)
  ``Withdraw`` in a PaymentDocument needs its PaymentDocumentID (HCS004016)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    child,
    children,
    decimal,
    guid,
    integer,
    local,
    nsi_ref,
    required,
    text,
)
from gateway.handlers.bills.common import (
    CAPITAL_REPAIR_GUID,
    period_text,
    rouble_kopecks,
)
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import BILLS
from persistence import contracts
from persistence import payments as repo
from persistence.models import PaymentCharge, PaymentDocument, PaymentDocumentDetails
from persistence.payments import MAX_ORDINAL, format_roubles, payment_document_id

HCS_SECTIONS = {"HousingService": "HS", "MunicipalService": "MS", "AdditionalService": "AS"}


@dataclass
class _Line:
    """A charge line read from the document."""

    section: str
    ack_slot: str | None = None
    service: tuple[str | None, str | None, str | None] = (None, None, None)  # code, GUID, name
    rate: Decimal | None = None
    contribution: int | None = None
    total_payable: int | None = None
    accounting_period_total: int | None = None
    total_payable_overall: int | None = None
    year: int | None = None
    month: int | None = None
    cause: str | None = None
    org_ppa_guid: str | None = None
    key: str | None = None  # PaymentInformationKey
    lines: list[_Line] = field(default_factory=list)  # detail lines (members, months)

    @property
    def amount_due(self) -> int:
        if self.total_payable_overall is not None:
            return self.total_payable_overall
        return self.total_payable or 0


@dataclass
class _Details:
    key: str
    total_payable: int | None = None
    account_number: str | None = None
    debt_or_advance: int | None = None
    total_with_debt_and_advance: int | None = None


@dataclass(frozen=True)
class Request:
    """What the whole packet says about its documents."""

    period: tuple[int, int] | None
    payment_information: Mapping[str, tuple[str, str]]  # TransportGUID ► (BIK, account)
    provider: str | None  # PaymentProviderInformation/orgPPAGUID


@dataclass(frozen=True)
class Document:
    transport_guid: str
    request: Request
    account_guid: str
    number: str | None
    replaces: str | None  # PaymentDocumentID of the document this item replaces or withdraws
    withdraw: bool
    kind: str  # charges | debts
    lines: tuple[_Line, ...]
    details: tuple[_Details, ...]
    totals: Mapping[str, Any]


@dataclass(frozen=True)
class Withdrawal:
    transport_guid: str
    payment_document_id: str


# --- reading ------------------------------------------------------------------------------------


def _service_ref(element: etree._Element) -> tuple[str | None, str | None, str | None]:
    code, ref_guid = nsi_ref(element, "ServiceType")
    return code, ref_guid, text(child(element, "ServiceType"), "Name")


def _amounts(line: _Line, element: etree._Element) -> _Line:
    line.total_payable = rouble_kopecks(element, "TotalPayable")
    line.accounting_period_total = rouble_kopecks(element, "AccountingPeriodTotal")
    line.total_payable_overall = rouble_kopecks(element, "TotalPayableOverall")
    line.org_ppa_guid = guid(element, "orgPPAGUID")
    line.key = guid(element, "PaymentInformationKey")
    return line


def _month_of(element: etree._Element) -> tuple[int | None, int | None]:
    return integer(element, "Year"), integer(element, "Month")


def _slot(kind: str, key: str | None, year: int | None = None, month: int | None = None) -> str:
    slot = f"{kind}:{key}"
    return f"{slot}@{year:04d}-{month:02d}" if year is not None and month is not None else slot


def _charge(element: etree._Element) -> _Line:
    """One ChargeInfo: a housing, municipal or additional service, or a group of municipal ones."""
    service = next(c for c in element if isinstance(c.tag, str))
    name = local(service)
    if name in HCS_SECTIONS:
        ref = _service_ref(service)
        line = _Line(name, _slot(HCS_SECTIONS[name], ref[1]), ref, rate=decimal(service, "Rate"))
        return _amounts(line, service)
    kind = required(service, "TypeMunicipalService")
    ref = _service_ref(kind)
    group = _amounts(
        _Line("GroupMunicipalService", _slot("TMS", ref[0]), ref, rate=decimal(kind, "Rate")), kind
    )
    for member in children(service, "MunicipalService"):
        group.lines.append(
            _amounts(
                _Line("MunicipalService", None, _service_ref(member), decimal(member, "Rate")),
                member,
            )
        )
    return group


def _capital_repair(element: etree._Element) -> _Line:
    line = _Line(
        "CapitalRepairCharge",
        _slot("HS", CAPITAL_REPAIR_GUID),
        contribution=rouble_kopecks(element, "Contribution"),
    )
    return _amounts(line, element)


def _capital_repair_year(element: etree._Element) -> _Line:
    year = integer(element, "Year")
    header = _Line(
        "CapitalRepairYearCharge",
        year=year,
        org_ppa_guid=guid(element, "orgPPAGUID"),
        key=guid(element, "PaymentInformationKey"),
    )
    for monthly in children(element, "CapitalRepairMonthlyCharge"):
        month = integer(monthly, "Month")
        line = _amounts(
            _Line(
                "CapitalRepairMonth",
                _slot("HS", CAPITAL_REPAIR_GUID, year, month),
                contribution=rouble_kopecks(monthly, "Contribution"),
                year=year,
                month=month,
            ),
            monthly,
        )
        line.key = header.key
        line.org_ppa_guid = header.org_ppa_guid
        header.lines.append(line)
    header.total_payable = sum(m.total_payable or 0 for m in header.lines)
    return header


def _insurance(element: etree._Element) -> _Line:
    product = guid(element, "InsuranceProductGUID")
    line = _Line("Insurance", _slot("AS", product), (None, product, None), decimal(element, "Rate"))
    return _amounts(line, element)


def _penalty(element: etree._Element) -> _Line:
    ref = _service_ref(element)
    line = _Line("PenaltiesAndCourtCosts", _slot("PS", ref[0]), ref, cause=text(element, "Cause"))
    return _amounts(line, element)


def _capital_repair_debt(element: etree._Element) -> _Line:
    year, month = _month_of(element)
    line = _Line(
        "CapitalRepairDebt", _slot("HS", CAPITAL_REPAIR_GUID, year, month), year=year, month=month
    )
    return _amounts(line, element)


def _debt(element: etree._Element) -> _Line:
    service = next(c for c in element if isinstance(c.tag, str))
    name = local(service)
    if name in HCS_SECTIONS:
        ref = _service_ref(service)
        year, month = _month_of(service)
        line = _Line(
            f"{name}Debt",
            _slot(HCS_SECTIONS[name], ref[1], year, month),
            ref,
            year=year,
            month=month,
        )
        return _amounts(line, service)
    kind = required(service, "TypeMunicipalService")
    ref = _service_ref(kind)
    year, month = _month_of(kind)
    group = _amounts(
        _Line(
            "GroupMunicipalServiceDebt",
            _slot("TMS", ref[0], year, month),
            ref,
            year=year,
            month=month,
        ),
        kind,
    )
    for member in children(service, "MunicipalService"):
        member_year, member_month = _month_of(member)
        group.lines.append(
            _amounts(
                _Line(
                    "MunicipalServiceDebt",
                    None,
                    _service_ref(member),
                    year=member_year,
                    month=member_month,
                ),
                member,
            )
        )
    return group


_READERS = {
    "ChargeInfo": _charge,
    "CapitalRepairCharge": _capital_repair,
    "CapitalRepairYearCharge": _capital_repair_year,
    "Insurance": _insurance,
    "PenaltiesAndCourtCosts": _penalty,
    "CapitalRepairDebt": _capital_repair_debt,
    "ChargeDebt": _debt,
}
_DEBTS = {"CapitalRepairDebt", "ChargeDebt"}


def _details(element: etree._Element) -> list[_Details]:
    key = guid(element, "PaymentInformationKey")
    if key is not None:
        extra = child(element, "PaymentInformationDetails")
        return [_details_amounts(_Details(key), extra)]
    return [
        _details_amounts(_Details(guid(d, "PaymentInformationKey") or ""), d)
        for d in children(element, "DetailsPaymentInformation")
    ]


def _details_amounts(details: _Details, element: etree._Element | None) -> _Details:
    if element is not None:
        details.total_payable = rouble_kopecks(element, "TotalPayableByPaymentInformation")
        details.account_number = text(element, "AccountNumber")
        details.debt_or_advance = rouble_kopecks(
            element, "DebtPreviousPeriodsOrAdvanceBillingPeriod"
        )
        details.total_with_debt_and_advance = rouble_kopecks(
            element, "TotalPayableWithDebtAndAdvance"
        )
    return details


def _read_document(element: etree._Element, request: Request) -> Document:
    lines: list[_Line] = []
    debts = False
    for part in element:
        if isinstance(part.tag, str) and local(part) in _READERS:
            lines.append(_READERS[local(part)](part))
            debts = debts or local(part) in _DEBTS
    totals = {
        "total_by_charge_info": rouble_kopecks(element, "TotalPayableByChargeInfo"),
        "total_overall_by_charge_info": rouble_kopecks(element, "TotalPayableOverallByChargeInfo"),
        "debt_previous_periods": rouble_kopecks(element, "DebtPreviousPeriods"),
        "advance_billing_period": rouble_kopecks(element, "AdvanceBllingPeriod"),
        "total_with_debt_and_advance": rouble_kopecks(
            element, "TotalPayableByPDWithDebtAndAdvance"
        ),
        "total_penalties_and_court_costs": rouble_kopecks(element, "TotalByPenaltiesAndCourtCosts"),
        "total_payable": rouble_kopecks(element, "TotalPayableByPD"),
        "payments_taken": integer(element, "PaymentsTaken"),
        "additional_information": text(element, "AdditionalInformation"),
    }
    return Document(
        transport_guid=text(element, "TransportGUID") or "",
        request=request,
        account_guid=guid(element, "AccountGuid") or "",
        number=text(element, "PaymentDocumentNumber"),
        replaces=text(element, "PaymentDocumentID"),
        withdraw=bool(boolean(element, "Withdraw")),
        kind="debts" if debts else "charges",
        lines=tuple(lines),
        details=tuple(_details(element)),
        totals=totals,
    )


# --- prefetch ---------------------------------------------------------------------------------


@dataclass
class Packet:
    """What the items refer to, read (documents: locked) once, kept current as items succeed."""

    accounts: dict[str, Any]  # GUID ► account row (guid, org_guid, closed, unique_number)
    by_id: dict[str, repo.DocState]  # PaymentDocumentID ►
    acknowledged: dict[str, int]  # document GUID ► kopecks acknowledged
    of_period: dict[str, list[repo.DocState]]  # account ► its documents of the period
    #: accounts in a house the sender manages or supplies now (its placed contracts)
    served_accounts: set[str]
    #: document GUID ► the details and charge rows this packet inserts for it
    pending: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=dict
    )


# --- rules ------------------------------------------------------------------------------------


def _account(ctx: HandlerContext, state: Packet, doc: Document) -> Any:
    account = state.accounts.get(doc.account_guid)
    if account is None:
        raise ItemError(Code.NOT_FOUND, f"Account {doc.account_guid} is not registered.")
    if account.org_guid != ctx.org_guid:
        raise ItemError(
            Code.NOT_ALLOWED, f"Account {doc.account_guid} is kept by another organisation."
        )
    if account.guid not in state.served_accounts:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"Account {account.unique_number} is in no house you manage or supply now (no "
            "placed contract of yours covers its houses).",
        )
    return account


def _placed(ctx: HandlerContext, state: Packet, payment_document_id: str) -> repo.DocState:
    """A placed document of the sender that may still change (replace, withdraw)."""
    doc = state.by_id.get(payment_document_id)
    if doc is None:
        raise ItemError(Code.NOT_FOUND, f"No payment document {payment_document_id} is placed.")
    if doc.org_guid != ctx.org_guid:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"Payment document {payment_document_id} was placed by another organisation.",
        )
    if doc.withdrawn:
        raise ItemError(
            Code.DOCUMENT_WITHDRAWN, f"Payment document {payment_document_id} is already withdrawn."
        )
    paid = state.acknowledged.get(doc.guid, 0)
    if paid:
        raise ItemError(
            Code.DOCUMENT_HAS_ACKNOWLEDGMENTS,
            f"Payment document {payment_document_id} has acknowledged payments of "
            f"{format_roubles(paid)} roubles; cancel those acknowledgments (AckCancellation) "
            "before replacing or withdrawing it.",
        )
    return doc


def _check_services(doc: Document) -> None:
    seen: set[str] = set()
    capital_repair = {"CapitalRepairCharge", "CapitalRepairYearCharge"}
    if capital_repair <= {line.section for line in doc.lines}:
        raise ItemError(
            Code.DOCUMENT_SERVICE_TWICE,
            "Capital repair is charged both for the month (CapitalRepairCharge) and for the "
            "year (CapitalRepairYearCharge); send one of them.",
        )
    for line in doc.lines:
        for slot_line in (line, *line.lines):
            slot = slot_line.ack_slot
            if slot is None:
                continue
            if slot in seen:
                raise ItemError(
                    Code.DOCUMENT_SERVICE_TWICE,
                    f"{slot_line.section} {slot} is charged twice in the document; an "
                    "acknowledgment names a service and could not tell the charges apart: "
                    "send one charge per service.",
                )
            seen.add(slot)


def _rows(document_guid: str, doc: Document) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Payment details and charge rows of a document (new or new version)."""
    keys: dict[str, str] = {}  # PaymentInformationKey ► details GUID
    details: list[dict[str, Any]] = []

    def add_details(item: _Details) -> str:
        if item.key not in keys:
            found = doc.request.payment_information.get(item.key)
            if found is None:
                raise ItemError(
                    Code.NOT_FOUND,
                    f"PaymentInformationKey {item.key} names no PaymentInformation of the packet.",
                )
            keys[item.key] = str(uuid.uuid4())
            details.append(
                {
                    "guid": keys[item.key],
                    "document_guid": document_guid,
                    "position": len(details),
                    "bik": found[0],
                    "operating_account": found[1],
                    "total_payable": item.total_payable,
                    "account_number": item.account_number,
                    "debt_or_advance": item.debt_or_advance,
                    "total_with_debt_and_advance": item.total_with_debt_and_advance,
                }
            )
        return keys[item.key]

    default = None
    for item in doc.details:
        details_guid = add_details(item)
        default = default or details_guid
    charges: list[dict[str, Any]] = []

    def add_line(line: _Line, parent: str | None) -> None:
        line_guid = str(uuid.uuid4())
        details_guid = add_details(_Details(line.key)) if line.key else default
        code, service_guid, name = line.service
        charges.append(
            {
                "guid": line_guid,
                "document_guid": document_guid,
                "parent_guid": parent,
                "position": len(charges),
                "section": line.section,
                "ack_slot": line.ack_slot,
                "service_code": code,
                "service_guid": service_guid,
                "service_name": name,
                "rate": line.rate,
                "contribution": line.contribution,
                "total_payable": line.total_payable,
                "accounting_period_total": line.accounting_period_total,
                "total_payable_overall": line.total_payable_overall,
                "amount_due": line.amount_due,
                "year": line.year,
                "month": line.month,
                "cause": line.cause,
                "org_ppa_guid": line.org_ppa_guid,
                "details_guid": details_guid,
                "replaced": False,
            }
        )
        for member in line.lines:
            add_line(member, line_guid)

    for line in doc.lines:
        add_line(line, None)
    return details, charges


def _content(
    state: Packet, changes: Changes, document_guid: str, doc: Document, *, replacing: bool
) -> None:
    """Write a document's details and charges; a new version supersedes the current ones."""
    details, charges = _rows(document_guid, doc)
    if replacing:
        earlier = state.pending.pop(document_guid, None)
        if earlier is not None:  # a version this packet made: it is never written
            for row in earlier[0]:
                changes.retract(PaymentDocumentDetails, row)
            for row in earlier[1]:
                changes.retract(PaymentCharge, row)
        else:
            changes.update(
                PaymentCharge,
                {"document_guid": document_guid, "replaced": False},
                {"replaced": True},
            )
            changes.delete(PaymentDocumentDetails, {"document_guid": document_guid})
    for row in details:
        changes.insert(PaymentDocumentDetails, row)
    for row in charges:
        changes.insert(PaymentCharge, row)
    state.pending[document_guid] = (details, charges)


def _place(ctx: HandlerContext, state: Packet, doc: Document, changes: Changes) -> Done:
    if doc.withdraw:
        if not doc.replaces:
            raise ItemError(
                Code.DOCUMENT_WITHDRAW_WITHOUT_ID,
                "Withdraw (true) withdraws a placed document: send its PaymentDocumentID.",
            )
        return _withdraw(ctx, state, doc.replaces, doc.transport_guid, changes)
    account = _account(ctx, state, doc)
    _check_services(doc)
    if doc.replaces:
        return _replace(ctx, state, doc, account, changes)
    if account.closed:
        raise ItemError(
            Code.DOCUMENT_ACCOUNT_CLOSED,
            f"Account {account.unique_number} is closed; a closed account gets no new payment "
            "documents.",
        )
    period = doc.request.period
    assert period is not None  # the schema requires Month and Year with documents
    year, month = period
    existing = state.of_period.setdefault(account.guid, [])
    placed = [d for d in existing if not d.withdrawn]
    if placed:
        raise ItemError(
            Code.DOCUMENT_EXISTS,
            f"Payment document {placed[0].payment_document_id} of account "
            f"{account.unique_number} for {period_text(period)} is already placed; "
            "replace it (send its PaymentDocumentID) or withdraw it first.",
        )
    ordinal = 1 + max((int(d.payment_document_id[11:13]) for d in existing), default=0)
    if ordinal > MAX_ORDINAL:
        raise ItemError(
            Code.DOCUMENT_NO_ORDINAL_LEFT,
            f"Account {account.unique_number} already has {MAX_ORDINAL} payment documents for "
            f"{period_text(period)}.",
        )
    document_guid = str(uuid.uuid4())
    created = repo.DocState(
        guid=document_guid,
        payment_document_id=payment_document_id(account.unique_number, ordinal, year, month),
        org_guid=ctx.org_guid,
        account_guid=account.guid,
        year=year,
        month=month,
        withdrawn=False,
    )
    changes.insert(
        PaymentDocument,
        {
            "guid": document_guid,
            "payment_document_id": created.payment_document_id,
            "org_guid": ctx.org_guid,
            "account_guid": account.guid,
            "year": year,
            "month": month,
            "kind": doc.kind,
            "number": doc.number,
            "withdrawn": False,
            "withdrawn_at": None,
            "provider_org_guid": doc.request.provider,
            "message_guid": ctx.message_guid,
            "transport_guid": doc.transport_guid,
            "created_at": ctx.now,
            "updated_at": ctx.now,
            **doc.totals,
        },
    )
    _content(state, changes, document_guid, doc, replacing=False)
    existing.append(created)  # holds the period and ordinal for the packet
    return Done(document_guid, created.payment_document_id)


def _replace(
    ctx: HandlerContext, state: Packet, doc: Document, account: Any, changes: Changes
) -> Done:
    assert doc.replaces is not None
    placed = _placed(ctx, state, doc.replaces)
    period = doc.request.period
    if placed.account_guid != account.guid or (placed.year, placed.month) != period:
        raise ItemError(
            Code.DOCUMENT_REPLACED_ELSEWHERE,
            f"Payment document {doc.replaces} is for account {placed.account_guid} and "
            f"{period_text((placed.year, placed.month))}; a new version keeps its account and "
            "period.",
        )
    _content(state, changes, placed.guid, doc, replacing=True)
    changes.update(
        PaymentDocument,
        {"guid": placed.guid},
        {
            **doc.totals,
            "kind": doc.kind,
            "number": doc.number,
            "provider_org_guid": doc.request.provider,
            "message_guid": ctx.message_guid,
            "transport_guid": doc.transport_guid,
            "updated_at": ctx.now,
        },
    )
    return Done(placed.guid, placed.payment_document_id)


def _withdraw(
    ctx: HandlerContext,
    state: Packet,
    payment_document_id: str,
    transport_guid: str,
    changes: Changes,
) -> Done:
    placed = _placed(ctx, state, payment_document_id)
    changes.update(
        PaymentDocument,
        {"guid": placed.guid},
        {
            "withdrawn": True,
            "withdrawn_at": ctx.now,
            "message_guid": ctx.message_guid,
            "transport_guid": transport_guid,
            "updated_at": ctx.now,
        },
    )
    placed.withdrawn = True
    return Done(placed.guid, placed.payment_document_id)


# --- the import -------------------------------------------------------------------------------


class ImportPaymentDocuments(ImportBase[Document | Withdrawal, Packet]):
    answer = Answer(BILLS)
    #: housing services (NSI 50) and penalties and court costs (NSI 329); municipal and
    #: additional services (NSI 51, 1) are books each organisation keeps in the real system,
    #: and TypeMunicipalService (NSI 3) is not shipped
    nsi_books = {"HousingService/ServiceType": 50, "PenaltiesAndCourtCosts/ServiceType": 329}

    def read(
        self, ctx: HandlerContext, request: etree._Element
    ) -> Iterator[Item[Document | Withdrawal]]:
        year, month = integer(request, "Year"), integer(request, "Month")
        header = Request(
            period=(year, month) if year is not None and month is not None else None,
            payment_information={
                guid(pi, "TransportGUID") or "": (
                    text(pi, "BankBIK") or "",
                    text(pi, "operatingAccountNumber") or "",
                )
                for pi in children(request, "PaymentInformation")
            },
            provider=guid(child(request, "PaymentProviderInformation"), "orgPPAGUID"),
        )
        for element in children(request, "PaymentDocument"):
            transport_guid = text(element, "TransportGUID") or ""
            try:
                yield Item(transport_guid, _read_document(element, header))
            except ItemError as error:
                yield Item(transport_guid, unreadable=error)
        for element in children(request, "WithdrawPaymentDocument"):
            transport_guid = text(element, "TransportGUID") or ""
            yield Item(
                transport_guid,
                Withdrawal(transport_guid, text(element, "PaymentDocumentID") or ""),
            )

    def prefetch(self, ctx: HandlerContext, records: Sequence[Document | Withdrawal]) -> Packet:
        session = ctx.session
        documents = [r for r in records if isinstance(r, Document)]
        accounts = repo.account_rows(session, [d.account_guid for d in documents])
        ids = [d.replaces for d in documents if d.replaces] + [
            r.payment_document_id for r in records if isinstance(r, Withdrawal)
        ]
        by_id = repo.documents_to_change(session, ids, lock=True)
        period = documents[0].request.period if documents else None
        return Packet(
            accounts=accounts,
            by_id=by_id,
            acknowledged=repo.acknowledged_by(
                session, "document", [d.guid for d in by_id.values()]
            ),
            of_period=(
                repo.documents_of_period(session, list(accounts), *period) if period else {}
            ),
            served_accounts=contracts.served_accounts(
                session, ctx.org_guid, ctx.org_role, list(accounts)
            ),
        )

    def decide(
        self, ctx: HandlerContext, state: Packet, record: Document | Withdrawal, changes: Changes
    ) -> Done:
        if isinstance(record, Withdrawal):
            return _withdraw(ctx, state, record.payment_document_id, record.transport_guid, changes)
        return _place(ctx, state, record, changes)


IMPORT = ImportPaymentDocuments()


def import_payment_document(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importPaymentDocumentRequest: documents of a period, or withdrawals."""
    return run_import(IMPORT, ctx, request)

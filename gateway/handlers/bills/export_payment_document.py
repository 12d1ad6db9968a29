"""exportPaymentDocumentData: the sender's payment documents with their paid state.

exportPaymentDocumentRequest carries one filter: up to 1000 PaymentDocumentID, or a period
(base:Year, base:Month) with up to 1000 UnifiedAccountNumber, ServiceID or AccountGUID, or a
FIASHouseGuid with up to 1000 AccountNumber or PaymentDocumentNumber. Only documents the sender
placed are exported, withdrawn ones too (``Withdraw`` true; placed ones carry ``Expose`` true),
ordered by PaymentDocumentID, each as one exportPaymentDocResult. A PaymentDocumentID asked for
and not found is an exportPaymentDocResult/ErrorMessage INT002012; nothing found at all is
getStateResult/ErrorMessage INT002012.

The document is rebuilt from what importPaymentDocumentData kept (see its docstring); charges
name their payment details by PaymentInformationGuid. ``PaidCash`` is the sum of the active
acknowledgments against the document and ``DateOfLastReceivedPayment`` the latest OrderDate of
an acknowledged notice: the paid state as the gateway derives it, not the values the supplier
sent.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    children,
    guid,
    integer,
    sub,
)
from gateway.namespaces import ACCOUNT_BASE, BASE, BILLS, BILLS_BASE, NSI_BASE, PAYMENTS_BASE
from persistence import payments as repo
from persistence.models import PaymentCharge, PaymentDocument, PaymentDocumentDetails
from persistence.payments import format_roubles

_NSMAP = {
    "b": BILLS,
    "bb": BILLS_BASE,
    "pb": PAYMENTS_BASE,
    "ab": ACCOUNT_BASE,
    "nsi": NSI_BASE,
    "base": BASE,
}
_CHARGE_INFO = ("HousingService", "MunicipalService", "AdditionalService", "GroupMunicipalService")


def decimal_text(value: Decimal) -> str:
    return (
        format(value.normalize(), "f")
        if value == value.to_integral()
        else format(value, "f").rstrip("0")
    )


def _money(parent: etree._Element, name: str, kopecks: int | None, ns: str = BILLS) -> None:
    if kopecks is not None:
        sub(parent, ns, name).text = format_roubles(kopecks)


def _service_type(parent: etree._Element, line: PaymentCharge) -> None:
    ref = sub(parent, BILLS, "ServiceType")
    sub(ref, NSI_BASE, "Code", line.service_code or "")
    sub(ref, NSI_BASE, "GUID", line.service_guid or "")
    if line.service_name:
        sub(ref, NSI_BASE, "Name", line.service_name)


def _tail(parent: etree._Element, line: PaymentCharge, details_guid: bool = True) -> None:
    """DebtPenaltiesExportGroup (TotalPayableOverall), orgPPAGUID, PaymentInformationGuid."""
    _money(parent, "TotalPayableOverall", line.total_payable_overall)
    if line.org_ppa_guid:
        sub(parent, BILLS, "orgPPAGUID", line.org_ppa_guid)
    if details_guid and line.details_guid:
        sub(parent, BILLS, "PaymentInformationGuid", line.details_guid)


def _service(parent: etree._Element, name: str, line: PaymentCharge) -> None:
    """A ServicePDType: HousingService, MunicipalService, AdditionalService, group member."""
    element = sub(parent, BILLS, name)
    _service_type(element, line)
    sub(element, BILLS, "Rate", decimal_text(line.rate if line.rate is not None else Decimal(0)))
    _money(element, "TotalPayable", line.total_payable)
    _money(element, "AccountingPeriodTotal", line.accounting_period_total)
    _tail(element, line)


def _group(parent: etree._Element, line: PaymentCharge, members: list[PaymentCharge]) -> None:
    group = sub(parent, BILLS, "GroupMunicipalService")
    kind = sub(group, BILLS, "TypeMunicipalService")
    _service_type(kind, line)
    if line.rate is not None:
        sub(kind, BILLS, "Rate", decimal_text(line.rate))
    _money(kind, "AccountingPeriodTotal", line.accounting_period_total)
    _money(kind, "TotalPayable", line.total_payable)
    _tail(kind, line, details_guid=False)
    for member in members:
        _service(group, "MunicipalService", member)


def _capital_repair(parent: etree._Element, line: PaymentCharge) -> None:
    element = sub(parent, BILLS, "CapitalRepairCharge")
    _money(element, "Contribution", line.contribution or 0)
    _money(element, "AccountingPeriodTotal", line.accounting_period_total)
    _money(element, "TotalPayable", line.total_payable or 0)
    if line.org_ppa_guid:
        sub(element, BILLS, "orgPPAGUID", line.org_ppa_guid)
    _money(element, "TotalPayableOverall", line.total_payable_overall)
    if line.details_guid:
        sub(element, BILLS, "PaymentInformationGuid", line.details_guid)


def _capital_repair_year(
    parent: etree._Element, line: PaymentCharge, months: list[PaymentCharge]
) -> None:
    element = sub(parent, BILLS, "CapitalRepairYearCharge")
    for month in months:
        monthly = sub(element, BILLS, "CapitalRepairMonthlyCharge")
        _money(monthly, "Contribution", month.contribution or 0)
        _money(monthly, "AccountingPeriodTotal", month.accounting_period_total)
        _money(monthly, "TotalPayable", month.total_payable or 0)
        _money(monthly, "TotalPayableOverall", month.total_payable_overall)
        sub(monthly, BASE, "Month", month.month)
    sub(element, BASE, "Year", line.year)
    if line.org_ppa_guid:
        sub(element, BILLS, "orgPPAGUID", line.org_ppa_guid)


def _penalty(parent: etree._Element, line: PaymentCharge) -> None:
    element = sub(parent, BILLS, "PenaltiesAndCourtCosts")
    _service_type(element, line)
    sub(element, BILLS, "Cause", line.cause or "-")
    _money(element, "TotalPayable", line.total_payable or 0)
    if line.org_ppa_guid:
        sub(element, BILLS, "orgPPAGUID", line.org_ppa_guid)
    if line.details_guid:
        sub(element, BILLS, "PaymentInformationGuid", line.details_guid)


def _insurance(parent: etree._Element, line: PaymentCharge) -> None:
    element = sub(parent, BILLS, "Insurance")
    if line.service_guid:
        sub(element, BILLS, "InsuranceProductGUID", line.service_guid)
    sub(element, BILLS, "Rate", decimal_text(line.rate if line.rate is not None else Decimal(0)))
    total = line.total_payable or 0
    _money(element, "TotalPayable", total)
    _money(element, "AccountingPeriodTotal", line.accounting_period_total or total)
    _tail(element, line)


def _debt(parent: etree._Element, name: str, line: PaymentCharge, with_type: bool = True) -> None:
    element = sub(parent, BILLS, name)
    sub(element, BASE, "Month", line.month)
    sub(element, BASE, "Year", line.year)
    _money(element, "TotalPayable", line.total_payable or 0)
    if line.org_ppa_guid:
        sub(element, BILLS, "orgPPAGUID", line.org_ppa_guid)
    if with_type:
        _service_type(element, line)
    if line.details_guid:
        sub(element, BILLS, "PaymentInformationGuid", line.details_guid)


def _group_debt(parent: etree._Element, line: PaymentCharge, members: list[PaymentCharge]) -> None:
    group = sub(sub(parent, BILLS, "ChargeDebt"), BILLS, "GroupMunicipalService")
    kind = sub(group, BILLS, "TypeMunicipalService")
    _service_type(kind, line)
    sub(kind, BASE, "Month", line.month)
    sub(kind, BASE, "Year", line.year)
    _money(kind, "TotalPayable", line.total_payable or 0)
    if line.org_ppa_guid:
        sub(kind, BILLS, "orgPPAGUID", line.org_ppa_guid)
    for member in members:
        _debt(group, "MunicipalService", member)


def _charges(parent: etree._Element, doc: PaymentDocument, lines: list[PaymentCharge]) -> None:
    top = [c for c in lines if c.parent_guid is None]
    members: dict[str, list[PaymentCharge]] = {}
    for c in lines:
        if c.parent_guid is not None:
            members.setdefault(c.parent_guid, []).append(c)
    by_section: dict[str, list[PaymentCharge]] = {}
    for c in top:
        by_section.setdefault(c.section, []).append(c)
    if doc.kind == "debts":
        for c in by_section.get("CapitalRepairDebt", []):
            _debt(parent, "CapitalRepairDebt", c, with_type=False)
        for c in top:
            if c.section == "GroupMunicipalServiceDebt":
                _group_debt(parent, c, members.get(c.guid, []))
            elif c.section.endswith("ServiceDebt"):
                _debt(sub(parent, BILLS, "ChargeDebt"), c.section[: -len("Debt")], c)
        return
    for c in top:
        if c.section not in _CHARGE_INFO:
            continue
        info = sub(parent, BILLS, "ChargeInfo")
        if c.section == "GroupMunicipalService":
            _group(info, c, members.get(c.guid, []))
        else:
            _service(info, c.section, c)
    for c in by_section.get("CapitalRepairCharge", []):
        _capital_repair(parent, c)
    for c in by_section.get("CapitalRepairYearCharge", []):
        _capital_repair_year(parent, c, members.get(c.guid, []))
    for c in by_section.get("PenaltiesAndCourtCosts", []):
        _penalty(parent, c)
    for c in by_section.get("Insurance", []):
        _insurance(parent, c)


def _details(
    parent: etree._Element, details: PaymentDocumentDetails, service_id: str | None
) -> None:
    element = sub(parent, BILLS, "PaymentInformation")
    sub(element, PAYMENTS_BASE, "BankBIK", details.bik)
    sub(element, PAYMENTS_BASE, "operatingAccountNumber", details.operating_account)
    _money(element, "TotalPayableByPaymentInformation", details.total_payable)
    sub(element, BILLS, "PaymentInformationGuid", details.guid)
    if details.account_number:
        sub(element, BILLS, "AccountNumber", details.account_number)
    if service_id:
        sub(element, ACCOUNT_BASE, "ServiceID", service_id)
    _money(element, "DebtPreviousPeriodsOrAdvanceBillingPeriod", details.debt_or_advance)
    _money(element, "TotalPayableWithDebtAndAdvance", details.total_with_debt_and_advance)


def document_element(
    parent: etree._Element,
    doc: PaymentDocument,
    lines: list[PaymentCharge],
    details: list[PaymentDocumentDetails],
    paid: int,
    last_payment: object | None,
    service_id: str | None,
) -> etree._Element:
    result = etree.SubElement(parent, etree.QName(BILLS, "exportPaymentDocResult"), nsmap=_NSMAP)
    element = sub(result, BILLS, "PaymentDocument")
    sub(element, ACCOUNT_BASE, "AccountGuid", doc.account_guid)
    if doc.number:
        sub(element, BILLS_BASE, "PaymentDocumentNumber", doc.number)
    _charges(element, doc, lines)
    sub(element, BILLS, "Withdraw" if doc.withdrawn else "Expose", True)
    _money(element, "TotalPayableByChargeInfo", doc.total_by_charge_info)
    _money(element, "TotalPayableOverallByChargeInfo", doc.total_overall_by_charge_info)
    _money(element, "DebtPreviousPeriods", doc.debt_previous_periods)
    _money(element, "AdvanceBllingPeriod", doc.advance_billing_period)
    if doc.payments_taken is not None:
        sub(element, BILLS, "PaymentsTaken", doc.payments_taken)
    if doc.additional_information:
        sub(element, BILLS, "AdditionalInformation", doc.additional_information)
    _money(element, "TotalPayableByPD", doc.total_payable)
    _money(element, "TotalByPenaltiesAndCourtCosts", doc.total_penalties_and_court_costs)
    _money(element, "TotalPayableByPDWithDebtAndAdvance", doc.total_with_debt_and_advance)
    _money(element, "PaidCash", paid)
    if last_payment is not None:
        sub(element, BILLS, "DateOfLastReceivedPayment", last_payment)
    sub(element, BASE, "Month", doc.month)
    sub(element, BASE, "Year", doc.year)
    if doc.provider_org_guid:
        provider = sub(element, BILLS, "PaymentProviderInformation")
        sub(provider, BILLS, "orgPPAGUID", doc.provider_org_guid)
    sub(element, BILLS_BASE, "PaymentDocumentID", doc.payment_document_id)
    for item in details or [PaymentDocumentDetails(bik="", operating_account="")]:
        if item.guid:
            _details(element, item, service_id)
        else:
            sub(element, BILLS, "PaymentInformation")
    return result


def export_payment_document(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportPaymentDocumentRequest."""
    session = ctx.session
    ids = [(e.text or "").strip() for e in children(request, "PaymentDocumentID")]
    year, month = integer(request, "Year"), integer(request, "Month")
    filters: dict[str, object] = {}
    if ids:
        filters["ids"] = ids
    else:
        filters.update(year=year, month=month)
        for name, column in (
            ("UnifiedAccountNumber", "unique_number"),
            ("ServiceID", "service_id"),
            ("AccountGUID", "guid"),
            ("AccountNumber", "account_number"),
        ):
            values = [(e.text or "").strip() for e in children(request, name)]
            if name == "AccountGUID":
                values = [v.lower() for v in values]
            if values:
                filters.update(account_column=column, account_values=values)
        fias = guid(request, "FIASHouseGuid")
        if fias is not None:
            filters["fias_house_guid"] = fias
            numbers = [(e.text or "").strip() for e in children(request, "PaymentDocumentNumber")]
            if numbers:
                filters["document_numbers"] = numbers
    documents = repo.documents_for_export(session, ctx.org_guid, **filters)  # type: ignore[arg-type]
    if not documents:
        raise ExportError(
            Code.NOTHING_TO_EXPORT, "You placed no payment documents matching the request."
        )
    guids = [d.guid for d in documents]
    charges = repo.charges_of(session, guids)
    details = repo.details_of(session, guids)
    paid = repo.acknowledged_by(session, "document", guids)
    last = repo.last_payment_dates(session, guids)
    accounts = repo.accounts_by(session, "guid", {d.account_guid for d in documents})
    holder = etree.Element("results")
    for doc in documents:
        account = accounts.get(doc.account_guid)
        document_element(
            holder,
            doc,
            charges.get(doc.guid, []),
            details.get(doc.guid, []),
            paid.get(doc.guid, 0),
            last.get(doc.guid),
            account.service_id if account else None,
        )
    found = {d.payment_document_id for d in documents}
    for missing in dict.fromkeys(i for i in ids if i not in found):
        result = etree.SubElement(
            holder, etree.QName(BILLS, "exportPaymentDocResult"), nsmap=_NSMAP
        )
        message = sub(result, BASE, "ErrorMessage")
        sub(message, BASE, "ErrorCode", Code.NOTHING_TO_EXPORT)
        sub(message, BASE, "Description", f"You placed no payment document {missing}.")
    return HandlerResult(list(holder))

"""exportAccountData: the sender's own personal accounts, by house or by account references.

exportAccountRequest carries one filter: FIASHouseGuid (every account with a place in that
house), or up to 1000 AccountGUID, UnifiedAccountNumber or ServiceID. Only accounts the
sender keeps are exported, open and closed ones, ordered by UnifiedAccountNumber; nothing
found is INT002012 (getStateResult/ErrorMessage).
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
    sub,
)
from gateway.handlers.house_management.import_account import KIND_FLAGS
from gateway.namespaces import ACCOUNT_BASE, NSI_BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.namespaces import INDIVIDUAL_REGISTRY_BASE as INDIVIDUAL
from gateway.namespaces import ORGANIZATIONS_REGISTRY_BASE as ORG_REGISTRY
from gateway.xmlparse import parse_xml
from persistence import accounts as repo
from persistence.models import Account, AccountPlace

_NSMAP = {"hm": HM, "ab": ACCOUNT_BASE, "ind": INDIVIDUAL, "org": ORG_REGISTRY, "nsi": NSI_BASE}


def _number(value: Decimal | None) -> str | None:
    """A stored decimal without trailing zeros (54.3000 ► 54.3)."""
    return None if value is None else format(value.normalize(), "f")


def _opt(parent: etree._Element, ns: str, name: str, value: object | None) -> None:
    if value is not None:
        sub(parent, ns, name, value)


def _closed(parent: etree._Element, account: Account) -> None:
    if not account.closed:
        return
    closed = sub(parent, HM, "Closed")
    reason = sub(closed, HM, "CloseReason")
    sub(reason, NSI_BASE, "Code", account.close_reason_code or "")
    sub(reason, NSI_BASE, "GUID", account.close_reason_guid or "")
    close_date = account.close_date
    sub(closed, HM, "CloseDate", close_date.date().isoformat() if close_date else "")
    _opt(closed, HM, "Description", account.close_description)


def _accommodation(parent: etree._Element, place: AccountPlace, fias: str) -> None:
    element = sub(parent, HM, "Accommodation")
    if place.living_room_guid:
        sub(element, HM, "LivingRoomGUID", place.living_room_guid)
    elif place.premises_guid:
        sub(element, HM, "PremisesGUID", place.premises_guid)
    else:
        sub(element, HM, "FIASHouseGuid", fias)
    if place.share_percent is not None:
        sub(element, HM, "SharePercent", _number(place.share_percent.quantize(Decimal("0.01"))))


def _payer(parent: etree._Element, account: Account) -> None:
    payer = sub(parent, HM, "PayerInfo")
    if account.is_renter:
        sub(payer, HM, "IsRenter", True)
    if account.is_accounts_divided:
        sub(payer, HM, "isAccountsDivided", True)
    if account.payer_kind == "ind":
        ind = sub(payer, HM, "Ind")
        _opt(ind, INDIVIDUAL, "Surname", account.payer_surname)
        _opt(ind, INDIVIDUAL, "FirstName", account.payer_first_name)
        _opt(ind, INDIVIDUAL, "Patronymic", account.payer_patronymic)
        _opt(ind, HM, "Sex", account.payer_sex)
        _opt(ind, HM, "DateOfBirth", account.payer_birth_date)
        if account.payer_snils:
            sub(ind, INDIVIDUAL, "SNILS", account.payer_snils)
        elif account.payer_id_number or account.payer_id_type_code:
            document = sub(ind, HM, "ID")
            if account.payer_id_type_code and account.payer_id_type_guid:
                kind = sub(document, HM, "Type")
                sub(kind, NSI_BASE, "Code", account.payer_id_type_code)
                sub(kind, NSI_BASE, "GUID", account.payer_id_type_guid)
            _opt(document, HM, "Series", account.payer_id_series)
            _opt(document, HM, "Number", account.payer_id_number)
            _opt(document, HM, "IssueDate", account.payer_id_issue_date)
    elif account.payer_kind == "org" and account.payer_org_version_guid:
        org = sub(payer, HM, "Org")
        sub(org, ORG_REGISTRY, "orgVersionGUID", account.payer_org_version_guid)


def _account(account: Account, places: list[tuple[AccountPlace, str]]) -> etree._Element:
    """exportAccountResult of one account, in the order of exportAccountResultType."""
    result = etree.Element(etree.QName(HM, "exportAccountResult"), nsmap=_NSMAP)
    sub(result, HM, KIND_FLAGS[account.kind], True)
    _opt(result, HM, "CreationDate", account.creation_date)
    _opt(result, HM, "LivingPersonsNumber", account.living_persons)
    _opt(result, HM, "TotalSquare", _number(account.total_square))
    _opt(result, HM, "ResidentialSquare", _number(account.residential_square))
    _opt(result, HM, "HeatedArea", _number(account.heated_area))
    _closed(result, account)
    for place, fias in places:
        _accommodation(result, place, fias)
    _payer(result, account)
    if account.reasons_xml:
        result.append(parse_xml(account.reasons_xml.encode()))
    _opt(result, HM, "AccountNumber", account.account_number)
    sub(result, HM, "AccountGUID", account.guid)
    sub(result, ACCOUNT_BASE, "UnifiedAccountNumber", account.unique_number)
    sub(result, ACCOUNT_BASE, "ServiceID", account.service_id)
    return result


def _values(request: etree._Element, name: str) -> list[str]:
    return [(e.text or "").strip() for e in children(request, name)]


def export_account(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportAccountRequest: the sender's accounts matching the request's filter."""
    fias = guid(request, "FIASHouseGuid")
    account_guids = [g.lower() for g in _values(request, "AccountGUID")]
    unified = _values(request, "UnifiedAccountNumber")
    service_ids = _values(request, "ServiceID")
    accounts = repo.accounts_for_export(
        ctx.session,
        ctx.org_guid,
        fias_house_guid=fias,
        account_guids=account_guids,
        unified_numbers=unified,
        service_ids=service_ids,
    )
    if not accounts:
        if fias is not None:
            asked = f"in house {fias}"
        else:
            refs = account_guids or unified or service_ids
            asked = "with the requested references (" + ", ".join(refs[:5])
            asked += ", …)" if len(refs) > 5 else ")"
        raise ExportError(Code.NOTHING_TO_EXPORT, f"You keep no personal accounts {asked}.")
    places = repo.places_for_export(ctx.session, [a.guid for a in accounts])
    return HandlerResult([_account(a, places.get(a.guid, [])) for a in accounts])

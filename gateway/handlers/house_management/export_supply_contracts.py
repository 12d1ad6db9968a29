"""exportSupplyResourceContractData, exportSupplyResourceContractObjectAddressData and
exportBriefSupplyResourceContract: resource supply contracts, 1000 to a page.

Paging follows the one convention of persistence/paging.py: contracts in root-GUID order,
addresses in ObjectGUID order; a page that is not the last names the key of the next page's
first contract (ExportContractRootGUID, NextPageContractRootGUID) or address
(ExportObjectGUID), which the client sends back in the request of the next page; the last page
says IsLastPage. Rows inserted while a client pages never come twice, and none that existed
when paging began is skipped.

  exportSupplyResourceContractRequest   the sender's (RSO) contracts: up to 1000 ContractRootGUID
      or ContractGUID, or ContractNumber, SigningDateStart/End, FIASHouseGuid; each contract
      as last sent (the values the export type has), with its GUIDs, ContractState,
      VersionNumber, VersionStatus, termination or annulment
  exportSupplyResourceContractObjectAddressRequest  the addresses of one of the sender's
      contracts (ContractRootGUID or ContractGUID), optionally of one house (FIASHouseGuid)
  exportBriefSupplyResourceContractRequest  brief contracts by Criteria (FIASHouseGuid with a
      contract GUID, number or signing dates) or by the second party (Organization): an RSO
      sees its own contracts, a management company the supply contracts of the houses it
      manages

Nothing found is getStateResult/ErrorMessage INT002012.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    child,
    children,
    guid,
    local,
    sub,
    text,
)
from gateway.handlers.house_management.contract_results import contract_state, version_status
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.namespaces import NSI_BASE
from gateway.namespaces import ORGANIZATIONS_REGISTRY_BASE as ORB
from gateway.xmlparse import parse_xml
from persistence import contracts as repo
from persistence.models import Contract, ContractObject
from persistence.paging import PAGE_SIZE, list_page
from persistence.roles import Role

#: what a stored SupplyResourceContract keeps in ExportSupplyResourceContractType, in order
_EXPORT_FIELDS = (
    "IsContract",
    "IsNotContract",
    "IndefiniteTerm",
    "AutomaticRollOverOneYear",
    "ComptetionDate",
    "VolumeDepends",
    "Period",
    "IndicationsAnyDay",
    "ContractBase",
    "Offer",
    "ApartmentBuildingOwner",
    "LivingHouseOwner",
    "Organization",
    "ApartmentBuildingRepresentativeOwner",
    "ApartmentBuildingSoleOwner",
    "IsPlannedVolume",
    "PlannedVolumeType",
    "ContractSubject",
    "CountingResource",
    "MeteringDeviceInformation",
    "SpecifyingQualityIndicators",
    "NoConnectionToWaterSupply",
    "Quality",
    "OtherQualityIndicator",
    "OneTimePayment",
    "BillingDate",
    "PaymentDate",
    "ProvidingInformationDate",
)


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


def _nothing() -> ExportError:
    return ExportError(Code.NOTHING_TO_EXPORT, "No resource supply contracts match the request.")


def _stored(contract: Contract) -> etree._Element | None:
    return parse_xml(contract.document_xml.encode()) if contract.document_xml else None


# --- exportSupplyResourceContractData ---------------------------------------------------


def export_supply_contracts(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportSupplyResourceContractRequest."""
    guids = [
        g
        for name in ("ContractRootGUID", "ContractGUID")
        for e in children(request, name)
        if (g := (e.text or "").strip().lower())
    ]
    selection = repo.Filter(
        ctx.org_guid,
        (repo.SUPPLY,),
        guids=tuple(guids),
        fias_house_guid=guid(request, "FIASHouseGuid"),
        number=text(request, "ContractNumber"),
        signed_from=_date(request, "SigningDateStart"),
        signed_to=_date(request, "SigningDateEnd"),
    )
    after = guid(request, "ExportContractRootGUID")
    contracts, next_key = repo.contracts_page(ctx.session, selection, after=after, size=PAGE_SIZE)
    if not contracts:
        raise _nothing()
    result = etree.Element(etree.QName(HM, "exportSupplyResourceContractResult"), nsmap={"hm": HM})
    today = ctx.now.date()
    for contract in contracts:
        _full(sub(result, HM, "Contract"), contract, today)
    if next_key is None:
        sub(result, HM, "IsLastPage", True)
    else:
        sub(result, HM, "ExportContractRootGUID", next_key)
    return HandlerResult([result])


def _full(element: etree._Element, contract: Contract, today: date) -> None:
    stored = _stored(contract)
    kept: dict[str, list[etree._Element]] = {name: [] for name in _EXPORT_FIELDS}
    for part in stored if stored is not None else []:
        if isinstance(part.tag, str) and local(part) in kept:
            kept[local(part)].append(part)
    for name in _EXPORT_FIELDS:
        for part in kept[name]:
            element.append(part)
    _versions(element, contract, today)
    if contract.state == repo.TERMINATED:
        terminate = sub(element, HM, "TerminateContract")
        sub(terminate, HM, "Terminate", contract.terminated_on or contract.updated_at.date())
        reason = sub(terminate, HM, "ReasonRef")
        sub(reason, NSI_BASE, "Code", contract.reason_code or "")
        sub(reason, NSI_BASE, "GUID", contract.reason_guid or "")
        if contract.reason:
            sub(reason, NSI_BASE, "Name", contract.reason[:1200])
    if contract.state == repo.ANNULLED:
        annul = sub(element, HM, "AnnulmentContract")
        if contract.reason:
            sub(annul, HM, "ReasonOfAnnulment", contract.reason[:1000])


def _versions(element: etree._Element, contract: Contract, today: date) -> None:
    sub(element, HM, "ContractRootGUID", contract.root_guid)
    sub(element, HM, "ContractGUID", contract.version_guid)
    sub(element, HM, "ContractState", contract_state(contract, today))
    sub(element, HM, "VersionNumber", contract.version_number)
    sub(element, HM, "VersionStatus", version_status(contract))


# --- exportSupplyResourceContractObjectAddressData --------------------------------------


def export_supply_contract_addresses(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportSupplyResourceContractObjectAddressRequest."""
    key = guid(request, "ContractRootGUID") or guid(request, "ContractGUID") or ""
    contract = repo.by_guids(ctx.session, [key]).get(key)
    if contract is None or contract.kind != repo.SUPPLY or contract.org_guid != ctx.org_guid:
        raise _nothing()
    fias = guid(request, "FIASHouseGuid")
    objects = [
        o
        for o in repo.objects_of(ctx.session, [contract.root_guid]).get(contract.root_guid, [])
        if fias is None or o.fias_house_guid == fias
    ]
    page, next_key = list_page(
        objects, lambda o: o.guid, after=guid(request, "ExportObjectGUID"), size=PAGE_SIZE
    )
    if not page:
        raise _nothing()
    result = etree.Element(
        etree.QName(HM, "exportSupplyResourceContractObjectAddress"), nsmap={"hm": HM}
    )
    for obj in page:
        element = sub(result, HM, "ObjectAddress")
        _address(element, obj)
        sub(element, HM, "ObjectGUID", obj.guid)
        sub(element, HM, "ContractRootGUID", contract.root_guid)
        sub(element, HM, "ContractGUID", contract.version_guid)
        sub(element, HM, "VersionNumber", contract.version_number)
        sub(element, HM, "VersionStatus", version_status(contract))
    if next_key is None:
        sub(result, HM, "IsLastPage", True)
    else:
        sub(result, HM, "ExportObjectGUID", next_key)
    return HandlerResult([result])


def _address(element: etree._Element, obj: ContractObject) -> None:
    sub(element, HM, "FIASHouseGuid", obj.fias_house_guid)
    if obj.apartment_number:
        sub(element, HM, "ApartmentNumber", obj.apartment_number)
    if obj.room_number:
        sub(element, HM, "RoomNumber", obj.room_number)


# --- exportBriefSupplyResourceContract --------------------------------------------------


def _brief_filters(ctx: HandlerContext, request: etree._Element) -> list[repo.Filter]:
    """One filter per criterion, over the contracts the sender may see."""
    owners = [ctx.org_guid] if ctx.org_role == Role.RSO else []
    criteria = children(request, "Criteria")
    if ctx.org_role == Role.UO:
        # a manager sees the supply contracts of the houses it manages, whoever placed them
        fias = [g for c in criteria if (g := guid(c, "FIASHouseGuid"))]
        managed = repo.covered_fias(ctx.session, ctx.org_guid, Role.UO, fias)
        owners = repo.suppliers_of(ctx.session, managed)
        criteria = [c for c in criteria if guid(c, "FIASHouseGuid") in managed]
    filters = []
    for owner in owners:
        for one in criteria:
            guids = tuple(g for n in ("ContractGUID", "ContractRootGUID") if (g := guid(one, n)))
            filters.append(
                repo.Filter(
                    owner,
                    (repo.SUPPLY,),
                    guids=guids,
                    fias_house_guid=guid(one, "FIASHouseGuid"),
                    number=text(one, "ContractNumber"),
                    signed_from=_date(one, "SigningDateStart"),
                    signed_to=_date(one, "SigningDateEnd"),
                )
            )
        if child(request, "Organization") is not None:
            filters.append(
                repo.Filter(
                    owner,
                    (repo.SUPPLY,),
                    counterparty=guid(child(request, "Organization"), "orgRootEntityGUID"),
                )
            )
    return filters


def export_brief_supply_contracts(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportBriefSupplyResourceContractRequest."""
    found: dict[str, Contract] = {}
    for selection in _brief_filters(ctx, request):
        found.update((c.root_guid, c) for c in repo.contracts(ctx.session, selection))
    after = guid(request, "NextPageContractRootGUID")
    page, next_key = list_page(
        list(found.values()), lambda c: c.root_guid, after=after, size=PAGE_SIZE
    )
    if not page:
        raise _nothing()
    objects = repo.objects_of(ctx.session, [c.root_guid for c in page])
    result = etree.Element(
        etree.QName(HM, "exportBriefSupplyResourceContractResult"), nsmap={"hm": HM}
    )
    today = ctx.now.date()
    for contract in page:
        _brief(sub(result, HM, "Contract"), contract, objects.get(contract.root_guid, []), today)
    if next_key is None:
        sub(result, HM, "IsLastPage", True)
    else:
        sub(result, HM, "NextPageContractRootGUID", next_key)
    return HandlerResult([result])


def _brief(
    element: etree._Element, contract: Contract, objects: list[ContractObject], today: date
) -> None:
    sub(element, HM, "ContractRootGUID", contract.root_guid)
    sub(element, HM, "ContractGUID", contract.version_guid)
    sub(element, HM, "VersionNumber", contract.version_number)
    sub(element, HM, "VersionStatus", version_status(contract))
    sub(element, HM, "ContractState", contract_state(contract, today))
    terms = sub(element, HM, "IsContract" if contract.is_contract else "IsNotContract")
    if contract.is_contract or contract.number:
        sub(terms, HM, "ContractNumber", contract.number or "-")
    if contract.is_contract or contract.signing_date:
        sub(terms, HM, "SigningDate", contract.signing_date or contract.created_at.date())
    if contract.is_contract or contract.effective_date:
        sub(terms, HM, "EffectiveDate", contract.effective_date or contract.created_at.date())
    first = sub(element, HM, "FirstPartyContract")
    sub(first, ORB, "orgRootEntityGUID", contract.org_guid)
    second = sub(element, HM, "SecondPartyContract")
    if contract.counterparty_kind == "Organization" and contract.counterparty_org_guid:
        sub(
            sub(second, HM, "Organization"),
            ORB,
            "orgRootEntityGUID",
            contract.counterparty_org_guid,
        )
    elif contract.counterparty_kind == "Offer":
        sub(second, HM, "Offer", True)
    else:
        sub(second, HM, "Owner", True)
    if contract.state == repo.ANNULLED:
        annul = sub(element, HM, "AnnulmentContract")
        sub(annul, HM, "ReasonOfAnnulment", (contract.reason or "-")[:1000])
    for obj in objects:
        if not obj.annulled:
            _address(sub(element, HM, "ObjectAddress"), obj)

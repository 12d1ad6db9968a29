"""exportStatusCAChData and exportCAChData: the sender's management contracts and charters.

exportStatusCAChRequest: up to 100 Criteria, each a ContractGUID, ContractVersionGUID,
CharterGUID or CharterVersionGUID; answers one exportStatusCAChResult per document found:
GUIDs, status, State, its houses (FIASHouseGuid, ManagedObjectStatus,
ContractObjectVersionGUID), VersionNumber.

exportCAChAsyncRequest: up to 100 Criteria, each one of those GUIDs, UOGUID (the sender's
own) or FIASHouseGuid (documents covering the house), optionally narrowed by SigningDate;
none: every document of the sender. Answers one exportCAChResult per document: the document
as it was last sent (values the export type has), its status and GUIDs, its houses.

Only the sender's documents are exported; none found is getStateResult/ErrorMessage INT002012.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    children,
    guid,
    local,
    sub,
    text,
)
from gateway.handlers.house_management.contract_results import (
    CHARTER,
    CONTRACT,
    Names,
    status_elements,
    status_of,
)
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.namespaces import NSI_BASE
from gateway.xmlparse import parse_xml
from persistence import contracts as repo
from persistence.models import Contract, ContractObject

_NAMES = {repo.MANAGEMENT: CONTRACT, repo.CHARTER: CHARTER}
_GUID_CRITERIA = ("ContractGUID", "ContractVersionGUID", "CharterGUID", "CharterVersionGUID")
#: what a stored PlacingContract / EditContract keeps in ContractExportType, in its order
#: (DateDetails, AgreementAttachment and Protocol have other shapes in the export: left out)
_CONTRACT_FIELDS = (
    "DocNum",
    "SigningDate",
    "EffectiveDate",
    "PlanDateComptetion",
    "Validity",
    "Owners",
    "Cooperative",
    "MunicipalHousing",
    "BuildingOwner",
    "CompetentAuthority",
    "ContractBase",
    "ContractAttachment",
    "SignedOwners",
    "CommissioningPermitAgreement",
    "Charter",
    "LocalGovernmentDecision",
    "RegistryDecisionID",
    "AutomaticRollOverOneYear",
    "IndicationsAnyDay",
)
_CHARTER_FIELDS = (
    "Date",
    "NoCharterApproveProtocol",
    "AttachmentCharter",
    "AutomaticRollOverOneYear",
    "IndicationsAnyDay",
)


def _found(ctx: HandlerContext, contracts: list[Contract]) -> list[Contract]:
    unique = {c.root_guid: c for c in contracts if c.org_guid == ctx.org_guid}
    if not unique:
        raise ExportError(
            Code.NOTHING_TO_EXPORT, "No management contracts or charters of yours match."
        )
    return sorted(unique.values(), key=lambda c: c.root_guid)


def export_status_cach(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportStatusCAChRequest."""
    session = ctx.session
    wanted = [
        g
        for criteria in children(request, "Criteria")
        for n in _GUID_CRITERIA
        if (g := guid(criteria, n))
    ]
    contracts = [
        c for c in repo.by_guids(session, wanted).values() if c.kind in repo.MANAGING_KINDS
    ]
    found = _found(ctx, contracts)
    objects = repo.objects_of(session, [c.root_guid for c in found])
    elements = []
    for contract in found:
        element = etree.Element(etree.QName(HM, "exportStatusCAChResult"), nsmap={"hm": HM})
        status_elements(
            element,
            _NAMES[contract.kind],
            contract,
            objects.get(contract.root_guid, []),
            ctx.now.date(),
        )
        elements.append(element)
    return HandlerResult(elements)


def _criteria(ctx: HandlerContext, criteria: etree._Element) -> list[Contract]:
    session, org = ctx.session, ctx.org_guid
    signed = text(criteria, "SigningDate")
    day = date.fromisoformat(signed[:10]) if signed else None
    for name in _GUID_CRITERIA:
        value = guid(criteria, name)
        if value is not None:
            found = repo.by_guids(session, [value]).get(value)
            return [found] if found is not None and found.kind in repo.MANAGING_KINDS else []
    fias = guid(criteria, "FIASHouseGuid")
    uo = guid(criteria, "UOGUID")
    if uo is not None and uo != org:
        return []
    return repo.contracts(
        session,
        repo.Filter(org, repo.MANAGING_KINDS, fias_house_guid=fias, signed_from=day, signed_to=day),
    )


def export_cach(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportCAChAsyncRequest."""
    session = ctx.session
    criteria = children(request, "Criteria")
    if criteria:
        contracts = [c for one in criteria for c in _criteria(ctx, one)]
    else:
        contracts = repo.contracts(session, repo.Filter(ctx.org_guid, repo.MANAGING_KINDS))
    found = _found(ctx, contracts)
    objects = repo.objects_of(session, [c.root_guid for c in found])
    elements = []
    for contract in found:
        element = etree.Element(etree.QName(HM, "exportCAChResult"), nsmap={"hm": HM})
        names = _NAMES[contract.kind]
        _document(element, names, contract, objects.get(contract.root_guid, []))
        elements.append(element)
    return HandlerResult(elements)


def _document(
    parent: etree._Element, names: Names, contract: Contract, objects: list[ContractObject]
) -> None:
    is_contract = names is CONTRACT
    document = sub(parent, HM, "Contract" if is_contract else "Charter")
    stored = parse_xml(contract.document_xml.encode()) if contract.document_xml else None
    fields = _CONTRACT_FIELDS if is_contract else _CHARTER_FIELDS
    kept: dict[str, list[etree._Element]] = {f: [] for f in fields}
    if stored is not None:
        for part in stored:
            if isinstance(part.tag, str) and local(part) in kept:
                kept[local(part)].append(part)
    for name in fields:
        for part in kept[name]:
            document.append(part)
    if contract.state == repo.TERMINATED and contract.terminated_on is not None:
        terminate = sub(document, HM, "Terminate")
        sub(terminate, HM, "Terminate", contract.terminated_on)
        if not is_contract:
            sub(terminate, HM, "Reason", contract.reason or "-")
        elif contract.reason_code and contract.reason_guid:
            reason = sub(terminate, HM, "ReasonRef")
            sub(reason, NSI_BASE, "Code", contract.reason_code)
            sub(reason, NSI_BASE, "GUID", contract.reason_guid)
    sub(document, HM, names.status, status_of(contract.state))
    sub(document, HM, names.guid, contract.root_guid)
    sub(document, HM, names.version_guid, contract.version_guid)
    stored_objects = {
        guid(o, "FIASHouseGuid"): o
        for o in (stored.iter(f"{{{HM}}}ContractObject") if stored is not None else [])
    }
    for obj in objects:
        _object(document, contract, obj, stored_objects.get(obj.fias_house_guid))


def _object(
    parent: etree._Element,
    contract: Contract,
    obj: ContractObject,
    stored: etree._Element | None,
) -> None:
    element = sub(parent, HM, "ContractObject")
    sub(element, HM, "FIASHouseGuid", obj.fias_house_guid)
    start = obj.start_date or contract.effective_date or contract.created_at.date()
    sub(element, HM, "StartDate", start)
    if obj.end_date is not None:
        sub(element, HM, "EndDate", obj.end_date)
    sub(element, HM, "ContractObjectVersionGUID", obj.guid)
    base = stored.find(f"{{{HM}}}BaseMService") if stored is not None else None
    if base is not None and base.find(f"{{{HM}}}CurrentDoc") is not None:
        element.append(base)
    else:  # a charter's basis (its CurrentCharter) is the document itself
        sub(sub(element, HM, "BaseMService"), HM, "CurrentDoc", True)

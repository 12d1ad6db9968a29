"""importSupplyResourceContractData, importSupplyResourceContractObjectAddressData and
importSupplyResourceContractProjectData: a resource supplier (RSO) places the contracts by
which it serves houses.

A resource supplier serves a house while one of its placed supply contracts — a contract
(IsContract) or an offer (IsNotContract, "not a contract") — has the house among its
ObjectAddress entries (FIASHouseGuid, with ApartmentNumber / RoomNumber for one premises):
then it may keep accounts, devices, readings and payment documents there
(persistence/contracts.py ``supplied_houses``). Several suppliers may serve one house.

importSupplyResourceContractRequest, up to 1000 ``Contract`` items:
  SupplyResourceContract  without ContractGUID/ContractRootGUID: a new contract, placed
                          (VersionStatus Posted) with its addresses; with one of them: a new
                          version that replaces the contract's description and addresses
  TerminateContract       the contract ends (Terminated): its houses are served no more
  RollOverContract        the contract runs on to RollOverDate
  AnnulmentContract       the contract is annulled (Annul)
importSupplyResourceContractObjectAddressRequest, one contract (ContractGUID or
ContractRootGUID), up to 1000 ``ObjectAddress`` items: LoadObject adds an address (or, with
ObjectGUID, changes it), DeleteObject removes one.
importSupplyResourceContractProjectRequest, up to 1000 ``Contract`` items: ContractProject
creates (or edits) a project (Draft, serving nothing), PlacingContractProject places it,
DeleteContractProject deletes it.

Rules (per item): the GUIDs name a contract of the sender (INT002000, AUT011003); ContractGUID,
when it is the one sent, is the current version (HCS007003); a terminated or annulled
contract changes no more, only a project is placed or deleted as a project (HCS007001).
Results: CommonResult (GUID = the contract's version GUID, or the address's ObjectGUID) with
ImportSupplyResourceContract {ContractGUID, ContractRootGUID},
ImportSupplyResourceContractObjectAddress {ContractGUID} or ImportSupplyResourceContractProject
{ContractGUID}.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from lxml import etree
from sqlalchemy import delete

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    child,
    children,
    common_result_error,
    common_result_success,
    guid,
    item,
    local,
    sub,
    text,
)
from gateway.handlers.house_management.contract_results import stored_xml
from gateway.handlers.house_management.import_account import IMPORT_RESULT_VERSION
from gateway.namespaces import BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts as repo
from persistence.houses import new_guid
from persistence.models import Contract, ContractObject

#: who the second party of a supply contract is (SupplyResourceContractType's choice)
_COUNTERPARTIES = (
    "Offer",
    "ApartmentBuildingOwner",
    "LivingHouseOwner",
    "Organization",
    "ApartmentBuildingRepresentativeOwner",
    "ApartmentBuildingSoleOwner",
)


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


class _Supply:
    """The contracts one packet names, read before any item, and the item rules."""

    def __init__(self, ctx: HandlerContext, guids: list[str]) -> None:
        self.ctx = ctx
        self.contracts = repo.by_guids(ctx.session, guids)
        self.objects = repo.objects_of(ctx.session, {c.root_guid for c in self.contracts.values()})

    def named(self, element: etree._Element, *, states: tuple[str, ...]) -> Contract:
        """The sender's supply contract that ContractGUID (current version) or
        ContractRootGUID of ``element`` names, in one of ``states``."""
        version, root = guid(element, "ContractGUID"), guid(element, "ContractRootGUID")
        key = version or root or ""
        contract = self.contracts.get(key)
        if contract is None or contract.kind != repo.SUPPLY:
            raise ItemError(Code.NOT_FOUND, f"No supply contract has GUID {key}.")
        if contract.org_guid != self.ctx.org_guid:
            raise ItemError(Code.NOT_ALLOWED, f"Supply contract {contract.root_guid} is not yours.")
        if version is not None and contract.version_guid != version:
            raise ItemError(
                Code.CONTRACT_VERSION_STALE,
                f"{version} is not the current version of supply contract {contract.root_guid}; "
                f"the current one is {contract.version_guid}.",
            )
        if contract.state not in states:
            raise ItemError(
                Code.CONTRACT_STATE,
                f"Supply contract {contract.root_guid} is {contract.state}; this change needs "
                f"it {' or '.join(states)}.",
            )
        return contract

    def new_version(self, contract: Contract) -> None:
        contract.version_guid = new_guid()
        contract.version_number += 1
        contract.updated_at = self.ctx.now
        contract.message_guid = self.ctx.message_guid
        self.contracts[contract.version_guid] = contract

    def describe(self, contract: Contract, body: etree._Element) -> None:
        """Apply a SupplyResourceContract / ContractProject description to the contract."""
        is_contract = child(body, "IsContract")
        terms = is_contract if is_contract is not None else child(body, "IsNotContract")
        contract.is_contract = is_contract is not None
        contract.number = text(terms, "ContractNumber")
        contract.signing_date = _date(terms, "SigningDate")
        contract.effective_date = _date(terms, "EffectiveDate")
        contract.end_date = _date(body, "ComptetionDate")
        party = next((child(body, n) for n in _COUNTERPARTIES if child(body, n) is not None), None)
        contract.counterparty_kind = local(party) if party is not None else None
        contract.counterparty_org_guid = (
            guid(party, "orgRootEntityGUID") or guid(child(party, "RegOrg"), "orgRootEntityGUID")
            if party is not None
            else None
        )
        contract.document_xml = stored_xml(body)

    def new_contract(self, body: etree._Element, transport_guid: str, state: str) -> Contract:
        ctx = self.ctx
        contract = Contract(
            root_guid=new_guid(),
            version_guid=new_guid(),
            kind=repo.SUPPLY,
            org_guid=ctx.org_guid,
            state=state,
            version_number=1,
            message_guid=ctx.message_guid,
            transport_guid=transport_guid,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        self.describe(contract, body)
        ctx.session.add(contract)
        ctx.session.flush()
        self.contracts[contract.root_guid] = self.contracts[contract.version_guid] = contract
        return contract

    def replace_addresses(
        self, contract: Contract, addresses: list[etree._Element], transport_guid: str
    ) -> None:
        session = self.ctx.session
        session.execute(
            delete(ContractObject).where(ContractObject.contract_guid == contract.root_guid)
        )
        self.objects[contract.root_guid] = []
        for address in addresses:
            self.load_address(contract, address, text(address, "TransportGUID") or transport_guid)

    def load_address(
        self,
        contract: Contract,
        address: etree._Element,
        transport_guid: str,
        object_guid: str | None = None,
    ) -> ContractObject:
        objects = self.objects.setdefault(contract.root_guid, [])
        obj = next((o for o in objects if o.guid == object_guid), None) if object_guid else None
        if object_guid and obj is None:
            raise ItemError(
                Code.NOT_FOUND,
                f"Address {object_guid} is not one of supply contract {contract.root_guid}'s.",
            )
        if obj is None:
            obj = ContractObject(guid=new_guid(), contract_guid=contract.root_guid, annulled=False)
            self.ctx.session.add(obj)
            objects.append(obj)
        obj.fias_house_guid = guid(address, "FIASHouseGuid") or ""
        obj.apartment_number = text(address, "ApartmentNumber")
        obj.room_number = text(address, "RoomNumber")
        starts = [d for p in children(address, "Pair") if (d := _date(p, "StartSupplyDate"))]
        ends = [_date(p, "EndSupplyDate") for p in children(address, "Pair")]
        obj.start_date = min(starts) if starts else None
        obj.end_date = None if not ends or None in ends else max(e for e in ends if e)
        obj.transport_guid = transport_guid
        obj.updated_at = self.ctx.now
        return obj


def _contract_result(parent: etree._Element, name: str, contract: Contract, root: bool) -> None:
    detail = sub(parent, HM, name)
    sub(detail, HM, "ContractGUID", contract.version_guid)
    if root:
        sub(detail, HM, "ContractRootGUID", contract.root_guid)


def _import_result() -> etree._Element:
    result = etree.Element(etree.QName(HM, "ImportResult"), nsmap={"hm": HM})
    result.set(f"{{{BASE}}}version", IMPORT_RESULT_VERSION)
    return result


def _run(
    ctx: HandlerContext,
    items: list[etree._Element],
    change: Callable[[etree._Element, str], Contract],
    answer: str,
) -> HandlerResult:
    """Run each contract item; answer the contract's version GUID and ``answer``'s element."""
    result = _import_result()
    for element in items:
        transport_guid = text(element, "TransportGUID") or ""
        try:
            with item(ctx):
                contract = change(element, transport_guid)
        except ItemError as error:
            common_result_error(result, HM, transport_guid=transport_guid, error=error)
            continue
        done = common_result_success(
            result,
            HM,
            transport_guid=transport_guid,
            guid_value=contract.version_guid,
            unique_number=None,
            update_date=ctx.now,
        )
        _contract_result(done, answer, contract, root=answer == "ImportSupplyResourceContract")
    return HandlerResult([result])


def _item_guids(items: list[etree._Element]) -> list[str]:
    return [g for e in items for n in ("ContractGUID", "ContractRootGUID") if (g := guid(e, n))]


# --- importSupplyResourceContractData ----------------------------------------------------


def import_supply_contract(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractRequest."""
    items = children(request, "Contract")
    supply = _Supply(ctx, _item_guids(items))
    return _run(
        ctx,
        items,
        lambda element, transport_guid: _supply_change(supply, element, transport_guid),
        "ImportSupplyResourceContract",
    )


def _supply_change(supply: _Supply, element: etree._Element, transport_guid: str) -> Contract:
    body = child(element, "SupplyResourceContract")
    if body is not None:
        addresses = children(body, "ObjectAddress")
        if guid(element, "ContractGUID") is None and guid(element, "ContractRootGUID") is None:
            contract = supply.new_contract(body, transport_guid, repo.PLACED)
        else:
            contract = supply.named(element, states=(repo.PLACED,))
            supply.describe(contract, body)
            supply.new_version(contract)
        supply.replace_addresses(contract, addresses, transport_guid)
        return contract
    contract = supply.named(element, states=(repo.PLACED,))
    terminate, roll_over = child(element, "TerminateContract"), child(element, "RollOverContract")
    annul = child(element, "AnnulmentContract")
    if terminate is not None:
        contract.state = repo.TERMINATED
        contract.terminated_on = _date(terminate, "Terminate")
        reason = child(terminate, "ReasonRef")
        contract.reason = text(reason, "Name")
        contract.reason_code, contract.reason_guid = text(reason, "Code"), guid(reason, "GUID")
    elif roll_over is not None:
        contract.end_date = _date(roll_over, "RollOverDate")
    elif annul is not None:
        contract.state = repo.ANNULLED
        contract.reason = text(annul, "ReasonOfAnnulment")
    supply.new_version(contract)
    return contract


# --- importSupplyResourceContractObjectAddressData ---------------------------------------


def import_supply_contract_addresses(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractObjectAddressRequest (addresses of one contract)."""
    supply = _Supply(ctx, _item_guids([request]))
    result = _import_result()
    items = children(request, "ObjectAddress")
    try:
        contract = supply.named(request, states=(repo.PLACED, repo.PROJECT))
    except ItemError as error:
        for element in items:
            common_result_error(
                result, HM, transport_guid=text(element, "TransportGUID") or "", error=error
            )
        return HandlerResult([result])
    changed = False
    for element in items:
        transport_guid = text(element, "TransportGUID") or ""
        try:
            with item(ctx):
                obj = _address_change(supply, contract, element, transport_guid)
        except ItemError as error:
            common_result_error(result, HM, transport_guid=transport_guid, error=error)
            continue
        changed = True
        done = common_result_success(
            result,
            HM,
            transport_guid=transport_guid,
            guid_value=obj.guid,
            unique_number=None,
            update_date=ctx.now,
        )
        _contract_result(done, "ImportSupplyResourceContractObjectAddress", contract, root=False)
    if changed:
        # one new version for the packet's changes: the answers name it
        supply.new_version(contract)
        for answer in result.iter(f"{{{HM}}}ImportSupplyResourceContractObjectAddress"):
            answer[0].text = contract.version_guid
    return HandlerResult([result])


def _address_change(
    supply: _Supply, contract: Contract, element: etree._Element, transport_guid: str
) -> ContractObject:
    object_guid = guid(element, "ObjectGUID")
    load = child(element, "LoadObject")
    if load is not None:
        return supply.load_address(contract, load, transport_guid, object_guid)
    objects = supply.objects.get(contract.root_guid, [])
    obj = next((o for o in objects if o.guid == object_guid), None)
    if obj is None:
        raise ItemError(
            Code.NOT_FOUND,
            f"Address {object_guid} is not one of supply contract {contract.root_guid}'s.",
        )
    objects.remove(obj)
    supply.ctx.session.delete(obj)
    return obj


# --- importSupplyResourceContractProjectData ---------------------------------------------


def import_supply_contract_project(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractProjectRequest."""
    items = children(request, "Contract")
    supply = _Supply(ctx, _item_guids(items))
    return _run(
        ctx,
        items,
        lambda element, transport_guid: _project_change(supply, element, transport_guid),
        "ImportSupplyResourceContractProject",
    )


def _project_change(supply: _Supply, element: etree._Element, transport_guid: str) -> Contract:
    body = child(element, "ContractProject")
    named = guid(element, "ContractGUID") or guid(element, "ContractRootGUID")
    if body is not None and named is None:
        return supply.new_contract(body, transport_guid, repo.PROJECT)
    contract = supply.named(element, states=(repo.PROJECT,))
    if body is not None:
        supply.describe(contract, body)
        supply.new_version(contract)
    elif child(element, "PlacingContractProject") is not None:
        contract.state = repo.PLACED
        supply.new_version(contract)
    else:  # DeleteContractProject: a project leaves nothing behind
        session = supply.ctx.session
        session.execute(
            delete(ContractObject).where(ContractObject.contract_guid == contract.root_guid)
        )
        session.delete(contract)
    return contract

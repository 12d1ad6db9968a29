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
ObjectGUID, changes it), DeleteObject removes one; the packet makes one new version.
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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
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
    text,
)
from gateway.handlers.house_management.contract_results import stored_xml
from gateway.handlers.house_management.import_account import IMPORT_RESULT_VERSION
from gateway.imports.answer import Answer, Detail, Done
from gateway.imports.pipeline import ImportBase, Item, run_import
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts as repo
from persistence.houses import new_guid
from persistence.models import Contract, ContractObject, ContractVersion
from persistence.sets import Changes

#: who the second party of a supply contract is (SupplyResourceContractType's choice)
_COUNTERPARTIES = (
    "Offer",
    "ApartmentBuildingOwner",
    "LivingHouseOwner",
    "Organization",
    "ApartmentBuildingRepresentativeOwner",
    "ApartmentBuildingSoleOwner",
)
_ANSWER = Answer(HM, tag="CommonResult", wrapper_version=IMPORT_RESULT_VERSION, nsmap={"hm": HM})


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """An ObjectAddress / LoadObject: a house, or one premises or room of it."""

    fias: str
    apartment: str | None
    room: str | None
    start: date | None
    end: date | None
    transport_guid: str


@dataclass(frozen=True)
class Description:
    """What a SupplyResourceContract / ContractProject says of the contract itself."""

    is_contract: bool
    number: str | None
    signing: date | None
    effective: date | None
    end: date | None
    counterparty_kind: str | None
    counterparty_org: str | None
    document_xml: str


@dataclass(frozen=True)
class Ref:
    """How an item names an existing contract: its current version or its root GUID."""

    version: str | None = None
    root: str | None = None

    @property
    def given(self) -> str | None:
        return self.version or self.root


@dataclass(frozen=True)
class SupplyChange:
    """One Contract item of importSupplyResourceContractData or …ProjectData."""

    action: str  # place | edit | terminate | roll_over | annul | project | place_project | delete
    ref: Ref
    transport_guid: str
    description: Description | None = None
    addresses: tuple[Address, ...] | None = None  # None: the item leaves them as they are
    until: date | None = None
    reason: str | None = None
    reason_ref: tuple[str | None, str | None] = (None, None)


@dataclass(frozen=True)
class AddressChange:
    """One ObjectAddress item of importSupplyResourceContractObjectAddressData."""

    ref: Ref
    object_guid: str | None
    address: Address | None  # None: DeleteObject


def _ref(element: etree._Element) -> Ref:
    return Ref(guid(element, "ContractGUID"), guid(element, "ContractRootGUID"))


def _address(element: etree._Element, transport_guid: str) -> Address:
    pairs = children(element, "Pair")
    starts = [d for p in pairs if (d := _date(p, "StartSupplyDate"))]
    ends = [_date(p, "EndSupplyDate") for p in pairs]
    return Address(
        fias=guid(element, "FIASHouseGuid") or "",
        apartment=text(element, "ApartmentNumber"),
        room=text(element, "RoomNumber"),
        start=min(starts) if starts else None,
        end=None if not ends or None in ends else max(e for e in ends if e),
        transport_guid=text(element, "TransportGUID") or transport_guid,
    )


def _description(body: etree._Element) -> Description:
    is_contract = child(body, "IsContract")
    terms = is_contract if is_contract is not None else child(body, "IsNotContract")
    party = next((p for n in _COUNTERPARTIES if (p := child(body, n)) is not None), None)
    org = None
    if party is not None:
        org = guid(party, "orgRootEntityGUID") or guid(child(party, "RegOrg"), "orgRootEntityGUID")
    return Description(
        is_contract=is_contract is not None,
        number=text(terms, "ContractNumber"),
        signing=_date(terms, "SigningDate"),
        effective=_date(terms, "EffectiveDate"),
        end=_date(body, "ComptetionDate"),
        counterparty_kind=local(party) if party is not None else None,
        counterparty_org=org,
        document_xml=stored_xml(body),
    )


# --- the packet's state and the shared rules ---------------------------------------------


@dataclass
class State:
    contracts: dict[str, dict[str, Any]]  # by root and version GUID
    objects: dict[str, list[dict[str, Any]]]  # root GUID ► its addresses
    versioned: set[str] = field(default_factory=set)  # roots given a new version already


def _prefetch(ctx: HandlerContext, refs: Sequence[Ref]) -> State:
    contracts = repo.contract_rows(ctx.session, [r.given for r in refs if r.given])
    roots = {c["root_guid"] for c in contracts.values()}
    return State(contracts, repo.object_rows(ctx.session, roots))


def _named(
    ctx: HandlerContext, state: State, ref: Ref, *, states: tuple[str, ...]
) -> dict[str, Any]:
    """The sender's supply contract the item names, in one of ``states``."""
    key = ref.given or ""
    contract = state.contracts.get(key)
    if contract is None or contract["kind"] != repo.SUPPLY:
        raise ItemError(Code.NOT_FOUND, f"No supply contract has GUID {key}.")
    if contract["org_guid"] != ctx.org_guid:
        raise ItemError(Code.NOT_ALLOWED, f"Supply contract {contract['root_guid']} is not yours.")
    if ref.version is not None and contract["version_guid"] != ref.version:
        raise ItemError(
            Code.CONTRACT_VERSION_STALE,
            f"{ref.version} is not the current version of supply contract "
            f"{contract['root_guid']}; the current one is {contract['version_guid']}.",
        )
    if contract["state"] not in states:
        raise ItemError(
            Code.CONTRACT_STATE,
            f"Supply contract {contract['root_guid']} is {contract['state']}; this change "
            f"needs it {' or '.join(states)}.",
        )
    return contract


def _described(description: Description) -> dict[str, Any]:
    return {
        "is_contract": description.is_contract,
        "number": description.number,
        "signing_date": description.signing,
        "effective_date": description.effective,
        "end_date": description.end,
        "counterparty_kind": description.counterparty_kind,
        "counterparty_org_guid": description.counterparty_org,
        "document_xml": description.document_xml,
    }


def _new_contract(
    ctx: HandlerContext, state: State, record: SupplyChange, changes: Changes, contract_state: str
) -> dict[str, Any]:
    assert record.description is not None
    contract = changes.insert(
        Contract,
        {
            "root_guid": new_guid(),
            "version_guid": new_guid(),
            "kind": repo.SUPPLY,
            "org_guid": ctx.org_guid,
            "state": contract_state,
            **_described(record.description),
            "version_number": 1,
            "message_guid": ctx.message_guid,
            "transport_guid": record.transport_guid,
            "created_at": ctx.now,
            "updated_at": ctx.now,
        },
    )
    changes.insert(ContractVersion, repo.version_row(contract, ctx.now))
    state.contracts[contract["root_guid"]] = state.contracts[contract["version_guid"]] = contract
    state.objects[contract["root_guid"]] = []
    return contract


def _change(
    ctx: HandlerContext,
    state: State,
    contract: dict[str, Any],
    values: dict[str, Any],
    changes: Changes,
) -> None:
    """Write ``values`` as a new version of the contract."""
    values = {
        **values,
        "version_guid": new_guid(),
        "version_number": contract["version_number"] + 1,
        "message_guid": ctx.message_guid,
        "updated_at": ctx.now,
    }
    changes.update(Contract, {"root_guid": contract["root_guid"]}, values)
    contract.update(values)
    changes.insert(ContractVersion, repo.version_row(contract, ctx.now))
    state.contracts[contract["version_guid"]] = contract


def _insert_address(
    ctx: HandlerContext, contract: dict[str, Any], address: Address, changes: Changes
) -> dict[str, Any]:
    return changes.insert(
        ContractObject,
        {
            "guid": new_guid(),
            "contract_guid": contract["root_guid"],
            "fias_house_guid": address.fias,
            "apartment_number": address.apartment,
            "room_number": address.room,
            "start_date": address.start,
            "end_date": address.end,
            "annulled": False,
            "transport_guid": address.transport_guid,
            "updated_at": ctx.now,
        },
    )


def _replace_addresses(
    ctx: HandlerContext,
    state: State,
    contract: dict[str, Any],
    addresses: tuple[Address, ...],
    changes: Changes,
) -> None:
    if state.objects.get(contract["root_guid"]):
        changes.delete(ContractObject, {"contract_guid": contract["root_guid"]})
    state.objects[contract["root_guid"]] = [
        _insert_address(ctx, contract, a, changes) for a in addresses
    ]


def _detail(name: str, contract: dict[str, Any], *, root: bool) -> Detail:
    fields = [(HM, "ContractGUID", contract["version_guid"])]
    if root:
        fields.append((HM, "ContractRootGUID", contract["root_guid"]))
    return Detail(HM, name, tuple(fields))


# --- importSupplyResourceContractData ----------------------------------------------------


class ImportSupply(ImportBase[SupplyChange, State]):
    answer = _ANSWER

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[SupplyChange]]:
        for element in children(request, "Contract"):
            transport_guid = text(element, "TransportGUID") or ""
            ref = _ref(element)
            body = child(element, "SupplyResourceContract")
            terminate = child(element, "TerminateContract")
            roll_over = child(element, "RollOverContract")
            annul = child(element, "AnnulmentContract")
            if body is not None:
                record = SupplyChange(
                    "edit" if ref.given else "place",
                    ref,
                    transport_guid,
                    description=_description(body),
                    addresses=tuple(
                        _address(a, transport_guid) for a in children(body, "ObjectAddress")
                    ),
                )
            elif terminate is not None:
                reason = child(terminate, "ReasonRef")
                record = SupplyChange(
                    "terminate",
                    ref,
                    transport_guid,
                    until=_date(terminate, "Terminate"),
                    reason=text(reason, "Name"),
                    reason_ref=(text(reason, "Code"), guid(reason, "GUID")),
                )
            elif roll_over is not None:
                record = SupplyChange(
                    "roll_over", ref, transport_guid, until=_date(roll_over, "RollOverDate")
                )
            else:
                record = SupplyChange(
                    "annul", ref, transport_guid, reason=text(annul, "ReasonOfAnnulment")
                )
            yield Item(transport_guid, record)

    def prefetch(self, ctx: HandlerContext, records: Sequence[SupplyChange]) -> State:
        return _prefetch(ctx, [r.ref for r in records])

    def decide(
        self, ctx: HandlerContext, state: State, record: SupplyChange, changes: Changes
    ) -> Done:
        if record.action == "place":
            contract = _new_contract(ctx, state, record, changes, repo.PLACED)
        else:
            contract = _named(ctx, state, record.ref, states=(repo.PLACED,))
            if record.action == "edit":
                assert record.description is not None
                _change(ctx, state, contract, _described(record.description), changes)
            elif record.action == "terminate":
                code, reason_guid = record.reason_ref
                values = {
                    "state": repo.TERMINATED,
                    "terminated_on": record.until,
                    "reason": record.reason,
                    "reason_code": code,
                    "reason_guid": reason_guid,
                }
                _change(ctx, state, contract, values, changes)
            elif record.action == "roll_over":
                _change(ctx, state, contract, {"end_date": record.until}, changes)
            else:
                _change(
                    ctx, state, contract, {"state": repo.ANNULLED, "reason": record.reason}, changes
                )
        if record.addresses is not None:
            _replace_addresses(ctx, state, contract, record.addresses, changes)
        return Done(
            contract["version_guid"],
            detail=_detail("ImportSupplyResourceContract", contract, root=True),
        )


# --- importSupplyResourceContractObjectAddressData ---------------------------------------


class ImportAddresses(ImportBase[AddressChange, State]):
    answer = _ANSWER

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[AddressChange]]:
        ref = _ref(request)
        for element in children(request, "ObjectAddress"):
            transport_guid = text(element, "TransportGUID") or ""
            load = child(element, "LoadObject")
            address = _address(load, transport_guid) if load is not None else None
            yield Item(transport_guid, AddressChange(ref, guid(element, "ObjectGUID"), address))

    def prefetch(self, ctx: HandlerContext, records: Sequence[AddressChange]) -> State:
        return _prefetch(ctx, [r.ref for r in records[:1]])

    def decide(
        self, ctx: HandlerContext, state: State, record: AddressChange, changes: Changes
    ) -> Done:
        contract = _named(ctx, state, record.ref, states=(repo.PLACED, repo.PROJECT))
        objects = state.objects.setdefault(contract["root_guid"], [])
        obj = next((o for o in objects if o["guid"] == record.object_guid), None)
        if record.object_guid is not None and obj is None:
            raise ItemError(
                Code.NOT_FOUND,
                f"Address {record.object_guid} is not one of supply contract "
                f"{contract['root_guid']}'s (or it came in this packet: change it in the next).",
            )
        if contract["root_guid"] not in state.versioned:  # one new version for the packet
            state.versioned.add(contract["root_guid"])
            _change(ctx, state, contract, {}, changes)
        address = record.address
        if address is None:  # DeleteObject
            assert obj is not None
            changes.delete(ContractObject, {"guid": obj["guid"]})
            objects.remove(obj)
        elif obj is None:
            obj = _insert_address(ctx, contract, address, changes)
            objects.append(obj)
        else:
            values = {
                "fias_house_guid": address.fias,
                "apartment_number": address.apartment,
                "room_number": address.room,
                "start_date": address.start,
                "end_date": address.end,
                "transport_guid": address.transport_guid,
                "updated_at": ctx.now,
            }
            changes.update(ContractObject, {"guid": obj["guid"]}, values)
            obj.update(values)
        return Done(
            obj["guid"] if obj is not None else record.object_guid,
            detail=_detail("ImportSupplyResourceContractObjectAddress", contract, root=False),
        )


# --- importSupplyResourceContractProjectData ---------------------------------------------


class ImportProjects(ImportBase[SupplyChange, State]):
    answer = _ANSWER

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[SupplyChange]]:
        for element in children(request, "Contract"):
            transport_guid = text(element, "TransportGUID") or ""
            body = child(element, "ContractProject")
            if body is not None:
                record = SupplyChange(
                    "project", _ref(element), transport_guid, description=_description(body)
                )
            elif child(element, "PlacingContractProject") is not None:
                record = SupplyChange("place_project", _ref(element), transport_guid)
            else:
                record = SupplyChange("delete", _ref(element), transport_guid)
            yield Item(transport_guid, record)

    def prefetch(self, ctx: HandlerContext, records: Sequence[SupplyChange]) -> State:
        return _prefetch(ctx, [r.ref for r in records])

    def decide(
        self, ctx: HandlerContext, state: State, record: SupplyChange, changes: Changes
    ) -> Done:
        if record.action == "project" and record.ref.given is None:
            contract = _new_contract(ctx, state, record, changes, repo.PROJECT)
        else:
            contract = _named(ctx, state, record.ref, states=(repo.PROJECT,))
            if record.description is not None:
                _change(ctx, state, contract, _described(record.description), changes)
            elif record.action == "place_project":
                _change(ctx, state, contract, {"state": repo.PLACED}, changes)
            else:  # a deleted project leaves nothing behind
                if state.objects.get(contract["root_guid"]):
                    changes.delete(ContractObject, {"contract_guid": contract["root_guid"]})
                changes.delete(ContractVersion, {"contract_guid": contract["root_guid"]})
                changes.delete(Contract, {"root_guid": contract["root_guid"]})
                for key in (contract["root_guid"], contract["version_guid"]):
                    state.contracts.pop(key, None)
        return Done(
            contract["version_guid"],
            detail=_detail("ImportSupplyResourceContractProject", contract, root=False),
        )


SUPPLY = ImportSupply()
ADDRESSES = ImportAddresses()
PROJECTS = ImportProjects()


def import_supply_contract(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractRequest."""
    return run_import(SUPPLY, ctx, request)


def import_supply_contract_addresses(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractObjectAddressRequest (addresses of one contract)."""
    return run_import(ADDRESSES, ctx, request)


def import_supply_contract_project(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importSupplyResourceContractProjectRequest."""
    return run_import(PROJECTS, ctx, request)

"""importContractData and importCharterData: a management company places the documents by
which it manages houses — management contracts and homeowners' association charters.

A placed contract or charter binds its organisation to the houses it covers: only then may
the organisation describe those houses and keep accounts, metering devices, readings and
payment documents on them (persistence/contracts.py ``managed_houses``). A house has one
manager at a time.

importContractRequest carries up to 100 ``Contract`` items, importCharterRequest one charter;
each item is one of (…Contract / …Charter):

  Placing…          a new document, placed at once (status Approved) with its ContractObject
                    houses (FIASHouseGuid, StartDate, EndDate); the gateway keeps no license
                    register to wait for, so there is no approval step
  Edit…             a new version of a placed document: number and dates, and ContractObject
                    Add / Edit / Annulment of its houses (…VersionGUID must be the current one)
  ApprovalContract  accepted for a placed contract (nothing to approve: see Placing)
  RollOver…         the document runs on: its end date moves to RollToDate, else by a year
  Terminate…        the document ends (status Terminated): it manages its houses no more
  Annulment…        the document is annulled (status Annul): it never managed anything
  Place/Annulment…PaymentsInfo  not kept by the gateway (HCS007004)

Rules (per item): the version GUID names a document of the sender (INT002000, AUT011003) and
its current version (HCS007003); a terminated or annulled document changes no more
(HCS007001); a house already managed by another organisation's placed document cannot be
added (HCS007002). Result: CommonResult (GUID = the document's root GUID, TransportGUID,
UpdateDate) with importContract / importCharter: GUIDs, status, State, VersionNumber (the
houses' ContractObjectVersionGUIDs: exportStatusCAChData).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
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
from gateway.handlers.house_management.contract_results import (
    CHARTER,
    CONTRACT,
    Names,
    running_state,
    status_of,
    stored_xml,
)
from gateway.handlers.house_management.import_account import IMPORT_RESULT_VERSION
from gateway.imports.answer import Answer, Detail, Done
from gateway.imports.pipeline import ImportBase, Item, run_import
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts as repo
from persistence.houses import new_guid
from persistence.models import Contract, ContractObject, ContractVersion
from persistence.sets import Changes

_NOT_KEPT = {
    "PlaceContractPaymentsInfo",
    "AnnulmentContractPaymentsInfo",
    "PlaceCharterPaymentsInfo",
    "AnnulmentCharterPaymentsInfo",
}
_ACTIONS = {
    "PlacingContract": "place",
    "PlacingCharter": "place",
    "EditContract": "edit",
    "EditCharter": "edit",
    "ApprovalContract": "approve",
    "RollOverContract": "roll_over",
    "RollOverCharter": "roll_over",
    "TerminateContract": "terminate",
    "TerminateCharter": "terminate",
    "AnnulmentContract": "annul",
    "AnnulmentCharter": "annul",
    **dict.fromkeys(_NOT_KEPT, "not_kept"),
}


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseChange:
    """A ContractObject of the item: a house to add, or one of the document's to edit or annul."""

    action: str  # add | edit | annul
    transport_guid: str
    fias: str | None = None
    object_guid: str | None = None  # ContractObjectVersionGUID (edit, annul)
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Change:
    """One item: a change of one management contract or charter."""

    action: str  # place | edit | approve | roll_over | terminate | annul | not_kept
    tag: str  # the item's element (for messages)
    transport_guid: str
    version_guid: str | None = None
    number: str | None = None
    signing: date | None = None
    effective: date | None = None
    end: date | None = None
    houses: tuple[HouseChange, ...] = ()
    until: date | None = None  # RollToDate, or the termination date
    reason: str | None = None
    reason_ref: tuple[str | None, str | None] = (None, None)  # termination reason (NSI)
    document_xml: str | None = None


def _houses(body: etree._Element, transport_guid: str) -> tuple[HouseChange, ...]:
    found = []
    for obj in children(body, "ContractObject"):
        object_transport = text(obj, "TransportGUID") or transport_guid
        add, edit, annul = child(obj, "Add"), child(obj, "Edit"), child(obj, "Annulment")
        if edit is not None or annul is not None:
            target = edit if edit is not None else annul
            found.append(
                HouseChange(
                    "edit" if edit is not None else "annul",
                    object_transport,
                    object_guid=guid(target, "ContractObjectVersionGUID"),
                    start=_date(edit, "StartDate"),
                    end=_date(edit, "EndDate"),
                )
            )
            continue
        house = add if add is not None else obj  # Placing…: the object is the house
        found.append(
            HouseChange(
                "add",
                object_transport,
                fias=guid(house, "FIASHouseGuid"),
                start=_date(house, "StartDate"),
                end=_date(house, "EndDate"),
            )
        )
    return tuple(found)


def read_change(names: Names, body: etree._Element, transport_guid: str) -> Change:
    action = _ACTIONS[local(body)]
    reason = child(body, "ReasonRef")
    return Change(
        action=action,
        tag=local(body),
        transport_guid=transport_guid,
        version_guid=guid(body, names.version_guid),
        number=text(body, "DocNum"),
        signing=_date(body, "SigningDate") or _date(body, "Date"),
        effective=_date(body, "EffectiveDate"),
        end=_date(body, "PlanDateComptetion"),
        houses=_houses(body, transport_guid),
        until=_date(body, "RollToDate") or _date(body, "Terminate"),
        reason=text(reason, "Name") or text(body, "Reason") or text(body, "ReasonOfAnnulment"),
        reason_ref=(text(reason, "Code"), guid(reason, "GUID")),
        document_xml=stored_xml(body) if action in ("place", "edit") else None,
    )


# --- the packet's state -------------------------------------------------------------------


@dataclass
class State:
    """The documents the packet names and the houses it adds, read before any item."""

    contracts: dict[str, dict[str, Any]]  # by root and version GUID
    objects: dict[str, list[dict[str, Any]]]  # root GUID ► its objects
    managed_elsewhere: dict[str, str]  # FIAS ► the other organisation managing it
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)


class ImportManagement(ImportBase[Change, State]):
    def __init__(self, names: Names) -> None:
        self.names = names
        self.answer = Answer(
            HM, tag="CommonResult", wrapper_version=IMPORT_RESULT_VERSION, nsmap={"hm": HM}
        )
        self.what = "management contract" if names is CONTRACT else "charter"

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Change]]:
        items = children(request, "Contract") if self.names is CONTRACT else [request]
        for element in items:
            transport_guid = text(element, "TransportGUID") or ""
            body = next(b for b in element.iterchildren() if local(b) in _ACTIONS)
            yield Item(transport_guid, read_change(self.names, body, transport_guid))

    def prefetch(self, ctx: HandlerContext, records: Sequence[Change]) -> State:
        session = ctx.session
        contracts = repo.contract_rows(session, [r.version_guid for r in records if r.version_guid])
        roots = {c["root_guid"] for c in contracts.values()}
        fias = [h.fias for r in records for h in r.houses if h.fias]
        return State(
            contracts=contracts,
            objects=repo.object_rows(session, roots),
            managed_elsewhere=repo.managers_of(session, fias, exclude_org=ctx.org_guid),
        )

    def decide(self, ctx: HandlerContext, state: State, record: Change, changes: Changes) -> Done:
        if record.action == "not_kept":
            raise ItemError(
                Code.CONTRACT_CHANGE_NOT_KEPT,
                f"{record.tag} is not kept by this gateway: it keeps who manages which houses, "
                "not the payments information of contracts and charters.",
            )
        if record.action == "place":
            contract = self._place(ctx, state, record, changes)
        else:
            contract = self._change(ctx, state, record, changes)
        return self._done(contract, ctx.now.date())

    # --- rules ---
    def _current(self, ctx: HandlerContext, state: State, record: Change) -> dict[str, Any]:
        version = record.version_guid or ""
        contract = state.contracts.get(version)
        if contract is None or contract["kind"] != self.names.kind:
            raise ItemError(Code.NOT_FOUND, f"No {self.what} has version GUID {version}.")
        if contract["org_guid"] != ctx.org_guid:
            raise ItemError(
                Code.NOT_ALLOWED, f"{self.what.capitalize()} {contract['root_guid']} is not yours."
            )
        if contract["version_guid"] != version:
            raise ItemError(
                Code.CONTRACT_VERSION_STALE,
                f"{version} is not the current version of {self.what} {contract['root_guid']}; "
                f"the current one is {contract['version_guid']}.",
            )
        if contract["state"] in (repo.TERMINATED, repo.ANNULLED) and record.action != "approve":
            raise ItemError(
                Code.CONTRACT_STATE,
                f"{self.what.capitalize()} {contract['root_guid']} is {contract['state']}; "
                "it changes no more.",
            )
        if record.action == "approve" and contract["state"] != repo.PLACED:
            raise ItemError(
                Code.CONTRACT_STATE,
                f"{self.what.capitalize()} {contract['root_guid']} is {contract['state']}; "
                "only a placed one is approved.",
            )
        return contract

    def _check_houses(self, state: State, record: Change, objects: list[dict[str, Any]]) -> None:
        known = {o["guid"] for o in objects}
        for house in record.houses:
            if house.action == "add":
                other = state.managed_elsewhere.get(house.fias or "")
                if other is not None:
                    raise ItemError(
                        Code.CONTRACT_HOUSE_MANAGED,
                        f"House {house.fias} is managed by organisation {other} under its "
                        "placed contract or charter; it can be added once that one ends.",
                    )
            elif house.object_guid not in known:
                raise ItemError(
                    Code.NOT_FOUND,
                    f"Contract object {house.object_guid} is not one of the document's houses.",
                )

    # --- writes ---
    def _place(
        self, ctx: HandlerContext, state: State, record: Change, changes: Changes
    ) -> dict[str, Any]:
        self._check_houses(state, record, [])
        contract = changes.insert(
            Contract,
            {
                "root_guid": new_guid(),
                "version_guid": new_guid(),
                "kind": self.names.kind,
                "org_guid": ctx.org_guid,
                "state": repo.PLACED,
                "is_contract": True,
                "number": record.number,
                "signing_date": record.signing,
                "effective_date": record.effective or record.signing,
                "end_date": record.end,
                "version_number": 1,
                "message_guid": ctx.message_guid,
                "transport_guid": record.transport_guid,
                "document_xml": record.document_xml,
                "created_at": ctx.now,
                "updated_at": ctx.now,
            },
        )
        state.contracts[contract["root_guid"]] = state.contracts[contract["version_guid"]] = (
            contract
        )
        state.objects[contract["root_guid"]] = []
        changes.insert(ContractVersion, repo.version_row(contract, ctx.now))
        self._apply_houses(ctx, state, record, contract, changes)
        return contract

    def _change(
        self, ctx: HandlerContext, state: State, record: Change, changes: Changes
    ) -> dict[str, Any]:
        contract = self._current(ctx, state, record)
        objects = state.objects.setdefault(contract["root_guid"], [])
        self._check_houses(state, record, objects)
        values: dict[str, Any] = {}
        if record.action == "edit":
            values = {
                "number": record.number or contract["number"],
                "signing_date": record.signing or contract["signing_date"],
                "effective_date": record.effective or contract["effective_date"],
                "end_date": record.end or contract["end_date"],
                "document_xml": record.document_xml,
            }
            self._apply_houses(ctx, state, record, contract, changes)
        elif record.action == "roll_over":
            values = {
                "end_date": record.until or _a_year_on(contract["end_date"] or ctx.now.date())
            }
        elif record.action == "terminate":
            code, reason_guid = record.reason_ref
            values = {
                "state": repo.TERMINATED,
                "terminated_on": record.until,
                "reason": record.reason,
                "reason_code": code,
                "reason_guid": reason_guid,
            }
        elif record.action == "annul":
            values = {"state": repo.ANNULLED, "reason": record.reason}
        if record.action != "approve":
            values.update(
                version_guid=new_guid(),
                version_number=contract["version_number"] + 1,
                message_guid=ctx.message_guid,
                updated_at=ctx.now,
            )
            changes.update(Contract, {"root_guid": contract["root_guid"]}, values)
            contract.update(values)
            changes.insert(ContractVersion, repo.version_row(contract, ctx.now))
            state.contracts[contract["version_guid"]] = contract
        return contract

    def _apply_houses(
        self,
        ctx: HandlerContext,
        state: State,
        record: Change,
        contract: dict[str, Any],
        changes: Changes,
    ) -> None:
        objects = state.objects[contract["root_guid"]]
        by_guid = {o["guid"]: o for o in objects}
        for house in record.houses:
            if house.action == "add":
                objects.append(
                    changes.insert(
                        ContractObject,
                        {
                            "guid": new_guid(),
                            "contract_guid": contract["root_guid"],
                            "fias_house_guid": house.fias,
                            "apartment_number": None,
                            "room_number": None,
                            "start_date": house.start,
                            "end_date": house.end,
                            "annulled": False,
                            "transport_guid": house.transport_guid,
                            "updated_at": ctx.now,
                        },
                    )
                )
                continue
            obj = by_guid[house.object_guid or ""]
            values: dict[str, Any] = (
                {"annulled": True}
                if house.action == "annul"
                else {"start_date": house.start or obj["start_date"], "end_date": house.end}
            )
            values["updated_at"] = ctx.now
            changes.update(ContractObject, {"guid": obj["guid"]}, values)
            obj.update(values)

    def _done(self, contract: dict[str, Any], today: date) -> Done:
        names = self.names
        fields = [
            (HM, names.guid, contract["root_guid"]),
            (HM, names.version_guid, contract["version_guid"]),
            (HM, names.status, status_of(contract["state"])),
        ]
        if contract["state"] in (repo.PLACED, repo.TERMINATED):
            fields.append((HM, "State", running_state(contract, today)))
        fields.append((HM, "VersionNumber", str(contract["version_number"])))
        return Done(contract["root_guid"], detail=Detail(HM, names.import_result, tuple(fields)))


def _a_year_on(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day + timedelta(days=365)


CONTRACTS = ImportManagement(CONTRACT)
CHARTERS = ImportManagement(CHARTER)


def import_contract(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importContractRequest (up to 100 management contract items)."""
    return run_import(CONTRACTS, ctx, request)


def import_charter(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importCharterRequest (one charter item: the request itself)."""
    return run_import(CHARTERS, ctx, request)

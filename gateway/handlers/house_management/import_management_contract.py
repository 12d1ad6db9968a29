"""importContractData and importCharterData: a management company places the documents by
which it manages houses — management contracts and homeowners' association charters.

A placed contract or charter binds its organisation to the houses it covers: only then may
the organisation describe those houses and keep accounts, metering devices, readings and
payment documents on them (persistence/contracts.py ``managed_houses``). A house has one
manager at a time.

importContractRequest carries up to 100 ``Contract`` items, importCharterRequest one charter;
each item is one of (Contract… / …Charter):

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
UpdateDate) with importContract / importCharter: GUIDs, status, State, its houses with their
ContractObjectVersionGUID, VersionNumber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from lxml import etree

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
    text,
)
from gateway.handlers.house_management.contract_results import (
    CHARTER,
    CONTRACT,
    Names,
    status_elements,
    stored_xml,
)
from gateway.handlers.house_management.import_account import IMPORT_RESULT_VERSION
from gateway.namespaces import BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts as repo
from persistence.houses import new_guid
from persistence.models import Contract, ContractObject


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


@dataclass
class _Packet:
    """What the items of one packet refer to, read in a few set queries before any item."""

    ctx: HandlerContext
    names: Names
    contracts: dict[str, Contract] = field(default_factory=dict)  # by root and version GUID
    objects: dict[str, list[ContractObject]] = field(default_factory=dict)  # by root GUID
    managed_elsewhere: dict[str, str] = field(default_factory=dict)  # FIAS ► other manager

    @classmethod
    def prefetch(cls, ctx: HandlerContext, names: Names, items: list[etree._Element]) -> _Packet:
        session = ctx.session
        versions = [
            g
            for element in items
            for g in (guid(body, names.version_guid) for body in element.iterchildren())
            if g
        ]
        fias = [
            g
            for element in items
            for obj in element.iter(f"{{{HM}}}ContractObject")
            if (g := guid(obj, "FIASHouseGuid") or guid(child(obj, "Add"), "FIASHouseGuid"))
        ]
        packet = cls(ctx, names, contracts=repo.by_guids(session, versions))
        packet.objects = repo.objects_of(session, {c.root_guid for c in packet.contracts.values()})
        packet.managed_elsewhere = repo.managers_of(session, fias, exclude_org=ctx.org_guid)
        return packet

    # --- rules ---
    def current(self, body: etree._Element, *, changeable: bool = True) -> Contract:
        """The document whose current version the body names; the sender's, and (when the
        change needs it) neither terminated nor annulled."""
        version = guid(body, self.names.version_guid) or ""
        contract = self.contracts.get(version)
        if contract is None or contract.kind != self.names.kind:
            raise ItemError(Code.NOT_FOUND, f"No {self._what} has version GUID {version}.")
        if contract.org_guid != self.ctx.org_guid:
            raise ItemError(Code.NOT_ALLOWED, f"{self._What} {contract.root_guid} is not yours.")
        if contract.version_guid != version:
            raise ItemError(
                Code.CONTRACT_VERSION_STALE,
                f"{version} is not the current version of {self._what} {contract.root_guid}; "
                f"the current one is {contract.version_guid}.",
            )
        if changeable and contract.state in (repo.TERMINATED, repo.ANNULLED):
            raise ItemError(
                Code.CONTRACT_STATE,
                f"{self._What} {contract.root_guid} is {contract.state}; it changes no more.",
            )
        return contract

    def check_free(self, fias: str) -> None:
        other = self.managed_elsewhere.get(fias)
        if other is not None:
            raise ItemError(
                Code.CONTRACT_HOUSE_MANAGED,
                f"House {fias} is managed by organisation {other} under its placed contract "
                "or charter; it can be added once that one ends.",
            )

    @property
    def _what(self) -> str:
        return "management contract" if self.names is CONTRACT else "charter"

    @property
    def _What(self) -> str:  # noqa: N802 - the capitalised form of _what
        return self._what.capitalize()

    # --- writes ---
    def new_version(self, contract: Contract, body: etree._Element) -> None:
        contract.version_guid = new_guid()
        contract.version_number += 1
        contract.updated_at = self.ctx.now
        contract.message_guid = self.ctx.message_guid
        self.contracts[contract.version_guid] = contract

    def add_object(
        self, contract: Contract, element: etree._Element, transport_guid: str
    ) -> ContractObject:
        fias = guid(element, "FIASHouseGuid") or ""
        obj = ContractObject(
            guid=new_guid(),
            contract_guid=contract.root_guid,
            fias_house_guid=fias,
            start_date=_date(element, "StartDate"),
            end_date=_date(element, "EndDate"),
            annulled=False,
            transport_guid=transport_guid,
            updated_at=self.ctx.now,
        )
        self.ctx.session.add(obj)
        self.objects.setdefault(contract.root_guid, []).append(obj)
        return obj


# --- the changes, one per item body ----------------------------------------------------------


def _place(packet: _Packet, body: etree._Element, transport_guid: str) -> Contract:
    ctx = packet.ctx
    objects = children(body, "ContractObject")
    for obj in objects:  # every rule before the first write
        packet.check_free(guid(obj, "FIASHouseGuid") or "")
    signing = _date(body, "SigningDate") or _date(body, "Date")
    contract = Contract(
        root_guid=new_guid(),
        version_guid=new_guid(),
        kind=packet.names.kind,
        org_guid=ctx.org_guid,
        state=repo.PLACED,
        is_contract=True,
        number=text(body, "DocNum"),
        signing_date=signing,
        effective_date=_date(body, "EffectiveDate") or signing,
        end_date=_date(body, "PlanDateComptetion"),
        version_number=1,
        message_guid=ctx.message_guid,
        transport_guid=transport_guid,
        document_xml=stored_xml(body),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(contract)
    ctx.session.flush()
    packet.contracts[contract.root_guid] = packet.contracts[contract.version_guid] = contract
    for obj in objects:
        packet.add_object(contract, obj, text(obj, "TransportGUID") or transport_guid)
    return contract


def _edit(packet: _Packet, body: etree._Element, transport_guid: str) -> Contract:
    contract = packet.current(body)
    objects = {o.guid: o for o in packet.objects.get(contract.root_guid, [])}
    changes: list[tuple[etree._Element, etree._Element, ContractObject | None]] = []
    for change in children(body, "ContractObject"):  # every rule before the first write
        add, edit, annul = child(change, "Add"), child(change, "Edit"), child(change, "Annulment")
        if add is not None:
            packet.check_free(guid(add, "FIASHouseGuid") or "")
            changes.append((change, add, None))
            continue
        target = edit if edit is not None else annul
        assert target is not None  # the schema's choice
        object_guid = guid(target, "ContractObjectVersionGUID") or ""
        if object_guid not in objects:
            raise ItemError(
                Code.NOT_FOUND,
                f"Contract object {object_guid} is not one of {contract.root_guid}'s houses.",
            )
        changes.append((change, target, objects[object_guid]))
    contract.number = text(body, "DocNum") or contract.number
    signing = _date(body, "SigningDate") or _date(body, "Date")
    contract.signing_date = signing or contract.signing_date
    contract.effective_date = _date(body, "EffectiveDate") or contract.effective_date
    contract.end_date = _date(body, "PlanDateComptetion") or contract.end_date
    contract.document_xml = stored_xml(body)
    for change, target, obj in changes:
        if obj is None:
            packet.add_object(contract, target, text(change, "TransportGUID") or transport_guid)
        elif local(target) == "Annulment":
            obj.annulled = True
            obj.updated_at = packet.ctx.now
        else:
            obj.start_date = _date(target, "StartDate") or obj.start_date
            obj.end_date = _date(target, "EndDate")
            obj.updated_at = packet.ctx.now
    packet.new_version(contract, body)
    return contract


def _approve(packet: _Packet, body: etree._Element, _transport_guid: str) -> Contract:
    contract = packet.current(body)
    contract.state = repo.PLACED
    return contract


def _roll_over(packet: _Packet, body: etree._Element, _transport_guid: str) -> Contract:
    contract = packet.current(body)
    to = _date(body, "RollToDate")
    if to is None:
        base = contract.end_date or packet.ctx.now.date()
        to = base + timedelta(days=366 if _leap_ahead(base) else 365)
    contract.end_date = to
    packet.new_version(contract, body)
    return contract


def _leap_ahead(day: date) -> bool:
    """A year from ``day`` spans 29 February."""
    try:
        return (date(day.year + 1, day.month, day.day) - day).days == 366
    except ValueError:  # 29 February itself
        return True


def _terminate(packet: _Packet, body: etree._Element, _transport_guid: str) -> Contract:
    contract = packet.current(body)
    contract.state = repo.TERMINATED
    contract.terminated_on = _date(body, "Terminate")
    reason = child(body, "ReasonRef")
    contract.reason = text(reason, "Name") or text(body, "Reason")
    contract.reason_code, contract.reason_guid = text(reason, "Code"), guid(reason, "GUID")
    packet.new_version(contract, body)
    return contract


def _annul(packet: _Packet, body: etree._Element, _transport_guid: str) -> Contract:
    contract = packet.current(body)
    contract.state = repo.ANNULLED
    contract.reason = text(body, "ReasonOfAnnulment")
    packet.new_version(contract, body)
    return contract


def _not_kept(_packet: _Packet, body: etree._Element, _transport_guid: str) -> Contract:
    raise ItemError(
        Code.CONTRACT_CHANGE_NOT_KEPT,
        f"{local(body)} is not kept by this gateway: it keeps who manages which houses, not "
        "the payments information of contracts and charters.",
    )


_Change = Callable[[_Packet, etree._Element, str], Contract]
_CHANGES: dict[str, _Change] = {
    "PlacingContract": _place,
    "PlacingCharter": _place,
    "EditContract": _edit,
    "EditCharter": _edit,
    "ApprovalContract": _approve,
    "RollOverContract": _roll_over,
    "RollOverCharter": _roll_over,
    "TerminateContract": _terminate,
    "TerminateCharter": _terminate,
    "AnnulmentContract": _annul,
    "AnnulmentCharter": _annul,
    "PlaceContractPaymentsInfo": _not_kept,
    "AnnulmentContractPaymentsInfo": _not_kept,
    "PlaceCharterPaymentsInfo": _not_kept,
    "AnnulmentCharterPaymentsInfo": _not_kept,
}


def _run(ctx: HandlerContext, names: Names, items: list[etree._Element]) -> HandlerResult:
    packet = _Packet.prefetch(ctx, names, items)
    result = etree.Element(etree.QName(HM, "ImportResult"), nsmap={"hm": HM})
    result.set(f"{{{BASE}}}version", IMPORT_RESULT_VERSION)
    for element in items:
        transport_guid = text(element, "TransportGUID") or ""
        body = next(b for b in element.iterchildren() if local(b) in _CHANGES)
        try:
            with item(ctx):
                contract = _CHANGES[local(body)](packet, body, transport_guid)
        except ItemError as error:
            common_result_error(result, HM, transport_guid=transport_guid, error=error)
            continue
        done = common_result_success(
            result,
            HM,
            transport_guid=transport_guid,
            guid_value=contract.root_guid,
            unique_number=None,
            update_date=ctx.now,
        )
        detail = etree.SubElement(done, etree.QName(HM, names.import_result))
        objects = packet.objects.get(contract.root_guid, [])
        status_elements(detail, names, contract, objects, ctx.now.date())
    return HandlerResult([result])


def import_contract(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importContractRequest (up to 100 management contract items)."""
    return _run(ctx, CONTRACT, children(request, "Contract"))


def import_charter(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importCharterRequest (one charter item: the request itself)."""
    return _run(ctx, CHARTER, [request])

"""importAccountData: personal accounts of a management company (UO) or resource supplier (RSO).

Each ``Account`` item creates an account (no AccountGUID), replaces its data (AccountGUID of an
open account of the sender) or closes it (AccountGUID and ``Closed``). The item's
CommonResult carries AccountGUID in GUID, the UnifiedAccountNumber in UniqueNumber and
``ImportAccount`` {UnifiedAccountNumber, ServiceID}. Each item succeeds or fails on its own.

Rules (per item; INT002000 and AUT011003 are the GIS codes, HCS003xxx are ours):
  kind flag fits the sender's role: UO keeps isUOAccount and isCRAccount, RSO keeps
  isRSOAccount and isTKOAccount (HCS003004); the kind of an account never changes (HCS003004)
  AccountGUID is an account of the sender (INT002000, AUT011003)
  a closed account is final: it is neither changed nor reopened; open a new one (HCS003003)
  an open account has at least one Accommodation (HCS003006), none listed twice (HCS003007),
  each an existing house / premises / living room (INT002000) that the sender manages (UO: a
  placed management contract or charter of its own covers the house) or supplies (RSO: a placed
  supply contract of its own has the house) (AUT011003); SharePercent over the account's accommodations adds up to at most 100
  (HCS003001)
  AccountNumber is unique among the sender's open accounts (HCS003002)
  Closed only for an existing account (HCS003008); CloseDate not after today (HCS003005)
  AccountReasons/SupplyResourceContract/ContractGUID names a placed supply contract the sender
  is a party to (supplier, or the organisation supplied) (HCS007005)

An update describes the whole account: values it leaves out are cleared and its
accommodations replace the old ones. With ``Closed`` only the closing is applied (the rest of
the item is ignored, as the format says for Accommodation).

Everything the items refer to (accounts, houses, premises, rooms, the contracts that serve them, account
numbers in use, the last serial number) is read once per packet and kept current as items
succeed. Two packets numbering accounts at the same moment: the database refuses the second
serial, and the pipeline decides that packet again on fresh numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    text,
)
from gateway.imports.pipeline import (
    Answer,
    Changes,
    Detail,
    Done,
    ImportBase,
    Item,
    run_import,
)
from gateway.namespaces import ACCOUNT_BASE, BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import accounts as repo
from persistence import contracts
from persistence.houses import new_guid
from persistence.models import Account, AccountPlace
from persistence.roles import Role

#: ImportResult/@base:version is fixed by the format.
IMPORT_RESULT_VERSION = "10.0.1.1"

#: kind flag element ► stored kind
KINDS = {
    "isUOAccount": "uo",
    "isRSOAccount": "rso",
    "isCRAccount": "cr",
    "isRCAccount": "rc",
    "isOGVorOMSAccount": "ogv",
    "isTKOAccount": "tko",
}
KIND_FLAGS = {kind: flag for flag, kind in KINDS.items()}
#: organisation role ► the account kinds it keeps
KINDS_BY_ROLE = {Role.UO: ("uo", "cr"), Role.RSO: ("rso", "tko")}

#: CloseDate may be "today" anywhere in Russia: up to UTC+12.
_LATEST_UTC_OFFSET = timedelta(hours=12)


@dataclass(frozen=True)
class Place:
    tag: str  # PremisesGUID | LivingRoomGUID | FIASHouseGuid
    ref: str
    share: Decimal | None


@dataclass(frozen=True)
class Closing:
    close_date: date
    reason: tuple[str | None, str | None]
    description: str | None


@dataclass(frozen=True)
class AccountItem:
    kind: str
    account_guid: str | None
    number: str | None
    closing: Closing | None
    places: tuple[Place, ...]
    values: Mapping[str, Any]  # every column an update replaces
    bases: tuple[str, ...] = ()  # supply contracts AccountReasons names (ContractGUID)


def _read_item(element: etree._Element) -> AccountItem:
    flag = next(local(c) for c in element if isinstance(c.tag, str) and local(c) in KINDS)
    places = []
    for accommodation in children(element, "Accommodation"):
        ref = next(
            c for c in accommodation if isinstance(c.tag, str) and local(c) != "SharePercent"
        )
        places.append(
            Place(
                local(ref), (ref.text or "").strip().lower(), decimal(accommodation, "SharePercent")
            )
        )
    closed = child(element, "Closed")
    closing = None
    if closed is not None:
        close_date = _date(closed, "CloseDate")
        assert close_date is not None  # required by the schema
        closing = Closing(close_date, nsi_ref(closed, "CloseReason"), text(closed, "Description"))
    number = text(element, "AccountNumber")
    return AccountItem(
        kind=KINDS[flag],
        account_guid=guid(element, "AccountGUID"),
        number=number,
        closing=closing,
        places=tuple(places),
        values=_values(element, number),
        bases=tuple(_bases(element)),
    )


#: AccountReasons children naming a contract of the gateway, and the child with its GUID
#: (the import format's reasons are supply contracts; social hire and solid-waste contracts
#: are not kept by the gateway and are stored as sent)
_BASES = (("SupplyResourceContract", "ContractGUID"),)


def _bases(element: etree._Element) -> list[str]:
    """The supply contract GUIDs the account's AccountReasons name."""
    reasons = child(element, "AccountReasons")
    if reasons is None:
        return []
    return [
        g
        for name, guid_tag in _BASES
        for basis in children(reasons, name)
        if (g := guid(basis, guid_tag))
    ]


def _date(element: etree._Element | None, name: str) -> date | None:
    value = text(element, name)
    return date.fromisoformat(value[:10]) if value else None


def _payer(element: etree._Element) -> dict[str, Any]:
    """The payer columns, all of them (an update replaces the payer as a whole)."""
    payer = child(element, "PayerInfo")
    ind, org = child(payer, "Ind"), child(payer, "Org")
    document = child(ind, "ID")
    id_code, id_guid = nsi_ref(document, "Type")
    return {
        "is_renter": bool(boolean(payer, "IsRenter")),
        "is_accounts_divided": bool(boolean(payer, "isAccountsDivided")),
        "payer_kind": "ind" if ind is not None else "org" if org is not None else None,
        "payer_surname": text(ind, "Surname"),
        "payer_first_name": text(ind, "FirstName"),
        "payer_patronymic": text(ind, "Patronymic"),
        "payer_sex": text(ind, "Sex"),
        "payer_birth_date": _date(ind, "DateOfBirth"),
        "payer_snils": text(ind, "SNILS"),
        "payer_id_type_code": id_code,
        "payer_id_type_guid": id_guid,
        "payer_id_series": text(document, "Series"),
        "payer_id_number": text(document, "Number"),
        "payer_id_issue_date": _date(document, "IssueDate"),
        "payer_org_version_guid": guid(org, "orgVersionGUID"),
    }


def _reasons_xml(element: etree._Element) -> str | None:
    """AccountReasons as sent, without indentation and unused namespace declarations."""
    reasons = child(element, "AccountReasons")
    if reasons is None:
        return None
    reasons = copy.deepcopy(reasons)
    for part in reasons.iter():
        if part.text is not None and not part.text.strip():
            part.text = None
        part.tail = None
    etree.cleanup_namespaces(reasons)
    return etree.tostring(reasons, encoding="unicode")


def _values(element: etree._Element, number: str | None) -> dict[str, Any]:
    return {
        "account_number": number,
        "living_persons": integer(element, "LivingPersonsNumber"),
        "total_square": decimal(element, "TotalSquare"),
        "residential_square": decimal(element, "ResidentialSquare"),
        "heated_area": decimal(element, "HeatedArea"),
        "reasons_xml": _reasons_xml(element),
        **_payer(element),
    }


# --- prefetch -----------------------------------------------------------------------------


@dataclass
class Packet:
    """What the items of one packet refer to, read at once and kept current."""

    accounts: dict[str, repo.AccountState]
    premises: dict[str, Any]  # GUID ► premises row (guid, house_guid, annulled)
    rooms: dict[str, Any]  # GUID ► room row (guid, house_guid, premises_guid, annulled)
    houses: dict[str, Any]  # GUID ► house row (guid, fias_house_guid, org_guid)
    houses_by_fias: dict[str, Any]
    served: set[str]  # houses the sender manages (UO) or supplies (RSO) by placed contracts
    bases: set[str]  # supply contracts named as bases that are placed ones of the sender
    open_numbers: dict[str, str]  # AccountNumber ► AccountGUID of the sender's open accounts
    next_serial: int


# --- rules --------------------------------------------------------------------------------


def _check_kind(ctx: HandlerContext, it: AccountItem) -> None:
    allowed: tuple[str, ...] = KINDS_BY_ROLE.get(ctx.org_role, ()) if ctx.org_role else ()
    if it.kind not in allowed:
        flags = ", ".join(KIND_FLAGS[k] for k in allowed) or "none"
        raise ItemError(
            Code.ACCOUNT_KIND_NOT_ALLOWED,
            f"{KIND_FLAGS[it.kind]} accounts are not kept by organisations of role "
            f"'{ctx.org_role}' (yours: {flags}).",
        )


def _existing(ctx: HandlerContext, state: Packet, it: AccountItem) -> repo.AccountState:
    account = state.accounts.get(it.account_guid or "")
    if account is None:
        raise ItemError(Code.NOT_FOUND, f"Account {it.account_guid} is not registered.")
    if account.org_guid != ctx.org_guid:
        raise ItemError(
            Code.NOT_ALLOWED, f"Account {it.account_guid} is kept by another organisation."
        )
    if account.closed:
        closed_on = account.close_date.date().isoformat() if account.close_date else "?"
        raise ItemError(
            Code.ACCOUNT_CLOSED,
            f"Account {account.unique_number} was closed on {closed_on}; a closed account "
            "cannot be changed or reopened. Create a new account (without AccountGUID).",
        )
    if account.kind != it.kind:
        raise ItemError(
            Code.ACCOUNT_KIND_NOT_ALLOWED,
            f"Account {account.unique_number} is an {KIND_FLAGS[account.kind]} account; "
            f"its kind cannot change to {KIND_FLAGS[it.kind]}.",
        )
    return account


def _check_house(ctx: HandlerContext, state: Packet, house: Any, what: str) -> None:
    if house.guid in state.served:
        return
    if ctx.org_role == Role.RSO:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"{what} is in house {house.fias_house_guid}, which you do not supply: no placed "
            "supply contract of yours has it (importSupplyResourceContractData).",
        )
    raise ItemError(
        Code.NOT_ALLOWED,
        f"{what} is in house {house.fias_house_guid}, which is not managed by you: no placed "
        "management contract or charter of yours covers it (importContractData).",
    )


def _check_bases(state: Packet, it: AccountItem) -> None:
    """AccountReasons name by ContractGUID only placed supply contracts the sender is a
    party to."""
    for basis in it.bases:
        if basis not in state.bases:
            raise ItemError(
                Code.ACCOUNT_BASIS,
                f"AccountReasons names supply contract {basis}, which is not a placed supply "
                "contract you are a party to.",
            )


def _resolve(ctx: HandlerContext, state: Packet, place: Place) -> dict[str, Any]:
    """The place an Accommodation names, checked to exist and to be the sender's: its row."""
    if place.tag == "FIASHouseGuid":
        house = state.houses_by_fias.get(place.ref)
        if house is None:
            raise ItemError(
                Code.NOT_FOUND, f"No house with FIASHouseGuid {place.ref} is registered."
            )
        _check_house(ctx, state, house, f"House {place.ref}")
        return _place_row(house.guid, None, None, place.share)
    if place.tag == "PremisesGUID":
        premises = state.premises.get(place.ref)
        if premises is None or premises.annulled:
            raise ItemError(
                Code.NOT_FOUND, f"Premises {place.ref} is not registered (or annulled)."
            )
        _check_house(ctx, state, state.houses[premises.house_guid], f"Premises {place.ref}")
        return _place_row(premises.house_guid, premises.guid, None, place.share)
    room = state.rooms.get(place.ref)
    if room is None or room.annulled:
        raise ItemError(Code.NOT_FOUND, f"Living room {place.ref} is not registered (or annulled).")
    _check_house(ctx, state, state.houses[room.house_guid], f"Living room {place.ref}")
    return _place_row(room.house_guid, room.premises_guid, room.guid, place.share)


def _place_row(
    house_guid: str, premises_guid: str | None, room_guid: str | None, share: Decimal | None
) -> dict[str, Any]:
    return {
        "account_guid": "",
        "house_guid": house_guid,
        "premises_guid": premises_guid,
        "living_room_guid": room_guid,
        "share_percent": share,
    }


def _places(ctx: HandlerContext, state: Packet, it: AccountItem) -> list[dict[str, Any]]:
    if not it.places:
        raise ItemError(
            Code.ACCOUNT_NO_ACCOMMODATION,
            "An open account needs at least one Accommodation (premises, living room or house).",
        )
    seen: set[tuple[str, str]] = set()
    for place in it.places:
        if (place.tag, place.ref) in seen:
            raise ItemError(
                Code.ACCOUNT_DUPLICATE_ACCOMMODATION,
                f"{place.tag} {place.ref} is listed twice in the account's Accommodation.",
            )
        seen.add((place.tag, place.ref))
    rows = [_resolve(ctx, state, place) for place in it.places]
    total = sum((p.share for p in it.places if p.share is not None), Decimal(0))
    if total > 100:
        raise ItemError(
            Code.ACCOUNT_SHARES_OVER_100,
            f"SharePercent of the account's accommodations adds up to {total}; at most 100.",
        )
    return rows


def _check_number(state: Packet, it: AccountItem, account_guid: str | None) -> None:
    holder = state.open_numbers.get(it.number or "")
    if it.number and holder is not None and holder != account_guid:
        raise ItemError(
            Code.ACCOUNT_NUMBER_IN_USE,
            f"AccountNumber {it.number} is already used by your open account {holder}; "
            "close that account first or use another number.",
        )


def _keep_number(state: Packet, old: str | None, new: str | None, account_guid: str) -> None:
    numbers = state.open_numbers
    if old and numbers.get(old) == account_guid:
        del numbers[old]
    if new:
        numbers[new] = account_guid


def _insert_places(changes: Changes, account_guid: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["account_guid"] = account_guid
        changes.insert(AccountPlace, row)


def _done(account: repo.AccountState) -> Done:
    return Done(
        account.guid,
        account.unique_number,
        Detail(
            HM,
            "ImportAccount",
            (
                (ACCOUNT_BASE, "UnifiedAccountNumber", account.unique_number),
                (ACCOUNT_BASE, "ServiceID", account.service_id),
            ),
        ),
    )


def _create(ctx: HandlerContext, state: Packet, it: AccountItem, changes: Changes) -> Done:
    _check_kind(ctx, it)
    if it.closing is not None:
        raise ItemError(
            Code.ACCOUNT_CLOSED_NEW,
            "Closed is only for an existing account: send its AccountGUID, or create the "
            "account open.",
        )
    _check_bases(state, it)
    places = _places(ctx, state, it)
    _check_number(state, it, None)
    now = ctx.now
    serial = state.next_serial
    state.next_serial += 1
    unified = repo.unified_number(serial)
    account = repo.AccountState(
        guid=new_guid(),
        org_guid=ctx.org_guid,
        kind=it.kind,
        unique_number=unified,
        service_id=repo.service_id(unified),
        account_number=it.number,
        closed=False,
        close_date=None,
    )
    changes.insert(
        Account,
        {
            "guid": account.guid,
            "org_guid": ctx.org_guid,
            "kind": it.kind,
            "serial": serial,
            "unique_number": unified,
            "service_id": account.service_id,
            "creation_date": now,
            "closed": False,
            "created_at": now,
            "updated_at": now,
            **it.values,
        },
    )
    _insert_places(changes, account.guid, places)
    state.accounts[account.guid] = account
    _keep_number(state, None, it.number, account.guid)
    return _done(account)


def _update(ctx: HandlerContext, state: Packet, it: AccountItem, changes: Changes) -> Done:
    _check_kind(ctx, it)
    account = _existing(ctx, state, it)
    if it.closing is not None:
        return _close(ctx, state, it.closing, account, changes)
    _check_bases(state, it)
    places = _places(ctx, state, it)
    _check_number(state, it, account.guid)
    changes.update(Account, {"guid": account.guid}, {**it.values, "updated_at": ctx.now})
    changes.delete(AccountPlace, {"account_guid": account.guid})
    _insert_places(changes, account.guid, places)
    _keep_number(state, account.account_number, it.number, account.guid)
    account.account_number = it.number
    return _done(account)


def _close(
    ctx: HandlerContext,
    state: Packet,
    closing: Closing,
    account: repo.AccountState,
    changes: Changes,
) -> Done:
    latest = (ctx.now.astimezone(UTC) + _LATEST_UTC_OFFSET).date()
    if closing.close_date > latest:
        raise ItemError(
            Code.ACCOUNT_CLOSE_DATE_IN_FUTURE,
            f"CloseDate {closing.close_date.isoformat()} is in the future; an account is closed "
            "on or after the day it stops being used.",
        )
    on = closing.close_date
    close_date = datetime(on.year, on.month, on.day, tzinfo=UTC)
    changes.update(
        Account,
        {"guid": account.guid},
        {
            "closed": True,
            "close_reason_code": closing.reason[0],
            "close_reason_guid": closing.reason[1],
            "close_date": close_date,
            "close_description": closing.description,
            "updated_at": ctx.now,
        },
    )
    account.closed, account.close_date = True, close_date
    _keep_number(state, account.account_number, None, account.guid)
    return _done(account)


# --- the import ---------------------------------------------------------------------------


class ImportAccounts(ImportBase[AccountItem, Packet]):
    #: identity documents (NSI 95) of payers, closing reasons (NSI 22)
    nsi_books = {"ID/Type": 95, "CloseReason": 22}
    answer = Answer(
        HM,
        tag="CommonResult",
        wrapper_version=IMPORT_RESULT_VERSION,
        nsmap={"hm": HM, "base": BASE, "ab": ACCOUNT_BASE},
    )

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[AccountItem]]:
        for element in children(request, "Account"):
            transport_guid = text(element, "TransportGUID") or ""
            try:
                yield Item(transport_guid, _read_item(element))
            except ItemError as error:
                yield Item(transport_guid, unreadable=error)

    def prefetch(self, ctx: HandlerContext, records: Sequence[AccountItem]) -> Packet:
        session = ctx.session
        refs: dict[str, list[str]] = {"PremisesGUID": [], "LivingRoomGUID": [], "FIASHouseGuid": []}
        for it in records:
            for place in it.places:
                refs[place.tag].append(place.ref)
        premises = repo.premises_by_guids(session, refs["PremisesGUID"])
        rooms = repo.rooms_by_guids(session, refs["LivingRoomGUID"])
        house_guids = [p.house_guid for p in premises.values()]
        house_guids += [r.house_guid for r in rooms.values()]
        houses = repo.houses_by_refs(session, house_guids, refs["FIASHouseGuid"])
        creates = any(it.account_guid is None for it in records)
        return Packet(
            accounts=repo.accounts_by_guids(
                session, [it.account_guid for it in records if it.account_guid]
            ),
            premises=premises,
            rooms=rooms,
            houses={h.guid: h for h in houses},
            houses_by_fias={h.fias_house_guid: h for h in houses},
            served=contracts.houses_for_role(
                session, ctx.org_guid, ctx.org_role, [h.guid for h in houses]
            ),
            bases=contracts.placed_bases(
                session, ctx.org_guid, [b for it in records for b in it.bases]
            ),
            open_numbers=repo.open_numbers(
                session, ctx.org_guid, [it.number for it in records if it.number]
            ),
            next_serial=repo.max_serial(session) + 1 if creates else 0,
        )

    def decide(
        self, ctx: HandlerContext, state: Packet, record: AccountItem, changes: Changes
    ) -> Done:
        if record.account_guid:
            return _update(ctx, state, record, changes)
        return _create(ctx, state, record, changes)


IMPORT = ImportAccounts()


def import_account(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importAccountRequest: up to 100 accounts, each with its own result."""
    return run_import(IMPORT, ctx, request)

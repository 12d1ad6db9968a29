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

Everything the items refer to (accounts, houses, premises, rooms, supplier links, account
numbers in use) is read once per packet and kept current as items succeed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from lxml import etree
from sqlalchemy.exc import IntegrityError

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    boolean,
    child,
    children,
    common_result_error,
    common_result_success,
    decimal,
    guid,
    integer,
    item,
    local,
    nsi_ref,
    sub,
    text,
)
from gateway.namespaces import ACCOUNT_BASE, BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import accounts as repo
from persistence import contracts
from persistence.houses import new_guid
from persistence.models import Account, AccountPlace, House
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
#: attempts of an item whose new serial number another worker took at the same moment
_SERIAL_ATTEMPTS = 3


@dataclass
class _Place:
    tag: str  # PremisesGUID | LivingRoomGUID | FIASHouseGuid
    ref: str
    share: Decimal | None


@dataclass
class _Item:
    element: etree._Element
    transport_guid: str
    kind: str
    account_guid: str | None
    number: str | None
    closed: etree._Element | None
    places: list[_Place] = field(default_factory=list)


def _read_item(element: etree._Element) -> _Item:
    flag = next(local(c) for c in element if isinstance(c.tag, str) and local(c) in KINDS)
    places = []
    for accommodation in children(element, "Accommodation"):
        ref = next(
            c for c in accommodation if isinstance(c.tag, str) and local(c) != "SharePercent"
        )
        places.append(
            _Place(
                local(ref), (ref.text or "").strip().lower(), decimal(accommodation, "SharePercent")
            )
        )
    return _Item(
        element=element,
        transport_guid=text(element, "TransportGUID") or "",
        kind=KINDS[flag],
        account_guid=guid(element, "AccountGUID"),
        number=text(element, "AccountNumber"),
        closed=child(element, "Closed"),
        places=places,
    )


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


#: AccountReasons children naming a contract of the gateway, and the child with its GUID
#: (the import format's reasons are supply contracts; social hire and solid-waste contracts
#: are not kept by the gateway and are stored as sent)
_BASES = (("SupplyResourceContract", "ContractGUID"),)


def _bases(element: etree._Element) -> list[str]:
    """The contract, charter and supply contract GUIDs the account's AccountReasons name."""
    reasons = child(element, "AccountReasons")
    if reasons is None:
        return []
    return [
        g
        for name, guid_tag in _BASES
        for basis in children(reasons, name)
        if (g := guid(basis, guid_tag))
    ]


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


def _values(it: _Item) -> dict[str, Any]:
    element = it.element
    return {
        "account_number": it.number,
        "living_persons": integer(element, "LivingPersonsNumber"),
        "total_square": decimal(element, "TotalSquare"),
        "residential_square": decimal(element, "ResidentialSquare"),
        "heated_area": decimal(element, "HeatedArea"),
        "reasons_xml": _reasons_xml(element),
        **_payer(element),
    }


class _Packet:
    """What the items of one packet refer to, read at once and kept current."""

    def __init__(self, ctx: HandlerContext, items: list[_Item]) -> None:
        self.ctx = ctx
        session = ctx.session
        self.accounts = repo.accounts_by_guids(
            session, [i.account_guid for i in items if i.account_guid]
        )
        refs: dict[str, list[str]] = {"PremisesGUID": [], "LivingRoomGUID": [], "FIASHouseGuid": []}
        for it in items:
            for place in it.places:
                refs[place.tag].append(place.ref)
        self.premises = repo.premises_by_guids(session, refs["PremisesGUID"])
        self.rooms = repo.rooms_by_guids(session, refs["LivingRoomGUID"])
        house_guids = [p.house_guid for p in self.premises.values()]
        house_guids += [r.house_guid for r in self.rooms.values()]
        houses = repo.houses_by_refs(session, house_guids, refs["FIASHouseGuid"])
        self.houses = {h.guid: h for h in houses}
        self.houses_by_fias = {h.fias_house_guid: h for h in houses}
        # the houses the sender manages (UO) or supplies (RSO) by its placed contracts
        self.served = contracts.houses_for_role(session, ctx.org_guid, ctx.org_role, self.houses)
        self.bases = contracts.placed_bases(
            session, ctx.org_guid, [g for it in items for g in _bases(it.element)]
        )
        self.open_numbers = repo.open_numbers(
            session, ctx.org_guid, [i.number for i in items if i.number]
        )
        self._next_serial: int | None = None

    # --- numbers ---
    def take_serial(self) -> int:
        if self._next_serial is None:
            self._next_serial = repo.max_serial(self.ctx.session) + 1
        serial, self._next_serial = self._next_serial, self._next_serial + 1
        return serial

    def forget_serial(self) -> None:
        """Another worker took our next serial: read the sequence again."""
        self._next_serial = None

    # --- checks ---
    def _check_house(self, house: House, what: str) -> None:
        if house.guid in self.served:
            return
        if self.ctx.org_role == Role.RSO:
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

    def check_bases(self, it: _Item) -> None:
        """AccountReasons name by ContractGUID only placed supply contracts the sender is a
        party to."""
        for basis in _bases(it.element):
            if basis not in self.bases:
                raise ItemError(
                    Code.ACCOUNT_BASIS,
                    f"AccountReasons names supply contract {basis}, which is not a placed "
                    "supply contract you are a party to.",
                )

    def resolve(self, place: _Place) -> AccountPlace:
        """The place an Accommodation names, checked to exist and to be the sender's."""
        if place.tag == "FIASHouseGuid":
            house = self.houses_by_fias.get(place.ref)
            if house is None:
                raise ItemError(
                    Code.NOT_FOUND, f"No house with FIASHouseGuid {place.ref} is registered."
                )
            self._check_house(house, f"House {place.ref}")
            return AccountPlace(house_guid=house.guid, share_percent=place.share)
        if place.tag == "PremisesGUID":
            premises = self.premises.get(place.ref)
            if premises is None or premises.annulled:
                raise ItemError(
                    Code.NOT_FOUND, f"Premises {place.ref} is not registered (or annulled)."
                )
            self._check_house(self.houses[premises.house_guid], f"Premises {place.ref}")
            return AccountPlace(
                house_guid=premises.house_guid,
                premises_guid=premises.guid,
                share_percent=place.share,
            )
        room = self.rooms.get(place.ref)
        if room is None or room.annulled:
            raise ItemError(
                Code.NOT_FOUND, f"Living room {place.ref} is not registered (or annulled)."
            )
        self._check_house(self.houses[room.house_guid], f"Living room {place.ref}")
        return AccountPlace(
            house_guid=room.house_guid,
            premises_guid=room.premises_guid,
            living_room_guid=room.guid,
            share_percent=place.share,
        )


class _AccountImport:
    def __init__(self, ctx: HandlerContext, packet: _Packet) -> None:
        self.ctx = ctx
        self.packet = packet

    def _check_kind(self, it: _Item) -> None:
        allowed: tuple[str, ...] = (
            KINDS_BY_ROLE.get(self.ctx.org_role, ()) if self.ctx.org_role else ()
        )
        if it.kind not in allowed:
            flags = ", ".join(KIND_FLAGS[k] for k in allowed) or "none"
            raise ItemError(
                Code.ACCOUNT_KIND_NOT_ALLOWED,
                f"{KIND_FLAGS[it.kind]} accounts are not kept by organisations of role "
                f"'{self.ctx.org_role}' (yours: {flags}).",
            )

    def _existing(self, it: _Item) -> Account:
        account = self.packet.accounts.get(it.account_guid or "")
        if account is None:
            raise ItemError(Code.NOT_FOUND, f"Account {it.account_guid} is not registered.")
        if account.org_guid != self.ctx.org_guid:
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

    def _places(self, it: _Item) -> list[AccountPlace]:
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
        places = [self.packet.resolve(place) for place in it.places]
        total = sum((p.share for p in it.places if p.share is not None), Decimal(0))
        if total > 100:
            raise ItemError(
                Code.ACCOUNT_SHARES_OVER_100,
                f"SharePercent of the account's accommodations adds up to {total}; at most 100.",
            )
        return places

    def _check_number(self, it: _Item, account_guid: str | None) -> None:
        holder = self.packet.open_numbers.get(it.number or "")
        if it.number and holder is not None and holder != account_guid:
            raise ItemError(
                Code.ACCOUNT_NUMBER_IN_USE,
                f"AccountNumber {it.number} is already used by your open account {holder}; "
                "close that account first or use another number.",
            )

    def _keep_number(self, old: str | None, new: str | None, account_guid: str) -> None:
        numbers = self.packet.open_numbers
        if old and numbers.get(old) == account_guid:
            del numbers[old]
        if new:
            numbers[new] = account_guid

    # --- the three kinds of item ---
    def create(self, it: _Item) -> Account:
        self._check_kind(it)
        self.packet.check_bases(it)
        if it.closed is not None:
            raise ItemError(
                Code.ACCOUNT_CLOSED_NEW,
                "Closed is only for an existing account: send its AccountGUID, or create the "
                "account open.",
            )
        places = self._places(it)
        self._check_number(it, None)
        now = self.ctx.now
        serial = self.packet.take_serial()
        unified = repo.unified_number(serial)
        account = Account(
            guid=new_guid(),
            org_guid=self.ctx.org_guid,
            kind=it.kind,
            serial=serial,
            unique_number=unified,
            service_id=repo.service_id(unified),
            creation_date=now,
            closed=False,
            created_at=now,
            updated_at=now,
            **_values(it),
        )
        repo.add_account(self.ctx.session, account, places)
        self._keep_number(None, it.number, account.guid)
        return account

    def update(self, it: _Item) -> Account:
        self._check_kind(it)
        account = self._existing(it)
        if it.closed is not None:
            return self.close(it, account)
        self.packet.check_bases(it)
        places = self._places(it)
        self._check_number(it, account.guid)
        old_number = account.account_number
        for key, value in _values(it).items():
            setattr(account, key, value)
        account.updated_at = self.ctx.now
        repo.replace_places(self.ctx.session, account.guid, places)
        self._keep_number(old_number, it.number, account.guid)
        return account

    def close(self, it: _Item, account: Account) -> Account:
        closed = it.closed
        close_date = _date(closed, "CloseDate")
        assert close_date is not None  # required by the schema
        latest = (self.ctx.now.astimezone(UTC) + _LATEST_UTC_OFFSET).date()
        if close_date > latest:
            raise ItemError(
                Code.ACCOUNT_CLOSE_DATE_IN_FUTURE,
                f"CloseDate {close_date.isoformat()} is in the future; an account is closed on "
                "or after the day it stops being used.",
            )
        code, reason_guid = nsi_ref(closed, "CloseReason")
        account.closed = True
        account.close_reason_code = code
        account.close_reason_guid = reason_guid
        account.close_date = datetime(close_date.year, close_date.month, close_date.day, tzinfo=UTC)
        account.close_description = text(closed, "Description")
        account.updated_at = self.ctx.now
        self.ctx.session.flush()
        self._keep_number(account.account_number, None, account.guid)
        return account


def _success(parent: etree._Element, it: _Item, account: Account, now: datetime) -> None:
    result = common_result_success(
        parent,
        HM,
        transport_guid=it.transport_guid,
        guid_value=account.guid,
        unique_number=account.unique_number,
        update_date=now,
    )
    detail = sub(result, HM, "ImportAccount")
    sub(detail, ACCOUNT_BASE, "UnifiedAccountNumber", account.unique_number)
    sub(detail, ACCOUNT_BASE, "ServiceID", account.service_id)


def import_account(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importAccountRequest: up to 100 accounts, each with its own result."""
    items = [_read_item(element) for element in children(request, "Account")]
    packet = _Packet(ctx, items)
    importer = _AccountImport(ctx, packet)
    import_result = etree.Element(
        etree.QName(HM, "ImportResult"), nsmap={"hm": HM, "base": BASE, "ab": ACCOUNT_BASE}
    )
    import_result.set(f"{{{BASE}}}version", IMPORT_RESULT_VERSION)
    for it in items:
        action = importer.update if it.account_guid else importer.create
        for attempt in range(1, _SERIAL_ATTEMPTS + 1):
            try:
                with item(ctx):
                    account = action(it)
            except ItemError as error:
                common_result_error(
                    import_result, HM, transport_guid=it.transport_guid, error=error
                )
            except IntegrityError:
                # Only a new account's serial can collide (another worker numbered an account
                # at the same moment); the savepoint undid this item: number it again.
                if it.account_guid or attempt == _SERIAL_ATTEMPTS:
                    raise
                packet.forget_serial()
                continue
            else:
                _success(import_result, it, account, ctx.now)
            break
    return HandlerResult([import_result])

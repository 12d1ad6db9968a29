"""Repository of personal accounts: numbers, per-packet lookups, places, export.

Every query of importAccountData and exportAccountData lives here (who may keep accounts on
which house: persistence/contracts.py). Lookups take whole lists (chunked ``IN``), so a packet costs a handful of queries
however many items it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from persistence.models import Account, AccountPlace, House, LivingRoom, Premises

T = TypeVar("T")
_CHUNK = 500

# --- unified account numbers ---------------------------------------------------------------
#
# UnifiedAccountNumber (10 characters): a 9-digit serial from a sequence (max + 1) and a Luhn
# check digit, so a mistyped digit or most swapped neighbours are caught. It is assigned once
# and never changes. ServiceID (13 characters): the unified number, "-", the 2-digit index of
# the service within it; every account here has exactly one, "01".

SERIAL_DIGITS = 9


def luhn_digit(body: str) -> str:
    """The Luhn check digit of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the rightmost digit of the body, then every other
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def unified_number(serial: int) -> str:
    body = f"{serial:0{SERIAL_DIGITS}d}"
    if len(body) != SERIAL_DIGITS:
        raise OverflowError(f"account serial {serial} does not fit {SERIAL_DIGITS} digits")
    return body + luhn_digit(body)


def is_valid_unified_number(number: str) -> bool:
    return (
        len(number) == SERIAL_DIGITS + 1
        and number.isdigit()
        and luhn_digit(number[:-1]) == number[-1]
    )


def service_id(unified: str, index: int = 1) -> str:
    return f"{unified}-{index:02d}"


def max_serial(session: Session) -> int:
    return session.scalar(select(func.max(Account.serial))) or 0


# --- per-packet lookups --------------------------------------------------------------------


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


def accounts_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Account]:
    found: dict[str, Account] = {}
    for chunk in _chunks(guids):
        for account in session.scalars(select(Account).where(Account.guid.in_(chunk))):
            found[account.guid] = account
    return found


def open_numbers(session: Session, org_guid: str, numbers: Iterable[str]) -> dict[str, str]:
    """AccountNumber ► AccountGUID of the organisation's open accounts with those numbers."""
    found: dict[str, str] = {}
    for chunk in _chunks(numbers):
        rows = session.execute(
            select(Account.account_number, Account.guid).where(
                Account.org_guid == org_guid,
                Account.closed.is_(False),
                Account.account_number.in_(chunk),
            )
        )
        for number, account_guid in rows:
            if number is not None:  # IN (chunk): never None
                found[number] = account_guid
    return found


def premises_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Premises]:
    found: dict[str, Premises] = {}
    for chunk in _chunks(guids):
        for premises in session.scalars(select(Premises).where(Premises.guid.in_(chunk))):
            found[premises.guid] = premises
    return found


def rooms_by_guids(session: Session, guids: Iterable[str]) -> dict[str, LivingRoom]:
    found: dict[str, LivingRoom] = {}
    for chunk in _chunks(guids):
        for room in session.scalars(select(LivingRoom).where(LivingRoom.guid.in_(chunk))):
            found[room.guid] = room
    return found


def houses_by_refs(
    session: Session, guids: Iterable[str], fias_guids: Iterable[str]
) -> list[House]:
    """Houses by their own GUID or by FIASHouseGuid."""
    houses: dict[str, House] = {}
    for chunk in _chunks(guids):
        for house in session.scalars(select(House).where(House.guid.in_(chunk))):
            houses[house.guid] = house
    for chunk in _chunks(fias_guids):
        for house in session.scalars(select(House).where(House.fias_house_guid.in_(chunk))):
            houses[house.guid] = house
    return list(houses.values())


# --- writes --------------------------------------------------------------------------------


def add(session: Session, obj: T) -> T:
    session.add(obj)
    session.flush()
    return obj


def add_account(session: Session, account: Account, places: list[AccountPlace]) -> Account:
    """Insert a new account with its places (one flush)."""
    for place in places:
        place.account_guid = account.guid
    session.add(account)
    session.add_all(places)
    session.flush()
    return account


def replace_places(session: Session, account_guid: str, places: list[AccountPlace]) -> None:
    for place in places:
        place.account_guid = account_guid
    session.execute(delete(AccountPlace).where(AccountPlace.account_guid == account_guid))
    session.add_all(places)
    session.flush()


# --- export --------------------------------------------------------------------------------


def accounts_for_export(
    session: Session,
    org_guid: str,
    *,
    fias_house_guid: str | None = None,
    account_guids: Iterable[str] = (),
    unified_numbers: Iterable[str] = (),
    service_ids: Iterable[str] = (),
) -> list[Account]:
    """The organisation's accounts matching one filter of exportAccountRequest, by number."""
    found: dict[str, Account] = {}
    if fias_house_guid is not None:
        query = (
            select(Account)
            .join(AccountPlace, AccountPlace.account_guid == Account.guid)
            .join(House, House.guid == AccountPlace.house_guid)
            .where(Account.org_guid == org_guid, House.fias_house_guid == fias_house_guid)
            .distinct()
        )
        found.update((a.guid, a) for a in session.scalars(query))
    for column, values in (
        (Account.guid, account_guids),
        (Account.unique_number, unified_numbers),
        (Account.service_id, service_ids),
    ):
        for chunk in _chunks(values):
            query = select(Account).where(Account.org_guid == org_guid, column.in_(chunk))
            found.update((a.guid, a) for a in session.scalars(query))
    return sorted(found.values(), key=lambda a: a.unique_number)


def places_for_export(
    session: Session, account_guids: Iterable[str]
) -> dict[str, list[tuple[AccountPlace, str]]]:
    """account GUID ► its places, each with the FIASHouseGuid of its house, in stored order."""
    result: dict[str, list[tuple[AccountPlace, str]]] = {}
    for chunk in _chunks(account_guids):
        rows = session.execute(
            select(AccountPlace, House.fias_house_guid)
            .join(House, House.guid == AccountPlace.house_guid)
            .where(AccountPlace.account_guid.in_(chunk))
            .order_by(AccountPlace.id)
        )
        for place, fias in rows:
            result.setdefault(place.account_guid, []).append((place, fias))
    return result

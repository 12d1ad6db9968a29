"""Repository of personal accounts: numbers, per-packet lookups, places, export, house suppliers.

Every query of importAccountData and exportAccountData lives here (who may keep accounts on
which house: persistence/contracts.py).
Lookups take whole lists (``persistence.sets.where_in``), so a packet costs a handful of
queries however many items it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from persistence.models import Account, AccountPlace, House, LivingRoom, Premises
from persistence.sets import where_in

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


@dataclass
class AccountState:
    """An account as importAccountData's rules see it, kept current while a packet runs."""

    guid: str
    org_guid: str
    kind: str
    unique_number: str
    service_id: str
    account_number: str | None
    closed: bool
    close_date: datetime | None


def accounts_by_guids(session: Session, guids: Iterable[str]) -> dict[str, AccountState]:
    query = select(
        Account.guid,
        Account.org_guid,
        Account.kind,
        Account.unique_number,
        Account.service_id,
        Account.account_number,
        Account.closed,
        Account.close_date,
    )
    rows = where_in(session, query, Account.guid, guids)
    return {row.guid: AccountState(**row._asdict()) for row in rows}


def open_numbers(session: Session, org_guid: str, numbers: Iterable[str]) -> dict[str, str]:
    """AccountNumber ► AccountGUID of the organisation's open accounts with those numbers."""
    query = select(Account.account_number, Account.guid).where(
        Account.org_guid == org_guid, Account.closed.is_(False)
    )
    rows = where_in(session, query, Account.account_number, numbers)
    return {row.account_number: row.guid for row in rows if row.account_number is not None}


def premises_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, house_guid, annulled) of premises."""
    query = select(Premises.guid, Premises.house_guid, Premises.annulled)
    return {row.guid: row for row in where_in(session, query, Premises.guid, guids)}


def rooms_by_guids(session: Session, guids: Iterable[str]) -> dict[str, Row[Any]]:
    """GUID ► (guid, house_guid, premises_guid, annulled) of living rooms."""
    query = select(
        LivingRoom.guid, LivingRoom.house_guid, LivingRoom.premises_guid, LivingRoom.annulled
    )
    return {row.guid: row for row in where_in(session, query, LivingRoom.guid, guids)}


def houses_by_refs(
    session: Session, guids: Iterable[str], fias_guids: Iterable[str]
) -> list[Row[Any]]:
    """Houses (guid, fias_house_guid, org_guid) by their own GUID or by FIASHouseGuid."""
    query = select(House.guid, House.fias_house_guid, House.org_guid)
    houses = {row.guid: row for row in where_in(session, query, House.guid, guids)}
    for row in where_in(session, query, House.fias_house_guid, fias_guids):
        houses[row.guid] = row
    return list(houses.values())


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

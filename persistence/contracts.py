"""Repository of contracts: management contracts, charters and resource supply contracts.

Who may describe a house and keep accounts, devices, readings and payment documents on it is
decided here, in set queries:

  managed_houses   a management company (UO) manages a house while one of its management
                   contracts or charters is placed and covers the house (object not annulled)
  supplied_houses  a resource supplier (RSO) serves a house while one of its supply contracts
                   (or offers) is placed and has the house among its addresses
  placed_bases     which supply contracts named as an account's basis are placed ones the
                   sender is a party to
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, bindparam, literal, select
from sqlalchemy.orm import Session

from persistence.models import AccountPlace, Contract, ContractObject, ContractVersion, House
from persistence.paging import keyset_page
from persistence.roles import Role
from persistence.sets import SetRead, columns_of, where_in

T = TypeVar("T")

MANAGEMENT = "management"
CHARTER = "charter"
SUPPLY = "supply"
#: the kinds that make an organisation a house's manager
MANAGING_KINDS = (MANAGEMENT, CHARTER)

PROJECT = "project"
PLACED = "placed"
TERMINATED = "terminated"
ANNULLED = "annulled"

_CHUNK = 500


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


# --- who may act on a house ------------------------------------------------------------


def _placed_objects_of(
    org_guid: str | ColumnElement[str], kinds: tuple[str, ...]
) -> tuple[ColumnElement[bool], ...]:
    """Conditions on ContractObject joined to its Contract: a live object of a placed
    contract of the organisation, of one of these kinds."""
    return (
        Contract.org_guid == org_guid,
        # one parameter per kind: an expanding IN would be rendered again at every execution
        Contract.kind.in_([literal(kind) for kind in kinds]),
        Contract.state == PLACED,
        ContractObject.annulled.is_(False),
    )


def _covered(org_guid: str | ColumnElement[str], kinds: tuple[str, ...]) -> Select[str]:
    """FIAS GUIDs of the houses the organisation's placed contracts of these kinds cover."""
    return (
        select(ContractObject.fias_house_guid)
        .join(Contract, Contract.root_guid == ContractObject.contract_guid)
        .where(*_placed_objects_of(org_guid, kinds))
    )


def _houses_covered(
    session: Session, org_guid: str, kinds: tuple[str, ...], house_guids: Iterable[str]
) -> set[str]:
    rows = _HOUSES_COVERED.rows(session, house_guids, org_guid=org_guid, kinds=list(kinds))
    return {guid for (guid,) in rows}


#: the houses of the given ones that the organisation's placed contracts of these kinds
#: cover (read for every packet of readings: built once)
_HOUSES_COVERED = SetRead(
    lambda values_in: (
        select(House.guid)
        .join(ContractObject, ContractObject.fias_house_guid == House.fias_house_guid)
        .join(Contract, Contract.root_guid == ContractObject.contract_guid)
        .where(
            Contract.org_guid == bindparam("org_guid"),
            Contract.kind.in_(bindparam("kinds", expanding=True)),
            Contract.state == PLACED,
            ContractObject.annulled.is_(False),
            values_in(House.guid),
        )
    )
)


def managed_houses(session: Session, org_guid: str, house_guids: Iterable[str]) -> set[str]:
    """Of the given houses (gateway GUIDs), those the organisation manages by a placed
    management contract or charter."""
    return _houses_covered(session, org_guid, MANAGING_KINDS, house_guids)


def supplied_houses(session: Session, org_guid: str, house_guids: Iterable[str]) -> set[str]:
    """Of the given houses (gateway GUIDs), those the organisation serves by a placed supply
    contract or offer."""
    return _houses_covered(session, org_guid, (SUPPLY,), house_guids)


def houses_for_role(
    session: Session, org_guid: str, role: Role | None, house_guids: Iterable[str]
) -> set[str]:
    """Of the given houses, those a UO manages or an RSO supplies; none for anyone else."""
    if role == Role.UO:
        return managed_houses(session, org_guid, house_guids)
    if role == Role.RSO:
        return supplied_houses(session, org_guid, house_guids)
    return set()


def served_accounts(
    session: Session, org_guid: str, role: Role | None, account_guids: Iterable[str]
) -> set[str]:
    """Of the given accounts, those with a place in a house the organisation manages (UO) or
    supplies (RSO) now: whose payment documents it may place."""
    rows = where_in(
        session,
        select(AccountPlace.account_guid, AccountPlace.house_guid),
        AccountPlace.account_guid,
        account_guids,
    )
    served = houses_for_role(session, org_guid, role, {r.house_guid for r in rows})
    return {r.account_guid for r in rows if r.house_guid in served}


def _kinds_of(role: Role | None) -> tuple[str, ...]:
    """The contract kinds by which an organisation acting as ``role`` covers a house."""
    return MANAGING_KINDS if role == Role.UO else (SUPPLY,) if role == Role.RSO else ()


def covered_fias(
    session: Session, org_guid: str, role: Role | None, fias_guids: Iterable[str]
) -> set[str]:
    """Of the given FIAS house GUIDs, those the organisation's placed contracts cover (its
    role's kinds), whether or not the house is registered yet."""
    kinds = _kinds_of(role)
    if not kinds:
        return set()
    query = _covered(org_guid, kinds)
    rows = where_in(session, query, ContractObject.fias_house_guid, fias_guids)
    return {row.fias_house_guid for row in rows}


def house_and_cover(
    session: Session, org_guid: str, role: Role | None, fias_guid: str
) -> tuple[Row[Any] | None, bool]:
    """The registered house of a FIAS GUID (guid, fias_house_guid, kind, unique_number,
    org_guid; None if there is none) and whether the organisation's placed contracts cover
    it (as ``covered_fias``): what a house import reads first, in one statement."""
    kinds = _kinds_of(role)
    params = {"org": org_guid, "fias": fias_guid}
    row = session.connection().execute(_house_and_cover(kinds), params).one()
    house = row if row.guid is not None else None
    return house, bool(row.covered)


@cache
def _house_and_cover(kinds: tuple[str, ...]) -> Select[*tuple[Any, ...]]:
    """One row: the house of ``:fias`` (NULLs if none) and whether ``:org`` covers it."""
    fias = bindparam("fias", type_=House.fias_house_guid.type)
    covered = (
        _covered(bindparam("org", type_=Contract.org_guid.type), kinds)
        .where(ContractObject.fias_house_guid == fias)
        .exists()
        if kinds
        else literal(False)
    )
    one = select(literal(1).label("one")).subquery("one")
    return select(
        House.guid,
        House.fias_house_guid,
        House.kind,
        House.unique_number,
        House.org_guid,
        covered.label("covered"),
    ).select_from(one.outerjoin(House, House.fias_house_guid == fias))


def placed_bases(session: Session, org_guid: str, contract_guids: Iterable[str]) -> set[str]:
    """Of the given GUIDs (root or current version), those naming a placed supply contract
    the organisation is a party to — as its supplier, or as the organisation it supplies:
    what a personal account may name as its basis (AccountReasons)."""
    found: set[str] = set()
    for chunk in _chunks(contract_guids):
        rows = session.execute(
            select(Contract.root_guid, Contract.version_guid).where(
                Contract.kind == SUPPLY,
                Contract.state == PLACED,
                (Contract.org_guid == org_guid) | (Contract.counterparty_org_guid == org_guid),
                Contract.root_guid.in_(chunk) | Contract.version_guid.in_(chunk),
            )
        )
        for root, version in rows:
            found.update(g for g in (root, version) if g in chunk)
    return found


# --- reading and writing contracts -------------------------------------------------------


def by_guids(session: Session, guids: Iterable[str]) -> dict[str, Contract]:
    """Contracts found by root or version GUID, keyed by the GUID given."""
    found: dict[str, Contract] = {}
    for chunk in _chunks(guids):
        for contract in session.scalars(
            select(Contract).where(Contract.root_guid.in_(chunk) | Contract.version_guid.in_(chunk))
        ):
            for key in (contract.root_guid, contract.version_guid):
                if key in chunk:
                    found[key] = contract
    return found


def objects_of(session: Session, contract_guids: Iterable[str]) -> dict[str, list[ContractObject]]:
    """Contract root GUID ► its objects (annulled ones too), in FIAS order."""
    found: dict[str, list[ContractObject]] = {}
    for chunk in _chunks(contract_guids):
        rows = session.scalars(
            select(ContractObject)
            .where(ContractObject.contract_guid.in_(chunk))
            .order_by(ContractObject.fias_house_guid, ContractObject.guid)
        )
        for obj in rows:
            found.setdefault(obj.contract_guid, []).append(obj)
    return found


def managers_of(session: Session, fias_guids: Iterable[str], *, exclude_org: str) -> dict[str, str]:
    """FIAS GUID ► another organisation whose placed management contract or charter covers
    the house: a house has one manager at a time."""
    found: dict[str, str] = {}
    for chunk in _chunks(fias_guids):
        rows = session.execute(
            select(ContractObject.fias_house_guid, Contract.org_guid)
            .join(Contract, Contract.root_guid == ContractObject.contract_guid)
            .where(
                ContractObject.fias_house_guid.in_(chunk),
                ContractObject.annulled.is_(False),
                Contract.kind.in_(MANAGING_KINDS),
                Contract.state == PLACED,
                Contract.org_guid != exclude_org,
            )
        )
        found.update((fias, org) for fias, org in rows)
    return found


def suppliers_of(session: Session, fias_guids: Iterable[str]) -> list[str]:
    """The organisations whose placed supply contracts have any of the houses."""
    found: set[str] = set()
    for chunk in _chunks(fias_guids):
        found.update(
            session.scalars(
                select(Contract.org_guid)
                .join(ContractObject, ContractObject.contract_guid == Contract.root_guid)
                .where(
                    ContractObject.fias_house_guid.in_(chunk),
                    Contract.kind == SUPPLY,
                    Contract.state == PLACED,
                )
            )
        )
    return sorted(found)


@dataclass(frozen=True)
class Filter:
    """What an export asks for: the sender's contracts of some kinds, optionally narrowed."""

    org_guid: str
    kinds: tuple[str, ...]
    guids: tuple[str, ...] = ()  # root or version GUIDs
    fias_house_guid: str | None = None
    number: str | None = None
    signed_from: date | None = None
    signed_to: date | None = None
    counterparty: str | None = None  # supply: the Organization of the second party


def _filtered(f: Filter) -> Select[Contract]:
    query = select(Contract).where(Contract.org_guid == f.org_guid, Contract.kind.in_(f.kinds))
    if f.guids:
        query = query.where(Contract.root_guid.in_(f.guids) | Contract.version_guid.in_(f.guids))
    if f.fias_house_guid is not None:
        query = query.where(
            Contract.root_guid.in_(
                select(ContractObject.contract_guid).where(
                    ContractObject.fias_house_guid == f.fias_house_guid
                )
            )
        )
    if f.number is not None:
        query = query.where(Contract.number == f.number)
    if f.counterparty is not None:
        query = query.where(Contract.counterparty_org_guid == f.counterparty)
    if f.signed_from is not None:
        query = query.where(Contract.signing_date >= f.signed_from)
    if f.signed_to is not None:
        query = query.where(Contract.signing_date <= f.signed_to)
    return query


def contracts_page(
    session: Session, f: Filter, *, after: str | None, size: int
) -> tuple[list[Contract], str | None]:
    """One page of the filtered contracts in root-GUID order, from root GUID ``after`` on
    (inclusive); with the root GUID the next page starts at, None on the last page."""
    return keyset_page(session, _filtered(f), Contract.root_guid, after=after, size=size)


def contracts(session: Session, f: Filter) -> list[Contract]:
    """Every filtered contract, in root-GUID order (for exports without pages)."""
    return list(session.scalars(_filtered(f).order_by(Contract.root_guid)))


# --- the import pipeline's reads: plain rows it may change in memory ------------------------


def contract_rows(session: Session, guids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Contracts found by root or version GUID as dicts of their columns, keyed by both
    GUIDs (the same dict under each key)."""
    wanted = list(guids)
    found: dict[str, dict[str, Any]] = {}
    query = select(*columns_of(Contract))
    for column in (Contract.root_guid, Contract.version_guid):
        for row in where_in(session, query, column, wanted):
            contract = found.get(row.root_guid) or dict(row._mapping)
            found[contract["root_guid"]] = found[contract["version_guid"]] = contract
    older = [g for g in wanted if g not in found]
    versions = select(ContractVersion.version_guid.label("old_version"), *columns_of(Contract))
    versions = versions.join(Contract, Contract.root_guid == ContractVersion.contract_guid)
    for row in where_in(session, versions, ContractVersion.version_guid, older):
        values = dict(row._mapping)
        old = values.pop("old_version")
        contract = found.get(values["root_guid"]) or values
        found.setdefault(contract["root_guid"], contract)
        found.setdefault(contract["version_guid"], contract)
        found[old] = contract  # an older version: the rules see it is not the current one
    return found


def version_row(contract: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The contract_versions row of the contract's current version."""
    return {
        "version_guid": contract["version_guid"],
        "contract_guid": contract["root_guid"],
        "version_number": contract["version_number"],
        "created_at": now,
    }


def object_rows(session: Session, contract_guids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Contract root GUID ► its objects as dicts of their columns."""
    found: dict[str, list[dict[str, Any]]] = {}
    query = select(*columns_of(ContractObject)).order_by(ContractObject.guid)
    for row in where_in(session, query, ContractObject.contract_guid, contract_guids):
        found.setdefault(row.contract_guid, []).append(dict(row._mapping))
    return found

"""Repository of the house domain: houses, entrances, premises, living rooms, lifts."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from persistence.models import Entrance, House, Lift, LivingRoom, Premises


def new_guid() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` makes it, without the UUID
    object: a house packet draws one for each of its parts."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def house_by_fias(session: Session, fias_house_guid: str) -> House | None:
    return session.scalars(select(House).where(House.fias_house_guid == fias_house_guid)).first()


def new_house_unique_number() -> str:
    """A random registry number. Its unique key refuses the rare one already taken: the import
    then runs again (``gateway.imports.pipeline``), with a new number."""
    return f"{secrets.randbelow(10**11):011d}"


def entrances_of(session: Session, house_guid: str) -> list[Entrance]:
    return list(
        session.scalars(
            select(Entrance)
            .where(Entrance.house_guid == house_guid)
            .order_by(Entrance.entrance_num)
        )
    )


def premises_of(session: Session, house_guid: str, kind: str) -> list[Premises]:
    return list(
        session.scalars(
            select(Premises)
            .where(Premises.house_guid == house_guid, Premises.kind == kind)
            .order_by(Premises.unique_number)
        )
    )


def rooms_of(session: Session, house_guid: str, premises_guid: str | None) -> list[LivingRoom]:
    query = select(LivingRoom).where(LivingRoom.house_guid == house_guid)
    query = (
        query.where(LivingRoom.premises_guid == premises_guid)
        if premises_guid
        else query.where(LivingRoom.premises_guid.is_(None))
    )
    return list(session.scalars(query.order_by(LivingRoom.unique_number)))


def lifts_of(session: Session, house_guid: str) -> list[Lift]:
    return list(
        session.scalars(
            select(Lift).where(Lift.house_guid == house_guid).order_by(Lift.factory_num)
        )
    )


@dataclass(frozen=True)
class Parts:
    """The entrances, premises, living rooms and lifts of a house (Core rows)."""

    entrances: list[Row[Any]]
    premises: list[Row[Any]]
    rooms: list[Row[Any]]
    lifts: list[Row[Any]]


def parts_of(session: Session, house_guid: str) -> Parts:
    """Everything inside a house, for an import's rules: four queries whatever its size."""
    return Parts(
        entrances=list(
            session.execute(
                select(Entrance.guid, Entrance.entrance_num).where(
                    Entrance.house_guid == house_guid
                )
            )
        ),
        premises=list(
            session.execute(
                select(Premises.guid, Premises.kind, Premises.number, Premises.unique_number).where(
                    Premises.house_guid == house_guid
                )
            )
        ),
        rooms=list(
            session.execute(
                select(
                    LivingRoom.guid,
                    LivingRoom.premises_guid,
                    LivingRoom.number,
                    LivingRoom.unique_number,
                ).where(LivingRoom.house_guid == house_guid)
            )
        ),
        lifts=list(
            session.execute(
                select(Lift.guid, Lift.factory_num).where(Lift.house_guid == house_guid)
            )
        ),
    )

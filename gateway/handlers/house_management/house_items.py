"""What importHouseUOData and importHouseRSOData share: the items of a house packet as records,
the packet's state (the house and what is inside it, read once), and the rules of its parts.

A house packet is one house item followed by its parts, decided in dependency order: the
house, entrances (created, then updated), non-residential premises, residential premises
each followed by its living rooms, lifts; for a living house its rooms, then its blocks each
followed by their rooms. Each item succeeds or fails on its own; a part of a house whose
item failed fails with HCS001004, a room of a premises whose item failed likewise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, ItemError
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item
from gateway.imports.xml import Fields, local
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts
from persistence import houses as repo
from persistence.models import Entrance, House, Lift, LivingRoom, Premises
from persistence.roles import Role

#: ImportResult/@base:version is fixed by the format.
IMPORT_RESULT_VERSION = "10.0.1.1"
ANSWER = Answer(HM, tag="CommonResult", wrapper_version=IMPORT_RESULT_VERSION, nsmap={"hm": HM})
#: the nsiRef elements of house items and their NSI books (checked by the pipeline)
HOUSE_BOOKS = {
    "State": 24,
    "LifeCycleStage": 338,
    "OlsonTZ": 32,
    "PremisesCharacteristic": 30,
    "LiftToCreate/Type": 192,
    "LiftToUpdate/Type": 192,
}

Values = Mapping[str, Any]

# --- records ------------------------------------------------------------------------------
# Named tuples: typed and immutable as frozen dataclasses are, made in a third of the time
# (a packet makes one per item)


class HouseItem(NamedTuple):
    kind: str  # apartment | living
    create: bool  # …HouseToCreate (else …HouseToUpdate)
    fias: str
    values: Values


class EntranceItem(NamedTuple):
    create: bool
    number: str | None  # required to create
    guid: str | None  # EntranceGUID of an update
    values: Values  # storeys_count, creation_year
    annul: bool = False


class PremisesItem(NamedTuple):
    kind: str  # residential | nonresidential | block
    create: bool
    number: str | None
    guid: str | None
    entrance_num: str | None
    values: Values
    group: int | None  # the ResidentialPremises / Blocks group it heads
    annul: bool = False


class RoomItem(NamedTuple):
    create: bool
    number: str | None
    guid: str | None
    values: Values  # square, cadastral
    group: int | None  # the group of its premises; None: a room of a living house
    annul: bool = False


class LiftItem(NamedTuple):
    create: bool
    guid: str | None
    entrance_num: str | None
    factory_num: str | None
    type_code: str | None
    type_guid: str | None
    annul: bool = False


HouseRecord = HouseItem | EntranceItem | PremisesItem | RoomItem | LiftItem


# --- read ---------------------------------------------------------------------------------


def _cadastral(f: Fields) -> dict[str, Any]:
    no_registration = f.boolean("No_RSO_GKN_EGRP_Registered") or f.boolean("NoCadastralNumber")
    return {
        "cadastral_number": f.text("CadastralNumber"),
        "no_cadastral_registration": no_registration,
    }


def house_values(f: Fields) -> dict[str, Any]:
    """The house columns an item sets (None: left as they are)."""
    basic = f.sub("BasicCharacteristicts")
    state_code, state_guid = basic.nsi("State")
    stage_code, stage_guid = basic.nsi("LifeCycleStage")
    tz_code, tz_guid = basic.nsi("OlsonTZ")
    oktmo = basic.sub("OKTMO")
    return {
        **_cadastral(basic),
        "total_square": basic.decimal("TotalSquare"),
        "state_code": state_code,
        "state_guid": state_guid,
        "life_cycle_code": stage_code,
        "life_cycle_guid": stage_guid,
        "used_year": basic.integer("UsedYear"),
        "floor_count": basic.integer("FloorCount"),
        "oktmo_code": oktmo.text("code"),
        "oktmo_name": oktmo.text("name"),
        "olson_tz_code": tz_code,
        "olson_tz_guid": tz_guid,
        "cultural_heritage": basic.boolean("CulturalHeritage"),
        "underground_floor_count": f.integer("UndergroundFloorCount"),
        "min_floor_count": f.integer("MinFloorCount"),
        "has_blocks": f.boolean("HasBlocks"),
    }


def _item(element: etree._Element, read: Any) -> Item[HouseRecord]:
    f = Fields(element)
    transport_guid = f.text("TransportGUID") or ""
    try:
        return Item(transport_guid, read(f))
    except ItemError as error:
        return Item(transport_guid, unreadable=error)


def _house(kind: str, create: bool) -> Any:
    def read(f: Fields) -> HouseItem:
        fias = f.sub("BasicCharacteristicts").guid("FIASHouseGuid")
        assert fias is not None  # required by the schema
        return HouseItem(kind, create, fias, house_values(f))

    return read


def _entrance(create: bool) -> Any:
    def read(f: Fields) -> EntranceItem:
        values = {
            "storeys_count": f.integer("StoreysCount"),
            "creation_year": f.integer("CreationYear"),
        }
        return EntranceItem(
            create,
            f.text("EntranceNum"),
            f.guid("EntranceGUID"),
            values,
            annul="AnnulmentReason" in f,
        )

    return read


def _premises(kind: str, create: bool, number_tag: str, guid_tag: str, group: int | None) -> Any:
    def read(f: Fields) -> PremisesItem:
        code, nsi_guid = f.nsi("PremisesCharacteristic")
        values = {
            **_cadastral(f),
            "characteristic_code": code,
            "characteristic_guid": nsi_guid,
            "total_area": f.decimal("TotalArea"),
            "gross_area": f.decimal("GrossArea"),
            "is_common_property": f.boolean("IsCommonProperty"),
            "category": f.text("Category"),
        }
        return PremisesItem(
            kind,
            create,
            f.text(number_tag),
            f.guid(guid_tag),
            f.text("EntranceNum"),
            values,
            group,
            annul="AnnulmentReason" in f,
        )

    return read


def _room(create: bool, group: int | None) -> Any:
    def read(f: Fields) -> RoomItem:
        values = {"square": f.decimal("Square"), **(_cadastral(f) if create else {})}
        return RoomItem(
            create,
            f.text("RoomNumber"),
            f.guid("LivingRoomGUID"),
            values,
            group,
            annul="AnnulmentReason" in f,
        )

    return read


def _lift(create: bool) -> Any:
    def read(f: Fields) -> LiftItem:
        code, nsi_guid = f.nsi("Type")
        return LiftItem(
            create,
            f.guid("LiftGUID"),
            f.text("EntranceNum"),
            f.text("FactoryNum"),
            code,
            nsi_guid,
            annul="AnnulmentReason" in f,
        )

    return read


def _of(parent: etree._Element, name: str) -> Iterator[etree._Element]:
    """The children named ``name`` (any namespace), picked by lxml without a Python step for
    each of the others."""
    return parent.iterchildren(f"{{*}}{name}")


def read_house_packet(request: etree._Element) -> Iterator[Item[HouseRecord]]:
    """The items of a house packet in the order they are decided (see the module's doc)."""
    top = Fields(request)
    apartment = top.get("ApartmentHouse")
    living = top.get("LivingHouse")
    house = apartment if apartment is not None else living
    assert house is not None  # the schema requires one of them
    kind = "apartment" if apartment is not None else "living"
    prefix = "ApartmentHouse" if apartment is not None else "LivingHouse"
    f = Fields(house)
    create = f.get(f"{prefix}ToCreate")
    if create is not None:
        yield _item(create, _house(kind, True))
    else:
        update = f.get(f"{prefix}ToUpdate")
        assert update is not None
        yield _item(update, _house(kind, False))
    groups = 0
    if apartment is not None:
        yield from (_item(e, _entrance(True)) for e in _of(house, "EntranceToCreate"))
        yield from (_item(e, _entrance(False)) for e in _of(house, "EntranceToUpdate"))
        for name, create_it in (
            ("NonResidentialPremiseToCreate", True),
            ("NonResidentialPremiseToUpdate", False),
        ):
            for e in _of(house, name):
                yield _item(
                    e, _premises("nonresidential", create_it, "PremisesNum", "PremisesGUID", None)
                )
        for group in _of(house, "ResidentialPremises"):
            groups += 1
            yield from _group(group, groups, "residential", "PremisesNum", "PremisesGUID")
        yield from (_item(e, _lift(True)) for e in _of(house, "LiftToCreate"))
        yield from (_item(e, _lift(False)) for e in _of(house, "LiftToUpdate"))
    else:
        yield from (_item(e, _room(True, None)) for e in _of(house, "LivingRoomToCreate"))
        yield from (_item(e, _room(False, None)) for e in _of(house, "LivingRoomToUpdate"))
        for group in _of(house, "Blocks"):
            groups += 1
            yield from _group(group, groups, "block", "BlockNum", "BlockGUID")


def _group(
    group: etree._Element, n: int, kind: str, number_tag: str, guid_tag: str
) -> Iterator[Item[HouseRecord]]:
    """ResidentialPremises / Blocks: its premises item(s), then its rooms (created, then
    updated); one pass over the group."""
    created: list[etree._Element] = []
    updated: list[etree._Element] = []
    for part in group:
        name = local(part)
        if name.startswith("LivingRoom"):
            if name == "LivingRoomToCreate":
                created.append(part)
            elif name == "LivingRoomToUpdate":
                updated.append(part)
        elif name.endswith("ToCreate"):
            yield _item(part, _premises(kind, True, number_tag, guid_tag, n))
        elif name.endswith("ToUpdate"):
            yield _item(part, _premises(kind, False, number_tag, guid_tag, n))
    if created:
        room = _room(True, n)
        yield from (_item(e, room) for e in created)
    if updated:
        room = _room(False, n)
        yield from (_item(e, room) for e in updated)


# --- state --------------------------------------------------------------------------------


@dataclass
class TheHouse:
    guid: str
    fias: str
    kind: str
    unique_number: str
    org_guid: str | None


@dataclass
class Part:
    """An entrance, premises, room or lift of the house, as the rules see it."""

    what: str  # entrance | premises | room | lift
    guid: str
    number: str  # EntranceNum, premises number, RoomNumber, FactoryNum
    unique_number: str | None = None
    kind: str = ""  # of premises
    premises_guid: str | None = None  # of a room
    row: dict[str, Any] | None = None  # the row this packet inserts, while it may change


@dataclass
class Packet:
    """The packet's house (as stored) and everything inside it, kept current item by item."""

    stored: TheHouse | None  # the house of the packet's FIASHouseGuid, as stored
    entrances: dict[str, Part]  # by number
    premises: dict[tuple[str, str], Part]  # by (kind, number)
    rooms: dict[tuple[str | None, str], Part]  # by (premises GUID, number)
    lifts: dict[str, Part]  # by factory number
    by_guid: dict[str, Part]  # every part by its GUID
    premises_count: int
    rooms_count: int
    new_unique_number: str  # for a house this packet creates
    #: a placed contract of the sender (UO: management contract or charter, RSO: supply
    #: contract) covers the packet's house (persistence/contracts.py)
    covered: bool = False
    house: TheHouse | None = None  # the house item succeeded: its house
    adopted: bool = False  # the UO took over a house another organisation described
    group_premises: dict[int, Part] = field(default_factory=dict)  # group ► its premises


def prefetch_house(ctx: HandlerContext, records: Sequence[HouseRecord], role: Role) -> Packet:
    """The house the packet names and its parts (a few queries, whatever the packet's size),
    and whether the sender, acting as ``role``, has a placed contract covering it."""
    session = ctx.session
    fias = next((r.fias for r in records if isinstance(r, HouseItem)), None)
    stored, covered = (
        contracts.house_and_cover(session, ctx.org_guid, role, fias) if fias else (None, False)
    )
    house = (
        TheHouse(
            stored.guid, stored.fias_house_guid, stored.kind, stored.unique_number, stored.org_guid
        )
        if stored is not None
        else None
    )
    packet = Packet(
        stored=house,
        entrances={},
        premises={},
        rooms={},
        lifts={},
        by_guid={},
        premises_count=0,
        rooms_count=0,
        new_unique_number=repo.new_house_unique_number() if stored is None else "",
        covered=covered,
    )
    if house is None:
        return packet
    parts = repo.parts_of(session, house.guid)
    for e in parts.entrances:
        packet.entrances[e.entrance_num] = packet.by_guid[e.guid] = Part(
            "entrance", e.guid, e.entrance_num
        )
    for p in parts.premises:
        packet.premises[(p.kind, p.number)] = packet.by_guid[p.guid] = Part(
            "premises", p.guid, p.number, p.unique_number, p.kind
        )
    for r in parts.rooms:
        packet.rooms[(r.premises_guid, r.number)] = packet.by_guid[r.guid] = Part(
            "room", r.guid, r.number, r.unique_number, premises_guid=r.premises_guid
        )
    for lift in parts.lifts:
        packet.lifts[lift.factory_num] = packet.by_guid[lift.guid] = Part(
            "lift", lift.guid, lift.factory_num
        )
    packet.premises_count = len(parts.premises)
    packet.rooms_count = len(parts.rooms)
    return packet


def present(values: Values) -> dict[str, Any]:
    """The values an item sets: those it sent (None: the element was left out)."""
    return {k: v for k, v in values.items() if v is not None}


# --- the house ----------------------------------------------------------------------------


def create_house(
    ctx: HandlerContext, state: Packet, record: HouseItem, changes: Changes, org_guid: str | None
) -> Done:
    """Register a new house (``org_guid`` None: registered by a supplier, no manager yet)."""
    now = ctx.now
    house = TheHouse(repo.new_guid(), record.fias, record.kind, state.new_unique_number, org_guid)
    changes.insert(
        House,
        {
            "guid": house.guid,
            "fias_house_guid": record.fias,
            "org_guid": org_guid,
            "kind": record.kind,
            "unique_number": house.unique_number,
            "created_at": now,
            "updated_at": now,
            **_house_defaults(),
            **present(record.values),
        },
    )
    state.house = house
    return Done(record.fias, house.unique_number)


def _house_defaults() -> dict[str, Any]:
    """The columns a new house row has before its values (every insert has every column)."""
    return {c: None for c in _HOUSE_VALUE_COLUMNS} | {"no_cadastral_registration": False}


_HOUSE_VALUE_COLUMNS = (
    "cadastral_number",
    "total_square",
    "state_code",
    "state_guid",
    "life_cycle_code",
    "life_cycle_guid",
    "used_year",
    "floor_count",
    "underground_floor_count",
    "min_floor_count",
    "oktmo_code",
    "oktmo_name",
    "olson_tz_code",
    "olson_tz_guid",
    "cultural_heritage",
    "has_blocks",
)


def update_house(
    ctx: HandlerContext, house: TheHouse, values: Values, changes: Changes, **more: Any
) -> None:
    changes.update(House, {"guid": house.guid}, {**present(values), **more, "updated_at": ctx.now})


def require_house(state: Packet) -> TheHouse:
    if state.house is None:
        raise ItemError(
            Code.HOUSE_PARENT_FAILED,
            "The house of this item was not imported; see the house item's error.",
        )
    return state.house


def house_applied(state: Packet, record: HouseRecord, done: Done) -> None:
    """A replay: the first run applied this item; the items after it need what it set."""
    if isinstance(record, HouseItem):
        state.house = state.stored
    elif isinstance(record, PremisesItem) and record.group is not None and done.guid:
        part = state.by_guid.get(done.guid)
        if part is not None:
            state.group_premises[record.group] = part


class HouseImport(ImportBase[HouseRecord, Packet]):
    """What importHouseUOData and importHouseRSOData share: the packet's reading, its
    prefetch for the sender's ``role``, the replay hook and the answer; each decides alone."""

    answer = ANSWER
    nsi_books = HOUSE_BOOKS
    role: Role

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[HouseRecord]]:
        return read_house_packet(request)

    def prefetch(self, ctx: HandlerContext, records: Sequence[HouseRecord]) -> Packet:
        return prefetch_house(ctx, records, self.role)

    def applied(self, ctx: HandlerContext, state: Packet, record: HouseRecord, done: Done) -> None:
        house_applied(state, record, done)


# --- entrances ----------------------------------------------------------------------------


def _duplicate(what: str, number: str | None, house: TheHouse) -> ItemError:
    return ItemError(
        Code.HOUSE_DUPLICATE_NUMBER, f"{what} {number} already exists in house {house.fias}."
    )


def create_entrance(
    ctx: HandlerContext, state: Packet, record: EntranceItem, changes: Changes
) -> Done:
    house = require_house(state)
    number = record.number or ""
    if number in state.entrances:
        raise _duplicate("Entrance", number, house)
    row = changes.insert(
        Entrance,
        {
            "guid": repo.new_guid(),
            "house_guid": house.guid,
            "entrance_num": number,
            "annulled": False,
            "updated_at": ctx.now,
            **record.values,
        },
    )
    part = Part("entrance", row["guid"], number, row=row)
    state.entrances[number] = state.by_guid[part.guid] = part
    return Done(part.guid)


def update_entrance(
    ctx: HandlerContext,
    state: Packet,
    record: EntranceItem,
    changes: Changes,
    *,
    by_number: bool = False,
) -> Done:
    """EntranceToUpdate (by EntranceGUID); ``by_number``: a UO's create of an entrance of a
    house it adopted updates the one it has."""
    house = require_house(state)
    entrance = (
        state.entrances.get(record.number or "")
        if by_number
        else _part(state.by_guid.get(record.guid or ""), "entrance")
    )
    if entrance is None:
        raise ItemError(
            Code.NOT_FOUND, f"Entrance {record.guid} does not exist in house {house.fias}."
        )
    values = dict(record.values)
    number = record.number
    renamed = not by_number and bool(number) and number != entrance.number
    if renamed:
        if number in state.entrances:
            raise _duplicate("Entrance", number, house)
        values["entrance_num"] = number
    if record.annul:
        values["annulled"] = True
    _update_part(ctx, Entrance, entrance, present(values), changes)
    if renamed and number:
        del state.entrances[entrance.number]
        entrance.number = number
        state.entrances[number] = entrance
    return Done(entrance.guid)


def _part(found: Part | None, what: str) -> Part | None:
    """``found`` if it is a part of this kind (a GUID names one part of the house)."""
    return found if found is not None and found.what == what else None


def _update_part(
    ctx: HandlerContext, model: Any, part: Part, values: dict[str, Any], changes: Changes
) -> None:
    values["updated_at"] = ctx.now
    if part.row is not None:  # inserted by this packet: the insert takes the new values
        part.row.update(values)
    else:
        changes.update(model, {"guid": part.guid}, values)


# --- premises -----------------------------------------------------------------------------


def _check_entrance(state: Packet, house: TheHouse, entrance_num: str | None) -> None:
    if entrance_num is not None and entrance_num not in state.entrances:
        raise ItemError(
            Code.HOUSE_NO_SUCH_ENTRANCE,
            f"Entrance {entrance_num} does not exist in house {house.fias}; create it first.",
        )


def _premises_values(record: PremisesItem) -> dict[str, Any]:
    return {**record.values, "entrance_num": record.entrance_num}


def create_premises(
    ctx: HandlerContext, state: Packet, record: PremisesItem, changes: Changes
) -> Done:
    house = require_house(state)
    number = record.number or ""
    if (record.kind, number) in state.premises:
        raise _duplicate("Premises", number, house)
    _check_entrance(state, house, record.entrance_num)
    serial = state.premises_count + 1
    row = changes.insert(
        Premises,
        {
            "guid": repo.new_guid(),
            "house_guid": house.guid,
            "kind": record.kind,
            "number": number,
            "unique_number": f"{house.unique_number}P{serial:05d}",
            "annulled": False,
            "updated_at": ctx.now,
            **_PREMISES_DEFAULTS,
            **present(_premises_values(record)),
        },
    )
    part = Part("premises", row["guid"], number, row["unique_number"], record.kind, row=row)
    state.premises[(record.kind, number)] = state.by_guid[part.guid] = part
    state.premises_count = serial
    return premises_done(state, record, part)


_PREMISES_DEFAULTS: dict[str, Any] = {
    "entrance_num": None,
    "cadastral_number": None,
    "no_cadastral_registration": False,
    "characteristic_code": None,
    "characteristic_guid": None,
    "total_area": None,
    "gross_area": None,
    "is_common_property": None,
    "category": None,
}


def premises_done(state: Packet, record: PremisesItem, part: Part) -> Done:
    """The answer of a premises item; the rooms of its group go into it."""
    if record.group is not None:
        state.group_premises[record.group] = part
    return Done(part.guid, part.unique_number)


def update_premises(
    ctx: HandlerContext,
    state: Packet,
    record: PremisesItem,
    changes: Changes,
    *,
    by_number: bool = False,
) -> Done:
    """…ToUpdate (by GUID); ``by_number``: a UO's create of a premises of a house it adopted."""
    house = require_house(state)
    premises = (
        state.premises.get((record.kind, record.number or ""))
        if by_number
        else state.by_guid.get(record.guid or "")
    )
    if premises is None or premises.what != "premises" or premises.kind != record.kind:
        raise ItemError(
            Code.NOT_FOUND, f"Premises {record.guid} does not exist in house {house.fias}."
        )
    number = record.number
    renamed = not by_number and bool(number) and number != premises.number
    if renamed and (record.kind, number) in state.premises:
        raise _duplicate("Premises", number, house)
    _check_entrance(state, house, record.entrance_num)
    values = present(_premises_values(record))
    if renamed:
        values["number"] = number
    if record.annul:
        values["annulled"] = True
    _update_part(ctx, Premises, premises, values, changes)
    if renamed and number:
        del state.premises[(record.kind, premises.number)]
        premises.number = number
        state.premises[(record.kind, number)] = premises
    return premises_done(state, record, premises)


# --- living rooms -------------------------------------------------------------------------


def room_owner(state: Packet, record: RoomItem) -> Part | None:
    """The premises of a room of a group; HCS001004 when that premises item failed."""
    if record.group is None:
        require_house(state)
        return None
    premises = state.group_premises.get(record.group)
    if premises is None:
        raise ItemError(
            Code.HOUSE_PARENT_FAILED, "The premises of this room was not imported; see its error."
        )
    return premises


def create_room(ctx: HandlerContext, state: Packet, record: RoomItem, changes: Changes) -> Done:
    owner = room_owner(state, record)
    house = require_house(state)
    number = record.number or ""
    owner_guid = owner.guid if owner else None
    if (owner_guid, number) in state.rooms:
        raise ItemError(Code.HOUSE_DUPLICATE_NUMBER, f"Room {number} already exists there.")
    serial = state.rooms_count + 1
    prefix = owner.unique_number if owner else house.unique_number
    row = changes.insert(
        LivingRoom,
        {
            "guid": repo.new_guid(),
            "house_guid": house.guid,
            "premises_guid": owner_guid,
            "number": number,
            "unique_number": f"{prefix}R{serial:05d}",
            "cadastral_number": None,
            "no_cadastral_registration": False,
            "square": None,
            "annulled": False,
            "updated_at": ctx.now,
            **present(record.values),
        },
    )
    part = Part(
        "room", row["guid"], number, row["unique_number"], premises_guid=owner_guid, row=row
    )
    state.rooms[(owner_guid, number)] = state.by_guid[part.guid] = part
    state.rooms_count = serial
    return Done(part.guid, part.unique_number)


def existing_room(state: Packet, record: RoomItem) -> Part | None:
    """The room a create names by number (in its premises), if the house has it."""
    owner = room_owner(state, record)
    return state.rooms.get((owner.guid if owner else None, record.number or ""))


def update_room(
    ctx: HandlerContext,
    state: Packet,
    record: RoomItem,
    changes: Changes,
    *,
    existing: Part | None = None,
) -> Done:
    """LivingRoomToUpdate (by GUID); ``existing``: a UO's create of a room of a house it
    adopted (square and cadastral data only)."""
    room_owner(state, record)
    house = require_house(state)
    room = existing or _part(state.by_guid.get(record.guid or ""), "room")
    if room is None:
        raise ItemError(
            Code.NOT_FOUND, f"Living room {record.guid} does not exist in house {house.fias}."
        )
    values = present(record.values)
    if existing is None:
        number = record.number
        if number:
            values["number"] = number
        if record.annul:
            values["annulled"] = True
    _update_part(ctx, LivingRoom, room, values, changes)
    if existing is None and record.number and record.number != room.number:
        state.rooms.pop((room.premises_guid, room.number), None)
        room.number = record.number
        state.rooms[(room.premises_guid, room.number)] = room
    return Done(room.guid, room.unique_number)


# --- lifts --------------------------------------------------------------------------------


def create_lift(ctx: HandlerContext, state: Packet, record: LiftItem, changes: Changes) -> Done:
    house = require_house(state)
    factory_num = record.factory_num or ""
    if factory_num in state.lifts:
        raise _duplicate("Lift", factory_num, house)
    entrance_num = record.entrance_num or ""
    if entrance_num not in state.entrances:
        raise ItemError(
            Code.HOUSE_NO_SUCH_ENTRANCE,
            f"Entrance {entrance_num} does not exist in house {house.fias}.",
        )
    row = changes.insert(
        Lift,
        {
            "guid": repo.new_guid(),
            "house_guid": house.guid,
            "entrance_num": entrance_num,
            "factory_num": factory_num,
            "type_code": record.type_code or "",
            "type_guid": record.type_guid or "",
            "annulled": False,
            "updated_at": ctx.now,
        },
    )
    part = Part("lift", row["guid"], factory_num, row=row)
    state.lifts[factory_num] = state.by_guid[part.guid] = part
    return Done(part.guid)


def update_lift(ctx: HandlerContext, state: Packet, record: LiftItem, changes: Changes) -> Done:
    house = require_house(state)
    lift = _part(state.by_guid.get(record.guid or ""), "lift")
    if lift is None:
        raise ItemError(Code.NOT_FOUND, f"Lift {record.guid} does not exist in house {house.fias}.")
    values = present(
        {
            "entrance_num": record.entrance_num,
            "factory_num": record.factory_num,
            "type_code": record.type_code,
            "type_guid": record.type_guid,
        }
    )
    if record.annul:
        values["annulled"] = True
    _update_part(ctx, Lift, lift, values, changes)
    if record.factory_num and record.factory_num != lift.number:
        state.lifts.pop(lift.number, None)
        lift.number = record.factory_num
        state.lifts[lift.number] = lift
    return Done(lift.guid)

"""importHouseUOData: a management company creates or updates its house and what is inside.

Per the format's documentation of ``importHouseUORequest``: the house item's CommonResult
carries the FIASHouseGuid in GUID and the house's unique number in UniqueNumber; premises
and rooms carry their own GUID and unique number. Each item succeeds or fails on its own.

A management company describes only the houses it manages: a placed management contract or
charter of its own covers the house (importContractData, importCharterData; else AUT011003).
A house another organisation described (a resource supplier with importHouseRSOData, or an
earlier manager) is taken over by the manager that sends ApartmentHouseToCreate or
LivingHouseToCreate (or …ToUpdate) for it: the house takes the sent values, and entrances,
premises and rooms it already has (same number) are taken over and updated instead of being
refused as duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    common_result_error,
    common_result_success,
    decimal,
    guid,
    integer,
    item,
    local,
    nsi_ref,
    required,
    text,
)
from gateway.namespaces import BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts
from persistence import houses as repo
from persistence.models import Entrance, House, Lift, LivingRoom, Premises
from persistence.roles import Role

# Business-rule error codes of this operation (INT002000 is the GIS "not in the registry").

#: ImportResult/@base:version is fixed by the format.
IMPORT_RESULT_VERSION = "10.0.1.1"


@dataclass
class _Item:
    transport_guid: str
    element: etree._Element


@dataclass
class _Done:
    guid: str | None
    unique_number: str | None
    obj: Any = None


@dataclass
class _HouseIndex:
    """What item checks need to know about the house, read once per packet, kept current."""

    entrances: set[str]
    premises: set[tuple[str, str]]  # (kind, number)
    premises_count: int
    rooms_count: int


class _Results:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.import_result = etree.Element(etree.QName(HM, "ImportResult"), nsmap={"hm": HM})
        self.import_result.set(f"{{{BASE}}}version", IMPORT_RESULT_VERSION)

    def run(
        self, element: etree._Element, action: Callable[[etree._Element], _Done]
    ) -> _Done | None:
        transport_guid = text(element, "TransportGUID") or ""
        try:
            with item(self.ctx):
                done = action(element)
        except ItemError as error:
            common_result_error(self.import_result, HM, transport_guid=transport_guid, error=error)
            return None
        common_result_success(
            self.import_result,
            HM,
            transport_guid=transport_guid,
            guid_value=done.guid,
            unique_number=done.unique_number,
            update_date=self.ctx.now,
        )
        return done

    def fail(self, element: etree._Element, error: ItemError) -> None:
        common_result_error(
            self.import_result, HM, transport_guid=text(element, "TransportGUID") or "", error=error
        )


def _cadastral(element: etree._Element) -> dict[str, Any]:
    number = text(element, "CadastralNumber")
    no_registration = boolean(element, "No_RSO_GKN_EGRP_Registered") or boolean(
        element, "NoCadastralNumber"
    )
    return {"cadastral_number": number, "no_cadastral_registration": no_registration}


def _house_values(element: etree._Element) -> dict[str, Any]:
    basic = required(element, "BasicCharacteristicts")
    state_code, state_guid = nsi_ref(basic, "State")
    stage_code, stage_guid = nsi_ref(basic, "LifeCycleStage")
    tz_code, tz_guid = nsi_ref(basic, "OlsonTZ")
    oktmo = child(basic, "OKTMO")
    return {
        **_cadastral(basic),
        "total_square": decimal(basic, "TotalSquare"),
        "state_code": state_code,
        "state_guid": state_guid,
        "life_cycle_code": stage_code,
        "life_cycle_guid": stage_guid,
        "used_year": integer(basic, "UsedYear"),
        "floor_count": integer(basic, "FloorCount"),
        "oktmo_code": text(oktmo, "code"),
        "oktmo_name": text(oktmo, "name"),
        "olson_tz_code": tz_code,
        "olson_tz_guid": tz_guid,
        "cultural_heritage": boolean(basic, "CulturalHeritage"),
        "underground_floor_count": integer(element, "UndergroundFloorCount"),
        "min_floor_count": integer(element, "MinFloorCount"),
        "has_blocks": boolean(element, "HasBlocks"),
    }


class _HouseImport:
    def __init__(self, ctx: HandlerContext, results: _Results) -> None:
        self.ctx = ctx
        self.results = results
        self.house: House | None = None
        self.index = _HouseIndex(set(), set(), 0, 0)
        self.adopted = False  # the house had no manager: existing parts are taken over

    def _load_index(self, house: House) -> None:
        session = self.ctx.session
        self.index = _HouseIndex(
            entrances=repo.entrance_numbers(session, house.guid),
            premises=repo.premises_numbers(session, house.guid),
            premises_count=repo.count_premises(session, house.guid),
            rooms_count=repo.count_rooms(session, house.guid),
        )

    # --- house ---
    def create_house(self, kind: str) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            fias = guid(child(element, "BasicCharacteristicts"), "FIASHouseGuid")
            assert fias is not None  # required by the schema
            self._require_managed(fias)
            existing = repo.house_by_fias(self.ctx.session, fias)
            if existing is not None and existing.org_guid != self.ctx.org_guid:
                return self._adopt(existing, kind, element)
            if existing is not None:
                raise ItemError(
                    Code.HOUSE_EXISTS,
                    f"House {fias} is already registered (unique number {existing.unique_number}); "
                    "send ApartmentHouseToUpdate/LivingHouseToUpdate to change it.",
                )
            values = _house_values(element)
            house = House(
                guid=repo.new_guid(),
                fias_house_guid=fias,
                org_guid=self.ctx.org_guid,
                kind=kind,
                unique_number=repo.new_house_unique_number(self.ctx.session),
                created_at=self.ctx.now,
                updated_at=self.ctx.now,
            )
            repo.update(house, values)
            self.house = repo.add(self.ctx.session, house)
            return _Done(fias, house.unique_number)

        return action

    def _adopt(self, house: House, kind: str, element: etree._Element) -> _Done:
        """Describe a house registered by a resource supplier or an earlier manager: the
        sender manages it now (its placed contract or charter covers it)."""
        if house.kind != kind:
            tag = "ApartmentHouseToCreate" if house.kind == "apartment" else "LivingHouseToCreate"
            raise ItemError(
                Code.HOUSE_EXISTS,
                f"House {house.fias_house_guid} is registered as a {house.kind} house "
                f"(unique number {house.unique_number}); send {tag} to take it over.",
            )
        house.org_guid = self.ctx.org_guid
        repo.update(house, _house_values(element))
        house.updated_at = self.ctx.now
        self.house = house
        self.adopted = True
        self._load_index(house)
        return _Done(house.fias_house_guid, house.unique_number)

    def update_house(self, kind: str) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            fias = guid(child(element, "BasicCharacteristicts"), "FIASHouseGuid")
            assert fias is not None
            house = repo.house_by_fias(self.ctx.session, fias)
            if house is None or house.kind != kind:
                raise ItemError(
                    Code.NOT_FOUND, f"No {kind} house with FIASHouseGuid {fias} is registered."
                )
            self._require_managed(fias)
            house.org_guid = self.ctx.org_guid  # the house's description is now the sender's
            repo.update(house, _house_values(element))
            house.updated_at = self.ctx.now
            self.house = house
            self._load_index(house)
            return _Done(fias, house.unique_number)

        return action

    def _require_managed(self, fias: str) -> None:
        """A management company describes only the houses it manages by a placed management
        contract or charter (importContractData, importCharterData)."""
        if not contracts.covered_fias(self.ctx.session, self.ctx.org_guid, Role.UO, [fias]):
            raise ItemError(
                Code.NOT_ALLOWED,
                f"House {fias} is not managed by you: no placed management contract or charter "
                "of yours covers it (place one with importContractData or importCharterData).",
            )

    # --- parts of the house ---
    def _require_house(self) -> House:
        if self.house is None:
            raise ItemError(
                Code.HOUSE_PARENT_FAILED,
                "The house of this item was not imported; see the house item's error.",
            )
        return self.house

    def entrance_create(self, element: etree._Element) -> _Done:
        house = self._require_house()
        number = text(element, "EntranceNum") or ""
        if number in self.index.entrances and self.adopted:
            entrance = repo.entrance(self.ctx.session, house.guid, number=number)
            assert entrance is not None
            repo.update(
                entrance,
                {
                    "storeys_count": integer(element, "StoreysCount"),
                    "creation_year": integer(element, "CreationYear"),
                },
            )
            entrance.updated_at = self.ctx.now
            return _Done(entrance.guid, None)
        if number in self.index.entrances:
            raise ItemError(
                Code.HOUSE_DUPLICATE_NUMBER,
                f"Entrance {number} already exists in house {house.fias_house_guid}.",
            )
        entrance = Entrance(
            guid=repo.new_guid(),
            house_guid=house.guid,
            entrance_num=number,
            storeys_count=integer(element, "StoreysCount"),
            creation_year=integer(element, "CreationYear"),
            updated_at=self.ctx.now,
        )
        repo.add(self.ctx.session, entrance)
        self.index.entrances.add(number)
        return _Done(entrance.guid, None)

    def entrance_update(self, element: etree._Element) -> _Done:
        house = self._require_house()
        entrance_guid = guid(element, "EntranceGUID")
        entrance = repo.entrance(self.ctx.session, house.guid, guid=entrance_guid)
        if entrance is None:
            raise ItemError(
                Code.NOT_FOUND,
                f"Entrance {entrance_guid} does not exist in house {house.fias_house_guid}.",
            )
        number = text(element, "EntranceNum")
        if number and number != entrance.entrance_num:
            if number in self.index.entrances:
                raise ItemError(
                    Code.HOUSE_DUPLICATE_NUMBER,
                    f"Entrance {number} already exists in house {house.fias_house_guid}.",
                )
            self.index.entrances.discard(entrance.entrance_num)
            self.index.entrances.add(number)
        repo.update(
            entrance,
            {
                "entrance_num": number,
                "storeys_count": integer(element, "StoreysCount"),
                "creation_year": integer(element, "CreationYear"),
            },
        )
        if child(element, "AnnulmentReason") is not None:
            entrance.annulled = True
        entrance.updated_at = self.ctx.now
        return _Done(entrance.guid, None)

    def _premises_values(self, element: etree._Element, house: House) -> dict[str, Any]:
        entrance_num = text(element, "EntranceNum")
        if entrance_num is not None and entrance_num not in self.index.entrances:
            raise ItemError(
                Code.HOUSE_NO_SUCH_ENTRANCE,
                f"Entrance {entrance_num} does not exist in house {house.fias_house_guid}; create it first.",
            )
        code, nsi_guid = nsi_ref(element, "PremisesCharacteristic")
        return {
            **_cadastral(element),
            "entrance_num": entrance_num,
            "characteristic_code": code,
            "characteristic_guid": nsi_guid,
            "total_area": decimal(element, "TotalArea"),
            "gross_area": decimal(element, "GrossArea"),
            "is_common_property": boolean(element, "IsCommonProperty"),
            "category": text(element, "Category"),
        }

    def premises_create(self, kind: str, number_tag: str) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            house = self._require_house()
            number = text(element, number_tag) or ""
            if (kind, number) in self.index.premises and self.adopted:
                existing = repo.premises(self.ctx.session, house.guid, kind=kind, number=number)
                assert existing is not None
                repo.update(existing, self._premises_values(element, house))
                existing.updated_at = self.ctx.now
                return _Done(existing.guid, existing.unique_number, existing)
            if (kind, number) in self.index.premises:
                raise ItemError(
                    Code.HOUSE_DUPLICATE_NUMBER,
                    f"Premises {number} already exists in house {house.fias_house_guid}.",
                )
            values = self._premises_values(element, house)
            serial = self.index.premises_count + 1
            premises = Premises(
                guid=repo.new_guid(),
                house_guid=house.guid,
                kind=kind,
                number=number,
                unique_number=f"{house.unique_number}P{serial:05d}",
                updated_at=self.ctx.now,
            )
            repo.update(premises, values)
            repo.add(self.ctx.session, premises)
            self.index.premises.add((kind, number))
            self.index.premises_count = serial
            return _Done(premises.guid, premises.unique_number, premises)

        return action

    def premises_update(
        self, kind: str, number_tag: str, guid_tag: str
    ) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            house = self._require_house()
            premises_guid = guid(element, guid_tag)
            premises = repo.premises(self.ctx.session, house.guid, kind=kind, guid=premises_guid)
            if premises is None:
                raise ItemError(
                    Code.NOT_FOUND,
                    f"Premises {premises_guid} does not exist in house {house.fias_house_guid}.",
                )
            number = text(element, number_tag)
            if number and number != premises.number:
                if (kind, number) in self.index.premises:
                    raise ItemError(
                        Code.HOUSE_DUPLICATE_NUMBER,
                        f"Premises {number} already exists in house {house.fias_house_guid}.",
                    )
                self.index.premises.discard((kind, premises.number))
                self.index.premises.add((kind, number))
            repo.update(premises, {"number": number, **self._premises_values(element, house)})
            if child(element, "AnnulmentReason") is not None:
                premises.annulled = True
            premises.updated_at = self.ctx.now
            return _Done(premises.guid, premises.unique_number, premises)

        return action

    def room_create(self, premises: Premises | None) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            house = self._require_house()
            number = text(element, "RoomNumber") or ""
            owner = premises.guid if premises else None
            existing = repo.living_room(
                self.ctx.session, house.guid, premises_guid=owner, number=number
            )
            if existing is not None and self.adopted:
                repo.update(existing, {"square": decimal(element, "Square"), **_cadastral(element)})
                existing.updated_at = self.ctx.now
                return _Done(existing.guid, existing.unique_number)
            if existing is not None:
                raise ItemError(Code.HOUSE_DUPLICATE_NUMBER, f"Room {number} already exists there.")
            serial = self.index.rooms_count + 1
            prefix = premises.unique_number if premises else house.unique_number
            room = LivingRoom(
                guid=repo.new_guid(),
                house_guid=house.guid,
                premises_guid=owner,
                number=number,
                unique_number=f"{prefix}R{serial:05d}",
                square=decimal(element, "Square"),
                updated_at=self.ctx.now,
                **_cadastral(element),
            )
            repo.add(self.ctx.session, room)
            self.index.rooms_count = serial
            return _Done(room.guid, room.unique_number)

        return action

    def room_update(self, element: etree._Element) -> _Done:
        house = self._require_house()
        room_guid = guid(element, "LivingRoomGUID")
        room = repo.living_room(self.ctx.session, house.guid, premises_guid=None, guid=room_guid)
        if room is None:
            raise ItemError(
                Code.NOT_FOUND,
                f"Living room {room_guid} does not exist in house {house.fias_house_guid}.",
            )
        repo.update(
            room, {"number": text(element, "RoomNumber"), "square": decimal(element, "Square")}
        )
        if child(element, "AnnulmentReason") is not None:
            room.annulled = True
        room.updated_at = self.ctx.now
        return _Done(room.guid, room.unique_number)

    def lift_create(self, element: etree._Element) -> _Done:
        house = self._require_house()
        factory_num = text(element, "FactoryNum") or ""
        if repo.lift(self.ctx.session, house.guid, factory_num=factory_num) is not None:
            raise ItemError(
                Code.HOUSE_DUPLICATE_NUMBER,
                f"Lift {factory_num} already exists in house {house.fias_house_guid}.",
            )
        entrance_num = text(element, "EntranceNum") or ""
        if entrance_num not in self.index.entrances:
            raise ItemError(
                Code.HOUSE_NO_SUCH_ENTRANCE,
                f"Entrance {entrance_num} does not exist in house {house.fias_house_guid}.",
            )
        code, nsi_guid = nsi_ref(element, "Type")
        lift = Lift(
            guid=repo.new_guid(),
            house_guid=house.guid,
            entrance_num=entrance_num,
            factory_num=factory_num,
            type_code=code or "",
            type_guid=nsi_guid or "",
            updated_at=self.ctx.now,
        )
        repo.add(self.ctx.session, lift)
        return _Done(lift.guid, None)

    def lift_update(self, element: etree._Element) -> _Done:
        house = self._require_house()
        lift_guid = guid(element, "LiftGUID")
        lift = repo.lift(self.ctx.session, house.guid, guid=lift_guid)
        if lift is None:
            raise ItemError(
                Code.NOT_FOUND, f"Lift {lift_guid} does not exist in house {house.fias_house_guid}."
            )
        code, nsi_guid = nsi_ref(element, "Type")
        repo.update(
            lift,
            {
                "entrance_num": text(element, "EntranceNum"),
                "factory_num": text(element, "FactoryNum"),
                "type_code": code,
                "type_guid": nsi_guid,
            },
        )
        if child(element, "AnnulmentReason") is not None:
            lift.annulled = True
        lift.updated_at = self.ctx.now
        return _Done(lift.guid, None)


def _rooms(
    importer: _HouseImport, results: _Results, parent: etree._Element, premises: Premises | None
) -> None:
    for room in children(parent, "LivingRoomToCreate"):
        results.run(room, importer.room_create(premises))
    for room in children(parent, "LivingRoomToUpdate"):
        results.run(room, importer.room_update)


def _premises_group(
    importer: _HouseImport,
    results: _Results,
    group: etree._Element,
    kind: str,
    number_tag: str,
    guid_tag: str,
) -> None:
    """ResidentialPremises / Blocks: one premises item followed by its rooms."""
    premises: Premises | None = None
    for part in group:
        if not isinstance(part.tag, str):
            continue
        name = local(part)
        if name.endswith("ToCreate") and not name.startswith("LivingRoom"):
            done = results.run(part, importer.premises_create(kind, number_tag))
        elif name.endswith("ToUpdate") and not name.startswith("LivingRoom"):
            done = results.run(part, importer.premises_update(kind, number_tag, guid_tag))
        else:
            continue
        if done is not None:
            premises = done.obj
    for room in children(group, "LivingRoomToCreate") + children(group, "LivingRoomToUpdate"):
        if premises is None:
            results.fail(
                room,
                ItemError(
                    Code.HOUSE_PARENT_FAILED,
                    "The premises of this room was not imported; see its error.",
                ),
            )
    if premises is not None:
        _rooms(importer, results, group, premises)


def run_house_items(importer: _HouseImport, results: _Results, request: etree._Element) -> None:
    """The house item first, then its parts in dependency order (entrances before premises)."""
    apartment = child(request, "ApartmentHouse")
    living = child(request, "LivingHouse")
    house_element = apartment if apartment is not None else living
    assert house_element is not None  # the schema requires one of them
    kind = "apartment" if apartment is not None else "living"
    prefix = "ApartmentHouse" if apartment is not None else "LivingHouse"

    create = child(house_element, f"{prefix}ToCreate")
    if create is not None:
        results.run(create, importer.create_house(kind))
    else:
        update = child(house_element, f"{prefix}ToUpdate")
        assert update is not None
        results.run(update, importer.update_house(kind))

    if apartment is not None:
        for element in children(apartment, "EntranceToCreate"):
            results.run(element, importer.entrance_create)
        for element in children(apartment, "EntranceToUpdate"):
            results.run(element, importer.entrance_update)
        for element in children(apartment, "NonResidentialPremiseToCreate"):
            results.run(element, importer.premises_create("nonresidential", "PremisesNum"))
        for element in children(apartment, "NonResidentialPremiseToUpdate"):
            results.run(
                element, importer.premises_update("nonresidential", "PremisesNum", "PremisesGUID")
            )
        for group in children(apartment, "ResidentialPremises"):
            _premises_group(importer, results, group, "residential", "PremisesNum", "PremisesGUID")
        for element in children(apartment, "LiftToCreate"):
            results.run(element, importer.lift_create)
        for element in children(apartment, "LiftToUpdate"):
            results.run(element, importer.lift_update)
    else:
        assert living is not None
        _rooms(importer, results, living, None)
        for group in children(living, "Blocks"):
            _premises_group(importer, results, group, "block", "BlockNum", "BlockGUID")


def import_house_uo(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importHouseUORequest (ApartmentHouse or LivingHouse with their parts)."""
    results = _Results(ctx)
    run_house_items(_HouseImport(ctx, results), results, request)
    return HandlerResult([results.import_result])

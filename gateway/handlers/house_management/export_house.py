"""exportHouseData: the house as stored, with its entrances, premises, rooms and lifts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import ExportError, HandlerContext, HandlerResult, guid, sub
from gateway.namespaces import BASE, NSI_BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import houses as repo
from persistence.models import House, LivingRoom, Premises


def _nsi(parent: etree._Element, name: str, code: str | None, nsi_guid: str | None) -> None:
    if code and nsi_guid:
        ref = sub(parent, HM, name)
        sub(ref, NSI_BASE, "Code", code)
        sub(ref, NSI_BASE, "GUID", nsi_guid)


def _opt(parent: etree._Element, name: str, value: object | None) -> None:
    if value is not None:
        sub(parent, HM, name, value)


def _area(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.01")) if value is not None else None


def _cadastral(parent: etree._Element, number: str | None, no_registration: bool) -> None:
    if number:
        sub(parent, HM, "CadastralNumber", number)
    elif no_registration:
        sub(parent, HM, "No_RSO_GKN_EGRP_Registered", True)


def _basic(parent: etree._Element, house: House) -> None:
    basic = sub(parent, HM, "BasicCharacteristicts")
    _cadastral(basic, house.cadastral_number, house.no_cadastral_registration)
    sub(basic, HM, "FIASHouseGuid", house.fias_house_guid)
    _opt(basic, "TotalSquare", _area(house.total_square))
    _nsi(basic, "State", house.state_code, house.state_guid)
    _nsi(basic, "LifeCycleStage", house.life_cycle_code, house.life_cycle_guid)
    _opt(basic, "UsedYear", house.used_year)
    _opt(basic, "FloorCount", house.floor_count)
    if house.oktmo_code:
        oktmo = sub(basic, HM, "OKTMO")
        sub(oktmo, BASE, "code", house.oktmo_code)
        if house.oktmo_name:
            sub(oktmo, BASE, "name", house.oktmo_name)
    _nsi(basic, "OlsonTZ", house.olson_tz_code, house.olson_tz_guid)
    _opt(basic, "CulturalHeritage", house.cultural_heritage)


def _rooms(parent: etree._Element, rooms: list[LivingRoom], when: datetime) -> None:
    for room in rooms:
        if room.annulled:
            continue
        element = sub(parent, HM, "LivingRoom")
        _cadastral(element, room.cadastral_number, room.no_cadastral_registration)
        sub(element, HM, "RoomNumber", room.number)
        _opt(element, "Square", _area(room.square))
        sub(element, HM, "LivingRoomUniqueNumber", room.unique_number)
        sub(element, HM, "ModificationDate", room.updated_at or when)
        sub(element, HM, "LivingRoomGUID", room.guid)


def _premises_common(element: etree._Element, premises: Premises) -> None:
    _cadastral(element, premises.cadastral_number, premises.no_cadastral_registration)
    sub(element, HM, "PremisesNum", premises.number)


def _apartment_house(ctx: HandlerContext, parent: etree._Element, house: House) -> None:
    session = ctx.session
    element = sub(parent, HM, "ApartmentHouse")
    _basic(element, house)
    _opt(element, "UndergroundFloorCount", house.underground_floor_count)
    for entrance in repo.entrances_of(session, house.guid):
        if entrance.annulled:
            continue
        e = sub(element, HM, "Entrance")
        sub(e, HM, "EntranceNum", entrance.entrance_num)
        _opt(e, "StoreysCount", entrance.storeys_count)
        _opt(e, "CreationYear", entrance.creation_year)
        sub(e, HM, "ModificationDate", entrance.updated_at)
        sub(e, HM, "EntranceGUID", entrance.guid)
    for premises in repo.premises_of(session, house.guid, "residential"):
        if premises.annulled:
            continue
        p = sub(element, HM, "ResidentialPremises")
        _premises_common(p, premises)
        if premises.entrance_num:
            sub(p, HM, "EntranceNum", premises.entrance_num)
        else:
            sub(p, HM, "HasNoEntrance", True)
        _nsi(
            p, "PremisesCharacteristic", premises.characteristic_code, premises.characteristic_guid
        )
        _opt(p, "TotalArea", _area(premises.total_area))
        _opt(p, "GrossArea", _area(premises.gross_area))
        sub(p, HM, "PremisesUniqueNumber", premises.unique_number)
        sub(p, HM, "ModificationDate", premises.updated_at)
        _rooms(p, repo.rooms_of(session, house.guid, premises.guid), premises.updated_at)
        sub(p, HM, "PremisesGUID", premises.guid)
    for lift in repo.lifts_of(session, house.guid):
        if lift.annulled:
            continue
        li = sub(element, HM, "Lift")
        sub(li, HM, "EntranceNum", lift.entrance_num)
        sub(li, HM, "FactoryNum", lift.factory_num)
        ref = sub(li, HM, "Type")
        sub(ref, NSI_BASE, "Code", lift.type_code)
        sub(ref, NSI_BASE, "GUID", lift.type_guid)
        sub(li, HM, "ModificationDate", lift.updated_at)
        sub(li, HM, "LiftGUID", lift.guid)
    for premises in repo.premises_of(session, house.guid, "nonresidential"):
        if premises.annulled:
            continue
        p = sub(element, HM, "NonResidentialPremises")
        _premises_common(p, premises)
        _opt(p, "TotalArea", _area(premises.total_area))
        _opt(p, "IsCommonProperty", premises.is_common_property)
        sub(p, HM, "PremisesUniqueNumber", premises.unique_number)
        sub(p, HM, "ModificationDate", premises.updated_at)
        sub(p, HM, "PremisesGUID", premises.guid)


def _living_house(ctx: HandlerContext, parent: etree._Element, house: House) -> None:
    element = sub(parent, HM, "LivingHouse")
    _basic(element, house)
    _opt(element, "HasBlocks", house.has_blocks)
    blocks = [b for b in repo.premises_of(ctx.session, house.guid, "block") if not b.annulled]
    if blocks:
        for block in blocks:
            b = sub(element, HM, "Block")
            _cadastral(b, block.cadastral_number, block.no_cadastral_registration)
            sub(b, HM, "BlockNum", block.number)
            _nsi(b, "PremisesCharacteristic", block.characteristic_code, block.characteristic_guid)
            _opt(b, "TotalArea", _area(block.total_area))
            _opt(b, "GrossArea", _area(block.gross_area))
            _opt(b, "Category", block.category)
            sub(b, HM, "BlockUniqueNumber", block.unique_number)
            sub(b, HM, "ModificationDate", block.updated_at)
            sub(b, HM, "BlockGUID", block.guid)
            _rooms(b, repo.rooms_of(ctx.session, house.guid, block.guid), block.updated_at)
    else:
        _rooms(element, repo.rooms_of(ctx.session, house.guid, None), house.updated_at)
    sub(element, HM, "HouseGUID", house.guid)


def export_house(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle exportHouseRequest: find the house by FIASHouseGuid and describe it."""
    fias = guid(request, "FIASHouseGuid")
    house = repo.house_by_fias(ctx.session, fias or "")
    if house is None:
        raise ExportError(
            Code.NOTHING_TO_EXPORT, f"No house with FIASHouseGuid {fias} is registered."
        )
    result = etree.Element(etree.QName(HM, "exportHouseResult"), nsmap={"hm": HM})
    sub(result, HM, "HouseUniqueNumber", house.unique_number)
    sub(result, HM, "ModificationDate", house.updated_at)
    sub(result, HM, "HouseGUID", house.guid)
    if house.kind == "apartment":
        _apartment_house(ctx, result, house)
    else:
        _living_house(ctx, result, house)
    return HandlerResult([result])

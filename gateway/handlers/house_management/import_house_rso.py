"""importHouseRSOData (DEPRECATED extension): a resource supplier (RSO) describes a house it
serves that no management company has described.

An extension beyond the published 16.3.0.0 format (earlier versions had the operation; see
importHouseRSORequest in our XSD), kept for clients of those versions and served only on the
gateway's own contract (a published 16.3.0.0 bundle has no such operation). Which houses a
supplier serves is no longer said here: it is said by its placed supply contracts
(importSupplyResourceContractData); this operation only describes such houses. The request
has the shape of importHouseUORequest with the RSO types (fewer characteristics, no lifts);
results are those of importHouseUOData (house item: GUID = FIASHouseGuid, UniqueNumber = the
house's unique number).

  every house     one a placed supply contract of the sender has (AUT011003)
  …HouseToCreate  the house exists (by FIASHouseGuid): its values are left alone (the RSO
                  learns its parts); it does not exist: it is created without a managing
                  organisation (its manager describes it later with importHouseUOData).
  …HouseToUpdate  only while no management company has described it.
  parts           entrances, premises, blocks and rooms the house lacks are created; those it
                  has (same number) are linked as they are, so the RSO learns their GUIDs;
                  …ToUpdate of a part again only while the house has no manager.
"""

from __future__ import annotations

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError
from gateway.handlers.house_management import house_items as h
from gateway.imports.pipeline import Changes, Done, run_import
from persistence.roles import Role

_TAGS = {"apartment": "ApartmentHouse", "living": "LivingHouse"}


def _unmanaged(state: h.Packet) -> None:
    """A supplier changes a house's parts only while no UO manages the house."""
    _refuse_if_managed(h.require_house(state))


def _refuse_if_managed(house: h.TheHouse) -> None:
    """A supplier changes a house only while no UO manages it (the manager describes it)."""
    if house.org_guid is not None:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"House {house.fias} is managed by another organisation, which "
            "describes it; send …ToCreate items to link to its parts or add missing ones.",
        )


class ImportHouseRSO(h.HouseImport):
    role = Role.RSO

    def decide(
        self, ctx: HandlerContext, state: h.Packet, record: h.HouseRecord, changes: Changes
    ) -> Done:
        if isinstance(record, h.HouseItem):
            return (
                _create(ctx, state, record, changes)
                if record.create
                else _update(ctx, state, record, changes)
            )
        if isinstance(record, h.EntranceItem):
            if not record.create:
                _unmanaged(state)
                return h.update_entrance(ctx, state, record, changes)
            h.require_house(state)
            existing = state.entrances.get(record.number or "")
            if existing is not None:  # linked as it is
                return Done(existing.guid)
            return h.create_entrance(ctx, state, record, changes)
        if isinstance(record, h.PremisesItem):
            if not record.create:
                _unmanaged(state)
                return h.update_premises(ctx, state, record, changes)
            h.require_house(state)
            found = state.premises.get((record.kind, record.number or ""))
            if found is not None:
                return h.premises_done(state, record, found)
            return h.create_premises(ctx, state, record, changes)
        if isinstance(record, h.RoomItem):
            if not record.create:
                _unmanaged(state)
                return h.update_room(ctx, state, record, changes)
            room = h.existing_room(state, record)
            if room is not None:
                return Done(room.guid, room.unique_number)
            return h.create_room(ctx, state, record, changes)
        if record.create:
            return h.create_lift(ctx, state, record, changes)
        return h.update_lift(ctx, state, record, changes)


def _require_supplied(state: h.Packet, fias: str) -> None:
    if not state.covered:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"House {fias} is not supplied by you: no placed supply contract of yours has it "
            "(place one with importSupplyResourceContractData).",
        )


def _create(ctx: HandlerContext, state: h.Packet, record: h.HouseItem, changes: Changes) -> Done:
    _require_supplied(state, record.fias)
    house = state.stored
    if house is None:
        return h.create_house(ctx, state, record, changes, None)
    if house.kind != record.kind:
        raise ItemError(
            Code.HOUSE_EXISTS,
            f"House {record.fias} is registered as a {house.kind} house (unique number "
            f"{house.unique_number}); send {_TAGS[house.kind]}ToCreate.",
        )
    state.house = house
    return Done(record.fias, house.unique_number)


def _update(ctx: HandlerContext, state: h.Packet, record: h.HouseItem, changes: Changes) -> Done:
    house = state.stored
    if house is None or house.kind != record.kind:
        raise ItemError(
            Code.NOT_FOUND,
            f"No {record.kind} house with FIASHouseGuid {record.fias} is registered.",
        )
    _require_supplied(state, record.fias)
    _refuse_if_managed(house)
    h.update_house(ctx, house, record.values, changes)
    state.house = house
    return Done(record.fias, house.unique_number)


IMPORT = ImportHouseRSO()


def import_house_rso(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importHouseRSORequest (ApartmentHouse or LivingHouse with their parts)."""
    return run_import(IMPORT, ctx, request)

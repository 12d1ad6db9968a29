"""importHouseUOData: a management company creates or updates its house and what is inside.

Per the format's documentation of ``importHouseUORequest``: the house item's CommonResult
carries the FIASHouseGuid in GUID and the house's unique number in UniqueNumber; premises
and rooms carry their own GUID and unique number. Each item succeeds or fails on its own
(the items and their order: ``house_items``).

A management company describes only the houses it manages: a placed management contract or
charter of its own covers the house (importContractData, importCharterData; else AUT011003).
A house another organisation described (a resource supplier with importHouseRSOData, or an
earlier manager) is taken over by the manager that sends ApartmentHouseToCreate or
LivingHouseToCreate (or …ToUpdate) for it: the house takes the sent values, and entrances,
premises and rooms it already has (same number) are taken over and updated instead of being
refused as duplicates.
"""

from __future__ import annotations

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError
from gateway.handlers.house_management import house_items as h
from gateway.imports.pipeline import Changes, Done, run_import
from persistence.roles import Role

_CREATE_TAGS = {"apartment": "ApartmentHouseToCreate", "living": "LivingHouseToCreate"}


class ImportHouseUO(h.HouseImport):
    role = Role.UO

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
            if record.create and state.adopted and (record.number or "") in state.entrances:
                return h.update_entrance(ctx, state, record, changes, by_number=True)
            if record.create:
                return h.create_entrance(ctx, state, record, changes)
            return h.update_entrance(ctx, state, record, changes)
        if isinstance(record, h.PremisesItem):
            key = (record.kind, record.number or "")
            if record.create and state.adopted and key in state.premises:
                return h.update_premises(ctx, state, record, changes, by_number=True)
            if record.create:
                return h.create_premises(ctx, state, record, changes)
            return h.update_premises(ctx, state, record, changes)
        if isinstance(record, h.RoomItem):
            if not record.create:
                return h.update_room(ctx, state, record, changes)
            existing = h.existing_room(state, record)
            if existing is not None and state.adopted:
                return h.update_room(ctx, state, record, changes, existing=existing)
            return h.create_room(ctx, state, record, changes)
        if record.create:
            return h.create_lift(ctx, state, record, changes)
        return h.update_lift(ctx, state, record, changes)


def _require_managed(state: h.Packet, fias: str) -> None:
    """A management company describes only the houses it manages by a placed management
    contract or charter (importContractData, importCharterData)."""
    if not state.covered:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"House {fias} is not managed by you: no placed management contract or charter of "
            "yours covers it (place one with importContractData or importCharterData).",
        )


def _create(ctx: HandlerContext, state: h.Packet, record: h.HouseItem, changes: Changes) -> Done:
    _require_managed(state, record.fias)
    existing = state.stored
    if existing is None:
        return h.create_house(ctx, state, record, changes, ctx.org_guid)
    if existing.org_guid != ctx.org_guid:  # described by another: the manager takes it over
        if existing.kind != record.kind:
            raise ItemError(
                Code.HOUSE_EXISTS,
                f"House {existing.fias} is registered as a {existing.kind} house "
                f"(unique number {existing.unique_number}); send {_CREATE_TAGS[existing.kind]} "
                "to take it over.",
            )
        h.update_house(ctx, existing, record.values, changes, org_guid=ctx.org_guid)
        existing.org_guid = ctx.org_guid
        state.house, state.adopted = existing, True
        return Done(existing.fias, existing.unique_number)
    raise ItemError(
        Code.HOUSE_EXISTS,
        f"House {record.fias} is already registered (unique number {existing.unique_number}); "
        "send ApartmentHouseToUpdate/LivingHouseToUpdate to change it.",
    )


def _update(ctx: HandlerContext, state: h.Packet, record: h.HouseItem, changes: Changes) -> Done:
    house = state.stored
    if house is None or house.kind != record.kind:
        raise ItemError(
            Code.NOT_FOUND,
            f"No {record.kind} house with FIASHouseGuid {record.fias} is registered.",
        )
    _require_managed(state, record.fias)
    # the house's description is the sender's from now
    h.update_house(ctx, house, record.values, changes, org_guid=ctx.org_guid)
    house.org_guid = ctx.org_guid
    state.house = house
    return Done(record.fias, house.unique_number)


IMPORT = ImportHouseUO()


def import_house_uo(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importHouseUORequest (ApartmentHouse or LivingHouse with their parts)."""
    return run_import(IMPORT, ctx, request)

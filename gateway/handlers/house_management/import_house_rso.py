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

  every item      the house is one a placed supply contract of the sender has (AUT011003)
  …HouseToCreate  the house exists (by FIASHouseGuid): its values are left alone (the RSO
                  learns its parts); it does not exist: it is created without a managing
                  organisation (its manager describes it later with importHouseUOData).
  …HouseToUpdate  only while no management company has described it.
  parts           entrances, premises, blocks and rooms the house lacks are created; those it
                  has (same number) are linked as they are, so the RSO learns their GUIDs;
                  …ToUpdate of a part again only while the house has no manager.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    HandlerContext,
    HandlerResult,
    ItemError,
    child,
    guid,
    text,
)
from gateway.handlers.house_management.import_house_uo import (
    _Done,
    _house_values,
    _HouseImport,
    _Results,
    run_house_items,
)
from persistence import contracts
from persistence import houses as repo
from persistence.models import House, Premises
from persistence.roles import Role

_TAGS = {"apartment": "ApartmentHouse", "living": "LivingHouse"}


def _check_unmanaged(house: House) -> House:
    """A supplier changes a house and its parts only while no UO manages it."""
    if house.org_guid is not None:
        raise ItemError(
            Code.NOT_ALLOWED,
            f"House {house.fias_house_guid} is managed by another organisation, which "
            "describes it; send …ToCreate items to link to its parts or add missing ones.",
        )
    return house


class _RSOHouseImport(_HouseImport):
    """importHouseUOData's item logic with the supplier's rules for houses and existing parts."""

    # --- house ---
    def create_house(self, kind: str) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            session, now = self.ctx.session, self.ctx.now
            fias = guid(child(element, "BasicCharacteristicts"), "FIASHouseGuid")
            assert fias is not None  # required by the schema
            self._require_supplied(fias)
            house = repo.house_by_fias(session, fias)
            if house is None:
                house = House(
                    guid=repo.new_guid(),
                    fias_house_guid=fias,
                    org_guid=None,
                    kind=kind,
                    unique_number=repo.new_house_unique_number(session),
                    created_at=now,
                    updated_at=now,
                )
                repo.update(house, _house_values(element))
                repo.add(session, house)
            elif house.kind != kind:
                raise ItemError(
                    Code.HOUSE_EXISTS,
                    f"House {fias} is registered as a {house.kind} house (unique number "
                    f"{house.unique_number}); send {_TAGS[house.kind]}ToCreate.",
                )
            else:
                self._load_index(house)
            self.house = house
            return _Done(fias, house.unique_number)

        return action

    def update_house(self, kind: str) -> Callable[[etree._Element], _Done]:
        def action(element: etree._Element) -> _Done:
            session = self.ctx.session
            fias = guid(child(element, "BasicCharacteristicts"), "FIASHouseGuid")
            assert fias is not None
            house = repo.house_by_fias(session, fias)
            if house is None or house.kind != kind:
                raise ItemError(
                    Code.NOT_FOUND, f"No {kind} house with FIASHouseGuid {fias} is registered."
                )
            self._require_supplied(fias)
            _check_unmanaged(house)
            repo.update(house, _house_values(element))
            house.updated_at = self.ctx.now
            self.house = house
            self._load_index(house)
            return _Done(fias, house.unique_number)

        return action

    def _require_supplied(self, fias: str) -> None:
        if not contracts.covered_fias(self.ctx.session, self.ctx.org_guid, Role.RSO, [fias]):
            raise ItemError(
                Code.NOT_ALLOWED,
                f"House {fias} is not supplied by you: no placed supply contract of yours has "
                "it (place one with importSupplyResourceContractData).",
            )

    def _require_unmanaged(self) -> House:
        return _check_unmanaged(self._require_house())

    # --- parts: what exists is linked as it is ---
    def entrance_create(self, element: etree._Element) -> _Done:
        house = self._require_house()
        number = text(element, "EntranceNum") or ""
        if number in self.index.entrances:
            entrance = repo.entrance(self.ctx.session, house.guid, number=number)
            assert entrance is not None
            return _Done(entrance.guid, None)
        return super().entrance_create(element)

    def entrance_update(self, element: etree._Element) -> _Done:
        self._require_unmanaged()
        return super().entrance_update(element)

    def premises_create(self, kind: str, number_tag: str) -> Callable[[etree._Element], _Done]:
        create = super().premises_create(kind, number_tag)

        def action(element: etree._Element) -> _Done:
            house = self._require_house()
            number = text(element, number_tag) or ""
            if (kind, number) in self.index.premises:
                existing = repo.premises(self.ctx.session, house.guid, kind=kind, number=number)
                assert existing is not None
                return _Done(existing.guid, existing.unique_number, existing)
            return create(element)

        return action

    def premises_update(
        self, kind: str, number_tag: str, guid_tag: str
    ) -> Callable[[etree._Element], _Done]:
        update = super().premises_update(kind, number_tag, guid_tag)

        def action(element: etree._Element) -> _Done:
            self._require_unmanaged()
            return update(element)

        return action

    def room_create(self, premises: Premises | None) -> Callable[[etree._Element], _Done]:
        create = super().room_create(premises)

        def action(element: etree._Element) -> _Done:
            house = self._require_house()
            existing = repo.living_room(
                self.ctx.session,
                house.guid,
                premises_guid=premises.guid if premises else None,
                number=text(element, "RoomNumber") or "",
            )
            if existing is not None:
                return _Done(existing.guid, existing.unique_number)
            return create(element)

        return action

    def room_update(self, element: etree._Element) -> _Done:
        self._require_unmanaged()
        return super().room_update(element)


def import_house_rso(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Handle importHouseRSORequest (ApartmentHouse or LivingHouse with their parts)."""
    results = _Results(ctx)
    run_house_items(_RSOHouseImport(ctx, results), results, request)
    return HandlerResult([results.import_result])

"""Request values for the house-management tests, as a client would build them with zeep."""

from __future__ import annotations

import uuid
from typing import Any

from persistence.nsi import shipped_ref

STATE = shipped_ref(24, "2")
OLSON_TZ = shipped_ref(32, "1")
PREMISES_CHARACTERISTIC = shipped_ref(30, "1")


def tg() -> str:
    """A fresh TransportGUID."""
    return str(uuid.uuid4())


def new_apartment_house(
    fias: str, *, entrances: int = 2, flats: int = 4, rooms_in_first: int = 2
) -> dict[str, Any]:
    """importHouseUORequest kwargs: an apartment house with entrances, flats, rooms and a shop."""
    premises = []
    for n in range(1, flats + 1):
        group: dict[str, Any] = {
            "ResidentialPremisesToCreate": {
                "CadastralNumber": f"77:01:0004012:{1000 + n}",
                "PremisesNum": str(n),
                "EntranceNum": str(1 + (n - 1) % entrances),
                "PremisesCharacteristic": PREMISES_CHARACTERISTIC,
                "TotalArea": "54.30",
                "GrossArea": "50.10",
                "TransportGUID": tg(),
            }
        }
        if n == 1 and rooms_in_first:
            group["LivingRoomToCreate"] = [
                {
                    "No_RSO_GKN_EGRP_Registered": True,
                    "RoomNumber": str(r),
                    "Square": "12.5",
                    "TransportGUID": tg(),
                }
                for r in range(1, rooms_in_first + 1)
            ]
        premises.append(group)
    return {
        "version": "13.2.3.2",
        "Id": "signed-data-container",
        "ApartmentHouse": {
            "ApartmentHouseToCreate": {
                "BasicCharacteristicts": {
                    "CadastralNumber": "77:01:0004012:999",
                    "FIASHouseGuid": fias,
                    "TotalSquare": "3560.5",
                    "State": STATE,
                    "UsedYear": 1975,
                    "FloorCount": 9,
                    "OlsonTZ": OLSON_TZ,
                    "CulturalHeritage": False,
                },
                "UndergroundFloorCount": 1,
                "TransportGUID": tg(),
            },
            "NonResidentialPremiseToCreate": [
                {
                    "No_RSO_GKN_EGRP_Registered": True,
                    "PremisesNum": "1Н",
                    "TotalArea": "120.75",
                    "IsCommonProperty": False,
                    "TransportGUID": tg(),
                }
            ],
            "EntranceToCreate": [
                {
                    "EntranceNum": str(e),
                    "StoreysCount": 9,
                    "CreationYear": 1975,
                    "TransportGUID": tg(),
                }
                for e in range(1, entrances + 1)
            ],
            "ResidentialPremises": premises,
        },
    }


def update_apartment_house(fias: str, **parts: Any) -> dict[str, Any]:
    """importHouseUORequest kwargs: ApartmentHouseToUpdate plus the given parts."""
    return {
        "version": "13.2.3.2",
        "Id": "signed-data-container",
        "ApartmentHouse": {
            "ApartmentHouseToUpdate": {
                "BasicCharacteristicts": {
                    "FIASHouseGuid": fias,
                    "FloorCount": 10,
                    "TotalSquare": "3600.25",
                },
                "TransportGUID": tg(),
            },
            **parts,
        },
    }


def export_request(fias: str) -> dict[str, Any]:
    return {"version": "15.10.0.0", "Id": "signed-data-container", "FIASHouseGuid": fias}

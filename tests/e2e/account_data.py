"""Request values for the personal-account and RSO-house tests, as a client builds them with zeep."""

from __future__ import annotations

from datetime import date
from typing import Any

from persistence.nsi import shipped_ref
from tests.e2e.house_data import OLSON_TZ, PREMISES_CHARACTERISTIC, tg

ACCOUNT_VERSION = "10.0.1.1"  # fixed by the format for importAccountRequest/exportAccountRequest
RSO_HOUSE_VERSION = "11.0.0.1"

PASSPORT = shipped_ref(95, "1")
CLOSE_REASON = shipped_ref(22, "3")
PAYER_ORG_VERSION = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


# --- accommodations and payers -----------------------------------------------------------


def premises(guid: str, share: str | None = None) -> dict[str, Any]:
    return {"PremisesGUID": guid, "SharePercent": share}


def room(guid: str, share: str | None = None) -> dict[str, Any]:
    return {"LivingRoomGUID": guid, "SharePercent": share}


def whole_house(fias: str, share: str | None = None) -> dict[str, Any]:
    return {"FIASHouseGuid": fias, "SharePercent": share}


def person(
    surname: str,
    first_name: str,
    patronymic: str | None = None,
    *,
    snils: str | None = None,
    passport: tuple[str, str] | None = None,
    renter: bool = False,
) -> dict[str, Any]:
    ind: dict[str, Any] = {"Surname": surname, "FirstName": first_name}
    if patronymic:
        ind["Patronymic"] = patronymic
    if snils:
        ind["SNILS"] = snils
    elif passport:
        series, number = passport
        ind["ID"] = {
            "Type": PASSPORT,
            "Series": series,
            "Number": number,
            "IssueDate": date(2005, 6, 1),
        }
    payer: dict[str, Any] = {"Ind": ind}
    if renter:
        payer["IsRenter"] = True
    return payer


def organisation(org_version_guid: str = PAYER_ORG_VERSION) -> dict[str, Any]:
    return {"Org": {"orgVersionGUID": org_version_guid}}


def closing(on: date, description: str | None = "Смена собственника") -> dict[str, Any]:
    return {"CloseReason": CLOSE_REASON, "CloseDate": on, "Description": description}


# --- accounts and requests ---------------------------------------------------------------


def account(
    *places: dict[str, Any],
    kind: str = "isUOAccount",
    payer: dict[str, Any] | None = None,
    number: str | None = None,
    account_guid: str | None = None,
    closed: dict[str, Any] | None = None,
    transport_guid: str | None = None,
    **values: Any,
) -> dict[str, Any]:
    """One importAccountRequest/Account; values: LivingPersonsNumber, TotalSquare, …"""
    item: dict[str, Any] = {
        kind: True,
        **values,
        "Accommodation": list(places),
        "PayerInfo": payer if payer is not None else {},
        "TransportGUID": transport_guid or tg(),
    }
    if closed is not None:
        item["Closed"] = closed
    if number is not None:
        item["AccountNumber"] = number
    if account_guid is not None:
        item["AccountGUID"] = account_guid
    return item


def import_accounts(*accounts: dict[str, Any]) -> dict[str, Any]:
    return {"version": ACCOUNT_VERSION, "Id": "signed-data-container", "Account": list(accounts)}


def export_accounts(**one_filter: Any) -> dict[str, Any]:
    """exportAccountRequest kwargs; one of FIASHouseGuid, AccountGUID, UnifiedAccountNumber, ServiceID."""
    return {"version": ACCOUNT_VERSION, "Id": "signed-data-container", **one_filter}


# --- importHouseRSOData ------------------------------------------------------------------


def rso_apartment_house(
    fias: str, *, flats: tuple[str, ...] = ("1", "2"), rooms_in_first: int = 2, update: bool = False
) -> dict[str, Any]:
    """importHouseRSORequest kwargs: an apartment house in the RSO shape, an entrance, flats, rooms."""
    groups = []
    for n, number in enumerate(flats):
        group: dict[str, Any] = {
            "ResidentialPremisesToCreate": {
                "No_RSO_GKN_EGRP_Data": True,
                "PremisesNum": number,
                "EntranceNum": "1",
                "PremisesCharacteristic": PREMISES_CHARACTERISTIC,
                "TotalArea": "48.5",
                "TransportGUID": tg(),
            }
        }
        if n == 0 and rooms_in_first:
            group["LivingRoomToCreate"] = [
                {
                    "No_RSO_GKN_EGRP_Data": True,
                    "RoomNumber": str(r),
                    "Square": "14.2",
                    "TransportGUID": tg(),
                }
                for r in range(1, rooms_in_first + 1)
            ]
        groups.append(group)
    basic = {"No_RSO_GKN_EGRP_Data": True, "FIASHouseGuid": fias, "OlsonTZ": OLSON_TZ}
    house_item = "ApartmentHouseToUpdate" if update else "ApartmentHouseToCreate"
    return {
        "version": RSO_HOUSE_VERSION,
        "Id": "signed-data-container",
        "ApartmentHouse": {
            house_item: {"BasicCharacteristicts": basic, "TransportGUID": tg()},
            "EntranceToCreate": [{"EntranceNum": "1", "TransportGUID": tg()}],
            "ResidentialPremises": groups,
        },
    }

"""Steps of the end-to-end tests that call the server through a zeep client: send and wait,
read the results, and the prerequisites several test modules share (a house with flats,
personal accounts, placed payment documents, exported notices)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.account_data import account as acc
from tests.e2e.account_data import import_accounts, premises
from tests.e2e.contract_data import place_contract
from tests.e2e.house_data import new_apartment_house
from tests.e2e.payment_data import export_documents, export_notices, import_documents
from tests.gis_client import GisClient

# --- any service -----------------------------------------------------------------------------


def run(client: GisClient, operation: str, request: dict[str, Any]) -> Any:
    """Send, wait until processed, return getStateResult."""
    return client.wait(client.ack_guid(client.call(operation, **request)))


def code(result: Any) -> str | None:
    return result["Error"][0]["ErrorCode"] if result["Error"] else None


# --- house management: houses and personal accounts ------------------------------------------


def results_by_tg(state: Any) -> dict[str, Any]:
    """TransportGUID ► CommonResult of a house-management import's getStateResult."""
    return {r["TransportGUID"]: r for ir in state["ImportResult"] for r in ir["CommonResult"]}


def parts(request: dict[str, Any], state: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(flat number ► PremisesGUID, room number ► LivingRoomGUID) of a house import."""
    by_tg = results_by_tg(state)
    flats, rooms = {}, {}
    for group in request["ApartmentHouse"]["ResidentialPremises"]:
        flat = group["ResidentialPremisesToCreate"]
        assert code(by_tg[flat["TransportGUID"]]) is None, by_tg[flat["TransportGUID"]]
        flats[flat["PremisesNum"]] = by_tg[flat["TransportGUID"]]["GUID"]
        for r in group.get("LivingRoomToCreate", []):
            rooms[r["RoomNumber"]] = by_tg[r["TransportGUID"]]["GUID"]
    return flats, rooms


def uo_house(
    client: GisClient, house: str, flats: int = 3
) -> tuple[dict[str, str], dict[str, str]]:
    place_contract(client, house)
    request = new_apartment_house(house, entrances=1, flats=flats, rooms_in_first=2)
    return parts(request, run(client, "importHouseUOData", request))


def import_ok(client: GisClient, *accounts: dict[str, Any]) -> list[Any]:
    """Import accounts that must all succeed; their CommonResults in request order."""
    by_tg = results_by_tg(run(client, "importAccountData", import_accounts(*accounts)))
    found = [by_tg[a["TransportGUID"]] for a in accounts]
    assert [code(r) for r in found] == [None] * len(found), [r["Error"] for r in found]
    return found


def accounts(hm: GisClient, count: int) -> list[Any]:
    """New personal accounts of the client in a new house: (AccountGUID, unified number, ...)."""
    flats, _ = uo_house(hm, str(uuid.uuid4()), flats=count)
    return import_ok(hm, *(acc(premises(flats[str(n)])) for n in range(1, count + 1)))


# --- bills and payment services ----------------------------------------------------------------


def results(state: Any) -> list[Any]:
    """The ImportResult items of a bills or payment import's getStateResult."""
    assert state["ErrorMessage"] is None, state["ErrorMessage"]
    return list(state["ImportResult"])


def codes(state: Any) -> list[str | None]:
    return [code(r) for r in results(state)]


def ok(state: Any) -> list[Any]:
    found = results(state)
    assert [code(r) for r in found] == [None] * len(found), [r["Error"] for r in found]
    return found


def place(bills: GisClient, year: int, month: int, *docs: dict[str, Any], key: str) -> list[Any]:
    return ok(run(bills, "importPaymentDocumentData", import_documents(year, month, key, *docs)))


def exported_document(bills: GisClient, pd_id: str) -> Any:
    state = run(bills, "exportPaymentDocumentData", export_documents(pd_id))
    assert state["ErrorMessage"] is None, state["ErrorMessage"]
    (item,) = state["exportPaymentDocResult"]
    return item["PaymentDocument"]


def exported_notices(bills: GisClient, **supplier_ids: Any) -> dict[str, Any]:
    """NotificationsOfOrderExecutionGUID ► exported notice (with status)."""
    state = run(bills, "exportNotificationsOfOrderExecution", export_notices(**supplier_ids))
    if state["ErrorMessage"] is not None:
        assert state["ErrorMessage"]["ErrorCode"] == "INT002012"
        return {}
    return {
        n["NotificationsOfOrderExecutionGUID"]: n
        for block in state["exportNotificationsOfOrderExecutionResult"]
        for n in block["NotificationOfOrderExecutionWithStatus"]
    }

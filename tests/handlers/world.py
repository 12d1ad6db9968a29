"""Organisations and the objects the handler tests build on, made through the handlers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from persistence import contracts
from tests.e2e import account_data as ad
from tests.e2e import house_data as hd
from tests.e2e import metering_data as md
from tests.e2e import payment_data as pd
from tests.placed import placed_contract
from tests.stand.handlers import Stand

HM, DM, BILLS, PAYMENT = "house-management", "device-metering", "bills", "payment"


def org(role: str) -> tuple[str, str]:
    return (str(uuid.uuid4()), role)


@dataclass
class House:
    fias: str
    flats: list[str]  # premises GUIDs of flats 1..n
    rooms: list[str] = field(default_factory=list)  # living rooms of flat 1


def house(stand: Stand, uo: tuple[str, str], flats: int = 4) -> House:
    """A new apartment house of ``uo`` with entrances, flats and rooms."""
    return house_at(stand, uo, str(uuid.uuid4()), flats)


def manage(stand: Stand, org: tuple[str, str], *fias: str) -> None:
    """A placed contract of the organisation covering the houses: a management contract of a
    management company, a supply contract of a resource supplier (persistence/contracts.py)."""
    kind = contracts.SUPPLY if org[1] == "rso" else contracts.MANAGEMENT
    with stand.sessions.begin() as session:
        placed_contract(session, org[0], *fias, kind=kind)


def house_at(stand: Stand, uo: tuple[str, str], fias: str, flats: int = 4) -> House:
    """A new apartment house of ``uo`` at ``fias`` (which it manages from now)."""
    manage(stand, uo, fias)
    request = hd.new_apartment_house(fias, flats=flats)
    results = {o.transport_guid: o for o in stand.run(uo, HM, "importHouseUOData", request)}
    assert all(o.ok for o in results.values()), results
    groups = request["ApartmentHouse"]["ResidentialPremises"]
    flat_guids = [
        results[g["ResidentialPremisesToCreate"]["TransportGUID"]].guid or "" for g in groups
    ]
    rooms = [
        results[r["TransportGUID"]].guid or "" for r in groups[0].get("LivingRoomToCreate", [])
    ]
    return House(fias, flat_guids, rooms)


def accounts(stand: Stand, uo: tuple[str, str], home: House) -> list[tuple[str, str]]:
    """An account per flat: (AccountGUID, UnifiedAccountNumber)."""
    items = [ad.account(ad.premises(flat), number=f"ЛС-{n}") for n, flat in enumerate(home.flats)]
    done = stand.run(uo, HM, "importAccountData", ad.import_accounts(*items))
    assert all(o.ok for o in done), done
    return [(o.guid or "", o.unique_number or "") for o in done]


def device(stand: Stand, uo: tuple[str, str], home: House, number: str = "В-1") -> str:
    """A common-house cold water meter (base 100): its root GUID."""
    request = md.devices_request(home.fias, [md.collective_water_device(home.fias, number)])
    [done] = stand.run(uo, HM, "importMeteringDeviceData", request)
    assert done.ok, done
    return done.element.findtext(".//{*}MeteringDeviceGUID") or ""


def documents(
    stand: Stand, uo: tuple[str, str], account_guids: list[str], period: tuple[int, int]
) -> list[str]:
    """A payment document per account (housing 855.00): their PaymentDocumentIDs."""
    key = pd.tg()
    request = pd.import_documents(*period, key, *(pd.document(a, key) for a in account_guids))
    done = stand.run(uo, BILLS, "importPaymentDocumentData", request)
    assert all(o.ok for o in done), done
    return [o.unique_number or "" for o in done]


def notices(stand: Stand, bank: tuple[str, str], pd_ids: list[str], kopecks: int) -> list[Any]:
    """A bank notice paying each document: the outcomes (GUID, UniqueNumber = OrderID)."""
    done = stand.run(
        bank,
        PAYMENT,
        "importNotificationsOfOrderExecution",
        pd.import_notices(*(pd.notice(kopecks, pd_id=p) for p in pd_ids)),
    )
    assert all(o.ok for o in done), done
    return done


TODAY = date.today()

"""A forced replay of a processed packet gives the sender the same per-item results as the first
run (same TransportGUIDs, GUIDs, unique numbers, codes) and changes nothing: one test per import
operation, each packet with accepted and refused items."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gateway.codes import Code
from tests.e2e import account_data as ad
from tests.e2e import house_data as hd
from tests.e2e import metering_data as md
from tests.e2e import payment_data as pd
from tests.handlers import world
from tests.handlers.world import BILLS, DM, HM, PAYMENT
from tests.stand.handlers import Outcome, Stand


def _key(results: list[Outcome]) -> list[tuple[str | None, ...]]:
    return [(o.transport_guid, o.guid, o.unique_number, o.code) for o in results]


def replayed(stand: Stand, run: Callable[[str], list[Outcome]]) -> list[Outcome]:
    """Process a packet, force-replay it; the replay answers the same and changes nothing."""
    message = str(uuid.uuid4())
    first = run(message)
    before = stand.counts()
    again = run(message)
    assert _key(again) == _key(first)
    assert [o.element.findtext("{*}UpdateDate") for o in again] == [
        o.element.findtext("{*}UpdateDate") for o in first
    ]
    assert stand.counts() == before
    return first


def test_house_uo(stand: Stand) -> None:
    uo = world.org("uo")
    fias = str(uuid.uuid4())
    world.manage(stand, uo, fias)
    request = hd.new_apartment_house(fias)
    request["ApartmentHouse"]["EntranceToCreate"].append(
        {"EntranceNum": "1", "StoreysCount": 9, "CreationYear": 1975, "TransportGUID": hd.tg()}
    )  # a duplicate: refused
    first = replayed(stand, lambda m: stand.run(uo, HM, "importHouseUOData", request, m))
    assert [o.code for o in first].count(Code.HOUSE_DUPLICATE_NUMBER) == 1
    assert sum(o.ok for o in first) == len(first) - 1


def test_house_uo_refused_house(stand: Stand) -> None:
    """The house item refused: its parts are refused the same way again."""
    uo, other = world.org("uo"), world.org("uo")
    home = world.house(stand, other)
    request = hd.new_apartment_house(home.fias)
    first = replayed(stand, lambda m: stand.run(uo, HM, "importHouseUOData", request, m))
    assert {o.code for o in first} == {Code.NOT_ALLOWED, Code.HOUSE_PARENT_FAILED}


def test_house_rso(stand: Stand) -> None:
    rso = world.org("rso")
    fias = str(uuid.uuid4())
    world.manage(stand, rso, fias)
    request = ad.rso_apartment_house(fias)
    first = replayed(stand, lambda m: stand.run(rso, HM, "importHouseRSOData", request, m))
    assert all(o.ok for o in first)


def test_accounts(stand: Stand) -> None:
    """The reported bug: a replay answered HCS003002 'AccountNumber … is already used by your
    open account' for the accounts the first run created."""
    uo = world.org("uo")
    home = world.house(stand, uo)
    request = ad.import_accounts(
        ad.account(ad.premises(home.flats[0]), number="ЛС-1"),
        ad.account(ad.premises(home.flats[1]), number="ЛС-2"),
        ad.account(ad.premises(home.flats[2]), number="ЛС-1"),  # in use: refused
    )
    first = replayed(stand, lambda m: stand.run(uo, HM, "importAccountData", request, m))
    assert [o.code for o in first] == [None, None, Code.ACCOUNT_NUMBER_IN_USE]
    assert first[0].element.findtext(".//{*}ServiceID") == f"{first[0].unique_number}-01"


def test_account_updates_and_closing(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    (a1, _), (a2, _), *_ = world.accounts(stand, uo, home)
    request = ad.import_accounts(
        ad.account(ad.premises(home.flats[0]), account_guid=a1, number="ЛС-10"),
        ad.account(account_guid=a2, closed=ad.closing(world.TODAY)),
        ad.account(ad.premises(home.flats[1]), account_guid=a2, number="ЛС-11"),  # closed
    )
    first = replayed(stand, lambda m: stand.run(uo, HM, "importAccountData", request, m))
    assert [o.code for o in first] == [None, None, Code.ACCOUNT_CLOSED]


def test_metering_devices(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    request = md.devices_request(
        home.fias,
        [
            md.collective_water_device(home.fias, "В-1"),
            md.collective_electric_device(home.fias, "Э-1"),
            md.collective_water_device(home.fias, "В-1"),  # the number is active: refused
        ],
    )
    first = replayed(stand, lambda m: stand.run(uo, HM, "importMeteringDeviceData", request, m))
    assert [o.code for o in first] == [None, None, Code.DEVICE_DUPLICATE_NUMBER]


def test_readings(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    device = world.device(stand, uo, home)
    day = world.TODAY - timedelta(days=3)
    request = md.values_request(
        [
            md.water_reading(device, "120", day),
            md.water_reading(device, "130", day + timedelta(days=1)),
            md.water_reading(device, "90", day + timedelta(days=2)),  # decreasing: refused
            md.water_verification(
                device, (day + timedelta(days=2), "131"), (day + timedelta(days=2), "0"), day
            ),  # sealed before it ended: refused
        ]
    )
    first = replayed(stand, lambda m: stand.run(uo, DM, "importMeteringDeviceValues", request, m))
    assert [o.code for o in first] == [
        None,
        None,
        Code.READING_DECREASING,
        Code.READING_VERIFICATION,
    ]


def test_payment_documents(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    account_guids = [a for a, _ in world.accounts(stand, uo, home)]
    [placed, *_] = world.documents(stand, uo, account_guids[:1], (2024, 5))
    key = pd.tg()
    request = pd.import_documents(
        2024,
        5,
        key,
        pd.document(account_guids[1], key, water="100.00"),
        pd.document(account_guids[0], key, replaces=placed, housing="900.00"),
        pd.document(account_guids[2], key),
        pd.document(account_guids[2], key),  # a second document of the period: refused
    )
    first = replayed(stand, lambda m: stand.run(uo, BILLS, "importPaymentDocumentData", request, m))
    assert [o.code for o in first] == [None, None, None, Code.DOCUMENT_EXISTS]
    withdrawal = pd.withdraw_documents(first[0].unique_number or "", "0000000000-01-0524")
    again = replayed(
        stand, lambda m: stand.run(uo, BILLS, "importPaymentDocumentData", withdrawal, m)
    )
    assert [o.code for o in again] == [None, Code.NOT_FOUND]


def _paid_document(stand: Stand) -> tuple[Any, ...]:
    uo, bank = world.org("uo"), world.org("bank")
    home = world.house(stand, uo)
    account_guids = [a for a, _ in world.accounts(stand, uo, home)]
    pd_ids = world.documents(stand, uo, account_guids[:2], (2024, 5))
    notices = world.notices(stand, bank, pd_ids, 50_000)
    return uo, bank, pd_ids, notices


def test_acknowledgments(stand: Stand) -> None:
    uo, _, pd_ids, notices = _paid_document(stand)
    request = pd.import_acks(
        pd.ack(notices[0].guid, pd_ids[0], "300.00"),
        pd.ack(notices[0].guid, pd_ids[0], "300.00"),  # more than the notice paid: refused
        pd.ack_impossible(notices[1].guid),
    )
    first = replayed(stand, lambda m: stand.run(uo, BILLS, "importAcknowledgment", request, m))
    assert [o.code for o in first] == [None, Code.ACK_OVER_NOTICE, None]
    cancel = pd.cancel_acks(
        pd.ack_cancellation(notices[0].guid, pd_ids[0]),
        pd.ack_cancellation(notices[0].guid, pd_ids[1]),  # nothing to cancel: refused
    )
    again = replayed(stand, lambda m: stand.run(uo, BILLS, "importAcknowledgment", cancel, m))
    assert [o.code for o in again] == [None, Code.ACK_NOTHING_TO_CANCEL]


def test_bank_notices(stand: Stand) -> None:
    uo, bank = world.org("uo"), world.org("bank")
    home = world.house(stand, uo)
    account_guids = [a for a, _ in world.accounts(stand, uo, home)]
    pd_ids = world.documents(stand, uo, account_guids[:1], (2024, 5))
    order = pd.order_id()
    request = pd.import_notices(
        pd.notice(85_500, pd_id=pd_ids[0], order=order),
        pd.notice(85_500, pd_id=pd_ids[0], order=order),  # the same order again: the same
        pd.notice(1_000, pd_id=pd_ids[0], order=order),  # the order with other data: refused
        pd.notice(1_000, pd_id="0000000000-01-0524"),  # no such document: refused
    )
    first = replayed(
        stand, lambda m: stand.run(bank, PAYMENT, "importNotificationsOfOrderExecution", request, m)
    )
    assert [o.code for o in first] == [None, None, Code.NOTICE_ORDER_REUSED, Code.NOT_FOUND]
    assert first[0].guid == first[1].guid


def test_cancellations(stand: Stand) -> None:
    _, bank, _, notices = _paid_document(stand)
    orders = [o.unique_number or "" for o in notices]
    request = pd.cancel_notices(orders[0], orders[0], pd.order_id())  # twice; unknown
    first = replayed(
        stand,
        lambda m: stand.run(
            bank, PAYMENT, "importNotificationsOfOrderExecutionCancellation", request, m
        ),
    )
    assert [o.code for o in first] == [None, Code.NOTICE_CANCELLED, Code.NOT_FOUND]


def test_supplier_notices(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    account_guids = [a for a, _ in world.accounts(stand, uo, home)]
    pd_ids = world.documents(stand, uo, account_guids[:1], (2024, 5))
    request = pd.import_supplier_notices(
        pd.supplier_notice("100.00", pd_id=pd_ids[0]),
        pd.supplier_notice("100.00", pd_id="0000000000-01-0524"),  # no such document
    )
    first = replayed(
        stand,
        lambda m: stand.run(uo, PAYMENT, "importSupplierNotificationsOfOrderExecution", request, m),
    )
    assert [o.code for o in first] == [None, Code.NOT_FOUND]

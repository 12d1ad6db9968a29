"""The money path end to end: real server, zeep clients of a management company and a bank.

payment document ► bank notice ► the company exports the notices ► acknowledges them ► the
document shows paid; de-acknowledgment; cancellation of a notice; supplier notices; and every
business rule refused with its own code while the rest of the packet goes on.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from zeep.exceptions import Fault

from tests.e2e.account_data import account as acc
from tests.e2e.account_data import closing
from tests.e2e.flows import (
    accounts,
    codes,
    exported_document,
    exported_notices,
    import_ok,
    ok,
    place,
    results,
    run,
)
from tests.e2e.payment_data import (
    CAPITAL_REPAIR,
    HOT_WATER_KIND,
    INTERCOM,
    PENALTY,
    TODAY,
    ack,
    ack_cancellation,
    ack_impossible,
    cancel_acks,
    cancel_notices,
    document,
    export_documents_of,
    export_new_notices,
    import_acks,
    import_documents,
    import_notices,
    import_supplier_notices,
    notice,
    order_id,
    supplier_notice,
    tg,
    withdraw_documents,
)
from tests.gis_client import GisClient, fault_code
from tests.paths import BILLS_PATH, HM_PATH, PAYMENT_PATH


def _client(stand: Any, name: str, path: str) -> GisClient:
    return stand.soap_client(path, name)


@pytest.fixture(scope="module")
def hm(stand: Any) -> GisClient:
    return _client(stand, "uo", HM_PATH)


@pytest.fixture(scope="module")
def hm2(stand: Any) -> GisClient:
    return _client(stand, "uo2", HM_PATH)


@pytest.fixture(scope="module")
def bills(stand: Any) -> GisClient:
    return _client(stand, "uo", BILLS_PATH)


@pytest.fixture(scope="module")
def bills2(stand: Any) -> GisClient:
    return _client(stand, "uo2", BILLS_PATH)


@pytest.fixture(scope="module")
def bank(stand: Any) -> GisClient:
    return _client(stand, "bank", PAYMENT_PATH)


@pytest.fixture(scope="module")
def supplier(stand: Any) -> GisClient:
    """The management company on the payment service (its own notices)."""
    return _client(stand, "uo", PAYMENT_PATH)


# --- the money path ----------------------------------------------------------------------------


def test_document_notice_export_acknowledgment_and_the_document_shows_paid(
    stand: Any, hm: GisClient, bills: GisClient, bank: GisClient
) -> None:
    (account,) = accounts(hm, 1)
    unified = account["UniqueNumber"]
    key = tg()
    doc = document(
        account["GUID"],
        key,
        housing="855.00",
        water="356.08",
        intercom="45.00",
        capital_repair="420.74",
        penalty="15.49",
    )
    (placed,) = place(bills, 2024, 5, doc, key=key)
    pd_id = placed["UniqueNumber"]
    assert pd_id == f"{unified}-01-0524" and len(pd_id) == 18
    assert placed["TransportGUID"] == doc["TransportGUID"] and uuid.UUID(placed["GUID"])
    total = 85500 + 35608 + 4500 + 42074 + 1549  # kopecks

    # the bank posts the payment, and again (the same order is one notice)
    bank_order = order_id()
    paid = notice(total, pd_id=pd_id, order=bank_order)
    (posted,) = ok(run(bank, "importNotificationsOfOrderExecution", import_notices(paid)))
    notice_guid = posted["GUID"]
    assert posted["UniqueNumber"] == bank_order
    again = notice(total, pd_id=pd_id, order=bank_order)
    (reposted,) = ok(run(bank, "importNotificationsOfOrderExecution", import_notices(again)))
    assert reposted["GUID"] == notice_guid

    # the company finds it: by document, by account and period, by day and status
    found = exported_notices(bills, PaymentDocumentID=pd_id)
    assert list(found) == [notice_guid]
    item = found[notice_guid]
    assert item["AckStatus"] == 0 and item["AcknowledgmentAmount"] == 0
    assert item["OrderInfo"]["OrderID"] == bank_order
    assert int(item["OrderInfo"]["Amount"]) == total
    assert item["OrderInfo"]["PaymentDocumentID"] == pd_id
    assert item["OrderInfo"]["UnifiedAccountNumber"] == unified
    assert item["orgPPAGUID"] == stand["orgs"]["bank"].guid
    assert item["RecipientInfo"]["PaymentInformation"]["BankBIK"] == "044525225"
    assert notice_guid in exported_notices(bills, UnifiedAccountNumber=unified, Year=2024, Month=5)
    state = run(bills, "exportNotificationsOfOrderExecution", export_new_notices(TODAY, 0, 3))
    new = [
        n["NotificationsOfOrderExecutionGUID"]
        for b in state["exportNotificationsOfOrderExecutionResult"]
        for n in b["NotificationOfOrderExecutionWithStatus"]
    ]
    assert notice_guid in new

    # partial acknowledgment: the housing service
    ok(run(bills, "importAcknowledgment", import_acks(ack(notice_guid, pd_id, "855.00"))))
    item = exported_notices(bills, PaymentDocumentID=pd_id)[notice_guid]
    assert item["AckStatus"] == 3 and item["AcknowledgmentAmount"] == 85500
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("855.00")

    # the rest, by the bank's OrderID: every kind of service
    by_order = (bank_order, stand["orgs"]["bank"].guid)
    rest = import_acks(
        ack(by_order, pd_id, "356.08", kind="MSType", ref="51000000-0000-4000-8000-000000000001"),
        ack(by_order, pd_id, "45.00", kind="ASType", ref=INTERCOM["GUID"]),
        ack(by_order, pd_id, "420.74", kind="HSType", ref=CAPITAL_REPAIR),
        ack(by_order, pd_id, "15.49", kind="PServiceType", ref=PENALTY),
    )
    assert [r["GUID"] for r in ok(run(bills, "importAcknowledgment", rest))] == [notice_guid] * 4
    item = exported_notices(bills, PaymentDocumentID=pd_id)[notice_guid]
    assert item["AckStatus"] == 2 and item["AcknowledgmentAmount"] == total
    acks = item["AcknowledgmentRequestsList"]["AcknowledgmentRequest"]
    assert sorted(a["PaymentDocumentAck"]["Amount"] for a in acks) == sorted(
        Decimal(x) for x in ("855.00", "356.08", "45.00", "420.74", "15.49")
    )
    assert all(a["OrderID"] == bank_order for a in acks)
    shown = exported_document(bills, pd_id)
    assert shown["PaidCash"] == Decimal(total) / 100 and shown["Expose"] is True
    assert shown["DateOfLastReceivedPayment"] == TODAY

    # de-acknowledgment frees both sides; acknowledging again works
    ok(run(bills, "importAcknowledgment", cancel_acks(ack_cancellation(notice_guid, pd_id))))
    assert exported_notices(bills, PaymentDocumentID=pd_id)[notice_guid]["AckStatus"] == 0
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("0.00")
    ok(run(bills, "importAcknowledgment", import_acks(ack(notice_guid, pd_id, "855.00"))))
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("855.00")


def test_a_cancelled_notice_takes_its_acknowledgments_with_it(
    hm: GisClient, bills: GisClient, bank: GisClient
) -> None:
    (account,) = accounts(hm, 1)
    key = tg()
    (placed,) = place(bills, 2024, 6, document(account["GUID"], key, housing="500.00"), key=key)
    pd_id = placed["UniqueNumber"]
    bank_order = order_id()
    # found by the account's unified number and the period
    (posted,) = ok(
        run(
            bank,
            "importNotificationsOfOrderExecution",
            import_notices(
                notice(30000, unified=account["UniqueNumber"], period=(2024, 6), order=bank_order)
            ),
        )
    )
    notice_guid = posted["GUID"]
    ok(run(bills, "importAcknowledgment", import_acks(ack(notice_guid, pd_id, "300.00"))))
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("300.00")

    (cancelled,) = ok(
        run(bank, "importNotificationsOfOrderExecutionCancellation", cancel_notices(bank_order))
    )
    assert cancelled["GUID"] == notice_guid
    item = exported_notices(bills, PaymentDocumentID=pd_id)[notice_guid]
    assert item["AckStatus"] == 1 and item["AcknowledgmentAmount"] == 0
    assert not (item["AcknowledgmentRequestsList"] or {"AcknowledgmentRequest": []})[
        "AcknowledgmentRequest"
    ]  # zeep reads an empty list element as None
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("0.00")

    # a cancelled notice is final
    assert codes(
        run(bills, "importAcknowledgment", import_acks(ack(notice_guid, pd_id, "1.00")))
    ) == ["HCS004010"]
    assert codes(
        run(
            bank,
            "importNotificationsOfOrderExecution",
            import_notices(
                notice(30000, unified=account["UniqueNumber"], period=(2024, 6), order=bank_order)
            ),
        )
    ) == ["HCS005004"]
    assert codes(
        run(
            bank,
            "importNotificationsOfOrderExecutionCancellation",
            cancel_notices(bank_order, order_id()),
        )
    ) == ["HCS005004", "INT002000"]
    # a cancellation dated before the payment (or in the future) is refused
    late_order = order_id()
    late = notice(
        100, unified=account["UniqueNumber"], order=late_order, on=TODAY - timedelta(days=5)
    )
    ok(run(bank, "importNotificationsOfOrderExecution", import_notices(late)))
    assert codes(
        run(
            bank,
            "importNotificationsOfOrderExecutionCancellation",
            cancel_notices(late_order, on=TODAY - timedelta(days=10)),
        )
    ) == ["HCS005005"]


def test_supplier_notices_are_acknowledged_like_bank_notices(
    stand: Any, hm: GisClient, bills: GisClient, supplier: GisClient
) -> None:
    (account,) = accounts(hm, 1)
    key = tg()
    (placed,) = place(bills, 2024, 7, document(account["GUID"], key, housing="120.00"), key=key)
    pd_id = placed["UniqueNumber"]
    (posted,) = ok(
        run(
            supplier,
            "importSupplierNotificationsOfOrderExecution",
            import_supplier_notices(supplier_notice("120.00", pd_id=pd_id)),
        )
    )
    own_order = posted["UniqueNumber"]
    assert len(own_order) == 32
    item = exported_notices(bills, PaymentDocumentID=pd_id)[posted["GUID"]]
    assert item["AckStatus"] == 0 and int(item["OrderInfo"]["Amount"]) == 12000
    assert item["orgPPAGUID"] == stand["orgs"]["uo"].guid
    ok(run(bills, "importAcknowledgment", import_acks(ack(posted["GUID"], pd_id, "120.00"))))
    assert exported_document(bills, pd_id)["PaidCash"] == Decimal("120.00")
    # by ServiceID too, and cancelled by the OrderID the gateway gave it
    (second,) = ok(
        run(
            supplier,
            "importSupplierNotificationsOfOrderExecution",
            import_supplier_notices(
                supplier_notice("5", service_id=account["ImportAccount"]["ServiceID"])
            ),
        )
    )
    ok(
        run(
            supplier,
            "importNotificationsOfOrderExecutionCancellation",
            cancel_notices(second["UniqueNumber"]),
        )
    )
    by_service = exported_notices(bills, ServiceID=account["ImportAccount"]["ServiceID"])
    assert by_service[second["GUID"]]["AckStatus"] == 1  # no period: linked to the account only
    assert by_service[posted["GUID"]]["AckStatus"] == 2


def test_documents_are_replaced_withdrawn_and_exported_by_period(
    hm: GisClient, bills: GisClient
) -> None:
    first, second = accounts(hm, 2)
    key = tg()
    placed = place(
        bills,
        2024,
        8,
        document(first["GUID"], key, housing="100.00"),
        document(second["GUID"], key, housing="200.00", group_hot_water="770.00"),
        key=key,
    )
    pd_id = placed[0]["UniqueNumber"]
    (replaced,) = place(
        bills, 2024, 8, document(first["GUID"], key, housing="150.00", replaces=pd_id), key=key
    )
    assert (replaced["GUID"], replaced["UniqueNumber"]) == (placed[0]["GUID"], pd_id)
    charges = exported_document(bills, pd_id)["ChargeInfo"]
    assert [c["HousingService"]["TotalPayable"] for c in charges] == [Decimal("150.00")]
    state = run(
        bills,
        "exportPaymentDocumentData",
        export_documents_of(
            2024, 8, UnifiedAccountNumber=[first["UniqueNumber"], second["UniqueNumber"]]
        ),
    )
    assert [
        r["PaymentDocument"]["PaymentDocumentID"] for r in state["exportPaymentDocResult"]
    ] == sorted(r["UniqueNumber"] for r in placed)
    group = state["exportPaymentDocResult"][1]["PaymentDocument"]["ChargeInfo"][1][
        "GroupMunicipalService"
    ]
    assert group["TypeMunicipalService"]["ServiceType"]["Code"] == HOT_WATER_KIND["Code"]
    # withdrawal: exported as withdrawn; a new document for the period gets the next ordinal
    ok(run(bills, "importPaymentDocumentData", withdraw_documents(pd_id)))
    assert exported_document(bills, pd_id)["Withdraw"] is True
    (new,) = place(bills, 2024, 8, document(first["GUID"], key, housing="150.00"), key=key)
    assert new["UniqueNumber"] == f"{first['UniqueNumber']}-02-0824"


# --- every rule with its code ----------------------------------------------------------------------


def test_every_money_rule_is_refused_with_its_code_and_the_rest_goes_on(
    stand: Any,
    hm: GisClient,
    hm2: GisClient,
    bills: GisClient,
    bills2: GisClient,
    bank: GisClient,
    supplier: GisClient,
) -> None:
    mine, other, closed, spare = accounts(hm, 4)
    (theirs,) = accounts(hm2, 1)
    import_ok(hm, acc(kind="isUOAccount", account_guid=closed["GUID"], closed=closing(TODAY)))
    key = tg()
    (placed, spare_doc) = place(
        bills,
        2024,
        9,
        document(mine["GUID"], key, housing="100.00", water="50.00", penalty="5.00"),
        document(spare["GUID"], key, housing="10.00"),
        key=key,
    )
    pd_id, spare_id = placed["UniqueNumber"], spare_doc["UniqueNumber"]
    (other_doc,) = place(bills, 2024, 9, document(other["GUID"], key, housing="10.00"), key=key)
    key2 = tg()
    (foreign_doc,) = place(
        bills2, 2024, 9, document(theirs["GUID"], key2, housing="10.00"), key=key2
    )

    # --- payment documents
    twice = document(mine["GUID"], key)
    twice["ChargeInfo"].append(dict(twice["ChargeInfo"][0]))
    withdraw_flag = document(mine["GUID"], key)
    withdraw_flag["Withdraw"] = True
    cases = {
        "INT002000": document(str(uuid.uuid4()), key),
        "AUT011003": document(theirs["GUID"], key),
        "HCS004001": document(closed["GUID"], key),
        "HCS004002": document(mine["GUID"], key),
        "HCS004003": twice,
        "HCS004005": document(mine["GUID"], key, replaces=other_doc["UniqueNumber"]),
        "HCS004016": withdraw_flag,
    }
    fine = document(accounts(hm, 1)[0]["GUID"], key)
    state = run(
        bills, "importPaymentDocumentData", import_documents(2024, 9, key, *cases.values(), fine)
    )
    assert codes(state) == [*cases, None]

    # --- notices (banks only; references; the same order; dates)
    with pytest.raises(Fault) as fault:
        supplier.call(
            "importNotificationsOfOrderExecution", **import_notices(notice(100, pd_id=pd_id))
        )
    assert fault_code(fault.value) == "AUT011003"
    reused = order_id()
    ok(
        run(
            bank,
            "importNotificationsOfOrderExecution",
            import_notices(notice(100, pd_id=pd_id, order=reused)),
        )
    )
    cases = {
        "HCS005001": notice(100),
        "INT002000": notice(100, pd_id="0000000000-01-0924"),
        "HCS005002": notice(100, pd_id=pd_id, unified=other["UniqueNumber"]),
        "HCS005003": notice(999, pd_id=pd_id, order=reused),
        "HCS005005": notice(100, pd_id=pd_id, on=TODAY + timedelta(days=3)),
    }
    state = run(
        bank,
        "importNotificationsOfOrderExecution",
        import_notices(*cases.values(), notice(8000, pd_id=pd_id)),
    )
    assert codes(state) == [*cases, None]
    notice_guid = results(state)[-1]["GUID"]  # 80.00 roubles for the document
    (small,) = ok(
        run(
            bank, "importNotificationsOfOrderExecution", import_notices(notice(500, pd_id=spare_id))
        )
    )
    (foreign,) = ok(
        run(
            bank,
            "importNotificationsOfOrderExecution",
            import_notices(notice(1000, pd_id=foreign_doc["UniqueNumber"])),
        )
    )
    assert codes(
        run(
            supplier,
            "importSupplierNotificationsOfOrderExecution",
            import_supplier_notices(supplier_notice("1.00", pd_id=foreign_doc["UniqueNumber"])),
        )
    ) == ["AUT011003"]

    # --- acknowledgment
    ok(run(bills, "importAcknowledgment", import_acks(ack(notice_guid, pd_id, "40.00"))))
    cases = {
        "INT002000": ack(str(uuid.uuid4()), pd_id, "1.00"),
        "AUT011003": ack(foreign["GUID"], pd_id, "1.00"),
        "HCS004007": ack(notice_guid, pd_id, "0.00"),
        # 40.00 of the notice's 80.00 are left: more than that, or more than the 5.00 penalty
        "HCS004008": ack(
            notice_guid, pd_id, "45.00", kind="MSType", ref="51000000-0000-4000-8000-000000000001"
        ),
        "HCS004009": ack(notice_guid, pd_id, "5.01", kind="PServiceType", ref=PENALTY),
        "HCS004011": ack(notice_guid, pd_id, "1.00", kind="ASType", ref=INTERCOM["GUID"]),
        "HCS004012": ack(notice_guid, spare_id, "1.00"),
        "HCS004013": ack(
            notice_guid,
            pd_id,
            "1.00",
            PaymentInformation={"PaymentInformationGuid": str(uuid.uuid4())},
        ),
        "HCS004014": ack_impossible(notice_guid),
    }
    state = run(
        bills,
        "importAcknowledgment",
        import_acks(*cases.values(), ack(notice_guid, pd_id, "40.00")),
    )
    assert codes(state) == [*cases, None]
    # only the document's owner acknowledges against it
    assert codes(
        run(bills2, "importAcknowledgment", import_acks(ack(foreign["GUID"], pd_id, "1.00")))
    ) == ["AUT011003"]
    # a document with acknowledged payments is not withdrawn; a withdrawn one is final
    ok(run(bills, "importPaymentDocumentData", withdraw_documents(spare_id)))
    state = run(
        bills,
        "importPaymentDocumentData",
        withdraw_documents(pd_id, spare_id, "0000000000-01-0924"),
    )
    assert codes(state) == ["HCS004004", "SRV008070", "INT002000"]
    assert codes(
        run(bills, "importAcknowledgment", import_acks(ack(small["GUID"], spare_id, "1.00")))
    ) == ["SRV008070"]
    assert codes(
        run(
            bank, "importNotificationsOfOrderExecution", import_notices(notice(100, pd_id=spare_id))
        )
    ) == ["SRV008070"]
    assert codes(
        run(bills, "importAcknowledgment", cancel_acks(ack_cancellation(small["GUID"], pd_id)))
    ) == ["HCS004015"]
    # the notice of the withdrawn document can still be matched as impossible
    ok(run(bills, "importAcknowledgment", import_acks(ack_impossible(small["GUID"]))))
    assert exported_notices(bills, PaymentDocumentID=spare_id)[small["GUID"]]["AckStatus"] == 5


def test_demo_runs_the_money_path(stand: Any) -> None:
    rows = stand.demo("--houses", "1", "--flats", "4")
    assert rows["documents"] == ["4", "4", "0"]
    assert rows["notices"] == ["4", "4", "0"]  # in full, half, none, in full + a mistaken one
    assert rows["cancellations"] == ["1", "1", "0"]
    assert rows["acknowledgments"] == ["7", "7", "0"]
    assert [rows[s][0] for s in ("paid", "partly paid", "unpaid")] == ["2", "1", "1"]
    due, paid = (Decimal(x) for x in rows["partly paid"][1:3])
    assert paid == due / 2

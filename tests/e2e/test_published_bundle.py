"""The gateway started on the published format bundle: zeep clients built from the published
WSDLs it serves run the house, readings and payments flows; unknown versions are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from lxml import etree
from zeep.exceptions import Fault

from tests.e2e.account_data import account as acc
from tests.e2e.account_data import premises
from tests.e2e.contract_data import place_contract, place_offer
from tests.e2e.flows import (
    accounts,
    codes,
    exported_document,
    exported_notices,
    import_ok,
    ok,
    place,
    run,
    uo_house,
)
from tests.e2e.house_data import export_request, new_apartment_house
from tests.e2e.metering_data import (
    collective_water_device,
    devices_request,
    values_request,
    water_reading,
)
from tests.e2e.payment_data import (
    COLD_WATER,
    TODAY,
    ack,
    cancel_notices,
    document,
    import_acks,
    import_notices,
    notice,
    order_id,
    tg,
)
from tests.gis_client import SOAP_ENV, GisClient, Received, fault_code, recording
from tests.paths import BILLS_PATH, DM_PATH, HM_PATH, PAYMENT_PATH
from tests.stand import REFERENCE, Stand, make_stand


@pytest.fixture(scope="module")
def bundle_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """A gateway serving the published formats: a management company (``org``) and a bank."""
    if not REFERENCE.exists():
        pytest.skip(
            f"published formats not found at {REFERENCE} (present only beside the project's shared/ folder)"
        )
    orgs = {
        "uo": ("0a1b2c3d-0000-4000-8000-0000000000b1", "uo", "UK Bundle"),
        "bank": ("0a1b2c3d-0000-4000-8000-0000000000b2", "bank", "Bank"),
        "rso": ("0a1b2c3d-0000-4000-8000-0000000000b3", "rso", "Vodokanal"),
    }
    stand = make_stand(tmp_path_factory.mktemp("bundle"), orgs=orgs)
    try:
        stand.serve({"GATEWAY_FORMATS_DIR": str(REFERENCE)})
        yield stand
    finally:
        stand.stop_all()


def test_served_wsdl_is_the_published_one_for_our_operations(bundle_stand) -> None:
    server = bundle_stand.server
    wsdl = requests.get(server.endpoint(HM_PATH) + "?wsdl", timeout=30).text
    assert 'name="importHouseUOData"' in wsdl and 'name="importContractData"' in wsdl
    assert (
        'name="importHouseRSOData"' not in wsdl
        and 'name="importPublicPropertyContract"' not in wsdl
    )
    assert f'location="{server.endpoint(HM_PATH)}"' in wsdl
    assert "/contract/formats-16.3.0.0/house-management/hcs-house-management-types.xsd" in wsdl


def test_house_and_readings_flows_with_clients_from_the_published_wsdl(bundle_stand) -> None:
    server, org = bundle_stand.server, bundle_stand.org
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    dm = GisClient(server.endpoint(DM_PATH) + "?wsdl", org, password=org.password)
    fias = str(uuid.uuid4())
    place_contract(hm, fias)
    state = hm.wait(hm.ack_guid(hm.call("importHouseUOData", **new_apartment_house(fias, flats=2))))
    assert all(
        r["Error"] in (None, []) for res in state["ImportResult"] for r in res["CommonResult"]
    )
    exported = hm.wait(hm.ack_guid(hm.call("exportHouseData", **export_request(fias))))
    assert (
        exported["exportHouseResult"]["ApartmentHouse"]["BasicCharacteristicts"]["FIASHouseGuid"]
        == fias
    )

    devices = hm.wait(
        hm.ack_guid(
            hm.call(
                "importMeteringDeviceData",
                **devices_request(fias, [collective_water_device(fias, "P-1")]),
            )
        )
    )
    root = devices["ImportResult"][0]["CommonResult"][0]["importMeteringDevice"][
        "MeteringDeviceGUID"
    ]
    readings = dm.wait(
        dm.ack_guid(
            dm.call(
                "importMeteringDeviceValues",
                **values_request([water_reading(root, "101.5", date.today() - timedelta(days=1))]),
            )
        )
    )
    assert readings["ImportResult"][0]["Error"] in (None, [])


def test_contracts_bind_a_manager_and_a_supplier_without_any_extension(bundle_stand) -> None:
    """The company's contract and the supplier's offer, clients from the published WSDL: the
    supplier keeps an account in the company's house with no importHouseRSOData; every answer
    is valid under the published schema."""
    server, org, rso_org = bundle_stand.server, bundle_stand.org, bundle_stand.orgs["rso"]
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    rso = GisClient(server.endpoint(HM_PATH) + "?wsdl", rso_org, password=rso_org.password)
    hm_received, rso_received = recording(hm), recording(rso)
    house = str(uuid.uuid4())
    flats, _ = uo_house(hm, house, flats=2)
    offer = place_offer(rso, house)
    (kept,) = import_ok(rso, acc(premises(flats["1"]), kind="isRSOAccount"))
    assert kept["UniqueNumber"]
    status = run(
        hm,
        "exportBriefSupplyResourceContract",
        {"version": "13.1.1.1", "Criteria": [{"FIASHouseGuid": house}]},
    )
    (brief,) = status["exportBriefSupplyResourceContractResult"]
    assert [c["ContractRootGUID"] for c in brief["Contract"]] == [offer["ContractRootGUID"]]
    assert published_results(hm_received, "house-management")
    assert published_results(rso_received, "house-management")


def test_served_bills_and_payment_wsdls_are_the_published_ones_trimmed(bundle_stand) -> None:
    server = bundle_stand.server
    bills = requests.get(server.endpoint(BILLS_PATH) + "?wsdl", timeout=30).text
    for name in (
        "importPaymentDocumentData",
        "exportPaymentDocumentData",
        "exportNotificationsOfOrderExecution",
        "importAcknowledgment",
        "getState",
    ):
        assert f'name="{name}"' in bills, name
    assert 'name="importInsuranceProduct"' not in bills  # published, not served
    assert f'location="{server.endpoint(BILLS_PATH)}"' in bills
    assert "/contract/formats-16.3.0.0/bills/hcs-bills-types.xsd" in bills
    payment = requests.get(server.endpoint(PAYMENT_PATH) + "?wsdl", timeout=30).text
    for name in (
        "importNotificationsOfOrderExecution",
        "importNotificationsOfOrderExecutionCancellation",
        "importSupplierNotificationsOfOrderExecution",
        "getState",
    ):
        assert f'name="{name}"' in payment, name
    assert 'name="exportPaymentDocumentDetails"' not in payment
    assert f'location="{server.endpoint(PAYMENT_PATH)}"' in payment
    assert "/contract/formats-16.3.0.0/payment/hcs-payment-types.xsd" in payment


def published_results(received: Received, service: str) -> list[etree._Element]:
    """The processed getStateResult bodies received (RequestState 3), each validated against
    the published types XSD."""
    schema = etree.XMLSchema(etree.parse(str(REFERENCE / service / f"hcs-{service}-types.xsd")))
    found = []
    for envelope in received.envelopes:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
        if etree.QName(body).localname != "getStateResult":
            continue
        assert schema.validate(body), (service, str(schema.error_log))
        if body.findtext(".//{*}RequestState") == "3":
            found.append(body)
    return found


def test_payments_flow_with_clients_from_the_published_wsdls(bundle_stand) -> None:
    """document ► bank notice ► the company sees it ► acknowledges ► the document shows paid;
    a cancelled notice can no longer be acknowledged."""
    server, org, bank_org = bundle_stand.server, bundle_stand.org, bundle_stand.orgs["bank"]
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    bills = GisClient(server.endpoint(BILLS_PATH) + "?wsdl", org, password=org.password)
    bank = GisClient(server.endpoint(PAYMENT_PATH) + "?wsdl", bank_org, password=bank_org.password)
    bills_received, bank_received = recording(bills), recording(bank)

    # prerequisites: a house and two personal accounts of the company
    paying, cancelling = accounts(hm, 2)
    key = tg()
    first = document(paying["GUID"], key, housing="855.00", water="356.08")
    second = document(cancelling["GUID"], key, housing="500.00")
    placed = place(bills, 2024, 5, first, second, key=key)
    assert [p["TransportGUID"] for p in placed] == [first["TransportGUID"], second["TransportGUID"]]
    pd_paid, pd_cancelled = (p["UniqueNumber"] for p in placed)
    assert pd_paid == f"{paying['UniqueNumber']}-01-0524"
    assert pd_cancelled == f"{cancelling['UniqueNumber']}-01-0524"
    total = 85500 + 35608  # kopecks
    assert exported_document(bills, pd_paid)["PaidCash"] == Decimal("0.00")

    # the bank posts a payment for each document
    paid_order, cancelled_order = order_id(), order_id()
    posted = ok(
        run(
            bank,
            "importNotificationsOfOrderExecution",
            import_notices(
                notice(total, pd_id=pd_paid, order=paid_order),
                notice(30000, pd_id=pd_cancelled, order=cancelled_order),
            ),
        )
    )
    assert [p["UniqueNumber"] for p in posted] == [paid_order, cancelled_order]
    paid_notice, cancelled_notice = (p["GUID"] for p in posted)
    assert paid_notice != cancelled_notice

    # the company sees the notice, not yet acknowledged
    found = exported_notices(bills, PaymentDocumentID=pd_paid)
    assert list(found) == [paid_notice]
    item = found[paid_notice]
    assert item["AckStatus"] == 0 and item["AcknowledgmentAmount"] == 0
    assert item["OrderInfo"]["OrderID"] == paid_order
    assert int(item["OrderInfo"]["Amount"]) == total
    assert item["OrderInfo"]["PaymentDocumentID"] == pd_paid
    assert item["orgPPAGUID"] == bank_org.guid

    # it acknowledges the whole amount, service by service
    acked = ok(
        run(
            bills,
            "importAcknowledgment",
            import_acks(
                ack(paid_notice, pd_paid, "855.00"),
                ack(paid_notice, pd_paid, "356.08", kind="MSType", ref=COLD_WATER["GUID"]),
            ),
        )
    )
    assert [r["GUID"] for r in acked] == [paid_notice, paid_notice]
    item = exported_notices(bills, PaymentDocumentID=pd_paid)[paid_notice]
    assert item["AckStatus"] == 2 and item["AcknowledgmentAmount"] == total
    shown = exported_document(bills, pd_paid)
    assert shown["PaymentDocumentID"] == pd_paid
    assert shown["PaidCash"] == Decimal("1211.08")
    assert shown["DateOfLastReceivedPayment"] == TODAY

    # the other payment is cancelled by the bank: acknowledging it is refused with its code
    (cancelled,) = ok(
        run(
            bank, "importNotificationsOfOrderExecutionCancellation", cancel_notices(cancelled_order)
        )
    )
    assert cancelled["GUID"] == cancelled_notice
    item = exported_notices(bills, PaymentDocumentID=pd_cancelled)[cancelled_notice]
    assert item["AckStatus"] == 1 and item["AcknowledgmentAmount"] == 0
    assert codes(
        run(
            bills,
            "importAcknowledgment",
            import_acks(ack(cancelled_notice, pd_cancelled, "300.00")),
        )
    ) == ["HCS004010"]
    assert exported_document(bills, pd_cancelled)["PaidCash"] == Decimal("0.00")
    assert exported_document(bills, pd_paid)["PaidCash"] == Decimal("1211.08")

    # every processed result the two clients read conforms to the published schema
    assert len(published_results(bills_received, "bills")) == 10
    assert len(published_results(bank_received, "payment")) == 2


def test_a_version_the_bundle_does_not_know_is_refused_with_the_accepted_ones(bundle_stand) -> None:
    server, org = bundle_stand.server, bundle_stand.org
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    request = new_apartment_house(str(uuid.uuid4()), flats=1)
    request["version"] = "99.0.0.1"
    with pytest.raises(Fault) as fault:
        hm.call("importHouseUOData", **request)
    assert fault_code(fault.value) == "FMT001310"
    assert "11.0.10.1, 13.2.3.2" in str(fault.value.message)


def test_an_operation_the_bundle_lacks_is_refused(bundle_stand) -> None:
    server, org = bundle_stand.server, bundle_stand.org
    from lxml import etree

    from gateway.client import envelope
    from signing import sign
    from signing.pki import load_certificate, load_private_key
    from tests.stand import ROOT

    element = etree.parse(
        str(ROOT / "examples" / "house-management" / "importHouseRSOData.xml")
    ).getroot()
    env = envelope(element, org.guid)
    sign(element, load_private_key(org.key), load_certificate(org.cert))
    response = requests.post(
        server.endpoint(HM_PATH),
        data=etree.tostring(env),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:importHouseRSOData"},
        timeout=30,
    )
    assert response.status_code == 500
    assert (
        b"FMT001310" in response.content and b"not in the loaded format bundle" in response.content
    )

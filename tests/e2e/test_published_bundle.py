"""The gateway started on the published format bundle: zeep clients built from the published
WSDLs it serves run the house and readings flows; unknown versions are refused."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import requests
from zeep.exceptions import Fault

from tests.conftest import REFERENCE, gateway_cli, register_org, start_server, stop_server
from tests.e2e.house_data import export_request, new_apartment_house
from tests.e2e.metering_data import (
    collective_water_device,
    devices_request,
    values_request,
    water_reading,
)
from tests.gis_client import GisClient, fault_code

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"
DM_PATH = "/ext-bus-device-metering-service/services/DeviceMeteringAsync"


@pytest.fixture(scope="module")
def bundle_stand(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not REFERENCE.exists():
        pytest.skip(
            f"published formats not found at {REFERENCE} (present only beside the project's shared/ folder)"
        )
    base = tmp_path_factory.mktemp("bundle")
    data_dir, pki_dir = base / "data", base / "pki"
    gateway_cli("pki", "init", "--out", str(pki_dir / "ca"))
    gateway_cli("trust", "add", str(pki_dir / "ca" / "ca.pem"), "--data-dir", str(data_dir))
    org = register_org(data_dir, pki_dir, "0a1b2c3d-0000-4000-8000-0000000000b1", "uo", "UK Bundle")
    server = start_server(data_dir, {"GATEWAY_FORMATS_DIR": str(REFERENCE)})
    try:
        yield server, org
    finally:
        stop_server(server)


def test_served_wsdl_is_the_published_one_for_our_operations(bundle_stand) -> None:
    server, _ = bundle_stand
    wsdl = requests.get(server.endpoint(HM_PATH) + "?wsdl", timeout=30).text
    assert 'name="importHouseUOData"' in wsdl and 'name="importContractData"' not in wsdl
    assert f'location="{server.endpoint(HM_PATH)}"' in wsdl
    assert "/contract/formats-16.3.0.0/house-management/hcs-house-management-types.xsd" in wsdl


def test_house_and_readings_flows_with_clients_from_the_published_wsdl(bundle_stand) -> None:
    server, org = bundle_stand
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    dm = GisClient(server.endpoint(DM_PATH) + "?wsdl", org, password=org.password)
    fias = str(uuid.uuid4())
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


def test_a_version_the_bundle_does_not_know_is_refused_with_the_accepted_ones(bundle_stand) -> None:
    server, org = bundle_stand
    hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    request = new_apartment_house(str(uuid.uuid4()), flats=1)
    request["version"] = "99.0.0.1"
    with pytest.raises(Fault) as fault:
        hm.call("importHouseUOData", **request)
    assert fault_code(fault.value) == "FMT001310"
    assert "11.0.10.1, 13.2.3.2" in str(fault.value.message)


def test_an_operation_the_bundle_lacks_is_refused(bundle_stand) -> None:
    server, org = bundle_stand
    from lxml import etree

    from gateway.client import envelope
    from signing import sign
    from signing.pki import load_certificate, load_private_key
    from tests.conftest import ROOT

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

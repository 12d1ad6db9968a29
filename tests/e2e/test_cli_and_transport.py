"""The README quickstart through the real CLI, the transport guard and the served contract."""

from __future__ import annotations

import uuid
from pathlib import Path

import requests
import zeep
from lxml import etree

from signing import verify
from tests.paths import HM_PATH as PATH
from tests.stand import ROOT, gateway_cli

EXAMPLES = ROOT / "examples" / "house-management"


def _client(stand, *args: str) -> str:
    return gateway_cli("client", "send", *stand.client_args("uo"), *args)


def test_quickstart_import_and_export_through_the_cli(stand, tmp_path: Path) -> None:
    house = str(uuid.uuid4())
    # first the management contract of the house: the company manages it once it is placed
    contract = tmp_path / "contract.xml"
    contract.write_text(
        (EXAMPLES / "importContractData.xml")
        .read_text(encoding="utf-8")
        .replace("5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c", house),
        encoding="utf-8",
    )
    out = _client(stand, "--wait", str(contract))
    assert "ContractStatus>Approved<" in out and "Error>" not in out
    example = (EXAMPLES / "importHouseUOData.xml").read_text(encoding="utf-8")
    packet = tmp_path / "house.xml"
    packet.write_text(
        example.replace("5B4A9C2E-3F1D-4E8A-9B7C-1D2E3F4A5B6C", house), encoding="utf-8"
    )
    out = _client(stand, "--wait", str(packet))
    message_guid = out.splitlines()[0].strip()
    assert uuid.UUID(message_guid)
    assert "<RequestState>3</RequestState>" in out.replace("base:", "").replace("ns0:", "")
    assert "CommonResult" in out and "Error>" not in out

    export = tmp_path / "export.xml"
    export.write_text(
        (EXAMPLES / "exportHouseData.xml")
        .read_text()
        .replace("5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c", house)
    )
    out = _client(stand, "--wait", str(export))
    assert house in out and "HouseUniqueNumber" in out

    state = gateway_cli("client", "state", *stand.client_args("uo", signing=False), message_guid)
    assert message_guid in state and "RequestState>3<" in state


def test_dump_envelope_writes_a_verifiable_signed_envelope(stand, tmp_path: Path) -> None:
    out_file = tmp_path / "envelope.xml"
    _client(stand, "--dump-envelope", str(out_file), str(EXAMPLES / "importHouseUOData.xml"))
    root = etree.parse(str(out_file)).getroot()
    body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert (
        root.find(".//{http://dom.gosuslugi.ru/schema/integration/base/}RequestHeader") is not None
    )
    verified = verify(body)
    assert verified.certificate.subject.rfc4514_string().find(stand["orgs"]["uo"].guid) >= 0


def test_orgs_list_shows_registered_organisations(stand) -> None:
    out = gateway_cli("orgs", "list", "--data-dir", str(stand["data_dir"]))
    for org in stand["orgs"].values():
        assert org.guid in out


def test_oversized_body_is_refused_before_parsing(stand) -> None:
    response = requests.post(
        stand["server"].endpoint(PATH),
        data=b"<a>" + b"x" * (11 * 1024 * 1024) + b"</a>",
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:importHouseUOData"},
        timeout=60,
    )
    assert response.status_code == 413
    assert b"FMT001300" in response.content


def test_non_soap_content_type_is_refused(stand) -> None:
    response = requests.post(
        stand["server"].endpoint(PATH),
        data=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 500
    assert b"FMT001301" in response.content


def test_served_wsdl_points_at_this_server_and_builds_a_client(stand) -> None:
    url = stand["server"].endpoint(PATH)
    wsdl = requests.get(url + "?wsdl", timeout=10).content
    assert f'location="{url}"'.encode() in wsdl
    client = zeep.Client(url + "?wsdl")
    operations = set(client.service._binding._operations)
    assert {"importHouseUOData", "exportHouseData", "getState"} <= operations


def test_demo_onboards_a_house_through_the_soap_api(stand) -> None:
    rows = stand.demo("--houses", "1", "--flats", "4")
    # the company's management contract and the supplier's offer come first
    assert rows["contract"] == ["1", "1", "0"]
    assert rows["supply"] == ["1", "1", "0"]
    assert rows["house"] == ["6", "6", "0"]  # house + entrance + 4 flats
    assert rows["accounts"] == ["4", "4", "0"]
    assert rows["devices"] == ["4", "4", "0"]
    assert rows["readings"] == ["4", "4", "0"]
    assert rows["history"] == ["1", "1", "0"]

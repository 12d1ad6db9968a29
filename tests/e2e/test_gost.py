"""GOST end to end over HTTP: a GOST CA trusted with `gateway trust add`, an organisation
registered with its GOST certificate, packets signed as production clients sign them (the
CLI client, a .NET WCF-shaped envelope, zeep through `gateway demo --algorithm`)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from lxml import etree

from gateway.client import GatewayClient, find_target
from gateway.namespaces import BASE, SOAP_ENV
from signing import gost, sign
from signing.algorithms import C14N, Digest
from signing.pki import load_certificate, load_private_key
from tests.stand import ROOT, Org, Stand, gateway_cli, make_stand, start_server, stop_server

pytestmark = pytest.mark.skipif(not gost.available(), reason=f"{gost.unavailable_reason()}")

EXAMPLE = ROOT / "examples" / "house-management" / "importHouseUOData.xml"
EXAMPLE_HOUSE = "5B4A9C2E-3F1D-4E8A-9B7C-1D2E3F4A5B6C"
CONTRACT_EXAMPLE = ROOT / "examples" / "house-management" / "importContractData.xml"
WCF = "http://schemas.microsoft.com/ws/2005/05/addressing/none"


@pytest.fixture(scope="module")
def gost_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    orgs = {"uo": (str(uuid.uuid4()), "uo", "UK GOST")}
    stand = make_stand(tmp_path_factory.mktemp("gost-stand"), orgs=orgs, algorithm="gost2012-256")
    try:
        stand.serve()
        yield stand
    finally:
        stand.stop_all()


def house_packet(tmp_path: Path, house: str | None = None) -> tuple[Path, str]:
    house = house or str(uuid.uuid4())
    packet = tmp_path / "house.xml"
    text = EXAMPLE.read_text(encoding="utf-8").replace(EXAMPLE_HOUSE, house)
    packet.write_text(text, encoding="utf-8")
    return packet, house


def contract_packet(tmp_path: Path, house: str | None = None) -> tuple[Path, str]:
    """The example management contract, of a new house: always placed without an error."""
    house = house or str(uuid.uuid4())
    packet = tmp_path / f"contract-{house[:8]}.xml"
    text = CONTRACT_EXAMPLE.read_text(encoding="utf-8").replace(EXAMPLE_HOUSE.lower(), house)
    packet.write_text(text, encoding="utf-8")
    return packet, house


def test_organisation_key_is_gost(gost_stand) -> None:
    org: Org = gost_stand.org
    assert isinstance(load_private_key(org.key), gost.PrivateKey)
    oid = load_certificate(org.cert).signature_algorithm_oid.dotted_string
    assert oid == "1.2.643.7.1.1.3.2"  # signed by the GOST CA with Streebog-256


def test_house_import_signed_with_gost_is_acked_and_processed(gost_stand, tmp_path) -> None:
    contract, house = contract_packet(tmp_path)
    gateway_cli("client", "send", *gost_stand.client_args(), "--wait", str(contract))
    packet, _ = house_packet(tmp_path, house)
    out = gateway_cli("client", "send", *gost_stand.client_args(), "--wait", str(packet))
    assert uuid.UUID(out.splitlines()[0].strip())
    assert "<RequestState>3</RequestState>" in out.replace("base:", "").replace("ns0:", "")
    assert "CommonResult" in out and "Error>" not in out


def wcf_envelope(element: etree._Element, org_guid: str, action: str) -> bytes:
    """What a .NET WCF client writes: its Action header (mustUnderstand) and a RequestHeader
    in a default namespace."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
    header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    block = etree.SubElement(header, f"{{{WCF}}}Action", nsmap={None: WCF})
    block.set(f"{{{SOAP_ENV}}}mustUnderstand", "1")
    block.text = action
    request_header = etree.SubElement(
        header, f"{{{BASE}}}RequestHeader", nsmap={"h": BASE, None: BASE}
    )
    etree.SubElement(request_header, f"{{{BASE}}}Date").text = datetime.now(UTC).isoformat(
        timespec="milliseconds"
    )
    etree.SubElement(request_header, f"{{{BASE}}}MessageGUID").text = str(uuid.uuid4())
    etree.SubElement(request_header, f"{{{BASE}}}orgPPAGUID").text = org_guid
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    body.append(element)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def post_wcf(stand, tmp_path: Path, action: str, *, extra_header: str | None = None):
    org: Org = stand.org
    packet, _ = contract_packet(tmp_path)
    element = etree.fromstring(packet.read_bytes())
    # The production capture: inclusive c14n of SignedInfo, Streebog-256 on the data and
    # GOST R 34.11-94 on a SignedProperties reference without Transforms.
    sign(
        element,
        load_private_key(org.key),
        load_certificate(org.cert),
        signedinfo_c14n=C14N.INCLUSIVE,
        data_digest=Digest.GOSTR3411_2012_256,
        properties_digest=Digest.GOSTR3411_94,
        properties_transforms=False,
        issuer_name_style="oid",
    )
    body = wcf_envelope(element, org.guid, action)
    if extra_header:
        body = body.replace(b"</s:Header>", extra_header.encode() + b"</s:Header>")
    target = find_target(element)
    response = requests.post(
        stand.server.url + target.service.path,
        data=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f"urn:{target.operation.name}",
        },
        auth=(org.guid, org.password),
        timeout=60,
    )
    return response, target


def test_wcf_envelope_with_a_production_gost_signature(gost_stand, tmp_path) -> None:
    response, target = post_wcf(gost_stand, tmp_path, "urn:importContractData")
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    message_guid = root.findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID")
    org: Org = gost_stand.org
    client = GatewayClient(gost_stand.server.url, org.guid, org.password)
    result = client.wait(target.service, message_guid or "", timeout=120)
    assert result.findtext(f"{{{BASE}}}RequestState") == "3"
    assert b"ErrorCode" not in etree.tostring(result)


def fault_code(response: requests.Response) -> str | None:
    return etree.fromstring(response.content).findtext(f".//{{{BASE}}}ErrorCode")


def test_wcf_action_naming_another_operation_is_refused(gost_stand, tmp_path) -> None:
    response, _ = post_wcf(gost_stand, tmp_path, "urn:importAccountData")
    assert response.status_code == 500
    assert fault_code(response) == "FMT001310"
    assert "WCF Action" in response.text


def test_other_must_understand_headers_keep_their_fault(gost_stand, tmp_path) -> None:
    response, _ = post_wcf(
        gost_stand,
        tmp_path,
        "urn:importContractData",
        extra_header=(
            f'<x:Security xmlns:x="urn:example:security" s:mustUnderstand="1" '
            f'xmlns:s="{SOAP_ENV}"/>'
        ),
    )
    assert fault_code(response) == "FMT001301"
    assert "mustUnderstand" in response.text


def test_demo_runs_on_gost_keys(gost_stand) -> None:
    rows = gost_stand.demo("--houses", "1", "--flats", "2", "--algorithm", "gost2012-512")
    # gateway_cli fails the test on a non-zero exit: the demo exits 1 on any error.
    assert "house" in rows
    ca_dir = gost_stand.data_dir / "demo-pki" / "ca-gost2012-512"
    key = load_private_key(ca_dir / "ca.key")
    assert isinstance(key, gost.PrivateKey) and key.key_size == 512


def test_server_without_the_engine_names_what_it_lacks(gost_stand, tmp_path) -> None:
    server = start_server(gost_stand.data_dir, {"GATEWAY_DISABLE_GOST": "1"})
    try:
        response, _ = post_wcf(
            dataclasses.replace(gost_stand, server=server), tmp_path, "urn:importContractData"
        )
    finally:
        stop_server(server)
    assert fault_code(response) == "AUT011005"
    assert "libengine-gost-openssl" in response.text
    assert "gostr34102012-gostr34112012-256" in response.text

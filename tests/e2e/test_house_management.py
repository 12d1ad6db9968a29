"""End to end through a real gunicorn server and a zeep client built from the served WSDL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests
from lxml import etree
from sqlalchemy import create_engine, select
from zeep.exceptions import Fault

from gateway.client import envelope
from persistence.models import House, Packet
from signing import sign
from signing.pki import init_ca, issue, load_certificate, load_private_key
from tests.e2e.contract_data import end_contract, place_contract
from tests.e2e.house_data import export_request, new_apartment_house, tg, update_apartment_house
from tests.gis_client import BASE, HM, GisClient, fault_code
from tests.paths import HM_PATH as PATH
from tests.stand import REFERENCE


@pytest.fixture(scope="module")
def wsdl(stand) -> str:
    return stand["server"].endpoint(PATH) + "?wsdl"


@pytest.fixture(scope="module")
def uo(stand, wsdl) -> GisClient:
    org = stand["orgs"]["uo"]
    return GisClient(wsdl, org, password=org.password)


def fias() -> str:
    return str(uuid.uuid4())


def db(stand):
    return create_engine(f"sqlite:///{stand['data_dir'] / 'gateway.sqlite3'}")


def common_results(state) -> list:
    return [item for result in state["ImportResult"] for item in result["CommonResult"]]


def managed(uo: GisClient) -> str:
    """A new house the company manages by a placed management contract."""
    house = fias()
    place_contract(uo, house)
    return house


def test_house_import_is_acknowledged_processed_and_exported(uo: GisClient) -> None:
    house = managed(uo)
    ack = uo.call(
        "importHouseUOData", **new_apartment_house(house, entrances=2, flats=4, rooms_in_first=2)
    )
    message_guid = uo.ack_guid(ack)
    assert uuid.UUID(message_guid)

    state = uo.wait(message_guid)
    assert int(state["RequestState"]) == 3
    results = common_results(state)
    # house + 1 non-residential + 2 entrances + 4 flats + 2 rooms
    assert len(results) == 10
    assert all(r["Error"] in (None, []) for r in results), [r["Error"] for r in results]
    house_result = results[0]
    assert house_result["GUID"] == house  # the format returns FIASHouseGuid for the house item
    assert house_result["UniqueNumber"]

    export_state = uo.wait(uo.ack_guid(uo.call("exportHouseData", **export_request(house))))
    exported = export_state["exportHouseResult"]
    assert exported["HouseUniqueNumber"] == house_result["UniqueNumber"]
    apartment = exported["ApartmentHouse"]
    assert apartment["BasicCharacteristicts"]["FIASHouseGuid"] == house
    assert apartment["BasicCharacteristicts"]["FloorCount"] == "9"
    assert sorted(e["EntranceNum"] for e in apartment["Entrance"]) == ["1", "2"]
    assert sorted(p["PremisesNum"] for p in apartment["ResidentialPremises"]) == [
        "1",
        "2",
        "3",
        "4",
    ]
    flat1 = next(p for p in apartment["ResidentialPremises"] if p["PremisesNum"] == "1")
    assert sorted(r["RoomNumber"] for r in flat1["LivingRoom"]) == ["1", "2"]
    assert [p["PremisesNum"] for p in apartment["NonResidentialPremises"]] == ["1Н"]


def test_update_with_one_bad_item_keeps_the_good_ones(uo: GisClient) -> None:
    house = managed(uo)
    create = new_apartment_house(house, flats=2)
    flat_tg = create["ApartmentHouse"]["ResidentialPremises"][0]["ResidentialPremisesToCreate"][
        "TransportGUID"
    ]
    state = uo.wait(uo.ack_guid(uo.call("importHouseUOData", **create)))
    flat_guid = next(r["GUID"] for r in common_results(state) if r["TransportGUID"] == flat_tg)

    unknown = str(uuid.uuid4())
    good_tg, bad_tg = tg(), tg()
    request = update_apartment_house(
        house,
        ResidentialPremises=[
            {
                "ResidentialPremisesToUpdate": {
                    "No_RSO_GKN_EGRP_Registered": True,
                    "TotalArea": "60.00",
                    "EntranceNum": "1",
                    "TransportGUID": good_tg,
                    "PremisesGUID": flat_guid,
                }
            },
            {
                "ResidentialPremisesToUpdate": {
                    "No_RSO_GKN_EGRP_Registered": True,
                    "TotalArea": "10.00",
                    "EntranceNum": "1",
                    "TransportGUID": bad_tg,
                    "PremisesGUID": unknown,
                }
            },
        ],
    )
    results = {
        r["TransportGUID"]: r
        for r in common_results(uo.wait(uo.ack_guid(uo.call("importHouseUOData", **request))))
    }
    assert results[good_tg]["Error"] in (None, [])
    assert results[good_tg]["GUID"] == flat_guid
    assert results[bad_tg]["Error"][0]["ErrorCode"] == "INT002000"
    assert unknown in results[bad_tg]["Error"][0]["Description"]

    exported = uo.wait(uo.ack_guid(uo.call("exportHouseData", **export_request(house))))[
        "exportHouseResult"
    ]
    assert exported["ApartmentHouse"]["BasicCharacteristicts"]["FloorCount"] == "10"
    flat = next(
        p
        for p in exported["ApartmentHouse"]["ResidentialPremises"]
        if p["PremisesGUID"] == flat_guid
    )
    assert str(flat["TotalArea"]) in ("60.00", "60")


def test_creating_an_existing_house_is_a_per_item_error(uo: GisClient) -> None:
    house = managed(uo)
    uo.wait(uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=1))))
    results = common_results(
        uo.wait(uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=1))))
    )
    assert results[0]["Error"][0]["ErrorCode"] == "HCS001001"
    # the children of a refused house are refused too, each with its own result
    assert {r["Error"][0]["ErrorCode"] for r in results[1:]} == {"HCS001004"}


def test_house_of_another_company_cannot_be_updated(stand, wsdl, uo: GisClient) -> None:
    house = managed(uo)
    uo.wait(uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=1))))
    other = stand["orgs"]["uo2"]
    intruder = GisClient(wsdl, other, password=other.password)
    results = common_results(
        intruder.wait(
            intruder.ack_guid(intruder.call("importHouseUOData", **update_apartment_house(house)))
        )
    )
    assert results[0]["Error"][0]["ErrorCode"] == "AUT011003"


def test_a_house_without_a_placed_contract_is_refused(uo: GisClient) -> None:
    house = fias()
    results = common_results(
        uo.wait(uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=1))))
    )
    assert results[0]["Error"][0]["ErrorCode"] == "AUT011003"
    assert "importContractData" in results[0]["Error"][0]["Description"]
    # placed, the contract lets the company describe the house; ended, it no longer does
    contract = place_contract(uo, house)
    created = common_results(
        uo.wait(uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=1))))
    )
    assert all(r["Error"] in (None, []) for r in created)
    end_contract(uo, contract)
    results = common_results(
        uo.wait(uo.ack_guid(uo.call("importHouseUOData", **update_apartment_house(house))))
    )
    assert results[0]["Error"][0]["ErrorCode"] == "AUT011003"


def test_export_of_unknown_house_reports_nothing_to_export(uo: GisClient) -> None:
    state = uo.wait(uo.ack_guid(uo.call("exportHouseData", **export_request(fias()))))
    assert state["ErrorMessage"]["ErrorCode"] == "INT002012"


# --- refusals --------------------------------------------------------------------------


def _rejected_count(stand) -> int:
    with db(stand).connect() as conn:
        return len(conn.execute(select(Packet.id).where(Packet.state == "rejected")).all())


def _house_exists(stand, fias_guid: str) -> bool:
    with db(stand).connect() as conn:
        return (
            conn.execute(select(House.guid).where(House.fias_house_guid == fias_guid)).first()
            is not None
        )


def test_tampered_packet_is_refused_and_nothing_is_processed(stand, wsdl) -> None:
    org = stand["orgs"]["uo"]
    client = GisClient(wsdl, org, password=org.password)
    house = fias()

    def tamper(env: etree._Element) -> None:
        env.find(f".//{{{HM}}}FloorCount").text = "99"

    client.plugin.tamper = tamper
    before = _rejected_count(stand)
    with pytest.raises(Fault) as fault:
        client.call("importHouseUOData", **new_apartment_house(house, flats=1))
    assert fault_code(fault.value) == "AUT011005"
    assert (
        "digest" in str(fault.value.message).lower()
        or "digest" in etree.tostring(fault.value.detail, encoding="unicode").lower()
    )
    assert _rejected_count(stand) == before + 1
    assert not _house_exists(stand, house)


def test_certificate_from_an_untrusted_ca_is_refused(stand, wsdl, tmp_path: Path) -> None:
    org = stand["orgs"]["uo"]
    init_ca(tmp_path / "rogue-ca")
    issue(tmp_path / "rogue-ca", org.guid, tmp_path / "rogue")
    client = GisClient(
        wsdl,
        org,
        password=org.password,
        key=tmp_path / "rogue" / "key.pem",
        cert=tmp_path / "rogue" / "cert.pem",
    )
    with pytest.raises(Fault) as fault:
        client.call("importHouseUOData", **new_apartment_house(fias(), flats=1))
    assert fault_code(fault.value) == "AUT011004"


def test_certificate_of_another_organisation_is_refused(stand, wsdl) -> None:
    org, other = stand["orgs"]["uo"], stand["orgs"]["uo2"]
    client = GisClient(wsdl, org, password=org.password, key=other.key, cert=other.cert)
    with pytest.raises(Fault) as fault:
        client.call("importHouseUOData", **new_apartment_house(fias(), flats=1))
    assert fault_code(fault.value) == "AUT011004"
    assert org.guid in str(fault.value.message)


def test_expired_certificate_is_refused(stand, wsdl, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.cli import main  # noqa: F401 - the CLI registers certificates the same way
    from tests.stand import gateway_cli

    guid = "0a1b2c3d-0000-4000-8000-0000000000e1"
    issue(
        stand["pki"] / "ca",
        guid,
        tmp_path / "old",
        not_before=datetime.now(UTC) - timedelta(days=400),
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    out = gateway_cli(
        "orgs",
        "add",
        "--guid",
        guid,
        "--name",
        "Old",
        "--role",
        "uo",
        "--cert",
        str(tmp_path / "old" / "cert.pem"),
        "--password",
        "pw-old",
        "--data-dir",
        str(stand["data_dir"]),
    )
    assert "registered" in out
    org = type(stand["orgs"]["uo"])(
        guid, "uo", "pw-old", tmp_path / "old" / "key.pem", tmp_path / "old" / "cert.pem"
    )
    with pytest.raises(Fault) as fault:
        GisClient(wsdl, org, password="pw-old").call(
            "importHouseUOData", **new_apartment_house(fias(), flats=1)
        )
    assert fault_code(fault.value) == "AUT011004"
    assert "expired" in str(fault.value.message)


def test_role_not_allowed(stand, wsdl) -> None:
    bank = stand["orgs"]["bank"]
    with pytest.raises(Fault) as fault:
        GisClient(wsdl, bank, password=bank.password).call(
            "importHouseUOData", **new_apartment_house(fias(), flats=1)
        )
    assert fault_code(fault.value) == "AUT011003"


def _raw_post(
    stand,
    body: bytes,
    *,
    auth=None,
    action: str | None = '"urn:importHouseUOData"',
    content_type: str = "text/xml; charset=utf-8",
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if action is not None:
        headers["SOAPAction"] = action
    return requests.post(
        stand["server"].endpoint(PATH), data=body, headers=headers, auth=auth, timeout=30
    )


def _fault_code_of(response: requests.Response) -> str:
    return etree.fromstring(response.content).findtext(f".//{{{BASE}}}ErrorCode")


def _signed_body(org, element: etree._Element, message_guid: str | None = None) -> bytes:
    env = envelope(element, org.guid, message_guid)
    sign(element, load_private_key(org.key), load_certificate(org.cert))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _example(name: str) -> etree._Element:
    path = Path(__file__).resolve().parents[2] / "examples" / "house-management" / name
    return etree.parse(str(path)).getroot()


def test_malformed_xml_gets_fmt001300(stand) -> None:
    before = _rejected_count(stand)
    response = _raw_post(
        stand,
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>",
    )
    assert response.status_code == 500
    assert _fault_code_of(response) == "FMT001300"
    assert _rejected_count(stand) == before + 1


def test_entity_expansion_is_refused(stand) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><x>&b;</x>'
    response = _raw_post(stand, bomb)
    assert _fault_code_of(response) == "FMT001300"


def test_schema_invalid_packet_gets_fmt001301_with_a_plain_message(stand) -> None:
    org = stand["orgs"]["uo"]
    element = _example("importHouseUOData.xml")
    element.find(f".//{{{HM}}}TotalSquare").text = "3560,5"
    response = _raw_post(stand, _signed_body(org, element))
    assert _fault_code_of(response) == "FMT001301"
    message = etree.fromstring(response.content).findtext(f".//{{{BASE}}}ErrorMessage")
    assert "TotalSquare" in message and "comma" in message


def test_resent_packet_gets_the_same_ack_and_is_processed_once(stand, uo: GisClient) -> None:
    org = stand["orgs"]["uo"]
    element = _example("importHouseUOData.xml")
    house = managed(uo)
    element.find(f".//{{{HM}}}FIASHouseGuid").text = house
    body = _signed_body(org, element)
    first = _raw_post(stand, body)
    second = _raw_post(stand, body)
    assert first.status_code == second.status_code == 200
    ack1 = etree.fromstring(first.content).findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID")
    ack2 = etree.fromstring(second.content).findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID")
    assert ack1 == ack2
    state = uo.wait(ack1)
    assert all(r["Error"] in (None, []) for r in common_results(state))
    with db(stand).connect() as conn:
        accepted = conn.execute(select(Packet.id).where(Packet.message_guid == ack1)).all()
        assert len(accepted) == 1
        assert (
            len(conn.execute(select(House.guid).where(House.fias_house_guid == house)).all()) == 1
        )


def test_reused_message_guid_for_another_packet_is_refused(stand) -> None:
    org = stand["orgs"]["uo"]
    message_guid = str(uuid.uuid4())
    first = _example("exportHouseData.xml")
    assert (
        _raw_post(
            stand, _signed_body(org, first, message_guid), action='"urn:exportHouseData"'
        ).status_code
        == 200
    )
    second = _example("exportHouseData.xml")
    second.find(f"{{{HM}}}FIASHouseGuid").text = fias()
    response = _raw_post(
        stand, _signed_body(org, second, message_guid), action='"urn:exportHouseData"'
    )
    assert _fault_code_of(response) == "FMT001307"


def test_unquoted_soapaction_unprefixed_version_and_foreign_headers_are_accepted(
    stand, uo: GisClient
) -> None:
    org = stand["orgs"]["uo"]
    element = _example("exportHouseData.xml")
    del element.attrib[f"{{{BASE}}}version"]
    element.set("version", "15.10.0.0")
    env = envelope(element, org.guid)
    wsa = etree.SubElement(env[0], "{http://www.w3.org/2005/08/addressing}Action")
    wsa.text = "urn:exportHouseData"
    sign(element, load_private_key(org.key), load_certificate(org.cert), reference_id="foo")
    response = _raw_post(stand, etree.tostring(env), action="urn:exportHouseData")
    assert response.status_code == 200, response.text
    message_guid = etree.fromstring(response.content).findtext(
        f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID"
    )
    assert int(uo.wait(message_guid)["RequestState"]) == 3


def test_version_not_accepted_names_the_accepted_ones(stand) -> None:
    org = stand["orgs"]["uo"]
    element = _example("exportHouseData.xml")
    element.set(f"{{{BASE}}}version", "9.9.9.9")
    response = _raw_post(stand, _signed_body(org, element), action='"urn:exportHouseData"')
    assert _fault_code_of(response) == "FMT001310"
    assert "15.10.0.0" in etree.fromstring(response.content).findtext(f".//{{{BASE}}}ErrorMessage")


def test_unknown_organisation_is_refused(stand, wsdl, tmp_path: Path) -> None:
    guid = "0a1b2c3d-0000-4000-8000-0000000000ff"
    issue(stand["pki"] / "ca", guid, tmp_path / "stranger")
    org = type(stand["orgs"]["uo"])(
        guid, "uo", "x", tmp_path / "stranger" / "key.pem", tmp_path / "stranger" / "cert.pem"
    )
    with pytest.raises(Fault) as fault:
        GisClient(wsdl, org).call("importHouseUOData", **new_apartment_house(fias(), flats=1))
    assert fault_code(fault.value) == "AUT011002"


# --- getState and credentials -------------------------------------------------------------


def test_get_state_of_unknown_or_foreign_message_is_int002013(stand, wsdl, uo: GisClient) -> None:
    message_guid = uo.ack_guid(uo.call("exportHouseData", **export_request(fias())))
    other = stand["orgs"]["uo2"]
    with pytest.raises(Fault) as fault:
        GisClient(wsdl, other, password=other.password).state(message_guid)
    assert fault_code(fault.value) == "INT002013"
    with pytest.raises(Fault) as fault:
        uo.state(str(uuid.uuid4()))
    assert fault_code(fault.value) == "INT002013"


def test_missing_or_wrong_credentials_get_401(stand, wsdl) -> None:
    org = stand["orgs"]["uo"]
    with pytest.raises(Fault) as fault:
        GisClient(wsdl, org).state(str(uuid.uuid4()))
    assert fault_code(fault.value) == "AUT011000"
    request = etree.Element(f"{{{BASE}}}getStateRequest")
    etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = str(uuid.uuid4())
    body = etree.tostring(envelope(request, org.guid))
    assert _raw_post(stand, body, action='"urn:getState"').status_code == 401
    wrong = _raw_post(stand, body, action='"urn:getState"', auth=(org.guid, "not-the-password"))
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert _fault_code_of(wrong) == "AUT011000"


def test_wrong_credentials_on_a_signed_import_get_401(stand, wsdl) -> None:
    org = stand["orgs"]["uo"]
    with pytest.raises(Fault):
        GisClient(wsdl, org, password="wrong").call(
            "importHouseUOData", **new_apartment_house(fias(), flats=1)
        )
    response = _raw_post(
        stand, _signed_body(org, _example("importHouseUOData.xml")), auth=(org.guid, "wrong")
    )
    assert response.status_code == 401


# --- conformance of what we answer ----------------------------------------------------------


@pytest.fixture(scope="module")
def published_schema() -> etree.XMLSchema:
    xsd = REFERENCE / "house-management" / "hcs-house-management-types.xsd"
    if not xsd.exists():
        pytest.skip(
            f"published formats not found at {REFERENCE} (only present beside the project's shared/ folder)"
        )
    return etree.XMLSchema(etree.parse(str(xsd)))


def test_answers_validate_against_the_published_schema(
    stand, uo: GisClient, published_schema: etree.XMLSchema
) -> None:
    org = stand["orgs"]["uo"]
    house = managed(uo)
    import_guid = uo.ack_guid(uo.call("importHouseUOData", **new_apartment_house(house, flats=2)))
    uo.wait(import_guid)
    export_guid = uo.ack_guid(uo.call("exportHouseData", **export_request(house)))
    uo.wait(export_guid)
    for message_guid in (import_guid, export_guid):
        request = etree.Element(f"{{{BASE}}}getStateRequest")
        etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = message_guid
        response = _raw_post(
            stand,
            etree.tostring(envelope(request, org.guid)),
            action='"urn:getState"',
            auth=(org.guid, org.password),
        )
        result = etree.fromstring(response.content).find(
            "{http://schemas.xmlsoap.org/soap/envelope/}Body"
        )[0]
        assert result.tag == f"{{{HM}}}getStateResult"
        assert published_schema.validate(result), published_schema.error_log


def test_locked_organisation_gets_403(stand, wsdl, tmp_path: Path) -> None:
    from tests.stand import gateway_cli

    guid = "0a1b2c3d-0000-4000-8000-0000000000c1"
    issue(stand["pki"] / "ca", guid, tmp_path / "locked")
    gateway_cli(
        "orgs",
        "add",
        "--guid",
        guid,
        "--name",
        "Locked",
        "--role",
        "uo",
        "--cert",
        str(tmp_path / "locked" / "cert.pem"),
        "--password",
        "pw-locked",
        "--data-dir",
        str(stand["data_dir"]),
    )
    assert "locked" in gateway_cli("orgs", "lock", guid, "--data-dir", str(stand["data_dir"]))
    org = type(stand["orgs"]["uo"])(
        guid, "uo", "pw-locked", tmp_path / "locked" / "key.pem", tmp_path / "locked" / "cert.pem"
    )
    response = _raw_post(
        stand,
        _signed_body(org, _example("exportHouseData.xml")),
        action='"urn:exportHouseData"',
        auth=(guid, "pw-locked"),
    )
    assert response.status_code == 403
    assert _fault_code_of(response) == "AUT011000"
    gateway_cli("orgs", "unlock", guid, "--data-dir", str(stand["data_dir"]))
    # a lock takes effect at once; a refusal served from a node's cache may outlive an unlock
    # by up to a second (gateway/caches.py MAX_AGE_SECONDS), so the unlocked company may have to ask again
    deadline = time.monotonic() + 30
    while True:
        response = _raw_post(
            stand,
            _signed_body(org, _example("exportHouseData.xml")),
            action='"urn:exportHouseData"',
            auth=(guid, "pw-locked"),
        )
        if response.status_code != 403 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200

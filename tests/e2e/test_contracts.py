"""Contracts end to end through the real server and zeep clients built from the served WSDL:
management contracts and their states, one manager per house, supply offers and their
exports, every processed answer valid against the published schema."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lxml import etree

from tests.conftest import REFERENCE
from tests.e2e.contract_data import (
    add_house,
    annul,
    contracts_request,
    offer,
    place_contract,
    place_offer,
    placing_contract,
    supply_request,
    terminate,
)
from tests.gis_client import GisClient, Received, recording
from tests.paths import HM_PATH


def _client(stand: Any, who: str) -> tuple[GisClient, Received]:
    org = stand["orgs"][who]
    client = GisClient(stand["server"].endpoint(HM_PATH) + "?wsdl", org, password=org.password)
    return client, recording(client)


@pytest.fixture(scope="module")
def uo(stand: Any) -> tuple[GisClient, Received]:
    return _client(stand, "uo")


@pytest.fixture(scope="module")
def uo2(stand: Any) -> tuple[GisClient, Received]:
    return _client(stand, "uo2")


@pytest.fixture(scope="module")
def rso(stand: Any) -> tuple[GisClient, Received]:
    return _client(stand, "rso")


def fias() -> str:
    return str(uuid.uuid4())


def run(client: GisClient, operation: str, request: dict[str, Any]) -> Any:
    return client.wait(client.ack_guid(client.call(operation, **request)))


def items(state: Any) -> list[Any]:
    return [r for block in state["ImportResult"] for r in block["CommonResult"]]


def error(result: Any) -> str | None:
    return result["Error"][0]["ErrorCode"] if result["Error"] else None


def status(client: GisClient, contract_guid: str) -> Any:
    state = run(
        client,
        "exportStatusCAChData",
        {"version": "10.0.1.1", "Criteria": [{"ContractGUID": contract_guid}]},
    )
    assert state["ErrorMessage"] is None, state["ErrorMessage"]
    (found,) = state["exportStatusCAChResult"]
    return found


def valid_under_the_published_schema(received: Received) -> None:
    if not REFERENCE.exists():
        return  # the published formats are beside the project only
    path = REFERENCE / "house-management" / "hcs-house-management-types.xsd"
    schema = etree.XMLSchema(etree.parse(str(path)))
    for result in received.results:
        assert schema.validate(result), str(schema.error_log)


def test_a_placed_contract_is_approved_with_its_houses(uo: tuple[GisClient, Received]) -> None:
    client, received = uo
    houses = [fias(), fias()]
    placed = place_contract(client, *houses)
    assert placed["ContractStatus"] == "Approved"
    assert int(placed["VersionNumber"]) == 1

    found = status(client, placed["ContractGUID"])
    assert found["ContractVersionGUID"] == placed["ContractVersionGUID"]
    assert sorted(o["FIASHouseGuid"] for o in found["ContractObject"]) == sorted(houses)
    assert {o["ManagedObjectStatus"] for o in found["ContractObject"]} == {"Approved"}

    exported = run(
        client,
        "exportCAChData",
        {"version": "13.1.7.1", "Criteria": [{"ContractGUID": placed["ContractGUID"]}]},
    )
    (document,) = exported["exportCAChResult"]
    assert document["Contract"]["DocNum"] == "MC-1"
    assert len(document["Contract"]["ContractObject"]) == 2
    valid_under_the_published_schema(received)


def test_a_contract_goes_through_its_states(uo: tuple[GisClient, Received]) -> None:
    client, received = uo
    first = place_contract(client, fias())
    edited = items(
        run(
            client,
            "importContractData",
            contracts_request(add_house(first["ContractVersionGUID"], fias())),
        )
    )
    assert error(edited[0]) is None
    version2 = edited[0]["importContract"]
    assert int(version2["VersionNumber"]) == 2
    assert len(status(client, first["ContractGUID"])["ContractObject"]) == 2

    stale = items(
        run(
            client, "importContractData", contracts_request(terminate(first["ContractVersionGUID"]))
        )
    )
    assert error(stale[0]) == "HCS007003"

    ended = items(
        run(
            client,
            "importContractData",
            contracts_request(terminate(version2["ContractVersionGUID"])),
        )
    )
    assert ended[0]["importContract"]["ContractStatus"] == "Terminated"
    again = items(
        run(
            client,
            "importContractData",
            contracts_request(annul(ended[0]["importContract"]["ContractVersionGUID"])),
        )
    )
    assert error(again[0]) == "HCS007001"
    exported = run(
        client,
        "exportCAChData",
        {"version": "13.1.7.1", "Criteria": [{"ContractGUID": first["ContractGUID"]}]},
    )
    (document,) = exported["exportCAChResult"]
    assert document["Contract"]["ContractStatus"] == "Terminated"
    assert str(document["Contract"]["Terminate"]["Terminate"]) == "2024-06-30"

    other = place_contract(client, fias())
    annulled = items(
        run(client, "importContractData", contracts_request(annul(other["ContractVersionGUID"])))
    )
    assert annulled[0]["importContract"]["ContractStatus"] == "Annul"
    assert {
        o["ManagedObjectStatus"] for o in status(client, other["ContractGUID"])["ContractObject"]
    } == {"Annul"}
    valid_under_the_published_schema(received)


def test_a_house_has_one_manager_at_a_time(
    uo: tuple[GisClient, Received], uo2: tuple[GisClient, Received]
) -> None:
    (first, _), (second, _) = uo, uo2
    house = fias()
    mine = place_contract(first, house)
    refused = items(run(second, "importContractData", contracts_request(placing_contract(house))))
    assert error(refused[0]) == "HCS007002"
    # the contract of another organisation is not the second company's to end
    theirs = items(
        run(second, "importContractData", contracts_request(terminate(mine["ContractVersionGUID"])))
    )
    assert error(theirs[0]) == "AUT011003"

    items(
        run(first, "importContractData", contracts_request(terminate(mine["ContractVersionGUID"])))
    )
    taken_over = items(
        run(second, "importContractData", contracts_request(placing_contract(house)))
    )
    assert error(taken_over[0]) is None


def test_payment_information_of_contracts_is_not_kept(uo: tuple[GisClient, Received]) -> None:
    client, _ = uo
    placed = place_contract(client, fias())
    item = {
        "TransportGUID": str(uuid.uuid4()),
        "AnnulmentContractPaymentsInfo": {
            "ContractPaymentsInfoVersionGUID": placed["ContractVersionGUID"],
            "Reason": "x",
        },
    }
    (refused,) = items(run(client, "importContractData", contracts_request(item)))
    assert error(refused) == "HCS007004"


def test_a_supply_offer_is_placed_and_exported(
    rso: tuple[GisClient, Received], uo: tuple[GisClient, Received]
) -> None:
    client, received = rso
    house, flat_house = fias(), fias()
    placed = place_offer(client, house, flat_house)

    full = run(
        client, "exportSupplyResourceContractData", {"version": "13.1.1.1", "FIASHouseGuid": house}
    )
    (page,) = full["exportSupplyResourceContractResult"]
    (contract,) = page["Contract"]
    assert contract["ContractRootGUID"] == placed["ContractRootGUID"]
    assert contract["VersionStatus"] == "Posted" and page["IsLastPage"] is True

    addresses = run(
        client,
        "exportSupplyResourceContractObjectAddressData",
        {"version": "13.1.1.1", "ContractRootGUID": placed["ContractRootGUID"]},
    )
    (block,) = addresses["exportSupplyResourceContractObjectAddress"]
    assert sorted(a["FIASHouseGuid"] for a in block["ObjectAddress"]) == sorted([house, flat_house])

    brief = {"version": "13.1.1.1", "Criteria": [{"FIASHouseGuid": house}]}
    (mine,) = run(client, "exportBriefSupplyResourceContract", brief)[
        "exportBriefSupplyResourceContractResult"
    ]
    assert [c["ContractRootGUID"] for c in mine["Contract"]] == [placed["ContractRootGUID"]]
    assert mine["Contract"][0]["SecondPartyContract"]["Offer"] is True

    # a management company sees the supply contracts of the houses it manages, no others
    manager, manager_received = uo
    state = run(manager, "exportBriefSupplyResourceContract", brief)
    assert state["ErrorMessage"]["ErrorCode"] == "INT002012"
    place_contract(manager, house)
    (seen,) = run(manager, "exportBriefSupplyResourceContract", brief)[
        "exportBriefSupplyResourceContractResult"
    ]
    assert [c["ContractRootGUID"] for c in seen["Contract"]] == [placed["ContractRootGUID"]]
    valid_under_the_published_schema(received)
    valid_under_the_published_schema(manager_received)


def test_supply_addresses_projects_and_termination(rso: tuple[GisClient, Received]) -> None:
    client, received = rso
    house = fias()
    placed = place_offer(client, house)
    root = placed["ContractRootGUID"]
    add = {
        "version": "11.7.0.3",
        "ContractRootGUID": root,
        "ObjectAddress": [
            {
                "TransportGUID": str(uuid.uuid4()),
                "LoadObject": {
                    "FIASHouseGuid": house,
                    "ApartmentNumber": "12",
                    "Pair": [
                        {
                            "ServiceType": {
                                "Code": "1",
                                "GUID": "4f5e6d7c-8b9a-4c1d-9e2f-3a4b5c6d7e8f",
                            },
                            "MunicipalResource": {
                                "Code": "1",
                                "GUID": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                            },
                            "StartSupplyDate": "2024-01-01",
                            "TransportGUID": str(uuid.uuid4()),
                        }
                    ],
                },
            }
        ],
    }
    (added,) = items(run(client, "importSupplyResourceContractObjectAddressData", add))
    assert error(added) is None
    assert (
        added["ImportSupplyResourceContractObjectAddress"]["ContractGUID"] != placed["ContractGUID"]
    )

    project = offer(fias())
    project["ContractProject"] = project.pop("SupplyResourceContract")
    del project["ContractProject"]["ObjectAddress"]
    created = items(
        run(
            client,
            "importSupplyResourceContractProjectData",
            {"version": "11.7.0.3", "Contract": [project]},
        )
    )
    draft = created[0]["ImportSupplyResourceContractProject"]["ContractGUID"]
    brief = run(
        client,
        "exportSupplyResourceContractData",
        {"version": "13.1.1.1", "ContractGUID": [draft]},
    )
    assert brief["exportSupplyResourceContractResult"][0]["Contract"][0]["VersionStatus"] == "Draft"
    placing = {
        "TransportGUID": str(uuid.uuid4()),
        "ContractGUID": draft,
        "PlacingContractProject": True,
    }
    (placed_project,) = items(
        run(
            client,
            "importSupplyResourceContractProjectData",
            {"version": "11.7.0.3", "Contract": [placing]},
        )
    )
    assert error(placed_project) is None
    deleting = {
        "TransportGUID": str(uuid.uuid4()),
        "ContractRootGUID": placed_project["GUID"],
        "DeleteContractProject": True,
    }
    (not_a_project,) = items(
        run(
            client,
            "importSupplyResourceContractProjectData",
            {"version": "11.7.0.3", "Contract": [deleting]},
        )
    )
    assert error(not_a_project) in ("HCS007001", "INT002000")

    ending = {
        "TransportGUID": str(uuid.uuid4()),
        "ContractRootGUID": root,
        "TerminateContract": {
            "Terminate": "2024-06-30",
            "ReasonRef": {"Code": "1", "GUID": "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f"},
        },
    }
    (ended,) = items(run(client, "importSupplyResourceContractData", supply_request(ending)))
    assert error(ended) is None
    full = run(
        client,
        "exportSupplyResourceContractData",
        {"version": "13.1.1.1", "ContractRootGUID": [root]},
    )
    assert (
        full["exportSupplyResourceContractResult"][0]["Contract"][0]["VersionStatus"]
        == "Terminated"
    )
    valid_under_the_published_schema(received)


def test_a_placed_charter_manages_its_house(uo: tuple[GisClient, Received]) -> None:
    client, received = uo
    house = fias()
    charter = {
        "version": "11.9.0.1",
        "TransportGUID": str(uuid.uuid4()),
        "PlacingCharter": {
            "Date": "2023-11-20",
            "AttachmentCharter": [
                {
                    "Name": "charter.pdf",
                    "Description": "charter",
                    "Attachment": {"AttachmentGUID": str(uuid.uuid4())},
                }
            ],
            "ContractObject": [
                {
                    "FIASHouseGuid": house,
                    "StartDate": "2023-12-01",
                    "TransportGUID": str(uuid.uuid4()),
                    "BaseMService": {"CurrentCharter": True},
                }
            ],
        },
    }
    (placed,) = items(run(client, "importCharterData", charter))
    assert error(placed) is None
    guid = placed["importCharter"]["CharterGUID"]
    state = run(
        client, "exportStatusCAChData", {"version": "10.0.1.1", "Criteria": [{"CharterGUID": guid}]}
    )
    (found,) = state["exportStatusCAChResult"]
    assert found["CharterStatus"] == "Approved"
    assert [o["FIASHouseGuid"] for o in found["ContractObject"]] == [house]
    exported = run(
        client, "exportCAChData", {"version": "13.1.7.1", "Criteria": [{"CharterGUID": guid}]}
    )
    assert exported["exportCAChResult"][0]["Charter"]["CharterGUID"] == guid
    valid_under_the_published_schema(received)

"""Request values for contracts (management contracts, charters, supply contracts), as a
client would build them with zeep, and the steps that place them."""

from __future__ import annotations

import uuid
from typing import Any

from tests.gis_client import GisClient

CONTRACT_BASE = {"Code": "1", "GUID": "3e9a0b1c-2d3e-4f5a-8b6c-7d8e9f0a1b2c"}  # NSI 58
TERMINATION_REASON = {"Code": "1", "GUID": "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f"}  # NSI 54
COLD_WATER_SERVICE = {"Code": "1", "GUID": "4f5e6d7c-8b9a-4c1d-9e2f-3a4b5c6d7e8f"}  # NSI 3
COLD_WATER = {"Code": "1", "GUID": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"}  # NSI 239


def tg() -> str:
    return str(uuid.uuid4())


def _attachment(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Description": name,
        "Attachment": {"AttachmentGUID": str(uuid.uuid4())},
    }


def placing_contract(*houses: str, number: str = "MC-1") -> dict[str, Any]:
    """One Contract item of importContractRequest: a new management contract of the houses."""
    return {
        "TransportGUID": tg(),
        "PlacingContract": {
            "DocNum": number,
            "SigningDate": "2024-01-15",
            "EffectiveDate": "2024-02-01",
            "PlanDateComptetion": "2029-01-31",
            "Owners": True,
            "ContractBase": CONTRACT_BASE,
            "ContractAttachment": [_attachment("contract.pdf")],
            "ContractObject": [
                {
                    "FIASHouseGuid": fias,
                    "StartDate": "2024-02-01",
                    "TransportGUID": tg(),
                    "BaseMService": {"CurrentDoc": True},
                }
                for fias in houses
            ],
        },
    }


def contracts_request(*items: dict[str, Any]) -> dict[str, Any]:
    return {"version": "11.9.0.1", "Id": "signed-data-container", "Contract": list(items)}


def terminate(version_guid: str) -> dict[str, Any]:
    return {
        "TransportGUID": tg(),
        "TerminateContract": {
            "Terminate": "2024-06-30",
            "ReasonRef": TERMINATION_REASON,
            "TerminateAttachment": [_attachment("termination.pdf")],
            "ContractVersionGUID": version_guid,
        },
    }


def annul(version_guid: str) -> dict[str, Any]:
    return {
        "TransportGUID": tg(),
        "AnnulmentContract": {
            "ReasonOfAnnulment": "signed in error",
            "ContractVersionGUID": version_guid,
        },
    }


def add_house(version_guid: str, fias: str) -> dict[str, Any]:
    """EditContract: the same contract with one more house."""
    return {
        "TransportGUID": tg(),
        "EditContract": {
            "DocNum": "MC-1",
            "SigningDate": "2024-01-15",
            "EffectiveDate": "2024-02-01",
            "PlanDateComptetion": "2029-01-31",
            "Owners": True,
            "ContractBase": CONTRACT_BASE,
            "ContractAttachment": [_attachment("contract.pdf")],
            "ContractObject": [
                {
                    "TransportGUID": tg(),
                    "Add": {
                        "FIASHouseGuid": fias,
                        "StartDate": "2024-03-01",
                        "BaseMService": {"CurrentDoc": True},
                    },
                }
            ],
            "ContractVersionGUID": version_guid,
        },
    }


def offer(*houses: str) -> dict[str, Any]:
    """One Contract item of importSupplyResourceContractRequest: a cold water offer."""
    subject = tg()
    return {
        "TransportGUID": tg(),
        "SupplyResourceContract": {
            "IsNotContract": {"ContractNumber": "OFFER-CW"},
            "IndefiniteTerm": True,
            "Offer": True,
            "IsPlannedVolume": False,
            "ContractSubject": [
                {
                    "ServiceType": COLD_WATER_SERVICE,
                    "MunicipalResource": COLD_WATER,
                    "StartSupplyDate": "2024-01-01",
                    "TransportGUID": subject,
                }
            ],
            "SpecifyingQualityIndicators": "D",
            "ObjectAddress": [
                {
                    "HouseType": "MKD",
                    "FIASHouseGuid": fias,
                    "TransportGUID": tg(),
                    "Pair": [{"PairKey": subject, "StartSupplyDate": "2024-01-01"}],
                }
                for fias in houses
            ],
        },
    }


def supply_request(*items: dict[str, Any]) -> dict[str, Any]:
    return {"version": "11.3.0.5", "Id": "signed-data-container", "Contract": list(items)}


def _results(state: Any) -> list[Any]:
    return [r for block in state["ImportResult"] for r in block["CommonResult"]]


def _run(client: GisClient, operation: str, request: dict[str, Any]) -> Any:
    return client.wait(client.ack_guid(client.call(operation, **request)))


def place_contract(hm: GisClient, *houses: str) -> Any:
    """A placed management contract of the houses: its importContract result."""
    (result,) = _results(
        _run(hm, "importContractData", contracts_request(placing_contract(*houses)))
    )
    assert not result["Error"], result["Error"]
    return result["importContract"]


def place_offer(hm: GisClient, *houses: str) -> Any:
    """A placed supply offer serving the houses: its ImportSupplyResourceContract result."""
    (result,) = _results(
        _run(hm, "importSupplyResourceContractData", supply_request(offer(*houses)))
    )
    assert not result["Error"], result["Error"]
    return result["ImportSupplyResourceContract"]


def end_contract(hm: GisClient, contract: Any) -> Any:
    """Terminate a placed management contract (its importContract result)."""
    request = contracts_request(terminate(contract["ContractVersionGUID"]))
    (result,) = _results(_run(hm, "importContractData", request))
    assert not result["Error"], result["Error"]
    return result["importContract"]

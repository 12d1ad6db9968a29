"""Imports check every nsiRef (Code + GUID) against the NSI books: an unknown code or a GUID
of another code refuses the item with HCS009001, the rest of the packet goes on; a new import
of the books (`gateway nsi import`) is what the running server checks against next."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from persistence import nsi
from tests.e2e.flows import accounts, code, codes, results_by_tg, run, uo_house
from tests.e2e.house_data import new_apartment_house
from tests.e2e.metering_data import (
    COLD_WATER,
    HOT_WATER,
    collective_water_device,
    devices_request,
    values_request,
    water_reading,
)
from tests.e2e.payment_data import HOUSING, PENALTY, TODAY, document, import_documents
from tests.gis_client import GisClient
from tests.paths import BILLS_PATH, DM_PATH, HM_PATH
from tests.stand import gateway_cli


@pytest.fixture(scope="module")
def hm(stand) -> GisClient:  # type: ignore[no-untyped-def]
    org = stand["orgs"]["uo"]
    return GisClient(stand["server"].endpoint(HM_PATH) + "?wsdl", org, password=org.password)


@pytest.fixture(scope="module")
def bills(stand) -> GisClient:  # type: ignore[no-untyped-def]
    org = stand["orgs"]["uo"]
    return GisClient(stand["server"].endpoint(BILLS_PATH) + "?wsdl", org, password=org.password)


@pytest.fixture(scope="module")
def dm(stand) -> GisClient:  # type: ignore[no-untyped-def]
    org = stand["orgs"]["uo"]
    return GisClient(stand["server"].endpoint(DM_PATH) + "?wsdl", org, password=org.password)


def _device(fias: str, number: str, resource: dict[str, str]) -> dict[str, Any]:
    item = collective_water_device(fias, number)
    item["DeviceDataToCreate"]["MunicipalResourceNotEnergy"][0]["MunicipalResource"] = resource
    return item


def _devices(hm: GisClient, fias: str, *resources: dict[str, str]) -> list[Any]:
    items = [_device(fias, f"N-{uuid.uuid4().hex[:8]}", r) for r in resources]
    by_tg = results_by_tg(run(hm, "importMeteringDeviceData", devices_request(fias, items)))
    return [by_tg[i["TransportGUID"]] for i in items]


def test_an_unknown_or_mismatched_resource_refuses_only_its_device(hm: GisClient) -> None:
    fias = str(uuid.uuid4())
    uo_house(hm, fias, flats=1)
    mismatched = {"Code": COLD_WATER["Code"], "GUID": HOT_WATER["GUID"]}
    unknown = {"Code": "77", "GUID": str(uuid.uuid4())}
    ok, wrong_guid, wrong_code = _devices(hm, fias, COLD_WATER, mismatched, unknown)
    assert code(ok) is None
    assert code(wrong_guid) == code(wrong_code) == "HCS009001"
    assert f"Code 1 has GUID {COLD_WATER['GUID']}" in wrong_guid["Error"][0]["Description"]
    assert "NSI 2 has no actual entry with Code 77" in wrong_code["Error"][0]["Description"]


def test_a_house_with_an_unknown_time_zone_is_refused_and_its_parts_go_on(hm: GisClient) -> None:
    request = new_apartment_house(str(uuid.uuid4()), entrances=1, flats=1, rooms_in_first=0)
    house = request["ApartmentHouse"]["ApartmentHouseToCreate"]
    house["BasicCharacteristicts"]["OlsonTZ"] = {"Code": "99", "GUID": str(uuid.uuid4())}
    by_tg = results_by_tg(run(hm, "importHouseUOData", request))
    refused = by_tg[house["TransportGUID"]]
    assert code(refused) == "HCS009001"
    assert refused["Error"][0]["Description"].startswith("OlsonTZ: NSI 32")


def test_imported_books_are_checked_at_the_next_packet(
    hm: GisClient, stand: dict[str, Any], tmp_path: Path
) -> None:
    data = json.loads(nsi.shipped_file().read_text(encoding="utf-8"))
    water = next(b for b in data["books"] if b["registry_number"] == 2)
    renewed = str(uuid.uuid4())
    water["items"][0]["guid"] = renewed  # code 1 gets another GUID
    changed = tmp_path / "books.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    fias = str(uuid.uuid4())
    uo_house(hm, fias, flats=1)
    data_dir = str(stand["data_dir"])
    gateway_cli("nsi", "import", str(changed), "--data-dir", data_dir)
    try:
        old, new = _devices(hm, fias, COLD_WATER, {"Code": "1", "GUID": renewed})
        assert (code(old), code(new)) == ("HCS009001", None)
    finally:
        gateway_cli("nsi", "import", "--data-dir", data_dir)
    (again,) = _devices(hm, fias, COLD_WATER)
    assert code(again) is None


def test_a_payment_document_with_a_service_not_in_its_book_is_refused(
    hm: GisClient, bills: GisClient
) -> None:
    first, second, third = (a["GUID"] for a in accounts(hm, 3))
    key = str(uuid.uuid4())
    fine = document(first, key, penalty="10.00")
    bad_housing = document(second, key)
    bad_housing["ChargeInfo"][0]["HousingService"]["ServiceType"] = {
        "Code": HOUSING["Code"],
        "GUID": PENALTY["GUID"],  # the GUID of an entry of another book
    }
    bad_penalty = document(third, key, penalty="10.00")
    bad_penalty["PenaltiesAndCourtCosts"][0]["ServiceType"] = {"Code": "9", "GUID": PENALTY["GUID"]}
    request = import_documents(TODAY.year, TODAY.month, key, fine, bad_housing, bad_penalty)
    assert codes(run(bills, "importPaymentDocumentData", request)) == [
        None,
        "HCS009001",
        "HCS009001",
    ]


def test_a_reading_of_a_resource_not_in_the_book_is_refused_alone(
    hm: GisClient, dm: GisClient
) -> None:
    fias = str(uuid.uuid4())
    uo_house(hm, fias, flats=1)
    first, second = (
        r["importMeteringDevice"]["MeteringDeviceGUID"]
        for r in _devices(hm, fias, COLD_WATER, COLD_WATER)
    )
    day = date.today() - timedelta(days=1)
    mismatched = {"Code": COLD_WATER["Code"], "GUID": HOT_WATER["GUID"]}
    items = [
        water_reading(first, "150", day),
        water_reading(second, "150", day, resource=mismatched),
    ]
    state = run(dm, "importMeteringDeviceValues", values_request(items, fias))
    assert [code(r) for r in state["ImportResult"]] == [None, "HCS009001"]

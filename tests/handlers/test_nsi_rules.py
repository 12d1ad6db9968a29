"""NSI references, in process: the pipeline refuses an item whose Code + GUID is not an
entry of its book (HCS009001) before deciding it; the other items of the packet go on."""

from __future__ import annotations

import uuid

from gateway.codes import Code
from tests.e2e import account_data as ad
from tests.e2e import metering_data as md
from tests.handlers import world
from tests.handlers.world import HM
from tests.stand.handlers import Stand


def test_devices_with_a_resource_not_in_nsi_2_are_refused(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    good = md.collective_water_device(home.fias, "В-1")
    mismatched = md.collective_water_device(home.fias, "В-2")
    mismatched["DeviceDataToCreate"]["MunicipalResourceNotEnergy"][0]["MunicipalResource"] = {
        "Code": md.COLD_WATER["Code"],
        "GUID": md.HOT_WATER["GUID"],
    }
    unknown = md.collective_water_device(home.fias, "В-3")
    unknown["DeviceDataToCreate"]["MunicipalResourceNotEnergy"][0]["MunicipalResource"] = {
        "Code": "77",
        "GUID": str(uuid.uuid4()),
    }
    request = md.devices_request(home.fias, [good, mismatched, unknown])
    outcomes = stand.run(uo, HM, "importMeteringDeviceData", request)
    assert [o.code for o in outcomes] == [None, Code.NSI_REF_UNKNOWN, Code.NSI_REF_UNKNOWN]


def test_an_account_whose_payer_document_is_not_in_nsi_95_is_refused(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo, flats=2)
    payer = ad.person("Иванов", "Иван", passport=("4500", "123456"))
    good = ad.account(ad.premises(home.flats[0]), number="ЛС-1", payer=payer)
    wrong = ad.person("Петров", "Пётр", passport=("4501", "654321"))
    wrong["Ind"]["ID"]["Type"] = {"Code": "1", "GUID": md.COLD_WATER["GUID"]}  # NSI 2's GUID
    bad = ad.account(ad.premises(home.flats[1]), number="ЛС-2", payer=wrong)
    outcomes = stand.run(uo, HM, "importAccountData", ad.import_accounts(good, bad))
    assert [o.code for o in outcomes] == [None, Code.NSI_REF_UNKNOWN]

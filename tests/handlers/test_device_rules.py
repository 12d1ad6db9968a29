"""importMeteringDeviceData rules, in process: versions and numbers within one packet."""

from __future__ import annotations

from gateway.codes import Code
from tests.e2e import metering_data as md
from tests.handlers import world
from tests.handlers.stand import Stand
from tests.handlers.world import HM


def test_every_change_makes_a_new_version(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    request = md.devices_request(home.fias, [md.collective_water_device(home.fias, "В-1")])
    [created] = stand.run(uo, HM, "importMeteringDeviceData", request)
    version = created.guid or ""
    [archived] = stand.run(uo, HM, "importMeteringDeviceData", md.archive_request(version))
    assert archived.ok and archived.guid != version
    assert archived.unique_number == created.unique_number
    again = stand.run(uo, HM, "importMeteringDeviceData", md.archive_request(archived.guid or ""))
    assert [o.code for o in again] == [Code.DEVICE_ALREADY_ARCHIVED]
    stale = stand.run(uo, HM, "importMeteringDeviceData", md.archive_request(version))
    assert [o.code for o in stale] == [Code.NOT_FOUND]
    # the number is free again once the device is archived
    [new] = stand.run(uo, HM, "importMeteringDeviceData", request)
    assert new.ok


def test_bad_units_and_dates(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    bad_unit = md.collective_water_device(home.fias, "В-2")
    bad_unit["DeviceDataToCreate"]["MunicipalResourceNotEnergy"][0]["Unit"] = "245"
    bad_dates = md.collective_water_device(home.fias, "В-3")
    basic = bad_dates["DeviceDataToCreate"]["BasicChatacteristicts"]
    basic["CommissioningDate"] = md.INSTALLED.replace(year=md.INSTALLED.year - 1)
    request = md.devices_request(home.fias, [bad_unit, bad_dates])
    codes = [o.code for o in stand.run(uo, HM, "importMeteringDeviceData", request)]
    assert codes == [Code.DEVICE_BAD_UNIT, Code.DEVICE_BAD_DATES]

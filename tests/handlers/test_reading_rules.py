"""importMeteringDeviceValues rules, in process: readings see the readings before them."""

from __future__ import annotations

from datetime import timedelta

from gateway.codes import Code
from tests.e2e import metering_data as md
from tests.handlers import world
from tests.handlers.world import DM
from tests.stand.handlers import Stand


def test_readings_of_one_packet_check_each_other(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    device = world.device(stand, uo, home)  # base value 100
    day = world.TODAY - timedelta(days=10)
    request = md.values_request(
        [
            md.water_reading(device, "99", day),  # below the base value
            md.water_reading(device, "120", day),
            md.water_reading(device, "120", day),  # the same again: the same reading
            md.water_reading(device, "121", day),  # another value that day
            md.water_reading(device, "110", day + timedelta(days=1)),  # below 120
            md.water_reading(device, "105", day - timedelta(days=1)),  # late, earlier day
            md.water_reading(device, "130", world.TODAY + timedelta(days=2)),
            md.water_reading(device, "1000000000", day + timedelta(days=2)),
        ]
    )
    done = stand.run(uo, DM, "importMeteringDeviceValues", request)
    assert [o.code for o in done] == [
        Code.READING_DECREASING,
        None,
        None,
        Code.READING_CONFLICT,
        Code.READING_DECREASING,
        None,
        Code.READING_FUTURE_DATE,
        Code.READING_CAPACITY,
    ]
    assert done[1].guid == done[2].guid


def test_a_reposted_reading_keeps_its_guid(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    device = world.device(stand, uo, home)
    reading = md.water_reading(device, "150", world.TODAY - timedelta(days=1))
    [first] = stand.run(uo, DM, "importMeteringDeviceValues", md.values_request([reading]))
    before = stand.counts()
    [again] = stand.run(uo, DM, "importMeteringDeviceValues", md.values_request([reading]))
    assert again.guid == first.guid and again.ok
    assert stand.counts() == before


def test_devices_of_others_and_unknown_ones(stand: Stand) -> None:
    uo, other = world.org("uo"), world.org("uo")
    home = world.house(stand, uo)
    device = world.device(stand, uo, home)
    day = world.TODAY - timedelta(days=1)
    done = stand.run(
        other,
        DM,
        "importMeteringDeviceValues",
        md.values_request(
            [md.water_reading(device, "150", day), md.water_reading(world.org("x")[0], "1", day)]
        ),
    )
    assert [o.code for o in done] == [Code.NOT_ALLOWED, Code.NOT_FOUND]


def test_the_last_stored_reading_of_a_day_is_the_one_to_compare_with(stand: Stand) -> None:
    """Packets later: a current and a control reading of the same day were stored, the
    control one last; the next day's reading may not go below it, whatever its kind."""
    uo = world.org("uo")
    home = world.house(stand, uo)
    device = world.device(stand, uo, home)  # base value 100
    day = world.TODAY - timedelta(days=10)

    def post(*readings: dict[str, object]) -> list[object]:
        request = md.values_request(list(readings))
        return [o.code for o in stand.run(uo, DM, "importMeteringDeviceValues", request)]

    assert post(md.water_reading(device, "120", day)) == [None]
    assert post(md.water_reading(device, "150", day, control=True)) == [None]
    later = day + timedelta(days=1)
    assert post(md.water_reading(device, "130", later), md.water_reading(device, "151", later)) == [
        Code.READING_DECREASING,
        None,
    ]
    assert post(md.water_reading(device, "140", day + timedelta(days=2))) == [
        Code.READING_DECREASING
    ]

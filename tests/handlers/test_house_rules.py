"""importHouseUOData / importHouseRSOData rules, in process: items see the items before them."""

from __future__ import annotations

import uuid

import pytest

from gateway.codes import Code
from persistence import houses
from tests.e2e import account_data as ad
from tests.e2e import house_data as hd
from tests.handlers import world
from tests.handlers.world import HM
from tests.stand.handlers import Stand


def test_parts_check_the_house_and_each_other(stand: Stand) -> None:
    uo = world.org("uo")
    fias = str(uuid.uuid4())
    world.manage(stand, uo, fias)
    request = hd.new_apartment_house(fias, flats=2, rooms_in_first=1)
    house = request["ApartmentHouse"]
    house["EntranceToCreate"].append({"EntranceNum": "2", "TransportGUID": hd.tg()})  # twice
    flat = house["ResidentialPremises"][1]["ResidentialPremisesToCreate"]
    flat["EntranceNum"] = "7"  # no such entrance: refused, and so is its room
    house["ResidentialPremises"][1]["LivingRoomToCreate"] = [
        {"No_RSO_GKN_EGRP_Registered": True, "RoomNumber": "1", "TransportGUID": hd.tg()}
    ]
    house["ResidentialPremises"].append(
        {"ResidentialPremisesToCreate": {**flat, "PremisesNum": "1", "EntranceNum": "1"}}
    )  # the number of flat 1 again
    codes = [o.code for o in stand.run(uo, HM, "importHouseUOData", request)]
    assert codes == [
        None,  # house
        None,
        None,
        Code.HOUSE_DUPLICATE_NUMBER,  # entrances 1, 2, 2
        None,  # non-residential
        None,
        None,  # flat 1 and its room
        Code.HOUSE_NO_SUCH_ENTRANCE,
        Code.HOUSE_PARENT_FAILED,  # flat 2 and its room
        Code.HOUSE_DUPLICATE_NUMBER,  # flat 1 again
    ]


def test_unique_numbers_follow_the_house_and_its_premises(stand: Stand) -> None:
    uo = world.org("uo")
    fias = str(uuid.uuid4())
    world.manage(stand, uo, fias)
    done = stand.run(uo, HM, "importHouseUOData", hd.new_apartment_house(fias))
    house = done[0].unique_number or ""
    numbered = [o.unique_number for o in done if o.unique_number]
    flat1 = f"{house}P00002"  # the non-residential premises is P00001
    assert numbered[:4] == [house, f"{house}P00001", flat1, f"{flat1}R00001"]


def test_a_house_number_already_taken_is_drawn_again(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry number is random, not looked up first: the unique key refuses one that
    is taken, and the packet runs again with a new number."""
    uo = world.org("uo")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    world.manage(stand, uo, first)
    world.manage(stand, uo, second)
    taken = stand.run(uo, HM, "importHouseUOData", hd.new_apartment_house(first))[0].unique_number
    drawn = iter([taken, "00000000042"])
    monkeypatch.setattr(houses, "new_house_unique_number", lambda: next(drawn))
    done = stand.run(uo, HM, "importHouseUOData", hd.new_apartment_house(second))
    assert [o.code for o in done] == [None] * len(done)
    numbered = [o.unique_number or "" for o in done if o.unique_number]
    assert numbered[:2] == ["00000000042", "00000000042P00001"]


def test_updates_rename_parts_by_guid(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo, flats=2)
    request = hd.update_apartment_house(
        home.fias,
        ResidentialPremises=[
            {
                "ResidentialPremisesToUpdate": {
                    "PremisesGUID": home.flats[0],
                    "PremisesNum": "2",  # taken by flat 2: refused
                    "TransportGUID": hd.tg(),
                }
            },
            {
                "ResidentialPremisesToUpdate": {
                    "PremisesGUID": home.flats[1],
                    "PremisesNum": "20",
                    "TotalArea": "60.00",
                    "TransportGUID": hd.tg(),
                }
            },
            {
                "ResidentialPremisesToUpdate": {
                    "PremisesGUID": str(uuid.uuid4()),
                    "TransportGUID": hd.tg(),
                }
            },
        ],
    )
    codes = [o.code for o in stand.run(uo, HM, "importHouseUOData", request)]
    assert codes == [None, Code.HOUSE_DUPLICATE_NUMBER, None, Code.NOT_FOUND]
    again = hd.update_apartment_house(
        home.fias,
        ResidentialPremises=[
            {
                "ResidentialPremisesToUpdate": {
                    "PremisesGUID": home.flats[0],
                    "PremisesNum": "2",  # free now
                    "TransportGUID": hd.tg(),
                }
            }
        ],
    )
    assert [o.code for o in stand.run(uo, HM, "importHouseUOData", again)] == [None, None]


def test_another_uo_cannot_touch_the_house(stand: Stand) -> None:
    uo, other = world.org("uo"), world.org("uo")
    home = world.house(stand, uo)
    done = stand.run(other, HM, "importHouseUOData", hd.update_apartment_house(home.fias))
    assert [o.code for o in done] == [Code.NOT_ALLOWED]


def test_a_supplier_describes_what_it_supplies_and_the_manager_takes_it_over(
    stand: Stand,
) -> None:
    rso, uo = world.org("rso"), world.org("uo")
    fias = str(uuid.uuid4())
    refused = stand.run(rso, HM, "importHouseRSOData", ad.rso_apartment_house(fias))
    assert refused[0].code == Code.NOT_ALLOWED  # no supply contract of its has the house
    world.manage(stand, rso, fias)
    first = stand.run(rso, HM, "importHouseRSOData", ad.rso_apartment_house(fias))
    assert all(o.ok for o in first)
    other_rso = world.org("rso")
    world.manage(stand, other_rso, fias)
    world.manage(stand, uo, fias)
    linked = stand.run(other_rso, HM, "importHouseRSOData", ad.rso_apartment_house(fias))
    assert [o.guid for o in linked] == [o.guid for o in first]  # the same parts, linked
    before = stand.counts()
    adopted = stand.run(uo, HM, "importHouseUOData", hd.new_apartment_house(fias, flats=3))
    assert all(o.ok for o in adopted), adopted
    after = stand.counts()
    assert after["houses"] == before["houses"]
    assert after["premises"] == before["premises"] + 2  # flat 3 and the shop are new
    refused = stand.run(rso, HM, "importHouseRSOData", ad.rso_apartment_house(fias, update=True))
    assert refused[0].code == Code.NOT_ALLOWED  # managed now: the UO describes it

"""importAccountData rules, in process: numbers, closing and places within one packet."""

from __future__ import annotations

from gateway.codes import Code
from tests.e2e import account_data as ad
from tests.handlers import world
from tests.handlers.stand import Stand
from tests.handlers.world import HM


def test_a_closed_account_frees_its_number_for_the_items_after_it(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    (first, _), *_ = world.accounts(stand, uo, home)  # ЛС-0 … ЛС-3
    request = ad.import_accounts(
        ad.account(ad.premises(home.flats[0]), number="ЛС-0"),  # in use: refused
        ad.account(account_guid=first, closed=ad.closing(world.TODAY)),
        ad.account(ad.premises(home.flats[0]), number="ЛС-0"),  # free now
        ad.account(ad.premises(home.flats[1]), account_guid=first),  # closed: final
    )
    codes = [o.code for o in stand.run(uo, HM, "importAccountData", request)]
    assert codes == [Code.ACCOUNT_NUMBER_IN_USE, None, None, Code.ACCOUNT_CLOSED]


def test_places_are_checked(stand: Stand) -> None:
    uo, other = world.org("uo"), world.org("uo")
    home, foreign = world.house(stand, uo), world.house(stand, other)
    request = ad.import_accounts(
        ad.account(ad.premises(home.flats[0], "60"), ad.room(home.rooms[0], "50")),
        ad.account(ad.premises(home.flats[0]), ad.premises(home.flats[0])),
        ad.account(ad.premises(foreign.flats[0])),
        ad.account(),
        ad.account(ad.whole_house(home.fias), kind="isRSOAccount"),
        ad.account(ad.whole_house(home.fias), number="Д-1"),
    )
    codes = [o.code for o in stand.run(uo, HM, "importAccountData", request)]
    assert codes == [
        Code.ACCOUNT_SHARES_OVER_100,
        Code.ACCOUNT_DUPLICATE_ACCOMMODATION,
        Code.NOT_ALLOWED,
        Code.ACCOUNT_NO_ACCOMMODATION,
        Code.ACCOUNT_KIND_NOT_ALLOWED,
        None,
    ]


def test_unified_numbers_follow_one_sequence(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    numbers = [n for _, n in world.accounts(stand, uo, home)]
    serials = [int(n[:9]) for n in numbers]
    assert serials == list(range(serials[0], serials[0] + len(serials)))

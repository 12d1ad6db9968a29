"""The import pipeline itself: refused items write nothing; a refusal only the database can see
(another packet took a unique key after this one read its state) is decided again on fresh
state, and as the last resort item by item."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, ItemError
from gateway.imports.pipeline import Answer, Changes, Done, ImportBase, Item, run_import
from gateway.namespaces import BASE, PAYMENT
from persistence import accounts as account_repo
from persistence import contracts as contract_repo
from persistence.models import ContractObject, RateCounter
from persistence.sets import COPY_FROM_ROWS
from tests.e2e import account_data as ad
from tests.e2e import house_data as hd
from tests.handlers import world
from tests.handlers.world import HM
from tests.stand.handlers import Stand, outcomes

# --- a minimal import: each item inserts a counter row; its rules check nothing else ------


@dataclass(frozen=True)
class Counter:
    key: str
    refuse: bool  # refused by the rules after it put its row in the changes


class Counters(ImportBase[Counter, None]):
    answer = Answer(PAYMENT)

    def __init__(self, items: list[Counter]) -> None:
        self.items = items

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterator[Item[Counter]]:
        for n, counter in enumerate(self.items):
            yield Item(f"00000000-0000-4000-8000-{n:012d}", counter)

    def prefetch(self, ctx: HandlerContext, records: Sequence[Counter]) -> None:
        return None

    def decide(self, ctx: HandlerContext, state: None, record: Counter, changes: Changes) -> Done:
        changes.insert(RateCounter, {"key": record.key, "window_start": 0, "count": 1})
        if record.refuse:
            raise ItemError(Code.FORMAT_ERROR, "refused after its row was recorded")
        return Done(None, record.key)


def _run_counters(stand: Stand, items: list[Counter]) -> list[Any]:
    with stand.sessions.begin() as session:
        ctx = HandlerContext(session, "org", None, str(uuid.uuid4()), None, _now())
        elements = run_import(Counters(items), ctx, etree.Element("request")).elements
    return [(o.unique_number, o.code) for o in outcomes(elements)]


def _now() -> Any:
    from persistence.clock import utcnow

    return utcnow()


def _keys(stand: Stand) -> list[str]:
    with stand.sessions() as session:
        return sorted(session.scalars(select(RateCounter.key)))


def test_a_refused_item_writes_nothing(stand: Stand) -> None:
    items = [Counter("a", False), Counter("b", True), Counter("c", False)]
    assert _run_counters(stand, items) == [("a", None), (None, Code.FORMAT_ERROR), ("c", None)]
    assert _keys(stand) == ["a", "c"]


def test_a_packet_whose_items_are_all_refused_sends_no_statement(stand: Stand) -> None:
    """Nothing to write: no savepoint, no write."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(stand.engine, "before_cursor_execute", note)
    try:
        outcomes = _run_counters(stand, [Counter("a", True), Counter("b", True)])
    finally:
        event.remove(stand.engine, "before_cursor_execute", note)
    assert outcomes == [(None, Code.FORMAT_ERROR), (None, Code.FORMAT_ERROR)]
    assert sent == []
    assert _keys(stand) == []


def test_what_only_the_database_refuses_falls_back_to_one_item_at_a_time(stand: Stand) -> None:
    """Two items insert the same key and the rules do not see it: the bulk write fails (twice),
    then each item is written in its own savepoint and only the second is refused."""
    items = [Counter("a", False), Counter("a", False), Counter("b", False)]
    assert _run_counters(stand, items) == [("a", None), (None, Code.INTERNAL_ERROR), ("b", None)]
    assert _keys(stand) == ["a", "b"]


def test_a_refusal_in_a_large_write_falls_back_as_well(stand: Stand) -> None:
    """The same with enough rows for PostgreSQL's COPY (``persistence.sets.COPY_FROM_ROWS``):
    its refusal is an IntegrityError like any other write's."""
    items = [Counter(f"k{n:02d}", False) for n in range(COPY_FROM_ROWS)] + [Counter("k00", False)]
    assert _run_counters(stand, items)[-2:] == [
        (f"k{COPY_FROM_ROWS - 1:02d}", None),
        (None, Code.INTERNAL_ERROR),
    ]
    assert len(_keys(stand)) == COPY_FROM_ROWS


def test_a_house_raced_by_another_packet_is_decided_again(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another UO registered the house after this packet read its state: the write is refused
    by the unique FIASHouseGuid, and the packet decided again sees the house — and, the
    sender managing it now, takes it over."""
    uo, rival = world.org("uo"), world.org("uo")
    home = world.house(stand, rival)
    world.manage(stand, uo, home.fias)  # the rival described it; the sender manages it now
    real = contract_repo.house_and_cover
    calls: list[str] = []

    def stale_once(session: Any, org_guid: str, role: Any, fias: str) -> Any:
        calls.append(fias)
        house, covered = real(session, org_guid, role, fias)
        return (None if len(calls) == 1 else house), covered

    monkeypatch.setattr(contract_repo, "house_and_cover", stale_once)
    before = stand.counts()
    done = stand.run(uo, HM, "importHouseUOData", hd.new_apartment_house(home.fias))
    assert len(calls) == 2
    assert done[0].ok, done[0]
    assert stand.counts()["houses"] == before["houses"]


def test_accounts_numbered_at_the_same_moment(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another packet took the next serial number: the packet numbers its accounts again."""
    uo = world.org("uo")
    home = world.house(stand, uo)
    taken = world.accounts(stand, uo, home)
    real = account_repo.max_serial
    calls: list[int] = []

    def stale_once(session: Any) -> int:
        calls.append(1)
        return real(session) - 1 if len(calls) == 1 else real(session)

    monkeypatch.setattr(account_repo, "max_serial", stale_once)
    request = ad.import_accounts(ad.account(ad.premises(home.flats[0])))
    [done] = stand.run(uo, HM, "importAccountData", request)
    assert done.ok and done.unique_number not in {number for _, number in taken}
    assert len(calls) == 2


def test_results_keep_the_order_of_the_items(stand: Stand) -> None:
    uo = world.org("uo")
    fias = str(uuid.uuid4())
    world.manage(stand, uo, fias)
    request = hd.new_apartment_house(fias)
    done = stand.run(uo, HM, "importHouseUOData", request)
    house = request["ApartmentHouse"]
    expected = [house["ApartmentHouseToCreate"]["TransportGUID"]]
    expected += [e["TransportGUID"] for e in house["EntranceToCreate"]]
    expected += [p["TransportGUID"] for p in house["NonResidentialPremiseToCreate"]]
    for group in house["ResidentialPremises"]:
        expected.append(group["ResidentialPremisesToCreate"]["TransportGUID"])
        expected += [r["TransportGUID"] for r in group.get("LivingRoomToCreate", [])]
    assert [o.transport_guid for o in done] == expected
    assert all(o.element.find(f"{{{BASE}}}UpdateDate") is not None for o in done)


class Orphans(Counters):
    """Each item links a supplier to a house that does not exist: a foreign key, not a race."""

    def decide(self, ctx: HandlerContext, state: None, record: Counter, changes: Changes) -> Done:
        row = {  # of a contract that does not exist: the foreign key refuses it
            "guid": str(uuid.uuid4()),
            "contract_guid": str(uuid.uuid4()),
            "fias_house_guid": str(uuid.uuid4()),
            "annulled": False,
            "transport_guid": str(uuid.uuid4()),
            "updated_at": ctx.now,
        }
        changes.insert(ContractObject, row)
        return Done(None, record.key)


def test_other_database_refusals_are_not_item_results(stand: Stand) -> None:
    """Only a unique key taken by another packet is an item's refusal; a foreign key (or a
    trigger, a check) fails the packet's run, for the worker to handle."""
    with pytest.raises(IntegrityError), stand.sessions.begin() as session:
        ctx = HandlerContext(session, "org", None, str(uuid.uuid4()), None, _now())
        run_import(Orphans([Counter("a", False)]), ctx, etree.Element("request"))


def test_a_replay_decided_again_still_answers_what_the_first_run_applied(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forced replay whose refused item now goes through, and whose write another packet
    races: the packet decided again still answers the applied item as the first run did."""
    uo = world.org("uo")
    home = world.house(stand, uo)
    later = str(uuid.uuid4())  # a house registered only after the first run
    request = ad.import_accounts(
        ad.account(ad.premises(home.flats[0]), number="ЛС-1"),
        ad.account(ad.whole_house(later)),
    )
    message = str(uuid.uuid4())
    first = stand.run(uo, HM, "importAccountData", request, message)
    assert [o.code for o in first] == [None, Code.NOT_FOUND]
    world.house_at(stand, uo, later)
    real = account_repo.max_serial
    calls: list[int] = []

    def stale_once(session: Any) -> int:
        calls.append(1)
        return real(session) - 1 if len(calls) == 1 else real(session)

    monkeypatch.setattr(account_repo, "max_serial", stale_once)
    again = stand.run(uo, HM, "importAccountData", request, message)
    assert len(calls) == 2
    assert (again[0].guid, again[0].unique_number, again[0].code) == (
        first[0].guid,
        first[0].unique_number,
        None,
    )
    assert again[1].ok

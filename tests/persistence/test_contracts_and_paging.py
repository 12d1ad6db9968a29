"""Who manages or supplies a house (persistence/contracts.py) and the keyset paging of exports
(persistence/paging.py), on SQLite and PostgreSQL.

Paging is checked the way clients page: one page per transaction, while another connection
keeps inserting rows between (and during) the pages. Every row that existed when paging began
is answered exactly once, and no row ever twice.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from persistence import contracts as repo
from persistence.models import Contract, ContractObject, House
from persistence.paging import keyset_page, list_page
from persistence.roles import Role

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
UO, UO2, RSO = (str(uuid.UUID(int=n)) for n in (1, 2, 3))


def _guid() -> str:
    return str(uuid.uuid4())


def _house(session: Session, fias: str) -> str:
    guid = _guid()
    session.add(
        House(
            guid=guid,
            fias_house_guid=fias,
            org_guid=None,
            kind="apartment",
            unique_number=uuid.uuid4().hex[:11],
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return guid


def _contract(
    session: Session, org: str, kind: str, state: str, *houses: str, annulled: bool = False
) -> str:
    root = _guid()
    session.add(
        Contract(
            root_guid=root,
            version_guid=_guid(),
            kind=kind,
            org_guid=org,
            state=state,
            is_contract=True,
            signing_date=date(2024, 1, 1),
            version_number=1,
            message_guid=_guid(),
            transport_guid=_guid(),
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.flush()
    for fias in houses:
        session.add(
            ContractObject(
                guid=_guid(),
                contract_guid=root,
                fias_house_guid=fias,
                annulled=annulled,
                transport_guid=_guid(),
                updated_at=NOW,
            )
        )
    return root


def test_only_placed_documents_covering_a_house_make_its_manager_or_supplier(
    sessions: sessionmaker[Session],
) -> None:
    fias = [_guid() for _ in range(6)]
    with sessions.begin() as s:
        houses = [_house(s, f) for f in fias]
        _contract(s, UO, repo.MANAGEMENT, repo.PLACED, fias[0])
        _contract(s, UO, repo.CHARTER, repo.PLACED, fias[1])
        _contract(s, UO, repo.MANAGEMENT, repo.TERMINATED, fias[2])
        _contract(s, UO, repo.MANAGEMENT, repo.ANNULLED, fias[3])
        _contract(s, UO, repo.MANAGEMENT, repo.PLACED, fias[4], annulled=True)
        _contract(s, UO2, repo.MANAGEMENT, repo.PLACED, fias[5])
        _contract(s, RSO, repo.SUPPLY, repo.PLACED, fias[0], fias[5])
        _contract(s, RSO, repo.SUPPLY, repo.PROJECT, fias[1])
    with sessions() as s:
        assert repo.managed_houses(s, UO, houses) == {houses[0], houses[1]}
        assert repo.managed_houses(s, UO2, houses) == {houses[5]}
        assert repo.supplied_houses(s, RSO, houses) == {houses[0], houses[5]}
        assert repo.houses_for_role(s, RSO, Role.RSO, houses) == {houses[0], houses[5]}
        assert repo.houses_for_role(s, UO, Role.BANK, houses) == set()
        # a manager sees another's placed document as a conflict; its own is none
        assert repo.managers_of(s, fias, exclude_org=UO) == {fias[5]: UO2}
        # a house not registered yet is covered all the same
        unregistered = _guid()
    with sessions.begin() as s:
        _contract(s, UO, repo.MANAGEMENT, repo.PLACED, unregistered)
    with sessions() as s:
        assert repo.covered_fias(s, UO, Role.UO, [unregistered, fias[5]]) == {unregistered}


def test_a_house_import_reads_the_house_and_its_cover_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """``house_and_cover``: the registered house (or None) and the same answer as
    ``covered_fias``, for each role."""
    fias = [_guid() for _ in range(4)]
    with sessions.begin() as s:
        houses = [_house(s, f) for f in fias[:2]]
        _contract(s, UO, repo.MANAGEMENT, repo.PLACED, fias[0], fias[2])
        _contract(s, UO, repo.MANAGEMENT, repo.TERMINATED, fias[1])
        _contract(s, RSO, repo.SUPPLY, repo.PLACED, fias[1])
    with sessions() as s:
        for org, role in ((UO, Role.UO), (RSO, Role.RSO), (UO, Role.BANK), (UO, None)):
            for n, f in enumerate(fias):
                house, covered = repo.house_and_cover(s, org, role, f)
                assert (house.guid if house else None) == (houses[n] if n < 2 else None)
                assert covered == (f in repo.covered_fias(s, org, role, [f])), (role, n)
        house, _ = repo.house_and_cover(s, UO, Role.UO, fias[0])
        assert house is not None
        assert (house.fias_house_guid, house.kind, house.org_guid) == (fias[0], "apartment", None)
        assert repo.house_and_cover(s, UO, Role.UO, fias[2])[1]
        assert not repo.house_and_cover(s, UO, Role.UO, fias[1])[1]


def test_an_account_basis_is_a_placed_supply_contract_the_sender_is_a_party_to(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        mine = _contract(s, RSO, repo.SUPPLY, repo.PLACED, _guid())
        ended = _contract(s, RSO, repo.SUPPLY, repo.TERMINATED, _guid())
        management = _contract(s, RSO, repo.MANAGEMENT, repo.PLACED, _guid())
        with_uo = _contract(s, UO2, repo.SUPPLY, repo.PLACED, _guid())
        s.get(Contract, with_uo).counterparty_org_guid = UO  # type: ignore[union-attr]
    with sessions() as s:
        version = s.scalars(select(Contract.version_guid).where(Contract.root_guid == mine)).one()
        named = [mine, version, ended, management, with_uo, _guid()]
        assert repo.placed_bases(s, RSO, named) == {mine, version}
        # the company a supplier supplies names that supply contract too
        assert repo.placed_bases(s, UO, named) == {with_uo}


def _page_through(
    sessions: sessionmaker[Session], size: int, between: threading.Event | None = None
) -> list[str]:
    """Page through the supplier's contracts as a client does: one transaction per page."""
    seen: list[str] = []
    after: str | None = None
    while True:
        with sessions() as s:
            page, after = repo.contracts_page(
                s, repo.Filter(RSO, (repo.SUPPLY,)), after=after, size=size
            )
        seen += [c.root_guid for c in page]
        if between is not None:
            between.set()
        if after is None:
            return seen


def test_pages_answer_every_row_once_while_rows_are_inserted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        before = {_contract(s, RSO, repo.SUPPLY, repo.PLACED, _guid()) for _ in range(95)}
    inserted: list[str] = []
    stop = threading.Event()
    page_done = threading.Event()

    def insert_while_paging() -> None:
        while not stop.is_set():
            page_done.wait(timeout=5)
            page_done.clear()
            with sessions.begin() as s:
                inserted.append(_contract(s, RSO, repo.SUPPLY, repo.PLACED, _guid()))

    writer = threading.Thread(target=insert_while_paging)
    writer.start()
    try:
        seen = _page_through(sessions, size=10, between=page_done)
    finally:
        stop.set()
        page_done.set()
        writer.join()
    assert inserted, "the writer inserted nothing while the client paged"
    assert len(seen) == len(set(seen)), "a contract was answered twice"
    assert before <= set(seen), "a contract that existed before paging was skipped"
    assert set(seen) <= before | set(inserted)


def test_the_last_page_says_so_and_a_full_last_page_has_no_next_key(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        for _ in range(20):
            _contract(s, RSO, repo.SUPPLY, repo.PLACED, _guid())
    with sessions() as s:
        query = select(Contract).where(Contract.org_guid == RSO)
        first, key = keyset_page(s, query, Contract.root_guid, after=None, size=10)
        second, last = keyset_page(s, query, Contract.root_guid, after=key, size=10)
        assert len(first) == len(second) == 10 and key == second[0].root_guid and last is None
    rows = [str(n).zfill(3) for n in range(25)]
    assert list_page(rows, str, after=None, size=10) == (rows[:10], rows[10])
    assert list_page(rows, str, after="020", size=10) == (rows[20:], None)


def test_the_upgrade_turns_the_old_bindings_into_placed_contracts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Houses a company described and houses a supplier was linked to stay theirs."""
    from sqlalchemy import text

    from persistence.db import make_engine, make_session_factory
    from persistence.migrations import downgrade, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, "0007")
    managed, supplied = _guid(), _guid()
    with engine.begin() as conn:
        for guid, fias, org in ((managed, _guid(), UO), (supplied, _guid(), None)):
            conn.execute(
                text(
                    "INSERT INTO houses (guid, fias_house_guid, org_guid, kind, unique_number, "
                    "no_cadastral_registration, created_at, updated_at) "
                    "VALUES (:g, :f, :o, 'apartment', :n, 0, :t, :t)"
                ),
                {"g": guid, "f": fias, "o": org, "n": guid[:11], "t": NOW},
            )
        conn.execute(
            text("INSERT INTO house_suppliers VALUES (:h, :o, :t)"),
            {"h": supplied, "o": RSO, "t": NOW},
        )
    upgrade(engine)
    with make_session_factory(engine)() as s:
        assert repo.managed_houses(s, UO, [managed, supplied]) == {managed}
        assert repo.supplied_houses(s, RSO, [managed, supplied]) == {supplied}
    downgrade(engine, "0007")
    with engine.connect() as conn:
        links = conn.execute(text("SELECT house_guid, org_guid FROM house_suppliers")).fetchall()
    assert [tuple(r) for r in links] == [(supplied, RSO)]
    engine.dispose()

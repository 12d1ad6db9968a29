"""Unified account numbers: the check digit, and numbering again when another worker took ours."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.handlers.base import HandlerContext
from gateway.handlers.house_management import import_account as handler
from persistence import accounts
from persistence.db import create_all_without_migrations, make_engine, make_session_factory
from persistence.models import Account, House, Premises
from tests.placed import placed_contract

ORG = "0a1b2c3d-0000-4000-8000-0000000000aa"
HM = "http://dom.gosuslugi.ru/schema/integration/house-management/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"


def test_unified_numbers_carry_a_luhn_check_digit() -> None:
    assert accounts.unified_number(1) == "0000000018"
    assert accounts.unified_number(123456789) == "1234567897"
    assert accounts.service_id("0000000018") == "0000000018-01"
    assert all(accounts.is_valid_unified_number(accounts.unified_number(n)) for n in range(500))
    assert not accounts.is_valid_unified_number("0000000019")  # one digit mistyped
    assert not accounts.is_valid_unified_number("0000000081")  # neighbours swapped
    with pytest.raises(OverflowError):
        accounts.unified_number(10**9)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'accounts.sqlite3'}")
    create_all_without_migrations(engine)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def _premises(session: Session, now: datetime) -> str:
    house = House(
        guid=str(uuid.uuid4()),
        fias_house_guid=str(uuid.uuid4()),
        org_guid=ORG,
        kind="apartment",
        unique_number="12345678901",
        created_at=now,
        updated_at=now,
    )
    flat = Premises(
        guid=str(uuid.uuid4()),
        house_guid=house.guid,
        kind="residential",
        number="1",
        unique_number="12345678901P00001",
        updated_at=now,
    )
    session.add(house)
    session.flush()
    placed_contract(session, ORG, house.fias_house_guid)
    session.add(flat)
    session.flush()
    return flat.guid


def _request(premises_guid: str) -> etree._Element:
    request = etree.fromstring(
        f'<hm:importAccountRequest xmlns:hm="{HM}" xmlns:base="{BASE}" base:version="10.0.1.1">'
        "<hm:Account><hm:isUOAccount>true</hm:isUOAccount>"
        f"<hm:Accommodation><hm:PremisesGUID>{premises_guid}</hm:PremisesGUID></hm:Accommodation>"
        f"<hm:PayerInfo/><base:TransportGUID>{uuid.uuid4()}</base:TransportGUID></hm:Account>"
        "</hm:importAccountRequest>"
    )
    return request


def test_an_account_numbered_by_another_worker_meanwhile_is_numbered_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    flat = _premises(session, now)
    ctx = HandlerContext(session, ORG, "uo", str(uuid.uuid4()), "10.0.1.1", now)
    handler.import_account(ctx, _request(flat))  # serial 1
    # another worker's packet read the sequence before serial 1 was committed
    real, reads = accounts.max_serial, []

    def max_serial(s: Session) -> int:
        reads.append(1)
        return 0 if len(reads) == 1 else real(s)

    monkeypatch.setattr(accounts, "max_serial", max_serial)

    result = handler.import_account(ctx, _request(flat)).elements[0]

    assert result.find(f".//{{{BASE}}}Error") is None, etree.tostring(result)
    assert result.findtext(f".//{{{BASE}}}UniqueNumber") == accounts.unified_number(2)
    numbers = session.scalars(select(Account.unique_number).order_by(Account.serial)).all()
    assert numbers == [accounts.unified_number(1), accounts.unified_number(2)]
    assert len(reads) == 2  # read again after the collision

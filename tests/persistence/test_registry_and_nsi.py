"""The NSI books (import, the set-based check, its reload on a new generation) and the
organisation register look-ups, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from persistence import migrations, nsi, org_registry, organizations
from persistence.db import create_all_without_migrations, make_engine
from persistence.org_registry import Criterion
from persistence.organizations import RegisterDetails
from tests.stand import scratch_database

SHIPPED = nsi.read_file(nsi.shipped_file())
WATER = next(b for b in SHIPPED.books if b.registry_number == 2)
COLD, HOT = WATER.entries[0], WATER.entries[1]


def _load_shipped(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return nsi.import_file(session.connection(), SHIPPED)


def test_check_tells_unknown_and_mismatched_pairs(sessions: sessionmaker[Session]) -> None:
    _load_shipped(sessions)
    stranger = str(uuid.uuid4())
    with sessions() as session:
        problems = nsi.check(
            session,
            2,
            [(COLD.code, COLD.guid), (COLD.code, HOT.guid), ("77", stranger), (HOT.code, HOT.guid)],
        )
    assert problems.unknown == {("77", stranger)}
    assert problems.mismatched == {(COLD.code, HOT.guid): COLD.guid}
    assert problems.describe((HOT.code, HOT.guid), 2) is None
    with sessions() as session:
        assert not nsi.check(session, 2, [(COLD.code, COLD.guid.upper())])
        assert nsi.check(session, 9999, [(COLD.code, COLD.guid)]).unknown  # no such book


def test_an_import_is_seen_by_the_books_of_a_process(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = _load_shipped(sessions)
    books = nsi.Books()  # a process of its own
    with sessions() as session:
        assert not books.check(session, 2, [(COLD.code, COLD.guid)])
    data = json.loads(nsi.shipped_file().read_text(encoding="utf-8"))
    renewed = str(uuid.uuid4())
    data["books"][0]["items"][0]["guid"] = renewed
    data["books"][0]["items"][1]["is_actual"] = False
    changed = tmp_path / "books.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with sessions.begin() as session:
        assert nsi.import_file(session.connection(), nsi.read_file(changed)) == first + 1
    with sessions() as session:
        assert books.check(session, 2, [(COLD.code, COLD.guid)]).mismatched
        assert not books.check(session, 2, [(COLD.code, renewed)])
        assert books.check(session, 2, [(HOT.code, HOT.guid)]).unknown  # not actual any more
        assert nsi.loaded_version(session) == (SHIPPED.version, first + 1)
    _load_shipped(sessions)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "not an NSI data file"),
        (
            lambda d: d["books"][1]["items"].append(d["books"][0]["items"][0]),
            "a GUID appears twice",
        ),
        (lambda d: d["books"][0]["items"][0].pop("guid"), "malformed"),
    ],
)
def test_a_bad_data_file_is_refused(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(nsi.shipped_file().read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "books.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(nsi.NsiFileError, match=message):
        nsi.read_file(path)


def test_register_finds_by_ogrn_kpp_ogrnip_and_guids(sessions: sessionmaker[Session]) -> None:
    head, branch, ip = (str(uuid.uuid4()) for _ in range(3))
    ogrn = f"1{uuid.uuid4().int % 10**12:012d}"
    with sessions.begin() as session:
        organizations.add_organization(
            session, head, "Head", "uo", "x", RegisterDetails(ogrn=ogrn, kpp="770101001")
        )
        organizations.add_organization(
            session,
            branch,
            "Branch",
            "uo",
            "x",
            RegisterDetails(kind="branch", ogrn=ogrn, kpp="770201001", parent_guid=head),
        )
        organizations.add_organization(
            session,
            ip,
            "Иванов Иван",
            "rso",
            "x",
            RegisterDetails(kind="entrepreneur", ogrn="3" + ogrn + "1"),
        )
    with sessions() as session:
        by_ogrn = org_registry.find(session, [Criterion("ogrn", ogrn)])
        assert [r.guid for r in by_ogrn] == [head, branch]
        assert by_ogrn[1].parent_version_guid == by_ogrn[0].version_guid
        with_kpp = org_registry.find(session, [Criterion("ogrn", ogrn, "770201001")])
        assert [r.guid for r in with_kpp] == [branch]
        assert [
            r.guid for r in org_registry.find(session, [Criterion("ogrnip", "3" + ogrn + "1")])
        ] == [ip]
        assert org_registry.find(session, [Criterion("ogrnip", ogrn)]) == []
        root = by_ogrn[0].root_entity_guid
        both = org_registry.find(
            session,
            [Criterion("root", root.upper()), Criterion("version", by_ogrn[1].version_guid)],
        )
        assert [r.guid for r in both] == [head, branch]
        edited = by_ogrn[0].updated_at.date()
        since = org_registry.find(session, [Criterion("ogrn", ogrn)], edited)
        assert [r.guid for r in since] == [head, branch]
        assert (
            org_registry.find(session, [Criterion("ogrn", ogrn)], edited + timedelta(days=1)) == []
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind, for migrating step by step."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield engine
        engine.dispose()
        return
    for url in scratch_database("hcs_gateway_nsi"):
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM nsi_items")).scalar_one())


def test_the_migration_registers_existing_organisations_and_loads_the_books(
    fresh: Engine,
) -> None:
    from alembic.script import ScriptDirectory

    before = ScriptDirectory.from_config(migrations.alembic_config()).get_revision("0011")
    migrations.upgrade(fresh, str(before.down_revision))  # the revision before 0011
    with fresh.begin() as conn:
        for guid in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO organizations (guid, name, role, password_hash, locked, created_at)"
                    " VALUES (:guid, 'Org', 'uo', 'x', false, CURRENT_TIMESTAMP)"
                ),
                {"guid": guid},
            )
    migrations.upgrade(fresh)
    with fresh.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, root_entity_guid, version_guid FROM organizations ORDER BY guid")
        ).all()
        version = conn.execute(text("SELECT version FROM nsi_state")).scalar_one()
    assert [r[0] for r in rows] == ["legal", "legal"]
    guids = [g for r in rows for g in r[1:]]
    assert len(set(guids)) == 4 and all(guids)
    assert version == SHIPPED.version
    assert _entries(fresh) == sum(len(b.entries) for b in SHIPPED.books)


def test_a_database_made_before_migrations_gets_the_books_too(fresh: Engine) -> None:
    create_all_without_migrations(fresh)
    migrations.upgrade(fresh)
    assert _entries(fresh) == sum(len(b.entries) for b in SHIPPED.books)


def test_nsi_refs_refuse_the_item_a_pair_is_in(sessions: sessionmaker[Session]) -> None:
    from datetime import UTC, datetime

    from lxml import etree

    from gateway.codes import Code
    from gateway.handlers.base import HandlerContext
    from gateway.handlers.nsi_refs import NsiRefs

    _load_shipped(sessions)
    passport = next(b for b in SHIPPED.books if b.registry_number == 95).entries[0]
    packet = etree.fromstring(
        f"""<r xmlns:n="urn:nsi"><item><TransportGUID>a</TransportGUID><ID><Type>
        <n:Code>{passport.code}</n:Code><n:GUID>{passport.guid}</n:GUID></Type></ID>
        <Other><Type><n:Code>1</n:Code><n:GUID>{uuid.uuid4()}</n:GUID></Type></Other></item>
        <item><TransportGUID>b</TransportGUID><Payer><ID><Type><n:Code>{passport.code}</n:Code>
        <n:GUID>{COLD.guid}</n:GUID></Type></ID></Payer></item></r>"""
    )
    with sessions() as session:
        ctx = HandlerContext(session, "o", None, "m", None, datetime.now(UTC))
        refused = NsiRefs(ctx, packet, {"ID/Type": 95}).by_transport_guid()
    # a: the Type outside ID is no reference of NSI 95; b: a GUID of another book's entry
    assert list(refused) == ["b"]
    assert refused["b"].code is Code.NSI_REF_UNKNOWN
    assert refused["b"].description.startswith(f"Type: NSI 95: Code {passport.code} has GUID")

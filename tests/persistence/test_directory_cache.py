"""The per-process directory cache (gateway.caches) on SQLite and PostgreSQL: two nodes share
one store, each with its own cache, and a change made through one of them holds on the other
— a lock at once (the accept transaction reads the directory generation), anything else
within a second (a refusal made from the cache is checked again after MAX_AGE_SECONDS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from sqlalchemy import func, select

from gateway import caches, enrol
from gateway.accept import AcceptPipeline, HttpRequest
from gateway.caches import Directory
from gateway.codes import Code
from gateway.config import Settings
from gateway.namespaces import BASE
from gateway.passwords import hash_password
from gateway.runtime import Runtime
from persistence import organizations
from persistence.db import make_engine, make_session_factory
from persistence.migrations import upgrade
from persistence.models import Packet
from persistence.roles import Role
from signing import fingerprint
from signing.pki import init_ca, issue
from tests.paths import HM_PATH
from tests.postgres import scratch_database
from tests.stand.packets import house_request, signed_packet


@dataclass
class Org:
    guid: str
    key: Any
    cert: x509.Certificate


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    for url in scratch_database("hcs_gateway_directory"):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def ca(tmp_path: Path, store: str) -> Path:
    ca_dir = tmp_path / "ca"
    init_ca(ca_dir)
    pem = (ca_dir / "ca.pem").read_text()
    cert = x509.load_pem_x509_certificate(pem.encode())
    with _sessions(store).begin() as session:
        organizations.add_trust_anchor(session, fingerprint(cert), "test CA", pem)
    return ca_dir


def _sessions(url: str) -> Any:
    return make_session_factory(make_engine(url))


def _org(store: str, ca: Path, tmp_path: Path, *, register_certificate: bool = True) -> Org:
    guid = str(uuid.uuid4())
    key, cert = issue(ca, guid, tmp_path / guid)
    with _sessions(store).begin() as session:
        organizations.add_organization(session, guid, "UO", Role.UO, hash_password("pw"))
        if register_certificate:
            enrol.register_certificate(session, guid, cert)
    return Org(guid, key, cert)


@pytest.fixture
def nodes(store: str, tmp_path: Path) -> Iterator[tuple[AcceptPipeline, AcceptPipeline, Clock]]:
    """Two nodes on the store; the second's cache runs on a clock the test moves."""
    settings = Settings(data_dir=tmp_path / "node", database_url=store)
    a = Runtime(settings, create_tables=False)
    b = Runtime(settings, create_tables=False)
    clock = Clock()
    b.directory = Directory(b.reader, clock=clock)
    yield AcceptPipeline(a), AcceptPipeline(b), clock
    a.close()
    b.close()


def _packet(org: Org) -> bytes:
    """A signed house import of the organisation (a new house, one entrance)."""
    return signed_packet(house_request(0), org.guid, org.key, org.cert, str(uuid.uuid4()))


def _send(node: AcceptPipeline, org: Org) -> tuple[int, str | None, str]:
    """(HTTP status, fault code or None, fault message) of one signed import."""
    reply = node.handle(HttpRequest(HM_PATH, '"urn:importHouseUOData"', None, _packet(org)))
    answer = etree.fromstring(reply.body)
    return (
        reply.status,
        answer.findtext(f".//{{{BASE}}}ErrorCode"),
        answer.findtext(f".//{{{BASE}}}ErrorMessage") or "",
    )


def _stored(store: str, org: Org) -> int:
    with _sessions(store)() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Packet)
                .where(Packet.org_guid == org.guid, Packet.state != "rejected")
            )
            or 0
        )


def test_a_lock_on_one_node_refuses_on_the_other_at_once(nodes, store, ca, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, _clock = nodes
    org = _org(store, ca, tmp_path)
    assert _send(a, org)[0] == 200
    assert _send(b, org)[0] == 200  # b's cache now holds the organisation, unlocked
    with a.rt.session.begin() as session:
        assert organizations.set_locked(session, org.guid, True)
    status, code, message = _send(b, org)  # the clock did not move: the cache is not aged
    assert (status, code) == (403, Code.UNAUTHENTICATED.value)
    assert "locked" in message
    assert _stored(store, org) == 2  # the refused packet was rolled back, not stored


def test_an_unlock_holds_on_the_other_node_within_a_second(nodes, store, ca, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, clock = nodes
    org = _org(store, ca, tmp_path)
    with a.rt.session.begin() as session:
        organizations.set_locked(session, org.guid, True)
    assert _send(b, org)[0] == 403
    with a.rt.session.begin() as session:
        organizations.set_locked(session, org.guid, False)
    clock.now += caches.MAX_AGE_SECONDS + 0.01
    assert _send(b, org)[0] == 200


def test_a_certificate_registered_later_is_accepted_within_a_second(  # type: ignore[no-untyped-def]
    nodes, store, ca, tmp_path
) -> None:
    a, b, clock = nodes
    org = _org(store, ca, tmp_path, register_certificate=False)
    status, code, _ = _send(b, org)
    assert (status, code) == (500, Code.CERTIFICATE_REFUSED.value)
    with a.rt.session.begin() as session:
        enrol.register_certificate(session, org.guid, org.cert)
    clock.now += caches.MAX_AGE_SECONDS + 0.01
    assert _send(b, org)[0] == 200


def test_a_directory_changed_during_the_checks_makes_them_run_again(  # type: ignore[no-untyped-def]
    nodes, store, ca, tmp_path
) -> None:
    a, b, _clock = nodes
    org = _org(store, ca, tmp_path)
    assert _send(b, org)[0] == 200
    other = _org(store, ca, tmp_path)  # bumps the generation after b's cache was filled
    stale = b.rt.directory.snapshot()
    assert _send(b, org)[0] == 200  # the transaction saw the new number: checked again
    assert b.rt.directory.snapshot() is not stale
    assert _stored(store, org) == 2
    assert _send(a, other)[0] == 200

"""Refusals decided where the packet is stored: the per-minute and queue limits, and a
directory that changed under the checks. A refused packet writes nothing (no packet, job,
event or count) on SQLite, whose transaction rolls back, and on PostgreSQL, where the one
accept statement decides them itself in autocommit (``persistence.accept_sql``); the limits
are exact for packets of one organisation accepted at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from gateway.accept import AcceptPipeline, HttpRequest
from gateway.caches import Directory
from gateway.config import LimitSettings
from gateway.enrol import register_certificate
from gateway.namespaces import BASE
from gateway.passwords import hash_password
from gateway.runtime import Runtime
from persistence import organizations, packets
from persistence.accept_sql import Counting
from persistence.committer import StatementCommitter
from persistence.models import Job, Packet, PacketEvent, RateCounter
from persistence.roles import Role
from signing import fingerprint
from signing.pki import init_ca, issue
from tests.paths import HM_PATH
from tests.stand import (
    STORES,
    house_request,
    migrated_engine,
    new_packet,
    runtime_on,
    signed_packet,
)

#: The accept path's clock, fixed: every packet of a test falls in one rate window.
NOW = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)


@dataclass
class Org:
    guid: str
    key: Any
    cert: x509.Certificate


def _register(rt: Runtime, tmp_path: Path) -> Org:
    """A trusted CA and an organisation with a certificate of it, in ``rt``'s store."""
    ca = tmp_path / "ca"
    if not ca.exists():
        init_ca(ca)
        pem = (ca / "ca.pem").read_text()
        with rt.session.begin() as session:
            anchor = x509.load_pem_x509_certificate(pem.encode())
            organizations.add_trust_anchor(session, fingerprint(anchor), "test CA", pem)
    guid = str(uuid.uuid4())
    key, cert = issue(ca, guid, tmp_path / guid)
    with rt.session.begin() as session:
        organizations.add_organization(session, guid, "UO", Role.UO, hash_password("pw"))
    _add_certificate(rt, guid, cert)
    return Org(guid, key, cert)


def _add_certificate(rt: Runtime, guid: str, cert: x509.Certificate) -> None:
    with rt.session.begin() as session:
        register_certificate(session, guid, cert)


def _send(pipeline: AcceptPipeline, org: Org, raw: bytes | None = None) -> tuple[int, str, str]:
    """(HTTP status, ErrorCode or MessageGUID, ErrorMessage) of one signed house import."""
    raw = raw or _packet(org)
    reply = pipeline.handle(HttpRequest(HM_PATH, '"urn:importHouseUOData"', None, raw))
    answer = etree.fromstring(reply.body)
    code = answer.findtext(f".//{{{BASE}}}ErrorCode") or answer.findtext(
        f".//{{{BASE}}}MessageGUID"
    )
    return reply.status, code or "", answer.findtext(f".//{{{BASE}}}ErrorMessage") or ""


def _packet(org: Org) -> bytes:
    return signed_packet(house_request(0), org.guid, org.key, org.cert, str(uuid.uuid4()))


def _written(engine: Engine, org_guid: str) -> tuple[int, int, int, int]:
    """(accepted packets, jobs, "received" events, packets counted this minute) of the org."""
    accepted = select(Packet.id).where(Packet.org_guid == org_guid, Packet.state != "rejected")
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(accepted.subquery())) or 0,
            conn.scalar(select(func.count()).where(Job.packet_id.in_(accepted))) or 0,
            conn.scalar(
                select(func.count()).where(
                    PacketEvent.packet_id.in_(accepted), PacketEvent.event == "received"
                )
            )
            or 0,
            conn.scalar(
                select(func.coalesce(func.sum(RateCounter.count), 0)).where(
                    RateCounter.key == f"packets:{org_guid}"
                )
            )
            or 0,
        )


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pipeline(
    request: pytest.FixtureRequest, store: str, tmp_path: Path, limits: LimitSettings
) -> AcceptPipeline:
    """A node whose directory cache never ages: only a stored packet's statement tells it
    the directory changed."""
    rt = runtime_on(request, store, tmp_path, limits=limits)
    rt.directory = Directory(rt.reader, clock=lambda: 0.0)
    return AcceptPipeline(rt)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.accept.utcnow", lambda: NOW)


def test_a_packet_past_the_rate_limit_is_refused_and_not_counted(
    request: pytest.FixtureRequest, store: str, tmp_path: Path
) -> None:
    pipeline = _pipeline(request, store, tmp_path, LimitSettings(packets_per_minute=2))
    org = _register(pipeline.rt, tmp_path)
    answers = [_send(pipeline, org) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 503]
    status, code, message = answers[2]
    assert code == "EXP002001" and "more than 2 packets this minute" in message
    assert "again in 55 s" in message  # the window of NOW ends 55 s later
    assert _written(pipeline.rt.engine, org.guid) == (2, 2, 2, 2)


def test_a_packet_past_the_queue_limit_is_refused_and_writes_nothing(
    request: pytest.FixtureRequest, store: str, tmp_path: Path
) -> None:
    """No worker runs: accepted packets stay waiting."""
    limits = LimitSettings(packets_per_minute=100, queued_packets=2)
    pipeline = _pipeline(request, store, tmp_path, limits)
    org = _register(pipeline.rt, tmp_path)
    answers = [_send(pipeline, org) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 503]
    _, code, message = answers[2]
    assert code == "EXP002001"
    assert "has 2 packets waiting to be processed (limit 2)" in message
    assert _written(pipeline.rt.engine, org.guid) == (2, 2, 2, 2)


def test_a_packet_sent_again_is_acknowledged_again_and_counted_once(
    request: pytest.FixtureRequest, store: str, tmp_path: Path
) -> None:
    pipeline = _pipeline(request, store, tmp_path, LimitSettings(packets_per_minute=5))
    org = _register(pipeline.rt, tmp_path)
    raw = _packet(org)
    first, again = _send(pipeline, org, raw), _send(pipeline, org, raw)
    assert first[0] == again[0] == 200 and first[1] == again[1]  # the same MessageGUID
    assert _written(pipeline.rt.engine, org.guid) == (1, 1, 1, 1)


def test_a_directory_changed_under_the_checks_stores_the_packet_once_after_new_checks(
    request: pytest.FixtureRequest, store: str, tmp_path: Path
) -> None:
    """A certificate added to the organisation moves the generation after the cache was
    filled: the store refuses the checks' stale generation, writing nothing, and the
    checks run again on fresh data."""
    pipeline = _pipeline(request, store, tmp_path, LimitSettings(packets_per_minute=10))
    org = _register(pipeline.rt, tmp_path)
    assert _send(pipeline, org)[0] == 200
    stale = pipeline.rt.directory.snapshot()
    _, other = issue(tmp_path / "ca", org.guid, tmp_path / "second")
    _add_certificate(pipeline.rt, org.guid, other)
    assert pipeline.rt.directory.snapshot() is stale  # the cache has not noticed yet
    assert _send(pipeline, org)[0] == 200
    assert pipeline.rt.directory.snapshot().generation > stale.generation
    assert _written(pipeline.rt.engine, org.guid) == (2, 2, 2, 2)


def test_a_lock_that_makes_the_cache_stale_refuses_and_writes_nothing(
    request: pytest.FixtureRequest, store: str, tmp_path: Path
) -> None:
    pipeline = _pipeline(request, store, tmp_path, LimitSettings(packets_per_minute=10))
    org = _register(pipeline.rt, tmp_path)
    assert _send(pipeline, org)[0] == 200
    with pipeline.rt.session.begin() as session:
        assert organizations.set_locked(session, org.guid, True)
    status, _, message = _send(pipeline, org)
    assert status == 403 and "locked" in message
    assert _written(pipeline.rt.engine, org.guid) == (1, 1, 1, 1)


# --- PostgreSQL: packets of one organisation accepted at once ----------------------------------


@pytest.fixture
def postgres_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, "postgresql", tmp_path)


def _waiting_on_locks(engine: Engine, n: int) -> None:
    """Return once ``n`` sessions of the database wait for a lock."""
    deadline = time.monotonic() + 60
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        while conn.execute(query).scalar_one() < n:
            assert time.monotonic() < deadline, "the accepts never queued behind the holder"
            time.sleep(0.02)


def _at_once(engine: Engine, org: str, counting: Counting, n: int) -> list[packets.AcceptOutcome]:
    """A first packet's statement holds its transaction open while ``n`` more of ``org``
    (the accept path's autocommit statements, each on its own connection) queue behind its
    locks; then it commits. The outcomes, the first one's first."""
    committer = StatementCommitter(engine)
    outcomes: list[packets.AcceptOutcome] = []
    with engine.connect() as holder:
        outcomes.append(packets.accept(holder, new_packet(org), counting))
        threads = [
            threading.Thread(
                target=lambda: outcomes.append(
                    committer.run(lambda conn: packets.accept(conn, new_packet(org), counting))
                )
            )
            for _ in range(n)
        ]
        for thread in threads:
            thread.start()
        _waiting_on_locks(engine, n)
        holder.commit()
    for thread in threads:
        thread.join()
    return outcomes


def test_the_rate_limit_is_exact_for_packets_accepted_at_once(postgres_engine: Engine) -> None:
    org = str(uuid.uuid4())
    window = int(NOW.timestamp()) // 60 * 60
    counting = Counting(rate=(f"packets:{org}", window), rate_limit=3)
    outcomes = _at_once(postgres_engine, org, counting, 5)
    assert sorted(o.status for o in outcomes) == ["limited"] * 3 + ["new"] * 3
    assert {o.stored.rate_count for o in outcomes if o.status == "limited"} == {4}
    assert _written(postgres_engine, org) == (3, 3, 3, 3)


def test_the_queue_limit_is_exact_for_packets_accepted_at_once(postgres_engine: Engine) -> None:
    """Without the per-minute limit nothing else orders them: the queue count does."""
    org = str(uuid.uuid4())
    outcomes = _at_once(postgres_engine, org, Counting(pending=True, queue_limit=3), 5)
    assert sorted(o.status for o in outcomes) == ["limited"] * 3 + ["new"] * 3
    assert sorted(o.stored.pending for o in outcomes if o.status == "new") == [1, 2, 3]  # type: ignore[type-var]
    assert {o.stored.pending for o in outcomes if o.status == "limited"} == {4}
    assert _written(postgres_engine, org)[:3] == (3, 3, 3)


def test_the_statement_writes_nothing_for_a_stale_generation(postgres_engine: Engine) -> None:
    org = str(uuid.uuid4())
    with Session(postgres_engine) as session:
        current = organizations.generation(session)
    committer = StatementCommitter(postgres_engine)
    stale = committer.run(
        lambda conn: packets.accept(conn, new_packet(org), expect_generation=current - 1)
    )
    assert (stale.status, stale.stored.generation) == ("stale", current)
    assert _written(postgres_engine, org) == (0, 0, 0, 0)
    fresh = committer.run(
        lambda conn: packets.accept(conn, new_packet(org), expect_generation=current)
    )
    assert fresh.status == "new" and _written(postgres_engine, org)[:3] == (1, 1, 1)

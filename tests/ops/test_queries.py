"""The ops queries and rules on SQLite and PostgreSQL, without a server: replay rules, the
filters of the packet list, retention, queue statistics, readiness; and the pure helpers
(results reading, time filters, console sessions, signature reasons)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.codes import Code
from gateway.config import RetentionSettings, load_settings
from gateway.errors import CertificateRefused, SignatureInvalid
from gateway.handlers.base import ItemError
from gateway.imports.answer import Answer, Done, Refused
from gateway.imports.pipeline import Item
from gateway.ops import packets as ops
from gateway.ops import purge as ops_purge
from gateway.ops import replay as ops_replay
from gateway.ops.observe import signature_reason
from gateway.ops.web import SessionCodec, load_secret, new_session
from gateway.state import error_results, pack_results
from persistence import packets, queue
from persistence.db import make_engine, make_session_factory
from persistence.migrations import upgrade
from persistence.models import Base, Job, Packet, PacketEvent, PacketReplay
from persistence.packets import ResultCounts
from signing.errors import SignatureError

ORG = "0a1b2c3d-0000-4000-8000-0000000000bb"
OTHER = "0a1b2c3d-0000-4000-8000-0000000000cc"
HM_NS = "http://dom.gosuslugi.ru/schema/integration/house-management/"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    eng = make_engine(request.getfixturevalue("postgres_database"))
    upgrade(eng)
    yield eng
    with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def _results(ok: int, errors: int) -> str:
    refused = ItemError(Code.HOUSE_EXISTS, "The house <exists> & is managed")
    outcomes = [Done(str(uuid.uuid4()), "77-1") for _ in range(ok)]
    outcomes += [Refused(refused) for _ in range(errors)]
    items = [Item(str(uuid.uuid4())) for _ in outcomes]
    answer = Answer(HM_NS, tag="CommonResult")
    return pack_results(answer.build(items, outcomes, datetime.now(UTC)).elements)


def _accept(s: Session, org: str = ORG, operation: str = "importHouseUOData") -> str:
    return packets.accept(
        s,
        packets.NewPacket(
            requester_message_guid=str(uuid.uuid4()),
            org_guid=org,
            service="house-management",
            operation=operation,
            version="13.2.3.2",
            raw=b"<packet/>",
            body_sha256=uuid.uuid4().hex,
            signer_subject="CN=test",
        ),
    ).message_guid


def _make(sessions: sessionmaker[Session], outcome: str, **kwargs: object) -> str:
    """A packet taken through the real queue functions to ``outcome``."""
    with sessions.begin() as s:
        guid = _accept(s, **kwargs)  # type: ignore[arg-type]
    if outcome == "received":
        return guid
    with sessions.begin() as s:
        job = queue.claim(s, "test-worker", 60)
        assert job is not None
    with sessions.begin() as s:
        if outcome == "processed":
            queue.finish(
                s,
                job,
                packet_state="processed",
                result_xml=_results(2, 1),
                counts=ResultCounts(items=3, errors=1),
            )
        elif outcome == "failed":
            queue.finish(
                s,
                job,
                packet_state="failed",
                result_xml=error_results(
                    Code.INTERNAL_ERROR, "Internal error while processing: KeyError"
                ),
                counts=ResultCounts(items=0, errors=1),
                error_code=Code.INTERNAL_ERROR,
                error_message="KeyError: 'retired-kind'",
            )
        elif outcome == "dead":
            queue.bury(
                s,
                job,
                "IntegrityError: frozen",
                error_results(Code.INTERNAL_ERROR, "dead"),
                counts=ResultCounts(items=0, errors=1),
                error_code=Code.INTERNAL_ERROR,
            )
    return guid


def _rejected(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as s:
        return packets.record_rejected(
            s, raw=b"<bad", body_sha256="x", error_code=Code.MALFORMED_XML, error_message="not XML"
        )


def test_replay_rules_and_audit(sessions: sessionmaker[Session]) -> None:
    processed = _make(sessions, "processed")
    failed = _make(sessions, "failed")
    dead = _make(sessions, "dead")
    received = _make(sessions, "received")  # last: _make claims the oldest queued job
    rejected = _rejected(sessions)

    outcomes = ops_replay.replay(
        sessions,
        [received, rejected, processed, str(uuid.uuid4()), failed, dead],
        by="cli:alice@host",
    )
    assert [(o.replayed, o.refused) for o in outcomes] == [
        (False, "in-progress"),
        (False, "rejected"),
        (False, "needs-force"),
        (False, "not-found"),
        (True, None),
        (True, None),
    ]
    forced = ops_replay.replay(sessions, [processed, failed], by="console:bob", force=True)
    assert [(o.replayed, o.refused) for o in forced] == [(True, None), (False, "in-progress")]

    with sessions() as s:
        found = ops.detail(s, failed)
        assert found is not None
        assert found.packet.state == "received" and found.packet.result_xml is None
        assert found.job is not None and (found.job.state, found.job.attempts) == ("queued", 0)
        (replay,) = found.replays
        assert replay.record.replayed_by == "cli:alice@host" and not replay.record.forced
        assert replay.record.previous_state == "failed"
        assert replay.record.previous_error_code == "EXP001000"
        assert replay.previous.error_code == "EXP001000"
        assert [e.event for e in found.events] == ["received", "attempt", "failed", "replay"]
        (forced_replay,) = ops.detail(s, processed).replays  # type: ignore[union-attr]
        assert forced_replay.record.forced and forced_replay.record.previous_state == "processed"
        assert len(forced_replay.previous.items) == 3  # the result it replaced is kept
        # replayed packets lose their result and its counts until processed again
        listed = ops.list_packets(s, ops.Filters(state="received"))
        assert {(r.message_guid, r.items, r.errors) for r in listed} == {
            (guid, 0, 0) for guid in (processed, failed, dead, received)
        }
        assert ops.list_packets(s, ops.Filters(with_errors=True)) == []
    # the re-queued jobs are claimed like new ones, attempt 1 again
    with sessions.begin() as s:
        claimed = [queue.claim(s, "w", 60) for _ in range(4)]
    assert sorted(j.attempt for j in claimed if j) == [1, 1, 1, 1]  # received + 3 replayed


def test_list_filters_counts_and_overview(sessions: sessionmaker[Session]) -> None:
    processed = _make(sessions, "processed")
    failed = _make(sessions, "failed", operation="exportHouseData")
    other = _make(sessions, "received", org=OTHER)
    rejected = _rejected(sessions)
    with sessions() as s:
        everything = ops.list_packets(s, ops.Filters())
        assert [r.message_guid for r in everything] == [rejected, other, failed, processed]
        by_state = ops.list_packets(s, ops.Filters(state="failed"))
        assert [r.message_guid for r in by_state] == [failed]
        assert by_state[0].error_code == "EXP001000"
        with_errors = ops.list_packets(s, ops.Filters(with_errors=True, state="processed"))
        assert [(r.message_guid, r.items, r.errors) for r in with_errors] == [(processed, 3, 1)]
        assert [r.message_guid for r in ops.list_packets(s, ops.Filters(org=OTHER))] == [other]
        assert [
            r.message_guid for r in ops.list_packets(s, ops.Filters(operation="exportHouseData"))
        ] == [failed]
        future = datetime.now(UTC) + timedelta(hours=1)
        assert ops.list_packets(s, ops.Filters(since=future)) == []
        page = ops.list_packets(s, ops.Filters(limit=2))
        older = ops.list_packets(s, ops.Filters(limit=2, before_id=page[-1].id))
        assert [r.message_guid for r in page + older] == [rejected, other, failed, processed]
        since = datetime.now(UTC) - timedelta(minutes=5)
        assert packets.state_counts(s, since) == {
            "processed": 1,
            "failed": 1,
            "received": 1,
            "rejected": 1,
        }
        assert packets.count_with_errors(s, since) == 1
        stats = queue.stats(s)
        assert (stats.queued, stats.running, stats.dead) == (1, 0, 0)
        assert stats.oldest_age_seconds >= 0
    with pytest.raises(ops.BadFilter):
        ops.Filters(state="lost")
    with pytest.raises(ops.BadFilter):
        ops.Filters(org="not-a-guid")


def test_purge_takes_only_old_processed_and_rejected(sessions: sessionmaker[Session]) -> None:
    guids = {state: _make(sessions, state) for state in ("processed", "failed", "dead")}
    guids["rejected"] = _rejected(sessions)
    recent = _make(sessions, "processed")
    guids["received"] = _make(sessions, "received")
    with sessions.begin() as s:  # take the received one out of the way of the claim below
        s.execute(update(Job).values(run_after=datetime.now(UTC) + timedelta(days=1)))
    ops_replay.replay(sessions, [guids["processed"]], by="t", force=True)
    with sessions.begin() as s:  # the replayed one is processed again, with a replay record
        job = queue.claim(s, "w", 60)
        assert job is not None
    with sessions.begin() as s:
        queue.finish(
            s,
            job,
            packet_state="processed",
            result_xml=_results(1, 0),
            counts=ResultCounts(items=1, errors=0),
        )
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with sessions.begin() as s:
        s.execute(
            update(Packet)
            .where(Packet.message_guid.in_(list(guids.values())))
            .values(received_at=long_ago)
        )
    policy = RetentionSettings(processed_days=180, rejected_days=30)
    dry = ops_purge.purge(sessions, policy, None, dry_run=True)
    assert {r.state: r.count for r in dry} == {"processed": 1, "rejected": 1}
    # --before only narrows: nothing received before 500 days ago
    narrow = ops_purge.purge(sessions, policy, datetime.now(UTC) - timedelta(days=500))
    assert {r.state: r.count for r in narrow} == {"processed": 0, "rejected": 0}
    done = ops_purge.purge(sessions, policy, datetime.now(UTC) + timedelta(days=1), batch=1)
    assert {r.state: r.count for r in done} == {"processed": 1, "rejected": 1}
    with sessions() as s:
        left = dict(s.execute(select(Packet.message_guid, Packet.state)).all())
        assert set(left) == {guids["received"], guids["failed"], guids["dead"], recent}
        ids = set(s.scalars(select(Packet.id)))
        for table in (PacketEvent, Job, PacketReplay):
            assert set(s.scalars(select(table.packet_id))) <= ids
        assert s.scalar(select(func.count()).select_from(PacketReplay)) == 0


def test_readiness_reports_a_stalled_queue(tmp_path: Path) -> None:
    from gateway.ops.health import readiness
    from gateway.runtime import Runtime

    settings = load_settings(environ={"GATEWAY_DATA_DIR": str(tmp_path)})
    runtime = Runtime(settings)
    try:
        runtime.formats  # noqa: B018  (compiled at start-up by GatewayApp)
        assert readiness(runtime).ready
        with runtime.session.begin() as s:
            _accept(s)
            s.execute(update(Job).values(run_after=datetime.now(UTC) - timedelta(minutes=10)))
        stalled = readiness(runtime)
        assert not stalled.ready
        assert stalled.checks["database"]["ok"] and stalled.checks["schemas"]["ok"]
        assert stalled.checks["queue"]["ok"] is False
        assert stalled.checks["queue"]["ready_wait_seconds"] >= 599
    finally:
        runtime.close()


# --- pure helpers ----------------------------------------------------------------------------


def test_results_are_read_item_by_item() -> None:
    results = ops.read_results(_results(2, 1))
    assert [i.ok for i in results.items] == [True, True, False]
    assert results.items[2].error_code == "HCS001001"
    assert results.items[2].description == "The house <exists> & is managed"
    assert results.items[0].unique_number == "77-1"
    export_error = ops.read_results(error_results(Code.NOTHING_TO_EXPORT, "nothing"))
    assert (export_error.items, export_error.error_code) == ([], "INT002012")
    assert ops.read_results(None).items == []


def test_time_filters() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert ops.parse_time("2h", now) == now - timedelta(hours=2)
    assert ops.parse_time("7d", now) == now - timedelta(days=7)
    assert ops.parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert ops.parse_time("2026-11-01T10:30") == datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    assert ops.parse_time("2026-11-01T10:30:00+03:00") == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    with pytest.raises(ops.BadFilter):
        ops.parse_time("yesterday")


def test_console_sessions_are_signed_and_expire(tmp_path: Path) -> None:
    secret = load_secret("", tmp_path)
    assert secret == load_secret("", tmp_path)  # generated once, then reused
    assert (tmp_path / "console-secret").stat().st_mode & 0o077 == 0
    codec = SessionCodec(secret, max_age_seconds=60)
    session = new_session("ops", "scrypt$hash")
    cookie = codec.dumps(session)
    assert codec.loads(cookie) == session
    payload, _, signature = cookie.partition(".")
    forged = codec.dumps({**session, "op": "admin"}).partition(".")[0] + "." + signature
    assert codec.loads(forged) is None
    assert SessionCodec(b"other", 60).loads(cookie) is None
    old = {**session, "iat": int(time.time()) - 120}
    assert codec.loads(codec.dumps(old)) is None
    assert codec.loads("garbage") is None


def test_signature_failure_reasons() -> None:
    try:
        try:
            raise SignatureError("digest-mismatch", "changed")
        except SignatureError:
            raise SignatureInvalid("Signature verification failed") from None
    except SignatureInvalid as exc:
        assert signature_reason(exc) == "digest-mismatch"
    assert signature_reason(SignatureInvalid("ds:Signature is missing")) == "missing"
    assert signature_reason(CertificateRefused("not registered")) == "not-registered"

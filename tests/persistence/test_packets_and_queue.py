"""Packets and the queue on SQLite and PostgreSQL: one transaction, idempotency, claiming."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.codes import Code
from persistence import accept_sql, packets, queue
from persistence.clock import as_utc, utcnow
from persistence.db import make_session_factory
from persistence.models import Job, Packet, PacketEvent
from persistence.packets import ResultCounts

ORG = "0a1b2c3d-0000-4000-8000-0000000000aa"

NONE = ResultCounts(items=0, errors=0)


def new_packet(requester: str | None = None, body: bytes = b"<x/>") -> packets.NewPacket:
    return packets.NewPacket(
        requester_message_guid=requester or str(uuid.uuid4()),
        org_guid=ORG,
        service="house-management",
        operation="importHouseUOData",
        version="13.2.3.2",
        raw=body,
        body_sha256=str(hash(body)),
    )


def test_accept_stores_packet_job_and_event_together(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        outcome = packets.accept(s, new_packet())
    assert outcome.status == "new"
    with sessions() as s:
        packet = s.scalars(select(Packet)).one()
        assert packet.message_guid == outcome.message_guid
        assert packet.state == "received"
        assert s.scalars(select(Job)).one().packet_id == packet.id
        assert [e.event for e in s.scalars(select(PacketEvent))] == ["received"]


def test_accept_writes_its_times_and_counts_as_every_other_query_reads_them(
    sessions: sessionmaker[Session],
) -> None:
    """On SQLite the accept's statements run on the driver's connection: the times they
    bind are stored as SQLAlchemy stores them, so the queue's comparisons still hold."""
    at = utcnow() - timedelta(minutes=5)
    counting = accept_sql.Counting(rate=("packets:test", 60), pending=True)
    with sessions.begin() as s:
        first = packets.accept(s, new_packet(), counting, now=at)
        second = packets.accept(s, new_packet(), counting, now=at)
    assert (first.stored.rate_count, first.stored.pending) == (1, 1)
    assert (second.stored.rate_count, second.stored.pending) == (2, 2)
    with sessions() as s:
        stored = s.scalars(select(Packet).order_by(Packet.id)).first()
        assert stored is not None
        assert as_utc(stored.received_at) == as_utc(stored.updated_at) == at
        job = s.scalars(select(Job).where(Job.packet_id == stored.id)).one()
        assert (job.state, job.attempts, as_utc(job.run_after)) == ("queued", 0, at)
        event = s.scalars(select(PacketEvent).where(PacketEvent.packet_id == stored.id)).one()
        assert (event.event, as_utc(event.at)) == ("received", at)
        assert s.scalar(select(func.count()).select_from(Job).where(Job.run_after < at)) == 0
        assert s.scalar(select(func.count()).select_from(Job).where(Job.run_after <= at)) == 2
    with sessions.begin() as s:
        claimed = queue.claim(s, "w", lease_seconds=60)  # ready: run_after is in the past
    assert claimed is not None and claimed.packet_id == stored.id


def test_accept_on_a_connection_outside_a_transaction_begins_one(
    sessions: sessionmaker[Session],
) -> None:
    engine = sessions.kw["bind"]
    with engine.connect() as conn:
        assert packets.accept(conn, new_packet()).status == "new"
        assert conn.in_transaction()
        conn.rollback()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Packet)) == 0


def test_rolled_back_accept_leaves_nothing(sessions: sessionmaker[Session]) -> None:
    s = sessions()
    s.begin()
    packets.accept(s, new_packet())
    s.rollback()
    s.close()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Packet)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_same_packet_again_is_a_duplicate_and_queues_nothing(
    sessions: sessionmaker[Session],
) -> None:
    requester = str(uuid.uuid4())
    with sessions.begin() as s:
        first = packets.accept(s, new_packet(requester))
    with sessions.begin() as s:
        again = packets.accept(s, new_packet(requester.upper()))
    with sessions.begin() as s:
        other = packets.accept(s, new_packet(requester, body=b"<y/>"))
    assert again.status == "duplicate" and again.message_guid == first.message_guid
    assert other.status == "conflict"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_the_same_packet_twice_at_once_is_stored_once(sessions: sessionmaker[Session]) -> None:
    """The second accept waits for the first transaction and then sees a duplicate."""
    requester = str(uuid.uuid4())
    first_session = sessions()
    first_session.begin()
    first = packets.accept(first_session, new_packet(requester))
    second: list[packets.AcceptOutcome] = []

    def resend() -> None:
        with sessions.begin() as s:
            second.append(packets.accept(s, new_packet(requester)))

    racer = threading.Thread(target=resend)
    racer.start()
    racer.join(0.5)  # the resend is waiting for the first transaction (lock or write lock)
    assert second == []
    first_session.commit()
    first_session.close()
    racer.join(30)
    assert [(o.status, o.message_guid) for o in second] == [("duplicate", first.message_guid)]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Packet)) == 1
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_rejected_packets_do_not_block_a_corrected_resend(sessions: sessionmaker[Session]) -> None:
    requester = str(uuid.uuid4())
    with sessions.begin() as s:
        packets.record_rejected(
            s,
            raw=b"<bad",
            body_sha256="x",
            error_code=Code.MALFORMED_XML,
            error_message="bad",
            org_guid=ORG,
            requester_message_guid=requester,
        )
    with sessions.begin() as s:
        assert packets.accept(s, new_packet(requester)).status == "new"


def test_claim_finish_and_state(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        outcome = packets.accept(s, new_packet())
    with sessions.begin() as s:
        job = queue.claim(s, "w1", lease_seconds=60)
    assert job is not None and job.attempt == 1
    with sessions.begin() as s:
        assert queue.claim(s, "w2", lease_seconds=60) is None  # nothing else ready
        assert packets.get_by_message_guid(s, outcome.message_guid).state == "processing"
    with sessions.begin() as s:
        queue.finish(s, job, packet_state="processed", result_xml="<results/>", counts=NONE)
    with sessions() as s:
        view = packets.get_by_message_guid(s, outcome.message_guid)
        assert view.state == "processed" and view.result_xml == "<results/>"
        assert queue.depth(s) == 0


def test_a_batch_claim_is_committed_with_each_packet_processing_and_its_attempt_recorded(
    engine: Engine,
) -> None:
    """``claim_committed`` (what the worker calls): the oldest ready jobs, each packet
    processing and one attempt event per job, committed before it returns (PostgreSQL: one
    autocommitted statement)."""
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        ids = [packets.accept(s, new_packet()).message_guid for _ in range(4)]
    claimed = queue.claim_committed(engine, "w1", 60, 3)
    assert [job.attempt for job in claimed] == [1, 1, 1]
    assert [job.job_id for job in claimed] == sorted(job.job_id for job in claimed)
    with sessions() as s:  # another session sees the claim: it was committed
        states = [packets.get_by_message_guid(s, guid).state for guid in ids]
        assert states == ["processing"] * 3 + ["received"]
        events = s.scalars(select(PacketEvent.detail).where(PacketEvent.event == "attempt")).all()
        assert sorted(events) == ["attempt 1 by w1"] * 3
    [last] = queue.claim_committed(engine, "w2", 60, 3)
    assert last.packet_id not in {job.packet_id for job in claimed}
    assert queue.claim_committed(engine, "w2", 60, 3) == []


def test_expired_lease_is_taken_over(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        packets.accept(s, new_packet())
    with sessions.begin() as s:
        first = queue.claim(s, "dead-worker", lease_seconds=60)
        s.execute(Job.__table__.update().values(locked_until=utcnow() - timedelta(seconds=1)))
    with sessions.begin() as s:
        second = queue.claim(s, "w2", lease_seconds=60)
    assert first is not None and second is not None
    assert second.job_id == first.job_id and second.attempt == 2


def test_retry_later_then_bury(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        outcome = packets.accept(s, new_packet())
    with sessions.begin() as s:
        job = queue.claim(s, "w", 60)
        queue.retry_later(s, job, "connection lost", utcnow() + timedelta(hours=1))
    with sessions.begin() as s:
        assert queue.claim(s, "w", 60) is None  # not before run_after
        s.execute(Job.__table__.update().values(run_after=utcnow() - timedelta(seconds=1)))
    with sessions.begin() as s:
        job = queue.claim(s, "w", 60)
        assert job.attempt == 2
        queue.bury(s, job, "gave up", None, counts=NONE, error_code=Code.INTERNAL_ERROR)
    with sessions() as s:
        assert packets.get_by_message_guid(s, outcome.message_guid).state == "dead"


def test_concurrent_claims_take_each_job_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        for _ in range(40):
            packets.accept(s, new_packet())
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            with sessions.begin() as s:
                job = queue.claim(s, name, 60)
            if job is None:
                return
            with lock:
                claimed.append(job.job_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 40
    assert len(set(claimed)) == 40


def _expire_leases(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.execute(Job.__table__.update().values(locked_until=utcnow() - timedelta(seconds=1)))


def test_a_worker_that_lost_its_lease_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        outcome = packets.accept(s, new_packet())
    with sessions.begin() as s:
        stale = queue.claim(s, "stalled-worker", 60)
    _expire_leases(sessions)
    with sessions.begin() as s:
        current = queue.claim(s, "w2", 60)
    assert stale is not None and current is not None and current.attempt == 2

    with sessions.begin() as s, pytest.raises(queue.LeaseLost):
        queue.hold(s, stale)
    s = sessions()
    s.begin()
    with pytest.raises(queue.LeaseLost):
        queue.finish(s, stale, packet_state="processed", result_xml="<stale/>", counts=NONE)
    s.rollback()
    s.close()
    with sessions.begin() as s:
        assert queue.retry_later(s, stale, "late failure", utcnow()) is False
        assert (
            queue.bury(s, stale, "late failure", None, counts=NONE, error_code=Code.INTERNAL_ERROR)
            is False
        )
    with sessions.begin() as s:
        queue.hold(s, current)
        queue.finish(s, current, packet_state="processed", result_xml="<fresh/>", counts=NONE)
    with sessions() as s:
        view = packets.get_by_message_guid(s, outcome.message_guid)
        assert view.state == "processed" and view.result_xml == "<fresh/>"
        events = [e for _, e, _ in packets.events_of(s, view.id)]
        assert events == ["received", "attempt", "attempt", "processed"]


def test_a_failure_recorded_after_the_commit_went_through_is_ignored(
    sessions: sessionmaker[Session],
) -> None:
    """The commit's answer was lost (connection dropped): the retry must not undo it."""
    with sessions.begin() as s:
        outcome = packets.accept(s, new_packet())
    with sessions.begin() as s:
        job = queue.claim(s, "w", 60)
    with sessions.begin() as s:
        queue.finish(s, job, packet_state="processed", result_xml="<done/>", counts=NONE)
    with sessions.begin() as s:
        assert queue.retry_later(s, job, "OperationalError: connection lost", utcnow()) is False
    with sessions() as s:
        assert packets.get_by_message_guid(s, outcome.message_guid).state == "processed"
        assert queue.depth(s) == 0


def test_a_held_job_is_not_taken_over_even_after_its_lease(
    engine, sessions: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the processing transaction's row lock outlives the lease."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a second claim waits for the write lock instead")
    with sessions.begin() as s:
        packets.accept(s, new_packet())
    with sessions.begin() as s:
        job = queue.claim(s, "slow-worker", 60)
    _expire_leases(sessions)
    processing = sessions()
    processing.begin()
    queue.hold(processing, job)  # a long job is being processed
    try:
        with sessions.begin() as s:
            assert queue.claim(s, "w2", 60) is None
        queue.finish(processing, job, packet_state="processed", result_xml="<r/>", counts=NONE)
        processing.commit()
    finally:
        processing.close()
    with sessions.begin() as s:
        assert queue.claim(s, "w2", 60) is None
        assert queue.depth(s) == 0


def test_the_waiting_count_reads_only_the_partial_index_of_waiting_packets(
    sessions: sessionmaker[Session],
) -> None:
    """The queue limit counts on every accept: on the index of waiting packets, not through
    every packet the organisation ever sent (as it did with the states bound as parameters).
    PostgreSQL: whether the index can serve the count (a sequential scan off the table)."""
    from persistence import accept_sql

    with sessions() as s:
        conn = s.connection()
        sql = str(select(accept_sql._pending()).compile(dialect=conn.dialect))
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("o",)).all()
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN {sql}", {"org_guid": "o"}).all()
        assert "ix_packets_org_pending" in " ".join(str(row) for row in plan)

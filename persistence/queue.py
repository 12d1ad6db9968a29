"""The job queue: a table claimed with one UPDATE … RETURNING (SKIP LOCKED on PostgreSQL).

Every queue operation the worker needs is a named function here; the worker builds no SQL.

A job's life: ``queued`` ► claim (``running``, leased to one worker, attempt + 1, committed
at once) ► the worker's processing transaction ``hold``s the job row (a row lock on
PostgreSQL, the write lock on SQLite) and reads its packet ► ``finish`` (``done``) in that
same transaction, or ``retry_later`` (``queued`` again, later) / ``bury`` (``dead``) after a
failure.

Round trips to PostgreSQL are what a short job spends most on, so on PostgreSQL the claim,
the hold and the finish are one statement each (a data-modifying ``WITH`` for the claim and
the finish), and the claim runs in autocommit: a job costs its claim plus BEGIN, hold,
the handler's statements, finish and COMMIT.

Every write after the claim is guarded by "still leased to me, this attempt": a worker that
lost its lease (it stalled past it and another worker took the job over) changes nothing,
and ``finish`` raises ``LeaseLost`` so its whole processing transaction rolls back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update, UpdateBase

from persistence.clock import as_utc, utcnow
from persistence.db import single_statements
from persistence.errors import describe, is_transient
from persistence.models import Job, Packet, PacketEvent
from persistence.packets import (
    DEAD,
    PROCESSING,
    ResultCounts,
    ToProcess,
    record_events,
    to_process_query,
)
from persistence.packets import record_event as add_event
from persistence.sets import is_postgres

log = logging.getLogger("persistence.queue")

#: PostgreSQL NOTIFY channel; a trigger on ``jobs`` (migration 0001) notifies it.
CHANNEL = "gateway_jobs"


class LeaseLost(Exception):
    """The job is no longer leased to this worker (attempt); its work must not be kept."""


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    packet_id: int
    attempt: int
    worker_id: str = ""
    #: the error recorded by the previous attempt, if any
    last_error: str | None = None


def claim(session: Session, worker_id: str, lease_seconds: int) -> ClaimedJob | None:
    """Take the oldest ready job (or one whose lease expired) and mark the packet processing.

    On PostgreSQL a job whose row another worker holds (it is processing it) is skipped even
    when its lease has expired; a job is taken over only from a worker that is gone.
    """
    jobs = claim_many(session, worker_id, lease_seconds, 1)
    return jobs[0] if jobs else None


def claim_many(
    session: Session | Connection, worker_id: str, lease_seconds: int, limit: int
) -> list[ClaimedJob]:
    """``claim`` up to ``limit`` jobs at once, oldest first, each with its own lease
    (``lease_seconds`` from now), held and finished on its own. On PostgreSQL one statement
    (the jobs' UPDATE … RETURNING, their packets' UPDATE and their attempt events' INSERT in
    one ``WITH``): in autocommit it is the claim's whole transaction, one round trip. On
    SQLite the same three statements one after another."""
    now = utcnow()
    params = {
        "now": now,
        "until": now + timedelta(seconds=lease_seconds),
        "worker": worker_id,
        "limit": max(1, limit),
    }
    if is_postgres(session):
        rows = session.execute(_claim_statement(), params).all()
    else:
        rows = session.execute(_claim_jobs(), params).all()
    if not rows:
        return []
    jobs = sorted(
        (
            ClaimedJob(
                job_id=row[0],
                packet_id=row[1],
                attempt=row[2],
                worker_id=worker_id,
                last_error=row[3],
            )
            for row in rows
        ),
        key=lambda job: job.job_id,
    )
    if not is_postgres(session):
        session.execute(_mark_processing(), {"ids": [job.packet_id for job in jobs], "now": now})
        record_events(
            session,
            [(job.packet_id, "attempt", f"attempt {job.attempt} by {worker_id}") for job in jobs],
        )
    return jobs


def claim_committed(
    engine: Engine, worker_id: str, lease_seconds: int, limit: int
) -> list[ClaimedJob]:
    """``claim_many`` in a transaction of its own, committed before it returns (a job killed
    mid-way then counts its attempt). On PostgreSQL the claim's one statement runs in
    autocommit: no BEGIN and no COMMIT round trip."""
    if engine.dialect.name == "postgresql":
        with single_statements(engine) as conn:
            return claim_many(conn, worker_id, lease_seconds, limit)
    with engine.begin() as conn:
        return claim_many(conn, worker_id, lease_seconds, limit)


@cache
def _claim_jobs() -> UpdateBase:
    """Mark the oldest ready jobs (or those whose lease expired) running, leased to
    ``:worker`` until ``:until``; returns their id, packet id, attempt and last error."""
    now = bindparam("now", type_=DateTime(timezone=True))
    ready = (
        select(Job.id)
        .where(
            Job.state.in_(("queued", "running")),
            or_(
                and_(Job.state == "queued", Job.run_after <= now),
                and_(Job.state == "running", Job.locked_until < now),
            ),
        )
        .order_by(Job.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Job)
        .where(Job.id.in_(ready.scalar_subquery()))
        .values(
            state="running",
            locked_by=bindparam("worker"),
            locked_until=bindparam("until"),
            attempts=Job.attempts + 1,
        )
        .returning(Job.id, Job.packet_id, Job.attempts, Job.last_error)
        .execution_options(synchronize_session=False)
    )


@cache
def _mark_processing() -> UpdateBase:
    """SQLite: the claimed jobs' packets (``:ids``) marked processing at ``:now``."""
    return (
        update(Packet)
        .where(Packet.id.in_(bindparam("ids", expanding=True)))
        .values(state=PROCESSING, updated_at=bindparam("now"))
        .execution_options(synchronize_session=False)
    )


@cache
def _claim_statement() -> Select[*tuple[Any, ...]]:
    """PostgreSQL: ``_claim_jobs``, the claimed packets marked processing and an attempt event
    for each, in one statement (data-modifying ``WITH``); the claimed jobs' rows."""
    claimed = _claim_jobs().cte("claimed")
    marked = (
        update(Packet)
        .where(Packet.id.in_(select(claimed.c.packet_id)))
        .values(state=PROCESSING, updated_at=bindparam("now"))
        .cte("marked")
    )
    detail = (
        "attempt " + cast(claimed.c.attempts, String) + " by " + bindparam("worker", type_=String)
    )
    noted = (
        insert(PacketEvent)
        .from_select(
            ["packet_id", "at", "event", "detail"],
            select(claimed.c.packet_id, bindparam("now"), literal("attempt"), detail),
        )
        .cte("noted")
    )
    return select(
        claimed.c.id, claimed.c.packet_id, claimed.c.attempts, claimed.c.last_error
    ).add_cte(marked, noted)


def _mine(job: ClaimedJob) -> ColumnElement[bool]:
    return and_(
        Job.id == job.job_id,
        Job.state == "running",
        Job.locked_by == job.worker_id,
        Job.attempts == job.attempt,
    )


def _mine_bound() -> ColumnElement[bool]:
    """``_mine`` with the job's values as parameters, for the statements built once."""
    return and_(
        Job.id == bindparam("job_id"),
        Job.state == "running",
        Job.locked_by == bindparam("worker"),
        Job.attempts == bindparam("attempt"),
    )


def _job_params(job: ClaimedJob) -> dict[str, Any]:
    return {"job_id": job.job_id, "worker": job.worker_id, "attempt": job.attempt}


def hold(session: Session, job: ClaimedJob) -> ToProcess:
    """Lock the claimed job for the rest of this (processing) transaction and read its
    packet (``packets.ToProcess``) in the same statement.

    While the lock is held no other worker claims the job, however long the processing takes.
    Raises ``LeaseLost`` if the job was taken over meanwhile.
    """
    row = session.connection().execute(_hold_statement(), _job_params(job)).first()
    if row is None:
        raise LeaseLost(_lost(job))
    return ToProcess.of_row(row)


@cache
def _hold_statement() -> Select[*tuple[Any, ...]]:
    return (
        to_process_query()
        .join(Job, Job.packet_id == Packet.id)
        .where(_mine_bound())
        .with_for_update(of=Job)
    )


def _guarded_update(session: Session, job: ClaimedJob, **values: Any) -> bool:
    result = session.execute(
        update(Job)
        .where(_mine(job))
        .values(locked_by=None, locked_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def finish(
    session: Session,
    job: ClaimedJob,
    *,
    packet_state: str,
    result_xml: str | None,
    counts: ResultCounts,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """Store the outcome of a job and mark the packet processed (or failed): on PostgreSQL
    in one statement (the job's guarded UPDATE, the packet's UPDATE and its event's INSERT
    in one ``WITH``).

    Raises ``LeaseLost`` (the caller's transaction must roll back) if the job is no longer
    this worker's.
    """
    now = utcnow()
    outcome = {
        "state": packet_state,
        "result_xml": result_xml,
        "result_items": counts.items,
        "result_errors": counts.errors,
        "error_code": error_code,
        "error_message": error_message,
        "processed_at": now,
        "updated_at": now,
    }
    # Core statements built once, on the session's connection (the handler wrote through it
    # too; what the ORM may hold is flushed by the commit). Each statement gets only its own
    # parameters: Core would SET a column an UPDATE's parameters name.
    connection = session.connection()
    if is_postgres(connection):
        params = {**_job_params(job), **outcome, "now": now}
        if connection.execute(_finish_statement(), params).first() is None:
            raise LeaseLost(_lost(job))
        return
    finished, stored, noted = _finish_statements()
    done = {**_job_params(job), "error_message": error_message}
    if connection.execute(finished, done).rowcount != 1:
        raise LeaseLost(_lost(job))
    connection.execute(stored, {**outcome, "packet_id": job.packet_id})
    event = {"packet_id": job.packet_id, "at": now, "event": packet_state}
    connection.execute(noted, {**event, "detail": error_message})


def _lost(job: ClaimedJob) -> str:
    return f"job {job.job_id} attempt {job.attempt} is no longer {job.worker_id}'s"


#: what ``finish`` stores with the packet
_OUTCOME = (
    "state",
    "result_xml",
    "result_items",
    "result_errors",
    "error_code",
    "error_message",
    "processed_at",
    "updated_at",
)


def _job_done() -> Update:
    """The job done, guarded by ``_mine``: what ``finish`` writes first on either store."""
    return (
        update(Job)
        .where(_mine_bound())
        .values(
            state="done",
            locked_by=None,
            locked_until=None,
            last_error=bindparam("error_message", type_=Text),
        )
    )


@cache
def _finish_statements() -> tuple[UpdateBase, UpdateBase, UpdateBase]:
    """SQLite: ``finish`` as three statements: the guarded job UPDATE, the packet's outcome,
    its event."""
    done = _job_done()
    stored = (
        update(Packet)
        .where(Packet.id == bindparam("packet_id"))
        .values({name: bindparam(name) for name in _OUTCOME})
    )
    return done, stored, insert(PacketEvent)


@cache
def _finish_statement() -> Select[*tuple[Any, ...]]:
    """PostgreSQL: the job done (guarded by ``_mine``), its packet's outcome stored and the
    packet's event recorded, in one statement; a row when the job was still ours."""
    done = _job_done().returning(Job.packet_id).cte("done")
    stored = (
        update(Packet)
        .where(Packet.id.in_(select(done.c.packet_id)))
        .values({name: bindparam(name) for name in _OUTCOME})
        .returning(Packet.id, Packet.state)
        .cte("stored")
    )
    noted = (
        insert(PacketEvent)
        .from_select(
            ["packet_id", "at", "event", "detail"],
            select(
                stored.c.id,
                bindparam("now", type_=DateTime(timezone=True)),
                stored.c.state,
                bindparam("error_message", type_=Text),
            ),
        )
        .cte("noted")
    )
    return select(done.c.packet_id).add_cte(stored, noted)


def retry_later(session: Session, job: ClaimedJob, error: str, run_after: datetime) -> bool:
    """Give the job back to the queue after a transient failure.

    False (and nothing changed) if the job is no longer this worker's: it was finished by a
    commit whose acknowledgment was lost, or taken over after the lease expired.
    """
    if not _guarded_update(
        session, job, state="queued", run_after=run_after, last_error=error[:4000]
    ):
        return False
    session.execute(
        update(Packet)
        .where(Packet.id == job.packet_id)
        .values(state="received", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    add_event(session, job.packet_id, "retry", f"attempt {job.attempt} failed: {error}"[:4000])
    return True


def bury(
    session: Session,
    job: ClaimedJob,
    error: str,
    result_xml: str | None,
    *,
    counts: ResultCounts,
    error_code: str,
) -> bool:
    """Dead-letter a job that ran out of attempts; the packet keeps an error result.

    False (and nothing changed) if the job is no longer this worker's.
    """
    if not _guarded_update(session, job, state="dead", last_error=error[:4000]):
        return False
    now = utcnow()
    session.execute(
        update(Packet)
        .where(Packet.id == job.packet_id)
        .values(
            state=DEAD,
            result_xml=result_xml,
            result_items=counts.items,
            result_errors=counts.errors,
            error_code=error_code,
            error_message=error[:4000],
            processed_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    add_event(session, job.packet_id, DEAD, error[:4000])
    return True


def depth(session: Session) -> int:
    """Jobs waiting or running."""
    return (
        session.scalar(
            select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running")))
        )
        or 0
    )


# --- ops: inspection and replay (gateway/ops) ----------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    state: str
    attempts: int
    run_after: datetime
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None


def job_of(session: Session, packet_id: int) -> JobInfo | None:
    job = session.scalars(select(Job).where(Job.packet_id == packet_id)).first()
    if job is None:
        return None
    return JobInfo(
        job.state,
        job.attempts,
        as_utc(job.run_after),
        job.locked_by,
        as_utc(job.locked_until),
        job.last_error,
    )


def requeue(session: Session, packet_id: int) -> bool:
    """Queue the processing of a packet again, as a fresh job (attempts from 1).

    Only a finished job (``done`` or ``dead``) is re-queued; False when the job is still
    queued or running. A packet whose job row is gone gets a new one.
    """
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.packet_id == packet_id, Job.state.in_(("done", "dead")))
        .values(
            state="queued",
            attempts=0,
            run_after=now,
            locked_by=None,
            locked_until=None,
            last_error=None,
            created_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if session.scalar(select(Job.id).where(Job.packet_id == packet_id)) is not None:
        return False
    session.add(Job(packet_id=packet_id, state="queued", attempts=0, run_after=now, created_at=now))
    return True


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    dead: int
    #: seconds since the oldest queued or running job was queued (0 when none)
    oldest_age_seconds: float
    #: seconds the longest-waiting job that is ready to run has waited past its run_after
    #: (a queued job, or a running one whose lease expired); 0 when none
    ready_wait_seconds: float


def stats(session: Session) -> QueueStats:
    """Depth and age of the queue (the pending jobs are few: ``ix_jobs_pending``)."""
    now = utcnow()
    counts = dict(
        session.execute(
            select(Job.state, func.count())
            .where(Job.state.in_(("queued", "running")))
            .group_by(Job.state)
        ).all()
    )
    dead = session.scalar(select(func.count()).select_from(Job).where(Job.state == "dead")) or 0
    oldest = as_utc(
        session.scalar(select(func.min(Job.created_at)).where(Job.state.in_(("queued", "running"))))
    )
    ready_queued = as_utc(
        session.scalar(
            select(func.min(Job.run_after)).where(Job.state == "queued", Job.run_after <= now)
        )
    )
    expired = as_utc(
        session.scalar(
            select(func.min(Job.locked_until)).where(Job.state == "running", Job.locked_until < now)
        )
    )
    waiting = [t for t in (ready_queued, expired) if t is not None]
    return QueueStats(
        queued=int(counts.get("queued", 0)),
        running=int(counts.get("running", 0)),
        dead=int(dead),
        oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        ready_wait_seconds=max(0.0, (now - min(waiting)).total_seconds()) if waiting else 0.0,
    )


# --- wake-up (PostgreSQL LISTEN/NOTIFY) ------------------------------------------------------


def listen(
    engine: Engine,
    wake: Callable[[], None],
    stopping: threading.Event,
    *,
    application_name: str = "hcs-gateway listener",
) -> None:
    """Call ``wake`` whenever a job becomes ready, until ``stopping`` is set (PostgreSQL).

    Runs on its own connection (outside the pool), reconnects with backoff when the server
    goes away, and wakes once after every (re)connect for what was queued meanwhile. Idle
    workers also poll, so a notification lost during a reconnect only costs latency; an error
    that reconnecting cannot cure (``is_transient`` says no) ends the listener.
    """
    import psycopg

    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    backoff = 0.5
    while not stopping.is_set():
        try:
            with psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name=application_name[:63],
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                backoff = 0.5
                wake()
                while not stopping.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake()
        except psycopg.Error as exc:
            if not is_transient(exc):
                log.error("job listener stopped (the workers still poll): %s", describe(exc))
                return
            log.warning("job listener: %s; reconnecting in %.1fs", type(exc).__name__, backoff)
            stopping.wait(backoff)
            backoff = min(backoff * 2, 15.0)

"""The worker on real database errors, on SQLite and PostgreSQL: a permanent one (a bug, a
constraint) fails the packet at its first attempt with the error kept for ops; a transient
one (SQLite busy, a statement timeout) is retried and the packet then processed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.pool import NullPool

from gateway.config import WorkerSettings
from gateway.handlers.base import HandlerContext, HandlerResult
from gateway.handlers.house_management.import_house_uo import import_house_uo
from gateway.runtime import Runtime
from gateway.worker import Worker
from persistence import packets
from persistence.models import House, Job, Organization
from tests.stand import STORES, queue_example, replace_handler, result_of, runtime_on

DUPLICATE = "0a1b2c3d-0000-4000-8000-0000000000dd"


@pytest.fixture(params=STORES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    worker = WorkerSettings(max_attempts=3, retry_backoff_seconds=0)
    return runtime_on(request, request.param, tmp_path, worker=worker)


def _insert_twice(ctx: HandlerContext, _request: object) -> HandlerResult:
    """A handler whose bug the database refuses: the same primary key twice."""
    for _ in range(2):
        ctx.session.execute(
            insert(Organization).values(
                guid=DUPLICATE, name="twice", role="uo", password_hash="x", created_at=ctx.now
            )
        )
    return HandlerResult([])


def _transient_error(ctx: HandlerContext) -> None:
    """Raise a real transient error of the session's database."""
    url = ctx.session.get_bind().url
    if url.get_backend_name() == "sqlite":
        # The worker's transaction holds the write lock; a second writer that will not wait:
        other = create_engine(url, connect_args={"timeout": 0}, poolclass=NullPool)
        try:
            with other.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            other.dispose()
    else:
        ctx.session.execute(text("SET LOCAL statement_timeout = '10ms'"))
        ctx.session.execute(text("SELECT pg_sleep(30)"))
    raise AssertionError("no error raised")


def _job(rt: Runtime) -> tuple[str, int]:
    with rt.session() as s:
        state, attempts = s.execute(select(Job.state, Job.attempts)).one()
    return state, attempts


def test_a_permanent_database_error_fails_the_packet_at_once(runtime: Runtime) -> None:
    replace_handler(runtime, _insert_twice)
    message_guid = queue_example(runtime)
    Worker(runtime).run_until_idle()
    assert _job(runtime) == ("done", 1)  # one attempt, no retry
    with runtime.session() as s:
        packet = packets.get_by_message_guid(s, message_guid)
        assert s.scalar(select(func.count()).select_from(Organization)) == 0
    assert packet.state == "failed"
    assert packet.error_code == "EXP001000"
    code = "[23505]" if runtime.engine.dialect.name == "postgresql" else "[SQLITE_CONSTRAINT"
    assert code in (packet.error_message or ""), packet.error_message  # visible to ops
    assert "INSERT" not in (packet.error_message or "")
    result = result_of(runtime, message_guid)
    assert result.findtext("{*}ErrorMessage/{*}ErrorCode") == "EXP001000"


def test_a_transient_database_error_is_retried(runtime: Runtime) -> None:
    attempts: list[int] = []

    def fails_once(ctx: HandlerContext, request: object) -> HandlerResult:
        attempts.append(1)
        if len(attempts) == 1:
            _transient_error(ctx)
        return import_house_uo(ctx, request)  # type: ignore[arg-type]

    replace_handler(runtime, fails_once)
    message_guid = queue_example(runtime)
    Worker(runtime).run_until_idle()
    assert len(attempts) == 2
    assert _job(runtime) == ("done", 2)
    with runtime.session() as s:
        packet = packets.get_by_message_guid(s, message_guid)
        assert packet.state == "processed"
        assert s.scalar(select(func.count()).select_from(House)) == 1
        retried = [
            detail for _, event, detail in packets.events_of(s, packet.id) if event == "retry"
        ]
    code = "[57014]" if runtime.engine.dialect.name == "postgresql" else "[SQLITE_BUSY]"
    assert len(retried) == 1 and code in (retried[0] or ""), retried

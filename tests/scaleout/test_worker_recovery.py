"""The worker's recovery rules in-process, on SQLite and PostgreSQL: lost leases, failures
that cannot be recorded at once, crash loops, and the LISTEN/NOTIFY wake-up."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from gateway.config import WorkerSettings
from gateway.runtime import Runtime
from gateway.worker import Worker, WorkerGroup
from persistence import packets, queue
from persistence.clock import utcnow
from persistence.models import House, Job
from tests.stand import STORES, packet_state, queue_example, replace_handler, runtime_on


def _runtime(request: pytest.FixtureRequest, store: str, tmp_path: Path, **worker: Any) -> Runtime:
    settings = WorkerSettings(max_attempts=3, retry_backoff_seconds=0, **worker)
    return runtime_on(request, store, tmp_path, worker=settings)


@pytest.fixture(params=STORES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    return _runtime(request, request.param, tmp_path)


def test_work_of_a_lost_lease_is_rolled_back(runtime: Runtime) -> None:
    message_guid = queue_example(runtime)
    stalled = Worker(runtime, "stalled")
    with runtime.session.begin() as s:
        job = queue.claim(s, stalled.name, 60)
    assert job is not None
    # it stalls past its lease; another worker takes the job over
    with runtime.session.begin() as s:
        s.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    with runtime.session.begin() as s:
        taken = queue.claim(s, "other", 60)
    assert taken is not None and taken.attempt == 2
    with pytest.raises(queue.LeaseLost):
        stalled._process(job)
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(House)) == 0
    Worker(runtime, "other")._process(taken)
    assert packet_state(runtime, message_guid) == "processed"
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(House)) == 1


def test_a_failure_is_recorded_once_the_database_is_back(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_guid = queue_example(runtime)
    worker = Worker(runtime)
    real_retry_later = queue.retry_later
    outage = {"left": 2}

    def flaky_handler(ctx, request):  # type: ignore[no-untyped-def]
        raise OperationalError(
            "INSERT", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    def retry_later_while_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError(
                "UPDATE", {}, Exception("connection refused"), connection_invalidated=True
            )
        return real_retry_later(*args, **kwargs)

    operation = replace_handler(runtime, flaky_handler)
    monkeypatch.setattr(queue, "retry_later", retry_later_while_down)
    assert worker.run_once() is True  # attempt 1 fails; its failure cannot be recorded
    assert len(worker._unrecorded) == 1
    with runtime.session() as s:
        assert s.scalar(select(Job.state)) == "running"
    worker.run_once()  # still down: kept for later (and nothing to claim meanwhile)
    replace_handler(runtime, operation.handler)
    worker.run_until_idle()  # recorded as a retry, then attempt 2 succeeds
    assert worker._unrecorded == []
    assert packet_state(runtime, message_guid) == "processed"
    with runtime.session() as s:
        assert s.scalar(select(Job.attempts)) == 2


def test_a_job_whose_workers_keep_dying_goes_to_the_dead_letter(runtime: Runtime) -> None:
    message_guid = queue_example(runtime)
    for attempt in range(1, 4):  # max_attempts = 3 workers die mid-job
        with runtime.session.begin() as s:
            job = queue.claim(s, f"doomed-{attempt}", 60)
            assert job is not None and job.attempt == attempt
            s.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert Worker(runtime).run_once() is True
    with runtime.session() as s:
        view = packets.get_by_message_guid(s, message_guid)
        job_row = s.scalars(select(Job)).one()
    assert view.state == "dead" and job_row.state == "dead"
    assert "did not finish" in (job_row.last_error or "")


def test_listening_workers_wake_on_notify_not_on_the_poll(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rt = _runtime(request, "postgresql", tmp_path, poll_interval_seconds=60.0)
    group = WorkerGroup(rt, concurrency=2)
    group.start()
    try:
        time.sleep(1.0)  # the workers found nothing and sleep for a minute
        started = time.monotonic()
        message_guid = queue_example(rt)
        while packet_state(rt, message_guid) != "processed":
            assert time.monotonic() - started < 10, "no worker woke up"
            time.sleep(0.05)
    finally:
        group.stop(timeout=10)


@pytest.mark.parametrize(
    "failure",
    [
        ("DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$",),
        ("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$",),
        ("SET LOCAL statement_timeout = 50", "SELECT pg_sleep(2)"),
    ],
    ids=["serialization-failure", "deadlock", "statement-timeout"],
)
def test_postgresql_transient_errors_are_retried(
    request: pytest.FixtureRequest, tmp_path: Path, failure: tuple[str, ...]
) -> None:
    from sqlalchemy import text

    from gateway.handlers.house_management.import_house_uo import import_house_uo

    rt = _runtime(request, "postgresql", tmp_path)
    calls: list[int] = []

    def fails_once(ctx, request):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            for statement in failure:
                ctx.session.execute(text(statement))
        return import_house_uo(ctx, request)

    replace_handler(rt, fails_once)
    message_guid = queue_example(rt)
    Worker(rt).run_until_idle()
    assert len(calls) == 2
    assert packet_state(rt, message_guid) == "processed"
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(House)) == 1
        assert s.scalar(select(Job.attempts)) == 2

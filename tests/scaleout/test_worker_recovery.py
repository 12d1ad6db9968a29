"""The worker's recovery rules in-process, on SQLite and PostgreSQL: lost leases, failures
that cannot be recorded at once, crash loops, and the LISTEN/NOTIFY wake-up."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from gateway.config import Settings, WorkerSettings
from gateway.runtime import Runtime
from gateway.worker import Worker, WorkerGroup
from persistence import packets, queue
from persistence.clock import utcnow
from persistence.models import House, Job
from tests.placed import placed_contract
from tests.postgres import scratch_database

ORG = "0a1b2c3d-0000-4000-8000-0000000000cc"
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "house-management" / "importHouseUOData.xml"
)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def _settings(tmp_path: Path, url: str, **worker: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=url,
        worker=WorkerSettings(max_attempts=3, retry_backoff_seconds=0, **worker),  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
        return
    yield from scratch_database("hcs_gateway_worker")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from scratch_database("hcs_gateway_worker")


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(_settings(tmp_path, db_url))
    yield rt
    rt.close()


def _queue_example(rt: Runtime) -> str:
    with rt.session.begin() as s:  # the example's house is managed by the sender
        placed_contract(s, ORG, "5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c")
    raw = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'.encode()
        + EXAMPLE.read_bytes().split(b"?>", 1)[1]
        + b"</soapenv:Body></soapenv:Envelope>"
    )
    with rt.session.begin() as s:
        return packets.accept(
            s,
            packets.NewPacket(
                str(uuid.uuid4()),
                ORG,
                "house-management",
                "importHouseUOData",
                "13.2.3.2",
                raw,
                "h",
            ),
        ).message_guid


def _state(rt: Runtime, message_guid: str) -> str:
    with rt.session() as s:
        return packets.get_by_message_guid(s, message_guid).state


def test_work_of_a_lost_lease_is_rolled_back(runtime: Runtime) -> None:
    message_guid = _queue_example(runtime)
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
    assert _state(runtime, message_guid) == "processed"
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(House)) == 1


def test_a_failure_is_recorded_once_the_database_is_back(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_guid = _queue_example(runtime)
    worker = Worker(runtime)
    real_retry_later = queue.retry_later
    outage = {"left": 2}

    def flaky_handler(ctx, request):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    def retry_later_while_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("UPDATE", {}, Exception("connection refused"))
        return real_retry_later(*args, **kwargs)

    service = runtime.registry.by_name("house-management")
    operation = service.operations["importHouseUOData"]
    service.operations["importHouseUOData"] = dataclasses.replace(operation, handler=flaky_handler)
    monkeypatch.setattr(queue, "retry_later", retry_later_while_down)
    assert worker.run_once() is True  # attempt 1 fails; its failure cannot be recorded
    assert len(worker._unrecorded) == 1
    with runtime.session() as s:
        assert s.scalar(select(Job.state)) == "running"
    worker.run_once()  # still down: kept for later (and nothing to claim meanwhile)
    service.operations["importHouseUOData"] = operation
    worker.run_until_idle()  # recorded as a retry, then attempt 2 succeeds
    assert worker._unrecorded == []
    assert _state(runtime, message_guid) == "processed"
    with runtime.session() as s:
        assert s.scalar(select(Job.attempts)) == 2


def test_a_job_whose_workers_keep_dying_goes_to_the_dead_letter(runtime: Runtime) -> None:
    message_guid = _queue_example(runtime)
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


def test_listening_workers_wake_on_notify_not_on_the_poll(pg_url: str, tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path, pg_url, poll_interval_seconds=60.0))
    group = WorkerGroup(rt, concurrency=2)
    group.start()
    try:
        time.sleep(1.0)  # the workers found nothing and sleep for a minute
        started = time.monotonic()
        message_guid = _queue_example(rt)
        while _state(rt, message_guid) != "processed":
            assert time.monotonic() - started < 10, "no worker woke up"
            time.sleep(0.05)
    finally:
        group.stop(timeout=10)
        rt.close()


@pytest.mark.parametrize(
    "failure",
    [
        "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$",
        "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$",
        "SET LOCAL statement_timeout = 50; SELECT pg_sleep(2)",
    ],
    ids=["serialization-failure", "deadlock", "statement-timeout"],
)
def test_postgresql_transient_errors_are_retried(pg_url: str, tmp_path: Path, failure: str) -> None:
    from sqlalchemy import text

    from gateway.handlers.house_management.import_house_uo import import_house_uo

    rt = Runtime(_settings(tmp_path, pg_url))
    calls: list[int] = []

    def fails_once(ctx, request):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            for statement in failure.split("; "):
                ctx.session.execute(text(statement))
        return import_house_uo(ctx, request)

    service = rt.registry.by_name("house-management")
    operation = service.operations["importHouseUOData"]
    service.operations["importHouseUOData"] = dataclasses.replace(operation, handler=fails_once)
    try:
        message_guid = _queue_example(rt)
        Worker(rt).run_until_idle()
        assert len(calls) == 2
        assert _state(rt, message_guid) == "processed"
        with rt.session() as s:
            assert s.scalar(select(func.count()).select_from(House)) == 1
            assert s.scalar(select(Job.attempts)) == 2
    finally:
        rt.close()

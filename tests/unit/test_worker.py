"""The processing path in-process: handler errors, transient failures (the per-item rules of
imports and their isolation: tests/handlers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.config import WorkerSettings
from gateway.runtime import Runtime
from gateway.worker import RetryPolicy, Worker
from persistence import packets
from persistence.models import House
from tests.stand import (
    packet_state,
    queue_example,
    replace_handler,
    result_of,
    runtime_on,
    wait_until,
)


@pytest.fixture
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    worker = WorkerSettings(max_attempts=2, retry_backoff_seconds=0)
    return runtime_on(request, "sqlite", tmp_path, worker=worker)


def test_worker_processes_the_example_house(runtime: Runtime) -> None:
    message_guid = queue_example(runtime)
    assert Worker(runtime).run_until_idle() == 1
    result = result_of(runtime, message_guid)
    assert result.findtext("{*}RequestState") == "3"
    errors = result.findall(".//{*}Error")
    assert errors == [], [etree.tostring(e) for e in errors]
    assert len(result.findall(".//{*}CommonResult")) == 10


def test_handler_exception_fails_the_request_with_an_error_result_and_no_half_state(
    runtime: Runtime,
) -> None:
    from gateway.handlers.house_management.import_house_uo import import_house_uo

    def explode_after_writing(ctx, request):  # type: ignore[no-untyped-def]
        import_house_uo(ctx, request)  # writes the house...
        raise RuntimeError("boom")  # ...then fails: nothing of it may stay

    replace_handler(runtime, explode_after_writing)
    message_guid = queue_example(runtime)
    Worker(runtime).run_until_idle()
    with runtime.session() as s:
        assert packets.get_by_message_guid(s, message_guid).state == "failed"
        assert s.scalar(select(func.count()).select_from(House)) == 0
    result = result_of(runtime, message_guid)
    assert result.findtext("{*}RequestState") == "3"
    assert result.findtext("{*}ErrorMessage/{*}ErrorCode") == "EXP001000"


def test_transient_database_errors_are_retried_then_dead_lettered(runtime: Runtime) -> None:
    calls = []

    def flaky(ctx, request):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise OperationalError(
            "SELECT 1", {}, Exception("connection lost"), connection_invalidated=True
        )

    replace_handler(runtime, flaky)
    message_guid = queue_example(runtime)
    Worker(runtime).run_until_idle()
    assert len(calls) == 2  # max_attempts
    with runtime.session() as s:
        assert packets.get_by_message_guid(s, message_guid).state == "dead"
    assert result_of(runtime, message_guid).findtext("{*}ErrorMessage/{*}ErrorCode") == "EXP001000"


def test_retry_policy_backs_off_and_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=2)
    assert policy.delay(1).total_seconds() == 2
    assert policy.delay(2).total_seconds() == 4
    assert policy.delay(3) is None


def _nice_of_thread(nice: int, start_at: int | None = None) -> tuple[int, int]:
    """Run lower_priority(nice) on a new thread (first set to ``start_at`` if given): what it
    returned and the nice value the kernel then reports for that thread."""
    import os
    import threading

    from gateway.worker import lower_priority

    seen: list[int] = []

    def run() -> None:
        tid = threading.get_native_id()
        if start_at is not None:
            os.setpriority(os.PRIO_PROCESS, tid, start_at)
        seen.append(lower_priority(nice))
        seen.append(os.getpriority(os.PRIO_PROCESS, tid))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0], seen[1]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice is Linux's")
def test_a_queue_worker_thread_runs_nicer_and_the_process_does_not() -> None:
    import os

    before = os.getpriority(os.PRIO_PROCESS, 0)
    assert before < 12, "the test process already runs at nice 12 or more"
    assert _nice_of_thread(12) == (12, 12)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # only that thread changed
    # a thread started nicer than the setting keeps its own value
    assert _nice_of_thread(12, start_at=15) == (15, 15)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice is Linux's")
def test_the_worker_group_threads_take_the_configured_nice(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import os

    from gateway.worker import WorkerGroup

    worker = WorkerSettings(nice=13, poll_interval_seconds=0.05)
    rt = runtime_on(request, "sqlite", tmp_path, worker=worker)
    group = WorkerGroup(rt, concurrency=2)
    group.start()
    try:
        message_guid = queue_example(rt)  # processed by the group: its threads run
        wait_until(lambda: packet_state(rt, message_guid) == "processed", 20, "not processed")
        nices = [os.getpriority(os.PRIO_PROCESS, t.native_id or 0) for t in group._threads]
    finally:
        group.stop(timeout=10)
    assert nices == [13, 13]
    assert os.getpriority(os.PRIO_PROCESS, 0) < 13

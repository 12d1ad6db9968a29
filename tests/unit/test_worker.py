"""The processing path in-process: handler errors, transient failures (the per-item rules of
imports and their isolation: tests/handlers)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.config import Settings, WorkerSettings
from gateway.runtime import Runtime
from gateway.state import state_result
from gateway.worker import RetryPolicy, Worker
from persistence import packets
from persistence.models import House
from tests.placed import placed_contract

ORG = "0a1b2c3d-0000-4000-8000-0000000000bb"
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "house-management" / "importHouseUOData.xml"
)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = Settings(
        data_dir=tmp_path, worker=WorkerSettings(max_attempts=2, retry_backoff_seconds=0)
    )
    rt = Runtime(settings)
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
        outcome = packets.accept(
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
        )
    return outcome.message_guid


def _replace_handler(rt: Runtime, handler) -> None:  # type: ignore[no-untyped-def]
    service = rt.registry.by_name("house-management")
    op = service.operations["importHouseUOData"]
    service.operations["importHouseUOData"] = dataclasses.replace(op, handler=handler)


def _state(rt: Runtime, message_guid: str) -> etree._Element:
    with rt.session() as s:
        packet = packets.get_by_message_guid(s, message_guid)
    return state_result(rt.registry.by_name("house-management"), packet, ORG)


def test_worker_processes_the_example_house(runtime: Runtime) -> None:
    message_guid = _queue_example(runtime)
    assert Worker(runtime).run_until_idle() == 1
    result = _state(runtime, message_guid)
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

    _replace_handler(runtime, explode_after_writing)
    message_guid = _queue_example(runtime)
    Worker(runtime).run_until_idle()
    with runtime.session() as s:
        assert packets.get_by_message_guid(s, message_guid).state == "failed"
        assert s.scalar(select(func.count()).select_from(House)) == 0
    result = _state(runtime, message_guid)
    assert result.findtext("{*}RequestState") == "3"
    assert result.findtext("{*}ErrorMessage/{*}ErrorCode") == "EXP001000"


def test_transient_database_errors_are_retried_then_dead_lettered(runtime: Runtime) -> None:
    calls = []

    def flaky(ctx, request):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise OperationalError("SELECT 1", {}, Exception("connection lost"))

    _replace_handler(runtime, flaky)
    message_guid = _queue_example(runtime)
    Worker(runtime).run_until_idle()
    assert len(calls) == 2  # max_attempts
    with runtime.session() as s:
        assert packets.get_by_message_guid(s, message_guid).state == "dead"
    assert _state(runtime, message_guid).findtext("{*}ErrorMessage/{*}ErrorCode") == "EXP001000"


def test_retry_policy_backs_off_and_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=2)
    assert policy.delay(1).total_seconds() == 2
    assert policy.delay(2).total_seconds() == 4
    assert policy.delay(3) is None

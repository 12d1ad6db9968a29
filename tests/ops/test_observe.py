"""Metrics and logs from explicit trace records: a request or a job moves its metrics, and a
failure inside the metrics code neither fails the request nor goes unseen."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from gateway.accept import AcceptPipeline, HttpRequest
from gateway.codes import Code
from gateway.config import Settings
from gateway.handlers.base import ItemError
from gateway.imports.answer import Answer, Done, Refused
from gateway.imports.pipeline import Item
from gateway.namespaces import BASE, HOUSE_MANAGEMENT, SOAP_ENV
from gateway.ops import metrics, observe
from gateway.runtime import Runtime
from gateway.state import error_results
from gateway.trace import JobTrace, Tally, request_error_tally, tally
from gateway.xmlparse import parse_xml
from tests.paths import HM_PATH


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[AcceptPipeline]:
    runtime = Runtime(Settings(data_dir=tmp_path))
    yield AcceptPipeline(runtime)
    runtime.close()


def _get_state_envelope() -> bytes:
    """A well-formed getState envelope without a RequestHeader (refused: FMT001307)."""
    envelope = etree.Element(etree.QName(SOAP_ENV, "Envelope"))
    body = etree.SubElement(envelope, etree.QName(SOAP_ENV, "Body"))
    request = etree.SubElement(body, etree.QName(BASE, "getStateRequest"))
    etree.SubElement(request, etree.QName(BASE, "MessageGUID")).text = str(uuid.uuid4())
    return etree.tostring(envelope)


def test_a_refused_request_moves_its_metrics(pipeline: AcceptPipeline) -> None:
    labels = {
        "service": "house-management",
        "operation": "getState",
        "outcome": "fault",
        "fault_code": Code.HEADER_INVALID.value,
    }
    before = _value("gateway_requests_total", **labels)
    seconds = _value(
        "gateway_accept_seconds_count", service="house-management", operation="getState"
    )
    reply = pipeline.handle(HttpRequest(HM_PATH, "urn:getState", None, _get_state_envelope()))
    assert reply.status == 500
    assert b"FMT001307" in reply.body
    assert _value("gateway_requests_total", **labels) == before + 1
    assert (
        _value("gateway_accept_seconds_count", service="house-management", operation="getState")
        == seconds + 1
    )


def test_nothing_served_at_a_path_is_counted_as_unknown(pipeline: AcceptPipeline) -> None:
    labels = {
        "service": "unknown",
        "operation": "unknown",
        "outcome": "fault",
        "fault_code": Code.UNSUPPORTED_OPERATION.value,
    }
    before = _value("gateway_requests_total", **labels)
    reply = pipeline.handle(HttpRequest("/nowhere", None, None, b"<x/>"))
    assert b"FMT001310" in reply.body
    assert _value("gateway_requests_total", **labels) == before + 1


class _Broken:
    def labels(self, *_args: object) -> None:
        raise RuntimeError("a broken metric")


def test_a_broken_metric_does_not_fail_the_request_but_is_logged_and_counted(
    pipeline: AcceptPipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failures = _value("gateway_observe_failures_total", hook="request")
    monkeypatch.setattr(metrics, "REQUESTS", _Broken())
    with caplog.at_level(logging.ERROR, logger="gateway.ops"):
        reply = pipeline.handle(HttpRequest(HM_PATH, "urn:getState", None, _get_state_envelope()))
    assert reply.status == 500 and b"FMT001307" in reply.body  # the answer is unchanged
    broken = [r for r in caplog.records if "observability hook request failed" in r.getMessage()]
    assert broken and broken[0].exc_info is not None  # with the traceback of the bug
    assert _value("gateway_observe_failures_total", hook="request") == failures + 1


def _results() -> list[etree._Element]:
    codes = (Code.HOUSE_EXISTS, Code.HOUSE_EXISTS, Code.NOT_FOUND)
    outcomes = [Done(str(uuid.uuid4()), "77-1") for _ in range(3)]
    outcomes += [Refused(ItemError(code, "refused")) for code in codes]
    items = [Item(str(uuid.uuid4())) for _ in outcomes]
    answer = Answer(HOUSE_MANAGEMENT, tag="CommonResult")
    return answer.build(items, outcomes, datetime.now(UTC)).elements


def test_the_tally_counts_the_result_elements_the_handler_returned() -> None:
    counted = tally(_results())
    assert counted.items == 6 and counted.failed_items == 3 and counted.errors == 3
    assert counted.item_errors == {Code.HOUSE_EXISTS: 2, Code.NOT_FOUND: 1}
    assert counted.request_error is None
    # an export without an answer: one ErrorMessage, as error_results stores it
    stored = list(parse_xml(error_results(Code.NOTHING_TO_EXPORT, "nothing").encode()))
    assert tally(stored) == request_error_tally(Code.NOTHING_TO_EXPORT)


def test_a_job_trace_moves_the_processing_metrics() -> None:
    operation = f"op-{uuid.uuid4().hex[:8]}"  # labels of this test only
    trace = JobTrace(
        job_id=1,
        attempt=1,
        service="house-management",
        operation=operation,
        outcome="processed",
        seconds=0.01,
        received_at=datetime.now(UTC),
        tally=tally(_results()),
    )
    observe.job_done(trace)
    items = "gateway_items_total"
    assert _value(items, service="house-management", operation=operation, result="ok") == 3
    assert _value(items, service="house-management", operation=operation, result="error") == 3
    errors = "gateway_item_errors_total"
    assert _value(errors, operation=operation, code=Code.HOUSE_EXISTS.value) == 2
    assert _value(errors, operation=operation, code=Code.NOT_FOUND.value) == 1
    assert (
        _value(
            "gateway_processing_seconds_count",
            service="house-management",
            operation=operation,
            outcome="processed",
        )
        == 1
    )


def test_a_broken_job_metric_is_logged_and_counted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failures = _value("gateway_observe_failures_total", hook="job")
    monkeypatch.setattr(metrics, "ITEMS", _Broken())
    trace = JobTrace(
        1, 1, "house-management", "importHouseUOData", "processed", 0.01, None, Tally(1)
    )
    with caplog.at_level(logging.ERROR, logger="gateway.ops"):
        observe.job_done(trace)  # does not raise
    assert any("observability hook job failed" in r.getMessage() for r in caplog.records)
    assert _value("gateway_observe_failures_total", hook="job") == failures + 1

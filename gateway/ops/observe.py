"""Hooks on the request path (``gateway/accept.py``) and the processing path
(``gateway/worker.py``): Prometheus metrics and the log context of a packet's life.

Each hook is a decorator on one method of the pipeline or the worker, so those modules keep
their shape and gain one line per hook. A hook never changes what the method does or
returns: its own failures are swallowed (and logged at debug level).

Log context (structlog contextvars, merged into every log line of the thread):
``RequesterMessageGUID`` (the sender's) and ``orgPPAGUID`` from the RequestHeader on,
``MessageGUID`` (the gateway's) once the packet is stored, and while a worker processes it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from structlog.contextvars import bind_contextvars, clear_contextvars

from gateway.codes import Code
from gateway.ops import metrics

log = logging.getLogger("gateway.ops")

F = TypeVar("F", bound=Callable[..., Any])

SIGNATURE_CODE, CERTIFICATE_CODE = Code.SIGNATURE_INVALID, Code.CERTIFICATE_REFUSED


def _safely(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.debug("observability hook %s failed", what, exc_info=True)


def _arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        return signature.bind(*args, **kwargs).arguments
    except TypeError:
        return {}


# --- request path ------------------------------------------------------------------------


@dataclass
class _Request:
    service: str
    started: float
    operation: str = ""
    outcome: str = "error"
    fault_code: str = ""
    error: str = ""


_request: ContextVar[_Request | None] = ContextVar("gateway_request", default=None)


def request(handle: F) -> F:
    """On ``AcceptPipeline.handle``: time the request, count its outcome, log one line."""

    @functools.wraps(handle)
    def wrapper(pipeline: Any, http: Any) -> Any:
        clear_contextvars()
        service = pipeline.registry.service_for_path(http.path)
        record = _Request(service.name if service else "unknown", time.perf_counter())
        token = _request.set(record)
        reply = None
        try:
            reply = handle(pipeline, http)
            return reply
        finally:
            _request.reset(token)
            _safely("request", lambda: _answered(record, reply, http))
            clear_contextvars()

    return wrapper  # type: ignore[return-value]


def _answered(record: _Request, reply: Any, http: Any) -> None:
    elapsed = time.perf_counter() - record.started
    operation = record.operation or "unknown"
    metrics.REQUESTS.labels(record.service, operation, record.outcome, record.fault_code).inc()
    metrics.ACCEPT_SECONDS.labels(record.service, operation).observe(elapsed)
    fields = {
        "service": record.service,
        "operation": operation,
        "outcome": record.outcome,
        "http_status": getattr(reply, "status", None),
        "duration_ms": round(elapsed * 1000, 2),
        "size": len(http.body),
    }
    if record.outcome == "fault":
        fields.update(fault_code=record.fault_code, error=record.error[:500])
        level = logging.WARNING if record.fault_code.startswith("EXP") else logging.INFO
        log.log(level, "request refused", extra=fields)
    elif record.outcome == "state":
        log.debug("getState answered", extra=fields)
    else:
        log.info("packet %s", record.outcome, extra=fields)


def header(authenticate: F) -> F:
    """On ``AcceptPipeline._authenticate``: the routed operation and the RequestHeader are
    known from here on; bind them to the log context."""

    signature = inspect.signature(authenticate)

    @functools.wraps(authenticate)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def bind() -> None:
            given = _arguments(signature, args, kwargs)
            operation, request_header = given.get("operation"), given.get("header")
            record = _request.get()
            if record is not None and operation is not None:
                record.operation = operation.name
                record.outcome = "state" if operation.kind == "state" else "accepted"
            if request_header is not None:
                bind_contextvars(
                    RequesterMessageGUID=request_header.message_guid,
                    orgPPAGUID=request_header.org_guid,
                )

        _safely("header", bind)
        return authenticate(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def stored(persist: F) -> F:
    """On ``AcceptPipeline._persist``: the gateway's MessageGUID; new or duplicate."""

    @functools.wraps(persist)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outcome = persist(*args, **kwargs)

        def note() -> None:
            bind_contextvars(MessageGUID=outcome.message_guid)
            record = _request.get()
            if record is not None:
                record.outcome = "accepted" if outcome.status == "new" else outcome.status

        _safely("stored", note)
        return outcome

    return wrapper  # type: ignore[return-value]


def refused(refuse: F) -> F:
    """On ``AcceptPipeline._refuse``: the Fault code, and why a signature was refused."""

    signature = inspect.signature(refuse)

    @functools.wraps(refuse)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def note() -> None:
            given = _arguments(signature, args, kwargs)
            error, known = given.get("error"), given.get("known")
            record = _request.get()
            if known is not None and known.header is not None:
                bind_contextvars(
                    RequesterMessageGUID=known.header.message_guid,
                    orgPPAGUID=known.header.org_guid,
                )
            if record is not None and error is not None:
                record.outcome, record.fault_code = "fault", error.code
                record.error = error.message
                if known is not None and known.operation is not None:
                    record.operation = known.operation.name
            if error is not None and error.code in (SIGNATURE_CODE, CERTIFICATE_CODE):
                metrics.SIGNATURE_FAILURES.labels(signature_reason(error)).inc()

        _safely("refused", note)
        return refuse(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def signature_reason(error: BaseException) -> str:
    """The signing package's reason slug (digest-mismatch, expired, untrusted …).

    ``gateway.signature`` raises the Fault ``from None``: the signing error is still the
    exception's ``__context__``. Refusals raised without one: a missing signature, or a
    certificate not registered for the orgPPAGUID.
    """
    reason = getattr(error.__context__, "reason", None)
    if reason is not None:
        return str(getattr(reason, "value", reason))
    return "missing" if getattr(error, "code", "") == SIGNATURE_CODE else "not-registered"


# --- processing path ---------------------------------------------------------------------


def job_scope(run_once: F) -> F:
    """On ``Worker.run_once``: a clean log context for every job (and none between jobs)."""

    @functools.wraps(run_once)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        clear_contextvars()
        try:
            return run_once(*args, **kwargs)
        finally:
            clear_contextvars()

    return wrapper  # type: ignore[return-value]


def job(process: F) -> F:
    """On ``Worker._process``: bind the packet to the log context (it stays bound while the
    worker records a failure), time the job, count its items ok/error."""

    @functools.wraps(process)
    def wrapper(worker: Any, claimed: Any) -> Any:
        from persistence import packets
        from persistence.queue import LeaseLost

        header: list[Any] = [None]

        def bind() -> None:
            with worker.rt.reader() as session:
                header[0] = packets.header_of(session, claimed.packet_id)
            packet = header[0]
            bind_contextvars(
                MessageGUID=packet.message_guid if packet else None,
                orgPPAGUID=packet.org_guid if packet else None,
                job=claimed.job_id,
                attempt=claimed.attempt,
            )
            log.info(
                "processing packet",
                extra={"service": packet.service, "operation": packet.operation} if packet else {},
            )

        _safely("job", bind)
        started = time.perf_counter()
        try:
            result = process(worker, claimed)
        except LeaseLost:
            _safely("job", lambda: _processed(worker, claimed, header[0], started, "lost"))
            raise
        except BaseException:
            _safely("job", lambda: _processed(worker, claimed, header[0], started, "retry"))
            raise
        _safely("job", lambda: _processed(worker, claimed, header[0], started, None))
        return result

    return wrapper  # type: ignore[return-value]


def _processed(worker: Any, claimed: Any, header: Any, started: float, outcome: str | None) -> None:
    from gateway.ops.packets import read_results
    from persistence import packets

    elapsed = time.perf_counter() - started
    service = (header.service if header else None) or "unknown"
    operation = (header.operation if header else None) or "unknown"
    if outcome is not None:
        metrics.PROCESSING_SECONDS.labels(service, operation, outcome).observe(elapsed)
        return
    with worker.rt.reader() as session:
        stored = packets.outcome_of(session, claimed.packet_id)
    state, result_xml = (stored[0], stored[1]) if stored else ("unknown", None)
    metrics.PROCESSING_SECONDS.labels(service, operation, state).observe(elapsed)
    if header is not None:
        metrics.PACKET_LATENCY.labels(service, operation).observe(
            max(0.0, (datetime.now(UTC) - header.received_at).total_seconds())
        )
    results = read_results(result_xml)
    failed = results.failed_items
    ok = len(results.items) - len(failed)
    if ok:
        metrics.ITEMS.labels(service, operation, "ok").inc(ok)
    if failed:
        metrics.ITEMS.labels(service, operation, "error").inc(len(failed))
        for item in failed:
            metrics.ITEM_ERRORS.labels(operation, item.error_code or "").inc()
    level = logging.WARNING if state != "processed" else logging.INFO
    log.log(
        level,
        "packet %s",
        state,
        extra={
            "service": service,
            "operation": operation,
            "state": state,
            "items_ok": ok,
            "items_error": len(failed),
            "result_error": results.error_code,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )

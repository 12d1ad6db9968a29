"""Metrics and logs of the request path (``gateway/accept.py``) and the processing path
(``gateway/worker.py``), from the explicit records those paths hand over
(``gateway.trace.RequestTrace``, ``JobTrace``).

Observability never fails a request or a job, and is never silently broken either: a
failure inside a hook is logged at ERROR with its traceback and counted in
``gateway_observe_failures{hook}``.

Log context (structlog contextvars, merged into every log line of the thread):
``RequesterMessageGUID`` (the sender's) and ``orgPPAGUID`` from the RequestHeader on,
``MessageGUID`` (the gateway's) once the packet is stored, and while a worker processes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from structlog.contextvars import bind_contextvars, clear_contextvars

from gateway.codes import Code
from gateway.errors import GatewayError
from gateway.ops import metrics
from gateway.trace import JobTrace, RequestTrace

log = logging.getLogger("gateway.ops")

#: refusals counted in gateway_signature_failures, by reason
SIGNATURE_CODES = frozenset({Code.SIGNATURE_INVALID, Code.CERTIFICATE_REFUSED})


def _guarded(hook: str, action: Callable[[], object]) -> None:
    """Run ``action``; a failure is logged and counted, never raised into the caller."""
    try:
        action()
    except Exception:
        log.error("observability hook %s failed", hook, exc_info=True)
        # if the counter itself fails, the log line above still says it
        with contextlib.suppress(Exception):
            metrics.OBSERVE_FAILURES.labels(hook).inc()


def clear() -> None:
    """A clean log context (at the start and end of every request and job)."""
    clear_contextvars()


# --- request path ------------------------------------------------------------------------


def request_header(org_guid: str, requester_message_guid: str) -> None:
    """The RequestHeader was read: later log lines of this request carry the sender."""
    _guarded(
        "header",
        lambda: bind_contextvars(RequesterMessageGUID=requester_message_guid, orgPPAGUID=org_guid),
    )


def stored(message_guid: str) -> None:
    """The packet was stored under the gateway's MessageGUID."""
    _guarded("stored", lambda: bind_contextvars(MessageGUID=message_guid))


def answered(trace: RequestTrace) -> None:
    """Count the request, time it, and log one line about it."""
    _guarded("request", lambda: _answered(trace))


def _answered(trace: RequestTrace) -> None:
    metrics.REQUESTS.labels(
        trace.service, trace.operation, trace.outcome, trace.fault_code or ""
    ).inc()
    metrics.ACCEPT_SECONDS.labels(trace.service, trace.operation).observe(trace.seconds)
    if trace.signature_reason is not None:
        metrics.SIGNATURE_FAILURES.labels(trace.signature_reason).inc()
    if trace.org_guid is not None and trace.requester_message_guid is not None:
        bind_contextvars(
            RequesterMessageGUID=trace.requester_message_guid, orgPPAGUID=trace.org_guid
        )
    fields: dict[str, object] = {
        "service": trace.service,
        "operation": trace.operation,
        "outcome": trace.outcome,
        "http_status": trace.http_status,
        "duration_ms": round(trace.seconds * 1000, 2),
        "size": trace.size,
    }
    if trace.outcome == "fault":
        code = trace.fault_code or ""
        fields.update(fault_code=code, error=trace.error[:500])
        level = logging.WARNING if code.startswith("EXP") else logging.INFO
        log.log(level, "request refused", extra=fields)
    elif trace.outcome == "state":
        log.debug("getState answered", extra=fields)
    else:
        log.info("packet %s", trace.outcome, extra=fields)


def signature_reason(error: GatewayError) -> str | None:
    """The signing package's reason slug (digest-mismatch, expired, untrusted …) of a
    signature (AUT011005) or certificate (AUT011004) refusal; None for other refusals.

    ``gateway.signature`` raises the Fault ``from None``: the signing error is still the
    exception's ``__context__``. Refusals raised without one: a missing signature, or a
    certificate not registered for the orgPPAGUID.
    """
    if error.code not in SIGNATURE_CODES:
        return None
    reason = getattr(error.__context__, "reason", None)
    if reason is not None:
        return str(getattr(reason, "value", reason))
    return "missing" if error.code == Code.SIGNATURE_INVALID else "not-registered"


# --- processing path ---------------------------------------------------------------------


def job_started(
    job_id: int,
    attempt: int,
    *,
    message_guid: str,
    org_guid: str | None,
    service: str | None,
    operation: str | None,
) -> None:
    """A worker holds a job and has read its packet: bind it to the log context (it stays
    bound while the worker records a failure) and say so."""

    def bind() -> None:
        bind_contextvars(MessageGUID=message_guid, orgPPAGUID=org_guid, job=job_id, attempt=attempt)
        log.info("processing packet", extra={"service": service, "operation": operation})

    _guarded("job", bind)


def job_done(trace: JobTrace) -> None:
    """Time the attempt, count its items ok/error, log one line about a stored outcome."""
    _guarded("job", lambda: _job_done(trace))


def _job_done(trace: JobTrace) -> None:
    service, operation = trace.service, trace.operation
    metrics.PROCESSING_SECONDS.labels(service, operation, trace.outcome).observe(trace.seconds)
    tally = trace.tally
    if tally is None:  # retried or lost: no outcome was stored
        return
    if trace.received_at is not None:
        metrics.PACKET_LATENCY.labels(service, operation).observe(
            max(0.0, (datetime.now(UTC) - trace.received_at).total_seconds())
        )
    failed = tally.failed_items
    ok = tally.items - failed
    if ok:
        metrics.ITEMS.labels(service, operation, "ok").inc(ok)
    if failed:
        metrics.ITEMS.labels(service, operation, "error").inc(failed)
        for code, count in tally.item_errors.items():
            metrics.ITEM_ERRORS.labels(operation, code).inc(count)
    level = logging.WARNING if trace.outcome != "processed" else logging.INFO
    log.log(
        level,
        "packet %s",
        trace.outcome,
        extra={
            "service": service,
            "operation": operation,
            "state": trace.outcome,
            "items_ok": ok,
            "items_error": failed,
            "result_error": tally.request_error,
            "duration_ms": round(trace.seconds * 1000, 2),
        },
    )

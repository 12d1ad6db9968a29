"""What a request or a job came to, as explicit records handed to metrics and logs.

The request path (``gateway/accept.py``) and the processing path (``gateway/worker.py``) build
these from what they already know and give them to ``gateway.ops.observe``; nothing is found
by introspection, so renaming a parameter cannot lose a metric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lxml import etree

from gateway.codes import Code

RequestOutcome = Literal["accepted", "duplicate", "state", "fault"]
JobOutcome = Literal["processed", "failed", "retry", "lost"]


@dataclass(frozen=True)
class RequestTrace:
    """One SOAP request, answered."""

    service: str  # "unknown" when nothing is served at the path
    operation: str  # "unknown" when the request was refused before routing
    outcome: RequestOutcome
    http_status: int
    seconds: float
    size: int  # bytes of the request body
    org_guid: str | None = None  # orgPPAGUID of the RequestHeader, once read
    requester_message_guid: str | None = None
    message_guid: str | None = None  # the gateway's, once stored
    fault_code: Code | None = None
    error: str = ""  # the Fault's message
    #: why a signature or certificate was refused (digest-mismatch, expired, missing …)
    signature_reason: str | None = None


@dataclass(frozen=True)
class Tally:
    """Counts of a job's result, taken from the elements the handler returned."""

    #: results of import items (each with its TransportGUID)
    items: int = 0
    #: refused items by error code
    item_errors: Mapping[str, int] = field(default_factory=dict)
    #: every ErrorCode in the result: refused items and ErrorMessages (whole request or part)
    errors: int = 0
    #: the ErrorMessage code of a request without an answer (an export that found nothing …)
    request_error: str | None = None

    @property
    def failed_items(self) -> int:
        return sum(self.item_errors.values())


def tally(elements: Iterable[etree._Element]) -> Tally:
    """Count the result elements a handler returned (in memory: nothing is serialised)."""
    items, errors = 0, 0
    failed: Counter[str] = Counter()
    request_error = None
    for element in elements:
        for transport_guid in element.iter("{*}TransportGUID"):
            result = transport_guid.getparent()
            if result is None or etree.QName(result).localname == "Error":
                continue
            items += 1
            error = result.find("{*}Error")
            if error is not None:
                failed[(error.findtext("{*}ErrorCode") or "").strip()] += 1
        errors += sum(1 for _ in element.iter("{*}ErrorCode"))
        if etree.QName(element).localname == "ErrorMessage":
            request_error = (element.findtext("{*}ErrorCode") or "").strip()
    return Tally(items, dict(failed), errors, request_error)


def request_error_tally(code: str) -> Tally:
    """The tally of a result that is one ErrorMessage (``state.error_results``)."""
    return Tally(errors=1, request_error=code)


@dataclass(frozen=True)
class JobTrace:
    """One attempt at a queue job, over."""

    job_id: int
    attempt: int
    service: str
    operation: str
    outcome: JobOutcome
    seconds: float
    received_at: datetime | None = None  # of the packet (latency: received ► stored outcome)
    tally: Tally | None = None  # of a stored outcome

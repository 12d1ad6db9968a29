"""Step 3 of the request path: the base:RequestHeader (or base:ISRequestHeader)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from lxml import etree

from gateway.errors import GatewayError, HeaderInvalid
from gateway.namespaces import BASE, qname
from gateway.registry import HeaderKind
from gateway.soap.envelope import Envelope

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class RequestHeader:
    date: str
    message_guid: str  # the client's MessageGUID (RequesterMessageGUID in the Ack)
    #: the sender's orgPPAGUID; "" for base:ISRequestHeader until the transport names it
    org_guid: str
    is_operator_signature: bool
    tag: str = qname(BASE, "RequestHeader")  # the header block it was read from

    def with_org(self, org_guid: str) -> RequestHeader:
        """The header of an ISRequestHeader call, with the caller the transport named."""
        return replace(self, org_guid=org_guid.lower())


def _text(header: etree._Element, name: str) -> str | None:
    element = next(header.iterchildren(qname(BASE, name)), None)
    return element.text.strip() if element is not None and element.text else None


def read_request_header(envelope: Envelope, kind: HeaderKind = "RequestHeader") -> RequestHeader:
    """Date, MessageGUID and orgPPAGUID of the sender; refuses a missing or malformed header.

    A service whose calls carry base:ISRequestHeader takes it (no orgPPAGUID: ``org_guid`` is
    "") or, from clients that send it anyway, a base:RequestHeader.
    """
    header = envelope.header(qname(BASE, kind))
    if header is None and kind == "ISRequestHeader":
        header = envelope.header(qname(BASE, "RequestHeader"))
    if header is None:
        raise HeaderInvalid(f"The SOAP Header must carry base:{kind}.")
    name = etree.QName(header).localname
    date = _text(header, "Date")
    message_guid = _text(header, "MessageGUID")
    if not date:
        raise HeaderInvalid(f"{name}/Date is missing.")
    if not message_guid or not _GUID.match(message_guid):
        raise HeaderInvalid(f"{name}/MessageGUID is missing or not a GUID.")
    if name == "ISRequestHeader":
        return RequestHeader(date, message_guid.lower(), "", False, header.tag)
    org_guid = _text(header, "orgPPAGUID")
    if not org_guid or not _GUID.match(org_guid):
        if header.find(qname(BASE, "SenderID")) is not None:
            raise HeaderInvalid("RequestHeader/SenderID is no longer supported; send orgPPAGUID.")
        raise HeaderInvalid("RequestHeader/orgPPAGUID is missing or not a GUID.")
    return RequestHeader(
        date=date,
        message_guid=message_guid.lower(),
        org_guid=org_guid.lower(),
        is_operator_signature=_text(header, "IsOperatorSignature") == "true",
    )


def check_date(
    date: str | datetime,
    now: datetime,
    window: timedelta,
    what: str = "RequestHeader/Date",
    error: type[GatewayError] = HeaderInvalid,
) -> None:
    """Refuse a packet made longer than ``window`` before (or after) ``now``: a captured
    packet must not be accepted again days later under a new MessageGUID. ``date`` is an
    xs:dateTime as written, or a time already read (the signature's SigningTime)."""
    if isinstance(date, datetime):
        sent = date
    else:
        try:
            sent = datetime.fromisoformat(date)
        except ValueError:
            raise error(f"{what} {date!r} is not an xs:dateTime.") from None
    if sent.tzinfo is None:  # xs:dateTime without an offset: read as UTC (the window is wide)
        sent = sent.replace(tzinfo=UTC)
    if abs(now - sent) > window:
        hours = window.total_seconds() / 3600
        shown = date.isoformat() if isinstance(date, datetime) else date
        raise error(
            f"{what} {shown} is more than {hours:g} h away from the gateway's time "
            f"({now.isoformat(timespec='seconds')}); send every packet with the time it is sent."
        )

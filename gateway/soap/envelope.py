"""Reading request envelopes and building reply envelopes (SOAP 1.1, document/literal)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from lxml import etree

from gateway.errors import FormatError, GatewayError
from gateway.namespaces import BASE, SOAP_ENV, WCF_ADDRESSING_NONE, qname

_ENVELOPE = qname(SOAP_ENV, "Envelope")
_HEADER = qname(SOAP_ENV, "Header")
_BODY = qname(SOAP_ENV, "Body")
_FAULT = qname(SOAP_ENV, "Fault")
_MUST_UNDERSTAND = qname(SOAP_ENV, "mustUnderstand")

#: WCF's ``<Action s:mustUnderstand="1">urn:operation</Action>``, checked against the route.
WCF_ACTION = qname(WCF_ADDRESSING_NONE, "Action")
#: Header blocks the gateway understands; anything else with mustUnderstand="1" is refused.
UNDERSTOOD_HEADERS = frozenset(
    {qname(BASE, "RequestHeader"), qname(BASE, "ISRequestHeader"), WCF_ACTION}
)


@dataclass(frozen=True)
class Envelope:
    root: etree._Element
    headers: tuple[etree._Element, ...]
    body: etree._Element  # the single operation element inside soapenv:Body

    def header(self, tag: str) -> etree._Element | None:
        return next((h for h in self.headers if h.tag == tag), None)

    @property
    def wcf_action(self) -> str | None:
        """The text of a WCF ``Action`` header block, if the client sent one."""
        block = self.header(WCF_ACTION)
        return None if block is None else (block.text or "").strip()


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def split_envelope(root: etree._Element) -> Envelope:
    """Check the SOAP 1.1 envelope shape and return its header blocks and operation element."""
    if root.tag != _ENVELOPE:
        raise FormatError(f"Expected a SOAP 1.1 Envelope ({{{SOAP_ENV}}}Envelope), got {root.tag}.")
    parts = _children(root)
    header = next((p for p in parts if p.tag == _HEADER), None)
    bodies = [p for p in parts if p.tag == _BODY]
    if len(bodies) != 1:
        raise FormatError("The SOAP Envelope must contain exactly one Body.")
    operations = _children(bodies[0])
    if len(operations) != 1:
        raise FormatError(
            f"The SOAP Body must contain exactly one operation element, found {len(operations)}."
        )
    headers = tuple(_children(header)) if header is not None else ()
    for block in headers:
        if block.get(_MUST_UNDERSTAND) in ("1", "true") and block.tag not in UNDERSTOOD_HEADERS:
            raise FormatError(
                f"Header block {block.tag} is marked mustUnderstand but not supported."
            )
    return Envelope(root=root, headers=headers, body=operations[0])


def _now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


#: The reply envelope around its ResultHeader's Date and MessageGUID and the Body's element
#: (the same bytes lxml wrote for the tree; the element is serialized by lxml).
_REPLY_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:base="{BASE}">'
    "<soap:Header><base:ResultHeader><base:Date>"
).encode()
_REPLY_GUID = b"</base:Date><base:MessageGUID>"
_REPLY_BODY = b"</base:MessageGUID></base:ResultHeader></soap:Header><soap:Body>"
_REPLY_TAIL = b"</soap:Body></soap:Envelope>"


def _envelope_with(body_child: etree._Element, message_guid: str | None) -> bytes:
    return b"".join(
        (
            _REPLY_HEAD,
            escape(_now_iso()).encode(),
            _REPLY_GUID,
            escape(message_guid or str(uuid.uuid4())).encode(),
            _REPLY_BODY,
            etree.tostring(body_child, encoding="UTF-8", xml_declaration=False),
            _REPLY_TAIL,
        )
    )


#: ``base:AckRequest`` around its two GUIDs, as lxml writes the element (the whole reply is
#: written from bytes: building and serializing four elements cost more than the rest).
_ACK_HEAD = (f'<base:AckRequest xmlns:base="{BASE}"><base:Ack><base:MessageGUID>').encode()
_ACK_REQUESTER = b"</base:MessageGUID><base:RequesterMessageGUID>"
_ACK_TAIL = b"</base:RequesterMessageGUID></base:Ack></base:AckRequest>"


def ack_envelope(message_guid: str, requester_message_guid: str) -> bytes:
    """``base:AckRequest/Ack`` with the server's and the client's MessageGUID (both GUIDs:
    the gateway's own, and the RequestHeader's that read_request_header checked)."""
    guid = escape(message_guid).encode()
    return b"".join(
        (
            _REPLY_HEAD,
            escape(_now_iso()).encode(),
            _REPLY_GUID,
            guid,
            _REPLY_BODY,
            _ACK_HEAD,
            guid,
            _ACK_REQUESTER,
            escape(requester_message_guid).encode(),
            _ACK_TAIL,
            _REPLY_TAIL,
        )
    )


def result_envelope(result: etree._Element, message_guid: str) -> bytes:
    """A service's ``getStateResult`` directly in the Body."""
    return _envelope_with(result, message_guid)


def fault_envelope(error: GatewayError) -> bytes:
    """soap:Fault with ``base:Fault`` (ErrorCode, ErrorMessage) in its detail."""
    fault = etree.Element(_FAULT, nsmap={"soap": SOAP_ENV})
    faultcode = etree.SubElement(fault, "faultcode")
    faultcode.text = "soap:Client" if error.sender_fault else "soap:Server"
    etree.SubElement(fault, "faultstring").text = f"{error.code}: {error.message}"
    detail = etree.SubElement(fault, "detail")
    base_fault = etree.SubElement(detail, qname(BASE, "Fault"), nsmap={"base": BASE})
    etree.SubElement(base_fault, qname(BASE, "ErrorCode")).text = error.code
    etree.SubElement(base_fault, qname(BASE, "ErrorMessage")).text = error.message
    return _envelope_with(fault, None)

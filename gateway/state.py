"""getState answers: RequestState 1/2/3 and the stored results, in the service's getStateResult."""

from __future__ import annotations

from lxml import etree

from gateway.errors import RequestNotFound
from gateway.namespaces import BASE, qname
from gateway.registry import Service
from gateway.xmlparse import parse_xml
from persistence.packets import PROCESSING, RECEIVED, PacketView

_WRAPPER = "results"


def pack_results(elements: list[etree._Element]) -> str:
    """Serialize handler result elements for storage with the packet."""
    wrapper = etree.Element(_WRAPPER)
    wrapper.extend(elements)
    return etree.tostring(wrapper, encoding="unicode")


def error_results(code: str, description: str) -> str:
    """A stored result that getState renders as getStateResult/base:ErrorMessage."""
    message = etree.Element(qname(BASE, "ErrorMessage"), nsmap={"base": BASE})
    etree.SubElement(message, qname(BASE, "ErrorCode")).text = code
    etree.SubElement(message, qname(BASE, "Description")).text = description
    return pack_results([message])


def request_state(packet: PacketView) -> int:
    if packet.state == RECEIVED:
        return 1
    if packet.state == PROCESSING:
        return 2
    return 3


def state_result(service: Service, packet: PacketView | None, org_guid: str) -> etree._Element:
    """Build getStateResult for the sender of the packet; anyone else gets INT002013."""
    if packet is None or packet.org_guid != org_guid or packet.state == "rejected":
        raise RequestNotFound(
            "Request not found: no packet with this MessageGUID was accepted from you."
        )
    result = etree.Element(
        service.state_result_tag,
        nsmap={None: service.types_namespace, "base": BASE},  # type: ignore[dict-item]  # lxml-stubs: a None (default) prefix is allowed
    )
    result.set(qname(BASE, "version"), service.result_version)
    state = request_state(packet)
    etree.SubElement(result, qname(BASE, "RequestState")).text = str(state)
    etree.SubElement(result, qname(BASE, "MessageGUID")).text = packet.message_guid
    if state == 3 and packet.result_xml:
        result.extend(list(parse_xml(packet.result_xml.encode())))
    return result

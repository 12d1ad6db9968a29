"""Reply envelopes written from bytes read as the elements lxml would write."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.namespaces import BASE, SOAP_ENV, qname
from gateway.soap import envelope

GUID = "5b4a9c2e-1f0d-4c3b-8a7e-6d5c4b3a2f10"
REQUESTER = "0e1d2c3b-4a59-4687-9a6b-5c4d3e2f1a0b"


def _lxml_ack(message_guid: str, requester_message_guid: str) -> etree._Element:
    ack_request = etree.Element(qname(BASE, "AckRequest"), nsmap={"base": BASE})
    ack = etree.SubElement(ack_request, qname(BASE, "Ack"))
    etree.SubElement(ack, qname(BASE, "MessageGUID")).text = message_guid
    etree.SubElement(ack, qname(BASE, "RequesterMessageGUID")).text = requester_message_guid
    return ack_request


@pytest.fixture
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> str:
    date = "2026-12-03T16:05:00.123+03:00"
    monkeypatch.setattr(envelope, "_now_iso", lambda: date)
    return date


@pytest.mark.parametrize(
    "message_guid, requester",
    [(GUID, REQUESTER), ("a&b<c>", "'\"&amp;")],  # GUIDs in practice; escaping regardless
)
def test_ack_is_the_envelope_lxml_writes(fixed_date: str, message_guid: str, requester: str):
    written = envelope.ack_envelope(message_guid, requester)
    assert written == envelope._envelope_with(_lxml_ack(message_guid, requester), message_guid)
    root = etree.fromstring(written)
    ack = root.find(f"{{{SOAP_ENV}}}Body/{{{BASE}}}AckRequest/{{{BASE}}}Ack")
    assert ack is not None
    assert ack.findtext(f"{{{BASE}}}MessageGUID") == message_guid
    assert ack.findtext(f"{{{BASE}}}RequesterMessageGUID") == requester
    header = root.find(f"{{{SOAP_ENV}}}Header/{{{BASE}}}ResultHeader")
    assert header is not None
    assert header.findtext(f"{{{BASE}}}Date") == fixed_date
    assert header.findtext(f"{{{BASE}}}MessageGUID") == message_guid

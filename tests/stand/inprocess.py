"""Packets queued and processed in-process, without HTTP: the worker's tier of tests."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from lxml import etree

from gateway.namespaces import SOAP_ENV
from gateway.runtime import Runtime
from gateway.state import state_result
from persistence import packets
from tests.placed import placed_contract
from tests.stand.gateway import ROOT

EXAMPLE = ROOT / "examples" / "house-management" / "importHouseUOData.xml"
ORG = "0a1b2c3d-0000-4000-8000-0000000000bb"
EXAMPLE_HOUSE = "5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c"  # the FIAS GUID of the example's house


def queue_example(rt: Runtime, org: str = ORG) -> str:
    """Store the example house import as accepted (queued) for ``org``, which manages the
    example's house by a placed contract; its MessageGUID."""
    with rt.session.begin() as s:
        placed_contract(s, org, EXAMPLE_HOUSE)
    raw = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'.encode()
        + EXAMPLE.read_bytes().split(b"?>", 1)[1]
        + b"</soapenv:Body></soapenv:Envelope>"
    )
    new = packets.NewPacket(
        str(uuid.uuid4()), org, "house-management", "importHouseUOData", "13.2.3.2", raw, "h"
    )
    with rt.session.begin() as s:
        return packets.accept(s, new).message_guid


def new_packet(org: str, raw: bytes = b"<x/>") -> packets.NewPacket:
    """A house import of ``org`` to store straight through ``persistence.packets.accept``,
    under a new client MessageGUID."""
    return packets.NewPacket(
        requester_message_guid=str(uuid.uuid4()),
        org_guid=org,
        service="house-management",
        operation="importHouseUOData",
        version="11.0.0.0",
        raw=raw,
        body_sha256=uuid.uuid4().hex * 2,
    )


def replace_handler(
    rt: Runtime,
    handler: Any,
    service: str = "house-management",
    operation: str = "importHouseUOData",
) -> Any:
    """Serve ``operation`` with ``handler`` in this runtime; returns the operation it had."""
    found = rt.registry.by_name(service)
    before = found.operations[operation]
    found.operations[operation] = dataclasses.replace(before, handler=handler)
    return before


def packet_state(rt: Runtime, message_guid: str) -> str:
    with rt.session() as s:
        return packets.get_by_message_guid(s, message_guid).state


def result_of(rt: Runtime, message_guid: str, org: str = ORG) -> etree._Element:
    """The getStateResult the sender would get for the packet."""
    with rt.session() as s:
        packet = packets.get_by_message_guid(s, message_guid)
    return state_result(rt.registry.by_name("house-management"), packet, org)

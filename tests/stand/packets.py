"""Signed packets built without a SOAP client, and plain HTTP to send them: what the scale-out
and crash tests push through many nodes at once."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from lxml import etree

from gateway.client import envelope
from gateway.namespaces import BASE, NSI_BASE
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence.nsi import shipped_ref
from signing import sign
from tests.paths import HM_PATH as PATH


def house_request(flats: int) -> etree._Element:
    """An importHouseUORequest: a new apartment house, one entrance and ``flats`` flats."""

    def el(parent: etree._Element, ns: str, name: str, value: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ns}}}{name}")
        if value is not None:
            child.text = value
        return child

    root = etree.Element(
        f"{{{HM}}}importHouseUORequest", nsmap={"hm": HM, "base": BASE, "nsi": NSI_BASE}
    )
    root.set(f"{{{BASE}}}version", "13.2.3.2")
    root.set("Id", "signed-data-container")
    house = el(root, HM, "ApartmentHouse")
    create = el(house, HM, "ApartmentHouseToCreate")
    basic = el(create, HM, "BasicCharacteristicts")
    el(basic, HM, "FIASHouseGuid", str(uuid.uuid4()))
    el(basic, HM, "TotalSquare", "3560.5")
    state = el(basic, HM, "State")
    el(state, NSI_BASE, "Code", "2")
    el(state, NSI_BASE, "GUID", shipped_ref(24, "2")["GUID"])
    el(basic, HM, "UsedYear", "1975")
    el(basic, HM, "FloorCount", "9")
    tz = el(basic, HM, "OlsonTZ")
    el(tz, NSI_BASE, "Code", "1")
    el(tz, NSI_BASE, "GUID", shipped_ref(32, "1")["GUID"])
    el(basic, HM, "CulturalHeritage", "false")
    el(create, HM, "UndergroundFloorCount", "1")
    el(create, BASE, "TransportGUID", str(uuid.uuid4()))
    entrance = el(house, HM, "EntranceToCreate")
    el(entrance, HM, "EntranceNum", "1")
    el(entrance, BASE, "TransportGUID", str(uuid.uuid4()))
    for n in range(1, flats + 1):
        flat = el(el(house, HM, "ResidentialPremises"), HM, "ResidentialPremisesToCreate")
        el(flat, HM, "CadastralNumber", f"77:01:0004012:{n}")
        el(flat, HM, "PremisesNum", str(n))
        el(flat, HM, "EntranceNum", "1")
        el(flat, HM, "TotalArea", "54.30")
        el(flat, BASE, "TransportGUID", str(uuid.uuid4()))
    return root


def signed_packet(
    element: etree._Element, org_guid: str, key: Any, cert: Any, requester_guid: str
) -> bytes:
    """``element`` signed by the organisation, in an envelope with its RequestHeader."""
    env = envelope(element, org_guid, requester_guid)
    sign(element, key, cert)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


@dataclass
class Sent:
    """What a client knows after sending: the packets acknowledged and the ones not."""

    acked: dict[str, str] = field(default_factory=dict)  # requester guid -> gateway MessageGUID
    unacked: dict[str, bytes] = field(default_factory=dict)  # requester guid -> packet
    faults: list[tuple[int, str]] = field(default_factory=list)  # (HTTP status, ErrorCode)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(url: str, raw: bytes, timeout: float = 30) -> tuple[int, str | None, str | None]:
    """POST a house import: (HTTP status, Ack MessageGUID, Fault ErrorCode)."""
    response = requests.post(
        url + PATH,
        data=raw,
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:importHouseUOData"},
        timeout=timeout,
    )
    root = etree.fromstring(response.content)
    return (
        response.status_code,
        root.findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID"),
        root.findtext(f".//{{{BASE}}}Fault/{{{BASE}}}ErrorCode"),
    )


def get_state(url: str, org_guid: str, password: str, message_guid: str) -> str | None:
    """getState over plain HTTP with Basic credentials: its RequestState."""
    request = etree.Element(f"{{{BASE}}}getStateRequest", nsmap={"base": BASE})
    etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = message_guid
    response = requests.post(
        url + PATH,
        data=etree.tostring(envelope(request, org_guid)),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getState"},
        auth=(org_guid, password),
        timeout=30,
    )
    return etree.fromstring(response.content).findtext(f".//{{{BASE}}}RequestState")

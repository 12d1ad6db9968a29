"""Handlers in process: a request built as a client builds it (zeep, from our WSDL, no HTTP),
run by its handler in one transaction, as the worker runs it, on a real database.

Each run is kept by MessageGUID, as the packet store keeps its result: running a MessageGUID
again is a forced replay (the worker hands the handler the last processed result).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import zeep
from lxml import etree
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.handlers.base import HandlerContext
from gateway.namespaces import BASE, SOAP_ENV
from gateway.registry import Registry
from gateway.services import build_registry
from gateway.state import pack_results
from gateway.trace import tally
from persistence.clock import utcnow
from persistence.models import Base
from persistence.roles import Role
from tests.conftest import ROOT

WSDL = {
    "house-management": "house-management/hcs-house-management-service-async.wsdl",
    "device-metering": "device-metering/hcs-device-metering-service-async.wsdl",
    "bills": "bills/hcs-bills-service-async.wsdl",
    "payment": "payment/hcs-payment-service-async.wsdl",
}


@cache
def _client(service: str) -> zeep.Client:
    return zeep.Client(str(ROOT / "wsdl" / WSDL[service]), settings=zeep.Settings(strict=False))


@cache
def _registry() -> Registry:
    return build_registry()


def request_element(service: str, operation: str, request: dict[str, Any]) -> etree._Element:
    """The operation element a client would send for these values (built by zeep, offline)."""
    client = _client(service)
    envelope = client.create_message(client.service, operation, **request)
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    return body[0]


@dataclass(frozen=True)
class Outcome:
    """One item's result: TransportGUID, GUID, UniqueNumber, ErrorCode."""

    transport_guid: str | None
    guid: str | None
    unique_number: str | None
    code: str | None
    element: etree._Element

    @property
    def ok(self) -> bool:
        return self.code is None


def outcomes(elements: list[etree._Element]) -> list[Outcome]:
    found = []
    for element in elements:
        for transport in element.iter(f"{{{BASE}}}TransportGUID"):
            result = transport.getparent()
            if result is None or etree.QName(result).localname == "Error":
                continue
            found.append(
                Outcome(
                    transport.text,
                    result.findtext(f"{{{BASE}}}GUID"),
                    result.findtext(f"{{{BASE}}}UniqueNumber"),
                    result.findtext(f"{{{BASE}}}Error/{{{BASE}}}ErrorCode"),
                    result,
                )
            )
    return found


class Stand:
    """Runs import and export handlers against one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        #: the stored result of each packet, by MessageGUID: what a forced replay is given
        self.results: dict[str, str] = {}

    def run(
        self,
        org: tuple[str, str],
        service: str,
        operation: str,
        request: dict[str, Any] | etree._Element,
        message_guid: str | None = None,
        now: datetime | None = None,
    ) -> list[Outcome]:
        """Run an operation as ``org`` (GUID, role); the outcome of each item, in order."""
        element = (
            request
            if isinstance(request, etree._Element)
            else request_element(service, operation, request)
        )
        org_guid, role = org
        message_guid = message_guid or str(uuid.uuid4())
        handler = _registry().operation(service, operation).handler
        assert handler is not None
        with self.sessions.begin() as session:
            ctx = HandlerContext(
                session=session,
                org_guid=org_guid,
                org_role=Role(role),
                message_guid=message_guid,
                version=None,
                now=now or utcnow(),
                previous_result=self.results.get(message_guid),
            )
            result = handler(ctx, element)
        elements = result.elements
        if result.tally is not None:  # the import's own counts are those of its elements
            assert result.tally == tally(elements)
        self.results[message_guid] = pack_results(elements)
        return outcomes(elements)

    def counts(self) -> dict[str, int]:
        """Rows per domain table: what a replay must leave as it was."""
        with self.sessions() as session:
            return {
                table.name: _count(session, table)
                for table in Base.metadata.sorted_tables
                if table.name not in ("packets", "jobs", "packet_events", "packet_replays")
            }


def _count(session: Session, table: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(table)) or 0)

"""The tests' SOAP client: gateway.zeep_client bound to a test organisation."""

from __future__ import annotations

from typing import Any

from lxml import etree
from zeep.plugins import Plugin

from gateway.namespaces import BASE, SOAP_ENV
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.zeep_client import GisClient as _GisClient
from gateway.zeep_client import SigningPlugin, fault_code

__all__ = [
    "BASE",
    "HM",
    "SOAP_ENV",
    "GisClient",
    "Received",
    "SigningPlugin",
    "fault_code",
    "recording",
]


class GisClient(_GisClient):
    """zeep client of a test organisation (guid, key, cert) against one service."""

    def __init__(
        self,
        wsdl_url: str,
        org: Any,
        *,
        password: str | None = None,
        key: Any = None,
        cert: Any = None,
        **sign_options: Any,
    ) -> None:
        super().__init__(
            wsdl_url, org.guid, key or org.key, cert or org.cert, password=password, **sign_options
        )
        self.org = org


class Received(Plugin):  # type: ignore[misc]
    """Keeps every response envelope a zeep client receives."""

    def __init__(self) -> None:
        self.envelopes: list[etree._Element] = []

    def ingress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: object
    ) -> tuple[etree._Element, dict[str, str]]:
        self.envelopes.append(envelope)
        return envelope, http_headers

    @property
    def results(self) -> list[etree._Element]:
        """The getStateResult bodies received, in order."""
        bodies = (envelope.find(f"{{{SOAP_ENV}}}Body") for envelope in self.envelopes)
        return [
            body[0]
            for body in bodies
            if body is not None and len(body) and etree.QName(body[0]).localname == "getStateResult"
        ]


def recording(client: _GisClient) -> Received:
    """``client`` keeps what it receives from now on."""
    received = Received()
    client.client.plugins.append(received)
    return received

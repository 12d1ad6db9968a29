"""``gateway client``: sign an operation element, wrap it with a RequestHeader, send, poll.

A small reference client for test stands and the README quickstart. (Tests use zeep built
from the served WSDL; this client speaks the same wire format with plain HTTP.)
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from lxml import etree

from gateway.namespaces import BASE, SOAP_ENV, qname
from gateway.registry import Operation, Registry, Service
from gateway.services import build_registry
from gateway.xmlparse import parse_xml
from signing import sign
from signing.pki import load_certificate, load_private_key


class ClientError(Exception):
    """A Fault or an unexpected answer from the gateway."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Target:
    service: Service
    operation: Operation


def find_target(element: etree._Element, registry: Registry | None = None) -> Target:
    """The service and operation whose request element this is."""
    registry = registry or build_registry()
    for service in registry.services.values():
        for operation in service.operations.values():
            if operation.request_element == element.tag:
                return Target(service, operation)
    raise ValueError(f"No operation takes a {element.tag} element.")


def envelope(
    element: etree._Element, org_guid: str, message_guid: str | None = None
) -> etree._Element:
    """Wrap an operation element in a SOAP envelope with base:RequestHeader."""
    env = etree.Element(qname(SOAP_ENV, "Envelope"), nsmap={"soapenv": SOAP_ENV, "base": BASE})
    header = etree.SubElement(env, qname(SOAP_ENV, "Header"))
    request_header = etree.SubElement(header, qname(BASE, "RequestHeader"))
    etree.SubElement(request_header, qname(BASE, "Date")).text = datetime.now(UTC).isoformat(
        timespec="milliseconds"
    )
    etree.SubElement(request_header, qname(BASE, "MessageGUID")).text = message_guid or str(
        uuid.uuid4()
    )
    etree.SubElement(request_header, qname(BASE, "orgPPAGUID")).text = org_guid
    body = etree.SubElement(env, qname(SOAP_ENV, "Body"))
    body.append(element)
    return env


def signed_envelope(
    element: etree._Element, org_guid: str, key_file: Path, cert_file: Path
) -> bytes:
    env = envelope(element, org_guid)
    sign(element, load_private_key(key_file), load_certificate(cert_file))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


class GatewayClient:
    def __init__(self, url: str, org_guid: str, password: str | None, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.org_guid = org_guid
        self.auth = (org_guid, password) if password else None
        self.timeout = timeout

    def post(self, service: Service, operation: str, body: bytes) -> etree._Element:
        response = requests.post(
            self.url + service.path,
            data=body,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"urn:{operation}"'},
            auth=self.auth,
            timeout=self.timeout,
        )
        try:
            root = parse_xml(response.content)
        except Exception:
            raise ClientError("HTTP", response.text[:300], response.status_code) from None
        fault = root.find(f".//{qname(BASE, 'Fault')}")
        if fault is not None:
            raise ClientError(
                fault.findtext(qname(BASE, "ErrorCode")) or "",
                fault.findtext(qname(BASE, "ErrorMessage")) or "",
                response.status_code,
            )
        if response.status_code != 200:
            raise ClientError("HTTP", response.text[:300], response.status_code)
        body_element = root.find(qname(SOAP_ENV, "Body"))
        assert body_element is not None
        return body_element[0]

    def send(self, service: Service, operation: str, body: bytes) -> str:
        """Send a packet; returns the gateway's MessageGUID from the Ack."""
        ack = self.post(service, operation, body)
        return ack.findtext(f"{qname(BASE, 'Ack')}/{qname(BASE, 'MessageGUID')}") or ""

    def state(self, service: Service, message_guid: str) -> etree._Element:
        request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
        etree.SubElement(request, qname(BASE, "MessageGUID")).text = message_guid
        body = etree.tostring(
            envelope(request, self.org_guid), xml_declaration=True, encoding="UTF-8"
        )
        return self.post(service, "getState", body)

    def wait(
        self, service: Service, message_guid: str, timeout: float = 120, interval: float = 0.5
    ) -> etree._Element:
        """Poll getState until RequestState is 3."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.state(service, message_guid)
            if result.findtext(qname(BASE, "RequestState")) == "3":
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message_guid} was not processed within {timeout} s")
            time.sleep(interval)


class BadUrl(ValueError):
    """A --url the client cannot use; the message says what to give instead."""


def base_url(url: str, registry: Registry | None = None) -> str:
    """The gateway's base URL from what a user typed: the base URL itself, or a service
    endpoint (``…/HomeManagementAsync``, with or without ``?wsdl``), whose path is dropped."""
    from urllib.parse import urlsplit

    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hint = f"http://{text}" if "://" not in text else "http://HOST:PORT"
        raise BadUrl(f"{url!r} is not an http(s) URL; give the gateway's base URL, e.g. {hint}")
    path = parts.path.rstrip("/")
    for service in (registry or build_registry()).services.values():
        if path.endswith(service.path):
            path = path[: -len(service.path)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def result_has_errors(result: etree._Element) -> bool:
    """A getStateResult carries an error: a failed item's ``Error`` or an ``ErrorMessage``."""
    return any(
        isinstance(el.tag, str) and etree.QName(el).localname in ("Error", "ErrorMessage")
        for el in result.iter()
    )

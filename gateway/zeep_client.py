"""A zeep client of the gateway built from the WSDL it serves, signing like GIS clients do.

Signing happens in a zeep egress plugin, inside the envelope zeep built, the way production
clients sign; HTTP Basic goes on the requests session. Used by ``gateway demo`` and the tests.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import Plugin
from zeep.transports import Transport

from gateway.namespaces import BASE, SOAP_ENV
from signing import sign
from signing.pki import load_certificate, load_private_key


class SigningPlugin(Plugin):
    """Signs the operation element in the Body of every outgoing request except getState."""

    def __init__(self, key_file: Any, cert_file: Any, **sign_options: Any) -> None:
        self.key = load_private_key(key_file)
        self.cert = load_certificate(cert_file)
        self.options = sign_options
        self.enabled = True
        self.tamper: Any = None  # optional callable(envelope) applied after signing

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        binding_options: Any,
    ) -> Any:
        holder = envelope.find(f"{{{SOAP_ENV}}}Body")
        if holder is None:
            return envelope, http_headers
        body = holder[0]
        if self.enabled and etree.QName(body).localname != "getStateRequest":
            sign(body, self.key, self.cert, **self.options)
            if self.tamper is not None:
                self.tamper(envelope)
        return envelope, http_headers


class GisClient:
    """zeep client of one organisation against one service of the running gateway."""

    def __init__(
        self,
        wsdl_url: str,
        org_guid: str,
        key: Any,
        cert: Any,
        *,
        password: str | None = None,
        session: requests.Session | None = None,
        **sign_options: Any,
    ) -> None:
        session = session or requests.Session()  # a given one may carry TLS verify/cert
        if password is not None:
            session.auth = (org_guid, password)
        self.session = session
        self.org_guid = org_guid
        self.plugin = SigningPlugin(key, cert, **sign_options)
        # strict=False: zeep cannot parse CommonResult's choice (UpdateDate | Error) strictly.
        settings = zeep.Settings(strict=False)
        self.client = zeep.Client(
            wsdl_url,
            transport=Transport(session=session, timeout=60),
            plugins=[self.plugin],
            settings=settings,
        )
        self.service = self.client.service

    def header(self, message_guid: str | None = None) -> Any:
        """base:RequestHeader, or base:ISRequestHeader for a service whose WSDL declares it
        (org-registry-common, nsi-common: the HTTP user names the organisation)."""
        fields = {"Date": datetime.now(UTC), "MessageGUID": message_guid or str(uuid.uuid4())}
        if any(str(name).endswith("}ISRequestHeader") for name in self.client.wsdl.messages):
            return self.client.get_element(f"{{{BASE}}}ISRequestHeader")(**fields)
        element = self.client.get_element(f"{{{BASE}}}RequestHeader")
        return element(orgPPAGUID=self.org_guid, **fields)

    def call(self, operation: str, *, message_guid: str | None = None, **kwargs: Any) -> Any:
        response = getattr(self.service, operation)(
            _soapheaders=[self.header(message_guid)], **kwargs
        )
        return response.body if hasattr(response, "body") else response

    def ack_guid(self, response: Any) -> str:
        ack = (
            response["Ack"]
            if isinstance(response, dict) or hasattr(response, "__getitem__")
            else response.Ack
        )
        return str(ack["MessageGUID"])

    def state(self, message_guid: str) -> Any:
        return self.call("getState", MessageGUID=message_guid)

    def wait(self, message_guid: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = self.state(message_guid)
            if int(result["RequestState"]) == 3:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message_guid} not processed in {timeout}s")
            time.sleep(0.2)


def fault_code(fault: Fault) -> str:
    """The base:Fault/ErrorCode of a zeep Fault."""
    detail = fault.detail
    code = detail.find(f".//{{{BASE}}}ErrorCode") if detail is not None else None
    return code.text if code is not None else ""

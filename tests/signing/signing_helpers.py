"""Helpers for the signing tests: GIS-shaped SOAP envelopes and the demo PKI types."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from signing.crypto import PrivateKey

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"
HM = "http://dom.gosuslugi.ru/schema/integration/house-management/"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"

HEADER = (
    "<soapenv:Header><base:RequestHeader>"
    "<base:Date>2022-07-20T09:07:12.178+03:00</base:Date>"
    "<base:MessageGUID>8c3a3a9e-3f7c-4a0c-9d4c-3f0e4c1a2b11</base:MessageGUID>"
    "<base:orgPPAGUID>0c7d2f1c-8f6a-4b8e-9e2d-1d2f3a4b5c6d</base:orgPPAGUID>"
    "</base:RequestHeader></soapenv:Header>"
)


def operation_xml(element_id: str = "signed-data-container", *, extra_ns: str = "") -> str:
    """An importHouseUORequest as a client would write it (own namespace declarations)."""
    return (
        f'<hm:importHouseUORequest xmlns:hm="{HM}" xmlns:base="{BASE}"{extra_ns} '
        f'base:version="13.2.3.2" Id="{element_id}">\n'
        "  <hm:ApartmentHouse>\n"
        "    <hm:ApartmentHouseToCreate>\n"
        "      <hm:BasicCharacteristicts>\n"
        "        <hm:FIASHouseGuid>b1f2a1c4-2d3e-4f50-8a6b-7c8d9e0f1a2b</hm:FIASHouseGuid>\n"
        '        <hm:TotalSquare unit="m2">1234.5</hm:TotalSquare>\n'
        "        <hm:Note>Дом &amp; двор &lt;ул. Ленина&gt;</hm:Note>\n"
        "      </hm:BasicCharacteristicts>\n"
        "      <base:TransportGUID>2f1e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b</base:TransportGUID>\n"
        "    </hm:ApartmentHouseToCreate>\n"
        "  </hm:ApartmentHouse>\n"
        "</hm:importHouseUORequest>"
    )


def envelope_xml(body: str, *, envelope_attrs: str = "", header: str = HEADER) -> str:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}" xmlns:base="{BASE}"{envelope_attrs}>'
        f"{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )


def parse(data: str | bytes) -> etree._Element:
    """Parse like the gateway's hardened transport guard."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data.encode() if isinstance(data, str) else data, parser)


def wire(root: etree._Element) -> etree._Element:
    """Serialize and parse again: what the gateway receives."""
    return parse(etree.tostring(root))


def body_element(root: etree._Element) -> etree._Element:
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    return next(child for child in body if isinstance(child.tag, str))


def signature_of(element: etree._Element) -> etree._Element:
    found = element.find(f"{{{DS}}}Signature")
    assert found is not None
    return found


@dataclass(frozen=True)
class Signer:
    key: PrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    root: Path
    ca_dir: Path
    ca_cert: x509.Certificate
    rsa: Signer
    ec: Signer
    other_ca_cert: x509.Certificate
    other: Signer  # issued by another CA


def xmlsec_verify(
    xmlsec: ModuleType, root: etree._Element, signature: etree._Element, cert_pem: bytes
) -> None:
    """Verify with libxmlsec1 (raises xmlsec.Error on failure)."""
    xmlsec.tree.add_ids(root, ["Id"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert_pem, xmlsec.KeyFormat.CERT_PEM)
    ctx.verify(signature)


NS = {"ds": DS, "xades": XADES, "soapenv": SOAP, "base": BASE, "hm": HM}


def one(node: etree._Element, path: str) -> etree._Element:
    """The single element at an XPath (prefixes from NS)."""
    found = node.xpath(path, namespaces=NS)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]

"""XAdES-BES signed properties: location, SigningTime and SigningCertificate(V2) checks.

The signer certificate is matched by CertDigest and serial number only; the issuer name is
never compared as a string (every client spells X509IssuerName differently).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from . import algorithms
from .algorithms import Digest
from .certificates import der, remembered
from .errors import Reason, SignatureError
from .names import ds, xades
from .structure import decode_base64, elements


def _children(parent: etree._Element, tag: str) -> list[etree._Element]:
    """``parent.findall(tag)`` for a plain tag, without ElementPath."""
    return list(parent.iterchildren(tag))


def _child(parent: etree._Element, tag: str) -> etree._Element | None:
    """``parent.find(tag)`` for a plain tag, without ElementPath."""
    return next(parent.iterchildren(tag), None)


def _first(parents: list[etree._Element], tag: str) -> etree._Element | None:
    """The first ``tag`` child of any of ``parents`` (``find("parent/tag")``)."""
    return next((child for parent in parents for child in parent.iterchildren(tag)), None)


def find_signed_properties(signature: etree._Element) -> etree._Element | None:
    """The xades:SignedProperties of ``signature``'s own ds:Object/QualifyingProperties."""
    qualifying = [
        child
        for obj in signature.iterchildren(ds("Object"))
        for child in elements(obj)
        if child.tag == xades("QualifyingProperties")
    ]
    if not qualifying:
        return None
    if len(qualifying) > 1:
        raise SignatureError(Reason.XADES_INVALID, "more than one xades:QualifyingProperties")
    found = _children(qualifying[0], xades("SignedProperties"))
    if len(found) > 1:
        raise SignatureError(Reason.XADES_INVALID, "more than one xades:SignedProperties")
    return found[0] if found else None


def check(
    signature: etree._Element,
    signed_properties: etree._Element,
    certificate: x509.Certificate,
    allowed_digests: Collection[Digest],
) -> datetime | None:
    """Check the signed XAdES properties against the KeyInfo certificate; return SigningTime."""
    qualifying = signed_properties.getparent()
    if qualifying is None:
        raise SignatureError(Reason.XADES_INVALID, "xades:SignedProperties has no parent")
    signature_id = signature.get("Id")
    if not signature_id:
        raise SignatureError(Reason.XADES_INVALID, "ds:Signature has no Id for XAdES to target")
    if qualifying.get("Target") != f"#{signature_id}":
        raise SignatureError(
            Reason.XADES_INVALID,
            f"QualifyingProperties/@Target {qualifying.get('Target')!r} is not '#{signature_id}'",
        )
    properties = _child(signed_properties, xades("SignedSignatureProperties"))
    if properties is None:
        raise SignatureError(Reason.XADES_INVALID, "xades:SignedSignatureProperties missing")
    _check_signing_certificate(properties, certificate, allowed_digests)
    return _signing_time(properties)


def _signing_time(properties: etree._Element) -> datetime | None:
    found = _children(properties, xades("SigningTime"))
    if not found:
        return None
    if len(found) > 1:
        raise SignatureError(Reason.XADES_INVALID, "more than one xades:SigningTime")
    text = (found[0].text or "").strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SignatureError(Reason.XADES_INVALID, f"unreadable SigningTime {text!r}") from None
    # xsd:dateTime may omit the offset; such a time is taken as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _check_signing_certificate(
    properties: etree._Element, certificate: x509.Certificate, allowed: Collection[Digest]
) -> None:
    holders = _children(properties, xades("SigningCertificate")) + _children(
        properties, xades("SigningCertificateV2")
    )
    if len(holders) != 1:
        raise SignatureError(
            Reason.XADES_INVALID, "exactly one SigningCertificate or SigningCertificateV2 required"
        )
    certs = _children(holders[0], xades("Cert"))
    if not certs:
        raise SignatureError(Reason.XADES_INVALID, "SigningCertificate has no xades:Cert")
    for cert in certs:
        digests = _children(cert, xades("CertDigest"))
        method_el = _first(digests, ds("DigestMethod"))
        value_el = _first(digests, ds("DigestValue"))
        if method_el is None or value_el is None:
            raise SignatureError(Reason.XADES_INVALID, "xades:Cert without a complete CertDigest")
        method = algorithms.parse(Digest, method_el.get("Algorithm"))
        if method not in allowed:
            raise SignatureError(
                Reason.ALGORITHM_UNSUPPORTED, f"CertDigest method {method} is not allowed"
            )
        expected = decode_base64(value_el.text, "CertDigest/DigestValue")
        if hmac.compare_digest(_certificate_digest(certificate, method), expected):
            serial = _serial_of(cert)
            if serial is not None and serial != certificate.serial_number:
                raise SignatureError(
                    Reason.XADES_CERT_MISMATCH,
                    "XAdES IssuerSerial serial number differs from the KeyInfo certificate's",
                )
            return
    raise SignatureError(
        Reason.XADES_CERT_MISMATCH,
        "no XAdES SigningCertificate/Cert digest matches the KeyInfo certificate",
    )


def _certificate_digest(certificate: x509.Certificate, method: Digest) -> bytes:
    """``method``'s digest of the DER certificate (kept per certificate object)."""
    return remembered(certificate, method, lambda cert: method.compute(der(cert)))


def _serial_of(cert: etree._Element) -> int | None:
    """Serial from IssuerSerial/X509SerialNumber or IssuerSerialV2 (None if absent)."""
    v1 = _child(cert, xades("IssuerSerial"))
    if v1 is not None:
        number = _child(v1, ds("X509SerialNumber"))
        text = (number.text or "").strip() if number is not None else ""
        if not text.lstrip("-").isdigit():
            raise SignatureError(Reason.XADES_INVALID, "unreadable IssuerSerial/X509SerialNumber")
        return int(text)
    v2 = _child(cert, xades("IssuerSerialV2"))
    if v2 is not None:
        return _serial_from_issuer_serial_der(decode_base64(v2.text, "IssuerSerialV2"))
    holder = cert.getparent()
    if holder is not None and holder.tag == xades("SigningCertificate"):
        raise SignatureError(Reason.XADES_INVALID, "xades:Cert without IssuerSerial")
    return None


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One DER tag-length-value at ``offset``: (tag, content, next offset)."""
    try:
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4:
                raise IndexError
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > len(data):
            raise IndexError
    except IndexError:
        raise SignatureError(Reason.XADES_INVALID, "IssuerSerialV2 is not valid DER") from None
    return tag, data[offset : offset + length], offset + length


def _serial_from_issuer_serial_der(der: bytes) -> int:
    """serialNumber of RFC 5035 IssuerSerial ::= SEQUENCE { GeneralNames, INTEGER, ... }."""
    tag, body, _ = _tlv(der, 0)
    if tag != 0x30:
        raise SignatureError(Reason.XADES_INVALID, "IssuerSerialV2 is not a SEQUENCE")
    tag, _, offset = _tlv(body, 0)
    if tag != 0x30:
        raise SignatureError(Reason.XADES_INVALID, "IssuerSerialV2 lacks GeneralNames")
    tag, serial, _ = _tlv(body, offset)
    if tag != 0x02 or not serial:
        raise SignatureError(Reason.XADES_INVALID, "IssuerSerialV2 lacks the serial number")
    return int.from_bytes(serial, "big", signed=True)

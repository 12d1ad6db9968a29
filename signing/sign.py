"""Signing of a request element with a GIS-shaped enveloped XAdES-BES signature.

The shape follows what GIS ZhKKh clients send: ds:Signature first child of the element,
a reference to the element (enveloped-signature + exclusive c14n), a reference to
xades:SignedProperties (with an explicit exclusive c14n transform, or none), KeyInfo with
the certificate only, and QualifyingProperties targeting the signature. signxml's
XAdESSigner is not used (its exclusive-c14n SignedProperties reference is inconsistent).
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from . import gost
from .algorithms import C14N, SUPPORTED_DIGESTS, Digest, SignatureMethod, Transform
from .c14n import canonicalize
from .crypto import PrivateKey, certificate_key, sign_value
from .names import DS, EXC_C14N, ID_ATTRIBUTES, SIGNED_PROPERTIES_TYPE, XADES, ds, xades
from .structure import signature_parts

IssuerNameStyle = Literal["rfc4514", "oid", "reversed", "lower"]
DEFAULT_REFERENCE_ID = "signed-data-container"


def sign(
    element: etree._Element,
    private_key: PrivateKey,
    certificate: x509.Certificate,
    *,
    reference_id: str | None = None,
    signature_id: str | None = None,
    signedinfo_c14n: C14N = C14N.EXCLUSIVE,
    data_digest: Digest | None = None,
    properties_digest: Digest | None = None,
    properties_transforms: bool = True,
    key_info_reference: bool = False,
    issuer_name_style: IssuerNameStyle = "rfc4514",
    signing_time: datetime | None = None,
    signature_method: SignatureMethod | None = None,
) -> etree._Element:
    """Insert a XAdES-BES ds:Signature as the first child of ``element``; return it.

    ``element`` keeps its Id unless ``reference_id`` is given (default
    ``signed-data-container``). Digests default to the signature method's own (SHA-256 for
    RSA/ECDSA, Streebog of the key's size for GOST). ``properties_transforms=False`` writes
    the SignedProperties reference without transforms (inclusive c14n in the element's own
    tree); ``key_info_reference=True`` adds a third reference that signs ds:KeyInfo.
    ``issuer_name_style`` only changes how X509IssuerName is spelled.
    """
    method = signature_method or _default_method(private_key)
    data_digest = data_digest or _default_digest(method)
    properties_digest = properties_digest or data_digest
    for digest in (data_digest, properties_digest):
        if Digest(digest) not in SUPPORTED_DIGESTS:
            raise ValueError(f"digest {digest} is not supported for signing")
    if not _key_fits(private_key, certificate):
        raise ValueError("the private key does not belong to the certificate")
    if element.find(ds("Signature")) is not None:
        raise ValueError("the element is already signed")
    if signing_time is not None and signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")

    if reference_id is None:
        reference_id = next((v for n in ID_ATTRIBUTES if (v := element.get(n))), None)
    reference_id = reference_id or DEFAULT_REFERENCE_ID
    element.set("Id", reference_id)
    signature_id = signature_id or f"xmldsig-{uuid.uuid4()}"
    properties_id = f"{signature_id}-signedprops"

    signature = etree.Element(ds("Signature"), {"Id": signature_id}, nsmap={"ds": DS})
    element.insert(0, signature)
    signed_info = _sub(signature, ds("SignedInfo"))
    _sub(signed_info, ds("CanonicalizationMethod"), Algorithm=C14N(signedinfo_c14n))
    _sub(signed_info, ds("SignatureMethod"), Algorithm=method)
    _reference(
        signed_info,
        f"#{reference_id}",
        [Transform.ENVELOPED, Transform.EXCLUSIVE],
        data_digest,
    )
    _reference(
        signed_info,
        f"#{properties_id}",
        [Transform.EXCLUSIVE] if properties_transforms else [],
        properties_digest,
        Type=SIGNED_PROPERTIES_TYPE,
    )
    if key_info_reference:
        _reference(signed_info, f"#{signature_id}-keyinfo", [Transform.EXCLUSIVE], data_digest)
    _sub(signature, ds("SignatureValue"))
    key_info = _sub(signature, ds("KeyInfo"))
    if key_info_reference:
        key_info.set("Id", f"{signature_id}-keyinfo")
    der = certificate.public_bytes(Encoding.DER)
    _sub(_sub(key_info, ds("X509Data")), ds("X509Certificate"), _b64(der))
    _qualifying_properties(
        _sub(signature, ds("Object")),
        signature_id,
        properties_id,
        certificate,
        properties_digest,
        issuer_name_style,
        signing_time or datetime.now(UTC),
    )
    seal(signature, private_key)
    return signature


def seal(signature: etree._Element, private_key: PrivateKey) -> None:
    """(Re)compute every DigestValue and the SignatureValue of ``signature`` in place.

    Used by :func:`sign`; tests use it to re-seal deliberately tampered signatures.
    """
    signed_info, value, _ = signature_parts(signature)
    for ref in signed_info.iterchildren(ds("Reference")):
        transforms = [
            Transform(t.get("Algorithm") or "")
            for t in ref.iterfind(f"{ds('Transforms')}/{ds('Transform')}")
        ]
        c14n = next((t.c14n for t in transforms if t.c14n), C14N.INCLUSIVE).without_comments
        prefixes = _prefix_list(ref.find(f".//{{{EXC_C14N}}}InclusiveNamespaces"))
        target = _resolve(signature, ref.get("URI") or "")
        exclude = None
        if Transform.ENVELOPED in transforms and signature in target.iter(ds("Signature")):
            if signature.getparent() is not target:
                raise ValueError("enveloped-signature only supported for the signature's parent")
            exclude = signature
        data = canonicalize(target, c14n, prefixes, exclude=exclude)
        digest = Digest(_child(ref, "DigestMethod").get("Algorithm") or "")
        _child(ref, "DigestValue").text = _b64(digest.compute(data))
    c14n_el = _child(signed_info, "CanonicalizationMethod")
    prefixes = _prefix_list(c14n_el.find(f"{{{EXC_C14N}}}InclusiveNamespaces"))
    data = canonicalize(signed_info, C14N(c14n_el.get("Algorithm") or ""), prefixes)
    method = SignatureMethod(_child(signed_info, "SignatureMethod").get("Algorithm") or "")
    value.text = _b64(sign_value(method, private_key, data))


def _child(parent: etree._Element, local: str) -> etree._Element:
    found = parent.find(ds(local))
    if found is None:
        raise ValueError(f"ds:{local} missing")
    return found


def issuer_name(name: x509.Name, style: IssuerNameStyle = "rfc4514") -> str:
    """X509IssuerName spelled in one of the ways clients spell it."""
    attributes = [attribute for rdn in name.rdns for attribute in rdn]  # ASN.1 order
    if style == "rfc4514":
        return name.rfc4514_string()
    if style == "oid":
        return ", ".join(f"{a.oid.dotted_string}={a.value!s}" for a in reversed(attributes))
    if style == "reversed":
        return ", ".join(a.rfc4514_string() for a in attributes)
    if style == "lower":
        parts = (a.rfc4514_string().split("=", 1) for a in reversed(attributes))
        return ",".join(f"{key.lower()}={value}" for key, value in parts)
    raise ValueError(f"unknown issuer name style {style!r}")


def _prefix_list(inclusive_namespaces: etree._Element | None) -> list[str]:
    if inclusive_namespaces is None:
        return []
    return (inclusive_namespaces.get("PrefixList") or "").split()


def _default_method(key: PrivateKey) -> SignatureMethod:
    if isinstance(key, gost.PrivateKey):
        if key.key_size == 512:
            return SignatureMethod.GOSTR34102012_512
        return SignatureMethod.GOSTR34102012_256
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod.ECDSA_SHA256
    raise ValueError(f"unsupported key type {type(key).__name__}")


def _default_digest(method: SignatureMethod) -> Digest:
    if method is SignatureMethod.GOSTR34102012_512:
        return Digest.GOSTR3411_2012_512
    if method is SignatureMethod.GOSTR34102012_256:
        return Digest.GOSTR3411_2012_256
    return Digest.SHA256


def _key_fits(key: PrivateKey, certificate: x509.Certificate) -> bool:
    """True when ``certificate`` carries the public half of ``key``."""
    public = certificate_key(certificate)
    if isinstance(key, gost.PrivateKey):
        return (
            isinstance(public, gost.PublicKey)
            and key.subject_public_key_info() == public.subject_public_key_info()
        )
    if isinstance(public, gost.PublicKey):
        return False
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == public.public_bytes(*spki)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    child = etree.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    child.text = text
    return child


def _reference(
    signed_info: etree._Element,
    uri: str,
    transforms: list[Transform],
    digest: Digest,
    **attrib: str,
) -> None:
    ref = _sub(signed_info, ds("Reference"), URI=uri, **attrib)
    if transforms:
        holder = _sub(ref, ds("Transforms"))
        for transform in transforms:
            _sub(holder, ds("Transform"), Algorithm=transform)
    _sub(ref, ds("DigestMethod"), Algorithm=digest)
    _sub(ref, ds("DigestValue"))


def _qualifying_properties(
    obj: etree._Element,
    signature_id: str,
    properties_id: str,
    certificate: x509.Certificate,
    digest: Digest,
    style: IssuerNameStyle,
    signing_time: datetime,
) -> None:
    qualifying = etree.SubElement(
        obj, xades("QualifyingProperties"), {"Target": f"#{signature_id}"}, nsmap={"xades": XADES}
    )
    properties = _sub(qualifying, xades("SignedProperties"), Id=properties_id)
    signature_properties = _sub(properties, xades("SignedSignatureProperties"))
    _sub(
        signature_properties, xades("SigningTime"), signing_time.isoformat(timespec="milliseconds")
    )
    cert = _sub(_sub(signature_properties, xades("SigningCertificate")), xades("Cert"))
    cert_digest = _sub(cert, xades("CertDigest"))
    _sub(cert_digest, ds("DigestMethod"), Algorithm=digest)
    _sub(
        cert_digest, ds("DigestValue"), _b64(digest.compute(certificate.public_bytes(Encoding.DER)))
    )
    serial = _sub(cert, xades("IssuerSerial"))
    _sub(serial, ds("X509IssuerName"), issuer_name(certificate.issuer, style))
    _sub(serial, ds("X509SerialNumber"), str(certificate.serial_number))


def _resolve(signature: etree._Element, uri: str) -> etree._Element:
    """The element a '#id' URI names in ``signature``'s document."""
    if not uri.startswith("#"):
        raise ValueError(f"cannot seal reference {uri!r}")
    value = uri[1:]
    root = signature.getroottree().getroot()
    for node in root.iter(tag=etree.Element):
        if any(node.get(name) == value for name in ID_ATTRIBUTES):
            return node
    raise ValueError(f"no element with Id {value!r}")

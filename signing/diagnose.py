"""Why a signature is (not) accepted, step by step: the report behind `gateway verify`.

:func:`signing.verify.verify` stops at the first refusal, which is what the request path
needs. A client developer needs the whole picture instead: every reference with its expected
and computed digest, the SignedInfo check, the certificate and its chain at a given time,
the XAdES SigningCertificate match. :func:`diagnose` computes each of those on its own (a
failed step does not hide the others) and takes its verdict from :func:`verify` itself plus
the trust check, so the report never disagrees with what the gateway decides.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from lxml import etree

from . import xades
from .algorithms import C14N, Transform
from .certificates import readable_name
from .crypto import certificate_key, check_key, verify_value
from .errors import CertificateError, SignatureError
from .names import ID_ATTRIBUTES, ds
from .structure import (
    Reference,
    SignedInfo,
    decode_base64,
    read_certificate,
    read_signed_info,
    signature_parts,
)
from .truststore import TrustStore
from .verify import DEFAULT_POLICY, VerifyPolicy, candidates, enveloped_candidates, verify

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True)
class ReferenceReport:
    """One ds:Reference: what it names, how it is digested, and whether the digest matches."""

    uri: str | None
    target: str | None  # local name of the element the URI names
    transforms: tuple[str, ...]
    digest_method: str
    expected: str  # base64, as written
    computed: str | None  # base64, None when it could not be computed
    matches: bool
    problem: str | None = None


@dataclass(frozen=True)
class CertificateReport:
    """The KeyInfo certificate and its standing at ``at``."""

    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    key_algorithm: str
    validity: str  # valid, expired, not yet valid
    chain: tuple[str, ...] = ()
    trusted: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    """Everything :func:`diagnose` found; ``valid`` is the verdict."""

    element: str
    at: str
    valid: bool
    verdict: str
    canonicalization: str | None = None
    signature_method: str | None = None
    signature_verifies: bool | None = None
    signature_problem: str | None = None
    references: tuple[ReferenceReport, ...] = ()
    certificate: CertificateReport | None = None
    xades: str | None = None
    signing_time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def signed_element(root: etree._Element) -> etree._Element:
    """The operation element of a SOAP envelope, or ``root`` itself when it is not one."""
    if root.tag == f"{{{SOAP_ENV}}}Envelope":
        body = root.find(f"{{{SOAP_ENV}}}Body")
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if len(children) != 1:
            raise ValueError("the SOAP Body must hold exactly one operation element")
        return children[0]
    return root


def diagnose(
    element: etree._Element,
    trust: TrustStore | None,
    at: datetime | None = None,
    policy: VerifyPolicy = DEFAULT_POLICY,
) -> Diagnosis:
    """Diagnose the enveloped signature of ``element`` against ``trust`` at ``at`` (now)."""
    at = at or datetime.now(UTC)
    name = etree.QName(element).localname
    signature = element.find(ds("Signature"))
    if signature is None:
        return Diagnosis(name, at.isoformat(), False, f"no ds:Signature in {name}")
    try:
        verify(element, policy)
        verdict: str | None = None
    except SignatureError as exc:
        verdict = f"signature refused ({exc.reason}): {exc.message}"
    try:
        signed_info_el, value_el, key_info = signature_parts(signature)
        signed_info = read_signed_info(signed_info_el)
    except SignatureError as exc:
        return Diagnosis(name, at.isoformat(), False, verdict or exc.message)
    certificate: x509.Certificate | None = None
    cert_report: CertificateReport | None = None
    cert_problem: str | None
    try:
        certificate = read_certificate(key_info)
    except SignatureError as exc:
        cert_problem = exc.message
    else:
        cert_report = _certificate_report(certificate, trust, at)
        cert_problem = cert_report.problem
    verifies, problem = _signature(
        signed_info_el, signed_info, value_el, certificate, element, policy
    )
    references = tuple(
        _reference_report(ref, element, signature, policy) for ref in signed_info.references
    )
    xades_result, signing_time = _xades(signature, certificate, policy)
    if verdict is None and cert_problem is not None:
        verdict = f"certificate refused: {cert_problem}"
    return Diagnosis(
        element=name,
        at=at.isoformat(),
        valid=verdict is None,
        verdict=verdict or "the signature verifies and the certificate is trusted",
        canonicalization=str(signed_info.c14n),
        signature_method=str(signed_info.signature_method),
        signature_verifies=verifies,
        signature_problem=problem,
        references=references,
        certificate=cert_report,
        xades=xades_result,
        signing_time=signing_time,
    )


def _certificate_report(
    cert: x509.Certificate, trust: TrustStore | None, at: datetime
) -> CertificateReport:
    if at < cert.not_valid_before_utc:
        validity = "not yet valid"
    elif at > cert.not_valid_after_utc:
        validity = "expired"
    else:
        validity = "valid"
    chain: tuple[str, ...] = ()
    trusted, problem = False, None
    if trust is None:
        problem = "no trust anchors given (--trust) and none in the store"
    else:
        try:
            chain = tuple(readable_name(link.subject) for link in trust.chain(cert))
            trust.validate(cert, at)
            trusted = True
        except CertificateError as exc:
            problem = f"{exc.reason}: {exc.message}"
    return CertificateReport(
        subject=readable_name(cert.subject),
        issuer=readable_name(cert.issuer),
        serial=f"{cert.serial_number} (0x{cert.serial_number:x})",
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        key_algorithm=_key_algorithm(cert),
        validity=validity,
        chain=chain,
        trusted=trusted,
        problem=problem,
    )


def _key_algorithm(cert: x509.Certificate) -> str:
    oid = cert.public_key_algorithm_oid
    return _KEY_ALGORITHMS.get(oid.dotted_string, oid.dotted_string)


_KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.10045.2.1": "EC",
    "1.2.643.7.1.1.1.1": "GOST R 34.10-2012 256-bit",
    "1.2.643.7.1.1.1.2": "GOST R 34.10-2012 512-bit",
    "1.2.643.2.2.19": "GOST R 34.10-2001 (withdrawn)",
}


def _signature(
    signed_info_el: etree._Element,
    signed_info: SignedInfo,
    value_el: etree._Element,
    certificate: x509.Certificate | None,
    element: etree._Element,
    policy: VerifyPolicy,
) -> tuple[bool | None, str | None]:
    if certificate is None:
        return None, "no readable certificate in KeyInfo"
    try:
        key = certificate_key(certificate)
        check_key(signed_info.signature_method, key, policy.min_rsa_key_size)
        value = decode_base64(value_el.text, "ds:SignatureValue")
        c14n, prefixes = signed_info.c14n, signed_info.c14n_prefixes
        for data in candidates(signed_info_el, c14n, prefixes, element, policy):
            if verify_value(signed_info.signature_method, key, data, value):
                return True, None
    except SignatureError as exc:
        return False, exc.message
    return False, "SignatureValue does not verify over the canonical SignedInfo with this key"


def _find_id(root: etree._Element, value: str) -> list[etree._Element]:
    return [
        node
        for node in root.iter(tag=etree.Element)
        if any(node.get(name) == value for name in ID_ATTRIBUTES)
    ]


def _reference_report(
    ref: Reference, element: etree._Element, signature: etree._Element, policy: VerifyPolicy
) -> ReferenceReport:
    report = ReferenceReport(
        uri=ref.uri,
        target=None,
        transforms=tuple(str(t) for t in ref.transforms),
        digest_method=str(ref.digest_method),
        expected=base64.b64encode(ref.digest_value).decode(),
        computed=None,
        matches=False,
    )
    if not ref.uri or not ref.uri.startswith("#"):
        return replace(report, problem="not a '#Id' reference")
    found = _find_id(element.getroottree().getroot(), ref.uri[1:])
    if len(found) != 1:
        return replace(
            report, problem="names no element" if not found else f"Id occurs {len(found)} times"
        )
    target = found[0]
    report = replace(report, target=etree.QName(target).localname)
    c14n = next((t.c14n for t in ref.transforms if t.c14n), C14N.INCLUSIVE).without_comments
    try:
        prefixes = ref.inclusive_prefixes
        if Transform.ENVELOPED in ref.transforms and target is element:
            forms = enveloped_candidates(element, signature, c14n, prefixes, policy)
        else:
            forms = candidates(target, c14n, prefixes, element, policy)
        digests = [ref.digest_method.compute(data) for data in forms]
    except SignatureError as exc:
        return replace(report, problem=exc.message)
    except ValueError as exc:
        return replace(report, problem=str(exc))
    matching = next((d for d in digests if d == ref.digest_value), None)
    problem = None
    if matching is None:
        problem = "digest differs: the referenced content was changed after signing"
    elif target is not element and signature not in target.iterancestors():
        problem = "points outside the signed element"
    return replace(
        report,
        computed=base64.b64encode(matching or digests[0]).decode(),
        matches=matching is not None,
        problem=problem,
    )


def _xades(
    signature: etree._Element, certificate: x509.Certificate | None, policy: VerifyPolicy
) -> tuple[str, str | None]:
    try:
        properties = xades.find_signed_properties(signature)
    except SignatureError as exc:
        return f"refused: {exc.message}", None
    if properties is None:
        return "no xades:SignedProperties", None
    if certificate is None:
        return "not checked: no certificate", None
    try:
        when = xades.check(signature, properties, certificate, policy.digest_methods)
    except SignatureError as exc:
        return f"refused ({exc.reason}): {exc.message}", None
    return (
        "SigningCertificate matches the KeyInfo certificate (CertDigest and serial)",
        when.isoformat() if when else None,
    )

"""Step 5 of the request path: the XML signature and the signer certificate.

The signature must verify (signing.verify), the certificate must chain to the trust store
and be valid now, and it must be registered for the orgPPAGUID in the header. The trust
store, the chains built from it and the certificate owners come from the process's cached
directory (gateway.caches), which the accept transaction confirms.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from gateway.caches import Snapshot
from gateway.errors import CertificateRefused, SignatureInvalid
from gateway.namespaces import DS, qname
from signing import (
    CertificateError,
    SignatureError,
    Verified,
    VerifyPolicy,
    fingerprint,
    verify,
)
from signing.truststore import check_validity


def has_signature(element: etree._Element) -> bool:
    return next(element.iterchildren(qname(DS, "Signature")), None) is not None


def verify_signature(element: etree._Element, policy: VerifyPolicy) -> Verified:
    """Verify the signature of the operation element (the cryptography: references,
    digests, SignatureValue with the KeyInfo certificate, XAdES properties)."""
    try:
        return verify(element, policy)
    except SignatureError as exc:
        raise SignatureInvalid(f"Signature verification failed ({exc.reason}): {exc}") from None


def check_signer(verified: Verified, directory: Snapshot, org_guid: str) -> list[x509.Certificate]:
    """The signer certificate must chain to the trust store, every certificate of the chain
    be valid now, and it must be registered for ``org_guid``. Returns the chain."""
    certificate = verified.certificate
    try:
        chain = directory.chain(certificate)
        check_validity(chain, datetime.now(UTC))
    except CertificateError as exc:
        raise CertificateRefused(f"Signer certificate refused ({exc.reason}): {exc}") from None
    if directory.certificate_owner(fingerprint(certificate)) != org_guid:
        raise CertificateRefused(
            f"The signer certificate ({certificate.subject.rfc4514_string()}) is not "
            f"registered for organisation {org_guid}."
        )
    return chain

"""Step 5 of the request path: the XML signature and the signer certificate.

The signature must verify (signing.verify), the certificate must chain to the trust store
and be valid now, and it must be registered for the orgPPAGUID in the header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from gateway.errors import CertificateRefused, SignatureInvalid
from gateway.namespaces import DS, qname
from signing import (
    CertificateError,
    SignatureError,
    TrustStore,
    Verified,
    VerifyPolicy,
    fingerprint,
    verify,
)


class TrustCache:
    """The trust store read from the database, refreshed every few seconds."""

    def __init__(self, load_pems: Callable[[], list[str]], ttl_seconds: float = 5.0) -> None:
        self._load_pems = load_pems
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._store: TrustStore | None = None
        self._loaded_at = 0.0

    def get(self) -> TrustStore:
        with self._lock:
            if self._store is None or time.monotonic() - self._loaded_at > self._ttl:
                anchors = [x509.load_pem_x509_certificate(p.encode()) for p in self._load_pems()]
                self._store = TrustStore(anchors)
                self._loaded_at = time.monotonic()
            return self._store


def has_signature(element: etree._Element) -> bool:
    return element.find(qname(DS, "Signature")) is not None


def verify_signed_request(
    element: etree._Element,
    *,
    policy: VerifyPolicy,
    trust: TrustStore,
    certificate_owner: Callable[[str], str | None],
    org_guid: str,
) -> Verified:
    """Verify the signature of the operation element and bind its certificate to ``org_guid``."""
    try:
        verified = verify(element, policy)
    except SignatureError as exc:
        raise SignatureInvalid(f"Signature verification failed ({exc.reason}): {exc}") from None
    try:
        trust.validate(verified.certificate, datetime.now(UTC))
    except CertificateError as exc:
        raise CertificateRefused(f"Signer certificate refused ({exc.reason}): {exc}") from None
    owner = certificate_owner(fingerprint(verified.certificate))
    if owner != org_guid:
        raise CertificateRefused(
            f"The signer certificate ({verified.certificate.subject.rfc4514_string()}) is not "
            f"registered for organisation {org_guid}."
        )
    return verified

"""Trust store: chain the signer certificate to a configured anchor and check validity."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from . import gost
from .certificates import der
from .errors import CertificateError, CertificateReason

MAX_CHAIN_LENGTH = 8


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


class TrustStore:
    """Immutable set of trusted certificates (roots and intermediates); thread-safe."""

    def __init__(self, anchors: Iterable[x509.Certificate]) -> None:
        self._anchors = tuple(anchors)
        self._der = frozenset(der(cert) for cert in self._anchors)
        by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in self._anchors:
            by_subject.setdefault(cert.subject, []).append(cert)
        self._by_subject = {name: tuple(certs) for name, certs in by_subject.items()}

    @classmethod
    def from_pem_files(cls, *paths: Path) -> TrustStore:
        """Load every PEM certificate found in ``paths``."""
        certs: list[x509.Certificate] = []
        for path in paths:
            certs.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
        return cls(certs)

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._anchors

    def __contains__(self, cert: x509.Certificate) -> bool:
        return der(cert) in self._der

    def chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """leaf -> intermediates -> anchor, built from the store by issuer name and signature."""
        chain = [cert]
        current = cert
        while True:
            if current.issuer == current.subject:
                if current in self:
                    return chain
                raise CertificateError(
                    CertificateReason.UNTRUSTED,
                    f"self-signed certificate {_subject(current)} is not in the trust store",
                )
            candidates = self._by_subject.get(current.issuer, ())
            if not candidates:
                if current in self:
                    return chain
                raise CertificateError(
                    CertificateReason.UNTRUSTED,
                    f"issuer {current.issuer.rfc4514_string()} of {_subject(current)} is not trusted",
                )
            issuer = self._issuer_of(current, candidates)
            _check_ca(issuer, intermediates_below=len(chain) - 1)
            if issuer in chain or len(chain) >= MAX_CHAIN_LENGTH:
                raise CertificateError(
                    CertificateReason.BAD_CHAIN, "certificate chain loops or is too long"
                )
            chain.append(issuer)
            current = issuer

    def validate(self, cert: x509.Certificate, at: datetime) -> None:
        """Raise :class:`CertificateError` unless ``cert`` chains to the store and every
        certificate of the chain is valid at ``at`` (timezone-aware)."""
        check_validity(self.chain(cert), at)

    @staticmethod
    def _issuer_of(
        cert: x509.Certificate, candidates: tuple[x509.Certificate, ...]
    ) -> x509.Certificate:
        for candidate in candidates:
            if _directly_issued_by(cert, candidate):
                return candidate
        raise CertificateError(
            CertificateReason.BAD_CHAIN,
            f"signature of {_subject(cert)} does not verify with any trusted "
            f"{cert.issuer.rfc4514_string()}",
        )


def check_validity(chain: Iterable[x509.Certificate], at: datetime) -> None:
    """Raise :class:`CertificateError` unless every certificate of ``chain`` (as built by
    :meth:`TrustStore.chain`) is valid at ``at`` (timezone-aware)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    for link in chain:
        if at < link.not_valid_before_utc:
            raise CertificateError(
                CertificateReason.NOT_YET_VALID,
                f"certificate {_subject(link)} is valid only from {link.not_valid_before_utc}",
            )
        if at > link.not_valid_after_utc:
            raise CertificateError(
                CertificateReason.EXPIRED,
                f"certificate {_subject(link)} expired at {link.not_valid_after_utc}",
            )


def _directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key verifies ``cert``'s signature (GOST through the engine)."""
    if cert.signature_algorithm_oid.dotted_string not in gost.CERT_SIGNATURE_ALGORITHMS:
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
    return _gost_signed_by(der(cert), der(issuer))


@functools.lru_cache(maxsize=1024)
def _gost_signed_by(cert_der: bytes, issuer_der: bytes) -> bool:
    # The answer for one pair of certificates never changes, so it is cached.
    try:
        backend = gost.backend()
    except gost.GostUnavailable as exc:
        raise CertificateError(
            CertificateReason.BAD_CHAIN, f"a GOST-signed certificate cannot be checked here: {exc}"
        ) from None
    try:
        return backend.certificate_signed_by(cert_der, issuer_der)
    except ValueError:
        return False


def _check_ca(issuer: x509.Certificate, intermediates_below: int) -> None:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateError(
            CertificateReason.ISSUER_NOT_CA, f"issuer {_subject(issuer)} is not a CA certificate"
        )
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise CertificateError(
            CertificateReason.ISSUER_NOT_CA, f"issuer {_subject(issuer)} may not sign certificates"
        )
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        raise CertificateError(
            CertificateReason.BAD_CHAIN, f"path length constraint of {_subject(issuer)} exceeded"
        )

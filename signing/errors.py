"""Exceptions of the signing package; each carries a machine-readable reason slug."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a signature was refused (``SignatureError.reason``)."""

    MISSING = "missing"  # no ds:Signature as the first child of the element
    MALFORMED = "malformed"  # structure, base64, certificate or layout not readable
    WRAPPING = "wrapping"  # the signature does not cover exactly this element
    BAD_REFERENCE = "bad-reference"  # unexpected/extra/empty reference or transform chain
    ALGORITHM_UNKNOWN = "algorithm-unknown"  # URI not recognised at all
    ALGORITHM_UNSUPPORTED = "algorithm-unsupported"  # known, but not implemented or not allowed
    ALGORITHM_INSECURE = "algorithm-insecure"  # SHA-1, MD5, DSA, HMAC, short RSA keys
    BAD_SIGNATURE = "bad-signature"  # SignatureValue does not verify with the KeyInfo key
    DIGEST_MISMATCH = "digest-mismatch"  # signed data changed after signing
    XADES_MISSING = "xades-missing"  # policy requires signed XAdES properties
    XADES_INVALID = "xades-invalid"  # XAdES present but incomplete/inconsistent
    XADES_CERT_MISMATCH = "xades-cert-mismatch"  # SigningCertificate is not the KeyInfo cert


class CertificateReason(StrEnum):
    """Why a certificate was refused (``CertificateError.reason``)."""

    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    ISSUER_NOT_CA = "issuer-not-ca"
    BAD_CHAIN = "bad-chain"


class SignatureError(Exception):
    """The XML signature was refused; ``reason`` is a :class:`Reason` slug."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message

    def __repr__(self) -> str:
        return f"SignatureError({self.reason.value!r}, {self.message!r})"


class CertificateError(Exception):
    """The signer certificate was refused; ``reason`` is a :class:`CertificateReason` slug."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = CertificateReason(reason)
        self.message = message

    def __repr__(self) -> str:
        return f"CertificateError({self.reason.value!r}, {self.message!r})"

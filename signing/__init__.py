"""XML-DSig / XAdES-BES verification and signing of GIS ZhKKh request elements."""

from .certificates import fingerprint
from .errors import CertificateError, SignatureError
from .sign import sign
from .truststore import TrustStore
from .verify import Verified, VerifyPolicy, verify

__all__ = [
    "CertificateError",
    "SignatureError",
    "TrustStore",
    "Verified",
    "VerifyPolicy",
    "fingerprint",
    "sign",
    "verify",
]
